# SPDX-License-Identifier: GPL-2.0
#
# thunderbolt_stream developer entry points. Everything is built below
# .build/ (ignored by git) and reused between runs.
#
#   make demo    boot a VM and show a transfer over the simulated cable
#   make check   every test: static checks, out-of-tree builds, KUnit, VM
#   make bench   boot a VM and print the benchmark table (stream vs pipe
#                and TCP on loopback; tbstream_bench, bench.sh)
#   make stress  boot a VM and run the fault campaign (stress.sh):
#                make stress COUNT=500 SEED=1234 replays a run
#
# The individual steps can be run alone: prepare, static, oot, kunit, vm.

.PHONY: check demo bench stress prepare static oot kunit vm clean

check: prepare
	bash harness/check.sh

demo: prepare
	bash harness/vm.sh demo

# The full run takes a few minutes of guest time under TCG
bench: prepare
	TEST_TIMEOUT=$${TEST_TIMEOUT:-1200} VM_TIMEOUT=$${VM_TIMEOUT:-1800} \
		bash harness/vm.sh bench

# COUNT iterations (default 100) with seed SEED (default: from the clock,
# printed); both reach the guest on the kernel command line
COUNT ?= 100
SEED ?=
stress: prepare
	TEST_TIMEOUT=$${TEST_TIMEOUT:-$$(( $(COUNT) * 30 + 300 ))} \
	VM_TIMEOUT=$${VM_TIMEOUT:-$$(( $(COUNT) * 30 + 900 ))} \
	VM_APPEND="$${VM_APPEND:-} tbstress_count=$(COUNT) $(if $(SEED),tbstress_seed=$(SEED))" \
		bash harness/vm.sh stress

prepare:
	bash harness/prepare.sh

static: prepare
	bash harness/static.sh

oot: prepare
	bash harness/oot.sh

kunit: prepare
	bash harness/kunit.sh

vm: prepare
	bash harness/vm.sh

clean:
	rm -rf .build

# SPDX-License-Identifier: GPL-2.0
#
# thunderbolt_stream developer entry points. Everything is built below
# .build/ (ignored by git) and reused between runs.
#
#   make demo    boot a VM and show a transfer over the simulated cable
#   make check   every test: static checks, out-of-tree builds, KUnit, VM
#   make bench   boot a VM and print the benchmark table (stream vs pipe
#                and TCP on loopback; tbstream_bench, bench.sh)
#
# The individual steps can be run alone: prepare, static, oot, kunit, vm.

.PHONY: check demo bench prepare static oot kunit vm clean

check: prepare
	bash harness/check.sh

demo: prepare
	bash harness/vm.sh demo

# The full run takes a few minutes of guest time under TCG
bench: prepare
	TEST_TIMEOUT=$${TEST_TIMEOUT:-1200} VM_TIMEOUT=$${VM_TIMEOUT:-1800} \
		bash harness/vm.sh bench

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

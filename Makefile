# SPDX-License-Identifier: GPL-2.0
#
# thunderbolt_stream developer entry points. Everything is built below
# .build/ (ignored by git) and reused between runs.
#
#   make demo    boot a VM and show a transfer over the simulated cable
#   make check   every test: static checks, out-of-tree builds, KUnit, VM,
#                the emulated Thunderbolt controller (tbvm.sh)
#   make bench   boot a VM and print the benchmark table (stream vs pipe
#                and TCP on loopback; tbstream_bench, bench.sh)
#   make bench-ab A=old.ko B=new.ko   the same workloads for two module
#                builds taking turns in one boot (bench_ab.sh)
#   make stress  boot a VM and run the fault campaign (stress.sh):
#                make stress COUNT=500 SEED=1234 replays a run
#
# The individual steps can be run alone: prepare, static, oot, kunit, vm,
# tbvm, initramfs.
#
# Installing on a machine, as root (README.md, "Installing on Debian"):
#   make install        build the module for the running kernel (or
#                       KDIR=...), install it, then install-data
#   make install-data   the udev rule, the initramfs-tools hook and
#                       script, the dracut module (DESTDIR=... stages)

.PHONY: check demo bench bench-ab stress prepare static oot kunit vm tbvm \
	initramfs install install-module install-data clean

check: prepare
	bash harness/check.sh

demo: prepare
	bash harness/vm.sh demo

# The full run takes a few minutes of guest time under TCG
bench: prepare
	TEST_TIMEOUT=$${TEST_TIMEOUT:-1200} VM_TIMEOUT=$${VM_TIMEOUT:-1800} \
		bash harness/vm.sh bench

# A/B comparison of two module builds (M= against .build/vm-kernel) that
# take turns in one boot: make bench-ab A=old.ko B=new.ko [ROUNDS=3]
ROUNDS ?= 3
bench-ab: prepare
	@[ -f "$(A)" ] && [ -f "$(B)" ] || { echo "usage: make bench-ab A=old.ko B=new.ko"; exit 2; }
	VM_BENCH_A=$(abspath $(A)) VM_BENCH_B=$(abspath $(B)) \
	TEST_TIMEOUT=$${TEST_TIMEOUT:-2400} VM_TIMEOUT=$${VM_TIMEOUT:-3000} \
	VM_APPEND="$${VM_APPEND:-} tbbench_rounds=$(ROUNDS)" \
		bash harness/vm.sh bench_ab

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

tbvm: prepare
	bash harness/tbvm.sh

initramfs: prepare
	bash harness/initramfs.sh

KDIR ?= /lib/modules/$(shell uname -r)/build
MDIR = $(CURDIR)/drivers/thunderbolt

install: install-module install-data

install-module:
	$(MAKE) -C $(KDIR) M=$(MDIR) modules
	$(MAKE) -C $(KDIR) M=$(MDIR) $(if $(DESTDIR),INSTALL_MOD_PATH=$(DESTDIR)) \
		modules_install
	$(if $(DESTDIR),,depmod -a $$(cat $(KDIR)/include/config/kernel.release))

install-data:
	DESTDIR=$(DESTDIR) sh packaging/install-data.sh

clean:
	rm -rf .build

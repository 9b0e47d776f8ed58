#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a small debug kernel under QEMU (TCG) and run the guest tests of
# thunderbolt_stream in it.
#
#   bash harness/vm.sh              run every test_*.sh
#   bash harness/vm.sh load foo     run test_load.sh and test_foo*.sh
#   bash harness/vm.sh demo         run demo.sh (used by `make demo`)
#
# Builds only what is stale, all under .build/:
#   vm-kernel/     O= build of .build/linux: tinyconfig + harness/vm/kernel.config
#                  (+ USB4_STREAM_SIM=y once drivers/thunderbolt/stream_sim.c
#                  exists), bzImage plus thunderbolt.ko, thunderbolt_stream.ko
#   vm-modules/    modules_install staging
#   vm-progs/      static test programs (gcc -static) from the selftest dir
#   vm-initramfs.cpio.gz   busybox, modules, tests, harness/vm/init
#   vm-console.log the guest console (kernel log and test output)
#   vm-results.log the guest's result channel (second serial port)
#   vm-build.log   the kernel build output
#
# Fails when a test fails or did not report, the summary is missing, the
# console shows a kernel splat (SPLAT_RE in lib.sh), kmemleak reports a
# leak, or the guest does not finish within VM_TIMEOUT seconds.
#
# Environment: VM_TIMEOUT (whole run, default 1200), TEST_TIMEOUT (each
# test, default 300), VM_APPEND (extra kernel command line), VM_SMP, VM_MEM,
# VM_STREAM_KO (boot this thunderbolt_stream.ko instead of the in-tree one,
# e.g. an M= build against .build/vm-kernel), VM_BENCH_A and VM_BENCH_B
# (two such modules, shipped as /lib/bench/a.ko and b.ko for bench_ab.sh).

set -euo pipefail
. "$(dirname "$0")/lib.sh"

# VM_NAME=vm-foo with VM_CONFIG="CONFIG_X=n ..." builds a variant kernel
# in .build/vm-foo* (used to measure what the debug options cost).
VM_NAME=${VM_NAME:-vm}
VMK="$BUILD/$VM_NAME-kernel"
MODSTAGE="$BUILD/$VM_NAME-modules"
PROGS="$BUILD/vm-progs"
ROOTFS="$BUILD/$VM_NAME-rootfs"
INITRAMFS="$BUILD/$VM_NAME-initramfs.cpio.gz"
CONSOLE="$BUILD/$VM_NAME-console.log"
RESULTS="$BUILD/$VM_NAME-results.log"
FRAGMENT="$SRC/harness/vm/kernel.config"
TESTDIR="$SRC/tools/testing/selftests/drivers/thunderbolt/stream"
VM_TIMEOUT=${VM_TIMEOUT:-1200}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}

kmake() {
	make -C "$KTREE" O="$VMK" ARCH=x86_64 -j"$JOBS" "$@"
}

# The fragment actually merged: the file plus the simulator once it exists.
want_fragment() {
	local line

	while IFS= read -r line; do
		case " ${VM_CONFIG:-} " in
		*" ${line%%=*}="*) ;;	# overridden below
		*) echo "$line" ;;
		esac
	done <"$FRAGMENT"
	if [ -e "$SRC/drivers/thunderbolt/stream_sim.c" ] &&
	   grep -q '^config USB4_STREAM_SIM' \
		"$SRC/drivers/thunderbolt/Kconfig.stream"; then
		echo "CONFIG_USB4_STREAM_SIM=y"
	fi
	for line in ${VM_CONFIG:-}; do
		echo "$line"
	done
}

# Regenerate .config only when the fragment (or the Kconfig) changed, so
# that a warm run does not touch it.
configure() {
	local frag="$VMK/.tbstream-fragment"
	local stamp="$VMK/.tbstream-config-stamp"
	local want line sym val bad=0

	# A re-unpacked tree keeps its tarball mtimes, older than our objects:
	# start over rather than trust make.
	if [ -d "$VMK" ] && ! cmp -s "$KTREE/.tbstream-unpacked" \
		"$VMK/.tbstream-tree"; then
		log "kernel tree changed, removing $VMK"
		rm -rf "$VMK"
	fi
	mkdir -p "$VMK"
	cp "$KTREE/.tbstream-unpacked" "$VMK/.tbstream-tree"
	want=$( (want_fragment; cat "$SRC/drivers/thunderbolt/Kconfig.stream") |
		sha256sum | cut -d' ' -f1)
	if [ -f "$VMK/.config" ] && [ -f "$stamp" ] &&
	   [ "$(cat "$stamp")" = "$want" ]; then
		return 0
	fi

	log "configuring $VMK (tinyconfig + $(basename "$FRAGMENT"))"
	want_fragment >"$frag"
	kmake -s tinyconfig >/dev/null
	"$KTREE/scripts/kconfig/merge_config.sh" -m -O "$VMK" \
		"$VMK/.config" "$frag" >"$VMK/.tbstream-merge.log" 2>&1 ||
		die "merge_config failed, see $VMK/.tbstream-merge.log"
	kmake -s olddefconfig >/dev/null

	# merge_config only warns; a symbol that did not stick is an error.
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*) ;;
		*) continue ;;
		esac
		sym=${line%%=*}
		val=${line#*=}
		if [ "$val" = n ]; then
			if grep -q "^$sym=" "$VMK/.config"; then
				log "$sym: want n, got $(grep "^$sym=" "$VMK/.config")"
				bad=1
			fi
		elif ! grep -qxF "$line" "$VMK/.config"; then
			log "$sym: want $val, got $(grep "^$sym=\|^# $sym " \
				"$VMK/.config" || echo unset)"
			bad=1
		fi
	done <"$frag"
	[ $bad = 0 ] || die "kernel config does not match $FRAGMENT"
	echo "$want" >"$stamp"
}

build_kernel() {
	local t0=$SECONDS

	log "building kernel and modules in $VMK"
	kmake bzImage modules >"$BUILD/$VM_NAME-build.log" 2>&1 || {
		grep -E 'error|Error' "$BUILD/$VM_NAME-build.log" | head -40 >&2
		die "kernel build failed, see $BUILD/$VM_NAME-build.log"
	}
	KREL=$(kmake -s kernelrelease)
	rm -rf "$MODSTAGE"
	kmake -s INSTALL_MOD_PATH="$MODSTAGE" INSTALL_MOD_STRIP=1 \
		modules_install >>"$BUILD/$VM_NAME-build.log" 2>&1 ||
		die "modules_install failed, see $BUILD/$VM_NAME-build.log"
	for m in thunderbolt thunderbolt_stream; do
		[ -n "$(find "$MODSTAGE/lib/modules/$KREL" -name "$m.ko")" ] ||
			die "$m.ko was not built"
	done
	if [ -n "${VM_STREAM_KO:-}" ]; then
		log "using $VM_STREAM_KO instead of the in-tree module"
		cp "$VM_STREAM_KO" "$(find "$MODSTAGE/lib/modules/$KREL" \
			-name thunderbolt_stream.ko)"
	fi
	log "kernel $KREL ready ($((SECONDS - t0))s)"
}

# Static C test programs: one binary per *.c, rebuilt when older.
build_progs() {
	local c bin

	mkdir -p "$PROGS"
	for c in "$TESTDIR"/*.c; do
		[ -e "$c" ] || continue
		bin="$PROGS/$(basename "$c" .c)"
		[ "$bin" -nt "$c" ] && [ -z "$(find "$TESTDIR" -name '*.h' \
			-newer "$bin")" ] && continue
		log "gcc -static $(basename "$c")"
		gcc -static -O2 -Wall -Werror -I"$TESTDIR" -I"$SRC/include/uapi" \
			-o "$bin" "$c" -lpthread ||
			die "building $(basename "$c") failed"
	done
}

build_initramfs() {
	local busybox applet gen

	busybox=$(command -v busybox) || die "busybox not installed"
	if readelf -l "$(readlink -f "$busybox")" | grep -q INTERP; then
		die "$busybox is not static (install busybox-static)"
	fi

	rm -rf "$ROOTFS"
	mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,tests,lib}
	cp "$busybox" "$ROOTFS/bin/busybox"
	for applet in $("$busybox" --list-full); do
		[ -e "$ROOTFS/$applet" ] ||
			ln -s /bin/busybox "$ROOTFS/$applet"
	done
	install -m 755 "$SRC/harness/vm/init" "$ROOTFS/init"
	cp -a "$MODSTAGE/lib/modules" "$ROOTFS/lib/"
	cp "$TESTDIR"/*.sh "$ROOTFS/tests/"
	cp "$PROGS"/* "$ROOTFS/tests/" 2>/dev/null || true
	if [ -n "${VM_BENCH_A:-}" ]; then
		mkdir -p "$ROOTFS/lib/bench"
		cp "$VM_BENCH_A" "$ROOTFS/lib/bench/a.ko"
		cp "$VM_BENCH_B" "$ROOTFS/lib/bench/b.ko"
	fi

	# Device nodes come from gen_init_cpio so that no mknod (root) is
	# needed; the kernel unpacks the two concatenated archives in turn.
	gen="$VMK/usr/gen_init_cpio"
	[ -x "$gen" ] || die "$gen missing (BLK_DEV_INITRD off?)"
	{
		(cd "$ROOTFS" && find . -mindepth 1 | LC_ALL=C sort |
			cpio --quiet -o -H newc -R 0:0) | gzip -1
		printf '%s\n' 'nod /dev/console 600 0 0 c 5 1' \
			'nod /dev/null 666 0 0 c 1 3' | "$gen" - | gzip -1
	} >"$INITRAMFS.tmp"
	mv "$INITRAMFS.tmp" "$INITRAMFS"
}

# Map suite arguments to test script names (printed one per line).
select_tests() {
	local a f found

	if [ $# = 0 ]; then
		for f in "$TESTDIR"/test_*.sh; do
			[ -e "$f" ] && basename "$f"
		done
		return 0
	fi
	for a in "$@"; do
		found=0
		for f in "$TESTDIR/$a" "$TESTDIR/$a.sh" "$TESTDIR/test_$a.sh"; do
			if [ -f "$f" ]; then
				basename "$f"
				found=1
				break
			fi
		done
		if [ $found = 0 ]; then
			for f in "$TESTDIR"/test_"$a"*.sh; do
				[ -e "$f" ] && basename "$f" && found=1
			done
		fi
		[ $found = 1 ] || die "no test matches '$a'"
	done
}

boot() {
	local tests=$1 rc=0 t0=$SECONDS

	: >"$RESULTS"
	log "booting (timeout ${VM_TIMEOUT}s): ${tests//,/ }"
	timeout -k 10 "$VM_TIMEOUT" \
		qemu-system-x86_64 -accel tcg -m "${VM_MEM:-2G}" \
		-smp "${VM_SMP:-2}" -nographic -no-reboot -monitor none \
		-serial stdio -serial "file:$RESULTS" \
		-kernel "$VMK/arch/x86/boot/bzImage" -initrd "$INITRAMFS" \
		-append "console=ttyS0 panic=-1 tbtests=$tests tbtimeout=$TEST_TIMEOUT ${VM_APPEND:-}" \
		</dev/null >"$CONSOLE" 2>&1 || rc=$?
	BOOT_SECS=$((SECONDS - t0))
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		VM_TIMED_OUT=1
	elif [ $rc != 0 ]; then
		log "qemu exited with $rc"
		QEMU_RC=$rc
	fi
}

# Judge the run; print why it failed. Returns non-zero on failure.
check() {
	local ntests=$1 errors=0 summary planned

	tr -d '\r' <"$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
	# The guest's output, as the tests printed it (kmemleak comes below).
	sed -n '/^@@TBSTREAM-BEGIN@@/,/^@@KMEMLEAK-BEGIN@@/p' "$RESULTS" |
		grep -v '^@@' || true

	if [ "${VM_TIMED_OUT:-0}" = 1 ]; then
		log "ERROR: the guest did not finish within ${VM_TIMEOUT}s"
		errors=1
	fi
	if [ -n "${QEMU_RC:-}" ]; then
		log "ERROR: qemu failed (exit $QEMU_RC), see $CONSOLE"
		tail -20 "$CONSOLE" >&2
		errors=1
	fi
	if ! grep -q '^@@TBSTREAM-BEGIN@@' "$RESULTS"; then
		log "ERROR: the test runner never started (see $CONSOLE)"
		tail -30 "$CONSOLE" >&2
		errors=1
	elif ! grep -q '^@@TBSTREAM-DONE@@' "$RESULTS"; then
		log "ERROR: the test runner did not finish"
		errors=1
	fi

	planned=$(sed -n 's/^@@TBSTREAM-BEGIN@@ //p' "$RESULTS")
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$RESULTS" | tail -1 || true)
	if [ -z "$summary" ]; then
		log "ERROR: no summary line from the guest"
		errors=1
	else
		local p f s
		p=$(echo "$summary" | sed -E 's/^([0-9]+) passed.*/\1/')
		f=$(echo "$summary" | sed -E 's/.* ([0-9]+) failed.*/\1/')
		s=$(echo "$summary" | sed -nE 's/.* ([0-9]+) skipped.*/\1/p')
		if [ "$f" != 0 ]; then
			log "ERROR: $f test(s) failed:"
			grep '^not ok ' "$RESULTS" >&2 || true
			errors=1
		fi
		if [ "${planned:-x}" != "$ntests" ] ||
		   [ $((p + f + ${s:-0})) != "$ntests" ]; then
			log "ERROR: $ntests tests selected, guest planned ${planned:-?} and reported $((p + f + ${s:-0}))"
			errors=1
		fi
	fi

	local leaks
	leaks=$(sed -n '/^@@KMEMLEAK-BEGIN@@/,/^@@KMEMLEAK-END@@/p' "$RESULTS" |
		grep -v '^@@' || true)
	if [ -n "$leaks" ]; then
		log "ERROR: kmemleak reports:"
		echo "$leaks" | head -60 >&2
		errors=1
	elif grep -q '^@@TBSTREAM-DONE@@' "$RESULTS" &&
	     ! grep -q '^@@KMEMLEAK-END@@' "$RESULTS"; then
		errors=1
	fi

	if find_splats "$CONSOLE" >"$BUILD/$VM_NAME-splats.log"; then
		log "ERROR: kernel splat on the console:"
		head -20 "$BUILD/$VM_NAME-splats.log" >&2
		log "full log: $CONSOLE"
		errors=1
	fi

	log "guest ran in ${BOOT_SECS}s"
	if [ -n "$summary" ]; then
		echo "$summary"
	else
		echo "0 passed, $ntests failed"
	fi
	return $errors
}

main() {
	local tests ntests

	[ -f "$KTREE/.tbstream-unpacked" ] || bash "$SRC/harness/prepare.sh"
	# Re-wire cheaply so that new driver files get their symlinks.
	bash "$SRC/harness/prepare.sh" >/dev/null 2>&1 ||
		die "harness/prepare.sh failed"

	mkdir -p "$BUILD"
	exec 9>"$BUILD/$VM_NAME.lock"
	flock -n 9 || { log "waiting for another vm.sh"; flock 9; }

	if [ "${1:-}" = demo ]; then
		[ -f "$TESTDIR/demo.sh" ] || die "no demo.sh in $TESTDIR"
		tests=demo.sh
	else
		tests=$(select_tests "$@")
	fi
	[ -n "$tests" ] || die "no tests selected"
	ntests=$(echo "$tests" | wc -l)
	tests=$(echo "$tests" | paste -sd,)

	configure
	build_kernel
	build_progs
	build_initramfs
	boot "$tests"
	check "$ntests" || die "VM run failed"
}

main "$@"; exit

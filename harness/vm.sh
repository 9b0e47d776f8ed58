#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot a small debug kernel under QEMU (TCG) and run the guest tests of
# thunderbolt_stream in it: the kselftest target drivers/thunderbolt/stream
# (tools/testing/selftests/drivers/thunderbolt/stream), installed with the
# kselftest install step and run with run_kselftest.sh in the guest.
#
#   bash harness/vm.sh              run_kselftest.sh: every test_*.sh
#   bash harness/vm.sh load foo     run_kselftest.sh -t <target>:test_load.sh
#                                   -t <target>:test_foo*.sh ...
#   bash harness/vm.sh build        only the kernel and modules (tbvm.sh)
#   bash harness/vm.sh demo         demo.sh (used by `make demo`); scripts
#                                   that are not tests of the target run
#                                   through the runner's run_many
#
# Builds only what is stale, all under .build/:
#   vm-kernel/     O= build of .build/linux: tinyconfig + harness/vm/kernel.config
#                  (+ USB4_STREAM_SIM=y once drivers/thunderbolt/stream_sim.c
#                  exists), bzImage plus thunderbolt.ko, thunderbolt_stream.ko
#   vm-modules/    modules_install staging
#   vm-initramfs.cpio.gz   busybox, modules, harness/vm/init and
#                  harness/vm/timeout, Debian's systemd-udevd with the
#                  rule of packaging/udev, the kselftest install in /kselftest
#                  (make -C .build/linux/tools/testing/selftests
#                  TARGETS=drivers/thunderbolt/stream install, which builds
#                  the static C helpers in the tree's copy of the target)
#   vm-ksft.log    the kselftest build and install output
#   vm-console.log the guest console (kernel log and test output)
#   vm-results.log the guest's result channel (second serial port): KTAP
#   vm-build.log   the kernel build output
#
# Judges the KTAP: fails when the plan is missing or is not the number of
# tests selected, a test is "not ok" (a failure, exit code other than 0
# or 4, or its timeout), a test did not report, a test's own sub-results
# (ktap_helpers.sh) have a short plan, a "not ok" or totals that do not
# add up, or the output has lines that are not KTAP; and when the console
# shows a kernel splat (SPLAT_RE in lib.sh), kmemleak reports a leak, or
# the guest does not finish within VM_TIMEOUT seconds. Prints
# "N passed, N failed, N skipped" (harness/check.sh sums it).
#
# Environment: VM_TIMEOUT (whole run, default 1200), TEST_TIMEOUT (each
# test; default: the target's settings file), VM_APPEND (extra kernel
# command line), VM_SMP, VM_MEM,
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
ROOTFS="$BUILD/$VM_NAME-rootfs"
INITRAMFS="$BUILD/$VM_NAME-initramfs.cpio.gz"
CONSOLE="$BUILD/$VM_NAME-console.log"
RESULTS="$BUILD/$VM_NAME-results.log"
FRAGMENT="$SRC/harness/vm/kernel.config"
COLLECTION=drivers/thunderbolt/stream
TESTDIR="$SRC/tools/testing/selftests/$COLLECTION"
VM_TIMEOUT=${VM_TIMEOUT:-1200}
TEST_TIMEOUT=${TEST_TIMEOUT:-}

kmake() {
	make -C "$KTREE" O="$VMK" ARCH=x86_64 -j"$JOBS" "$@"
}

# The lines of the config fragment $1 that VM_CONFIG does not override.
not_overridden() {
	local line

	while IFS= read -r line; do
		case " ${VM_CONFIG:-} " in
		*" ${line%%=*}="*) ;;	# overridden below
		*) echo "$line" ;;
		esac
	done <"$1"
}

# The fragment actually merged: the file plus the simulator once it
# exists, and the options the kselftest target needs (its config), each
# line once.
want_fragment() {
	want_fragment_lines | awk '!seen[$0]++'
}

want_fragment_lines() {
	local line

	not_overridden "$FRAGMENT"
	if [ -e "$SRC/drivers/thunderbolt/stream_sim.c" ] &&
	   grep -q '^config USB4_STREAM_SIM' \
		"$SRC/drivers/thunderbolt/Kconfig.stream"; then
		echo "CONFIG_USB4_STREAM_SIM=y"
	fi
	not_overridden "$TESTDIR/config"
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

# The kselftest target, built (the C helpers, when stale) and installed
# in $1 by the kselftest Makefiles, the way a user of the tree would.
install_selftests() {
	local dest=$1 t listed

	make -C "$KTREE/tools/testing/selftests" TARGETS="$COLLECTION" \
		install INSTALL_PATH="$dest" >"$BUILD/$VM_NAME-ksft.log" 2>&1 || {
		tail -30 "$BUILD/$VM_NAME-ksft.log" >&2
		die "kselftest install failed, see $BUILD/$VM_NAME-ksft.log"
	}
	# Every test_*.sh must be a test of the target (TEST_PROGS)
	listed=$(sed -n "s|^$COLLECTION:||p" "$dest/kselftest-list.txt")
	for t in $(select_tests); do
		echo "$listed" | grep -qxF "$t" ||
			die "$t is not in TEST_PROGS of $TESTDIR/Makefile"
	done
	[ -r "$dest/$COLLECTION/settings" ] || die "no settings installed"
}

build_initramfs() {
	busybox_rootfs "$ROOTFS" "$SRC/harness/vm/init" "$MODSTAGE"
	# The kselftest runner's timeout (harness/vm/timeout), not busybox's
	install -m 755 "$SRC/harness/vm/timeout" "$ROOTFS/usr/bin/timeout"
	# systemd-udevd with our rule only, for test_udev.sh
	udev_rootfs "$ROOTFS" "$SRC/packaging/udev/60-thunderbolt-stream.rules"
	install_selftests "$ROOTFS/kselftest"
	if [ -n "${VM_BENCH_A:-}" ]; then
		mkdir -p "$ROOTFS/lib/bench"
		cp "$VM_BENCH_A" "$ROOTFS/lib/bench/a.ko"
		cp "$VM_BENCH_B" "$ROOTFS/lib/bench/b.ko"
	fi
	pack_initramfs "$ROOTFS" "$VMK" "$INITRAMFS"
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
	log "booting (timeout ${VM_TIMEOUT}s): ${tests//,/ }${TEST_TIMEOUT:+ (each ${TEST_TIMEOUT}s)}"
	timeout -k 10 "$VM_TIMEOUT" \
		qemu-system-x86_64 -accel tcg -m "${VM_MEM:-2G}" \
		-smp "${VM_SMP:-2}" -nographic -no-reboot -monitor none \
		-serial stdio -serial "file:$RESULTS" \
		-kernel "$VMK/arch/x86/boot/bzImage" -initrd "$INITRAMFS" \
		-append "console=ttyS0 panic=-1 tbtests=$tests ${TEST_TIMEOUT:+tbtimeout=$TEST_TIMEOUT }${VM_APPEND:-}" \
		</dev/null >"$CONSOLE" 2>&1 || rc=$?
	BOOT_SECS=$((SECONDS - t0))
	if [ $rc = 124 ] || [ $rc = 137 ]; then
		VM_TIMED_OUT=1
	elif [ $rc != 0 ]; then
		log "qemu exited with $rc"
		QEMU_RC=$rc
	fi
}

# Judge the KTAP of the result channel (stdin) for the tests $1 (one a
# word): print what is wrong, the failed results, and last a line
# "COUNTS passed failed skipped". A test without a result, or one whose
# sub-results (ktap_helpers.sh, "# "-prefixed) are short, not ok or
# mis-totalled, counts as failed.
judge_ktap() {
	awk -v want="$1" -v prefix="selftests: $COLLECTION: " '
	function err(m) { print "ERROR: " m; errs++ }
	function sub_reset() {
		sub_hdr = 0; sub_plan = -1; sub_n = 0
		sub_p = 0; sub_f = 0; sub_s = 0; sub_tot = ""
	}
	# The sub-results of test t, if it had any: 1 if they are wrong
	function sub_judge(t,    tot, bad) {
		if (!sub_hdr)
			return 0
		if (sub_plan < 0) {
			err(t ": sub-results without a plan"); bad = 1
		} else if (sub_plan != sub_n) {
			err(t ": planned " sub_plan " sub-results, reported " sub_n)
			bad = 1
		}
		if (sub_f) {
			err(t ": " sub_f " sub-result(s) not ok"); bad = 1
		}
		tot = "pass:" sub_p " fail:" sub_f " xfail:0 xpass:0 skip:" \
			sub_s " error:0"
		if (sub_tot == "") {
			err(t ": sub-results without a totals line"); bad = 1
		} else if (sub_tot != tot) {
			err(t ": totals \"" sub_tot "\", sub-results \"" tot "\"")
			bad = 1
		}
		return bad
	}
	BEGIN {
		nw = split(want, w, " ")
		for (i = 1; i <= nw; i++)
			wanted[w[i]] = 1
		plan = -1
		sub_reset()
	}
	$0 == "TAP version 13" {
		if (hdr++)
			err("a second KTAP header")
		next
	}
	/^1\.\.[0-9]+$/ {
		if (plan >= 0)
			err("a second plan: " $0)
		plan = substr($0, 4) + 0
		next
	}
	/^# selftests: / { sub_reset(); next }
	/^# / {
		l = substr($0, 3)
		if (l == "TAP version 13") {
			sub_reset(); sub_hdr = 1
		} else if (!sub_hdr) {
		} else if (l ~ /^1\.\.[0-9]+/) {
			sub_plan = l
			sub(/^1\.\./, "", sub_plan)
			sub(/[^0-9].*/, "", sub_plan)
			sub_plan += 0
		} else if (l ~ /^ok [0-9]+/) {
			sub_n++
			if (l ~ / # SKIP/)
				sub_s++
			else
				sub_p++
		} else if (l ~ /^not ok [0-9]+/) {
			sub_n++; sub_f++
			print "  " l
		} else if (l ~ /^# Totals: /) {
			sub_tot = substr(l, 11)
		}
		next
	}
	$0 == "#" || $0 == "" { next }
	/^(not )?ok [0-9]+ / {
		line = $0
		res = "ok"
		if (line ~ /^not /) {
			res = "not ok"
			line = substr(line, 5)
		}
		line = substr(line, 4)
		num = line
		sub(/ .*/, "", num)
		line = substr(line, length(num) + 2)
		dir = ""
		if (k = index(line, " # ")) {
			dir = substr(line, k + 3)
			line = substr(line, 1, k - 1)
		}
		if (substr(line, 1, length(prefix)) != prefix) {
			err("a result of something else: " $0)
			next
		}
		t = substr(line, length(prefix) + 1)
		n++
		if (num + 0 != n)
			err("result " num " where " n " was due: " $0)
		if (!(t in wanted)) {
			err("a result for a test not selected: " $0)
			next
		}
		if (t in seen) {
			err("a second result for " t)
			next
		}
		seen[t] = 1
		bad = sub_judge(t)
		sub_reset()
		if (res == "not ok") {
			print $0; f++
		} else if (dir == "SKIP") {
			s++
		} else if (dir != "") {
			err(t ": ok with the directive \"" dir "\""); f++
		} else if (bad) {
			f++
		} else {
			p++
		}
		next
	}
	/^Bail out!/ { err($0); next }
	{ err("not KTAP: " $0) }
	END {
		if (!hdr)
			err("no KTAP header: the kselftest runner never started")
		if (plan < 0)
			err("no plan")
		else if (plan != nw)
			err("plan 1.." plan " for " nw " tests selected")
		for (i = 1; i <= nw; i++)
			if (!(w[i] in seen)) {
				err(w[i] ": no result"); f++
			}
		print "COUNTS " p + 0 " " f + 0 " " s + 0 " " errs + 0
	}'
}

# Judge the run; print why it failed. Returns non-zero on failure.
check() {
	local tests=$1 errors=0 verdict counts p f s e

	tr -d '\r' <"$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
	# The guest's output: the runner's KTAP (kmemleak comes below).
	sed '/^@@KMEMLEAK-BEGIN@@/,$d' "$RESULTS"

	if [ "${VM_TIMED_OUT:-0}" = 1 ]; then
		log "ERROR: the guest did not finish within ${VM_TIMEOUT}s"
		errors=1
	fi
	if [ -n "${QEMU_RC:-}" ]; then
		log "ERROR: qemu failed (exit $QEMU_RC), see $CONSOLE"
		tail -20 "$CONSOLE" >&2
		errors=1
	fi
	if ! grep -q '^TAP version 13$' "$RESULTS"; then
		log "ERROR: the test runner never started (see $CONSOLE)"
		tail -30 "$CONSOLE" >&2
		errors=1
	elif ! grep -q '^@@TBSTREAM-DONE@@' "$RESULTS"; then
		log "ERROR: the test runner did not finish"
		errors=1
	fi

	verdict=$(sed '/^@@KMEMLEAK-BEGIN@@/,$d' "$RESULTS" |
		judge_ktap "$(echo "$tests" | tr ',' ' ')")
	counts=$(echo "$verdict" | sed -n 's/^COUNTS //p')
	read -r p f s e <<<"$counts"
	if [ "$f" != 0 ] || [ "$e" != 0 ]; then
		log "ERROR: $f test(s) failed, $e error(s) in the KTAP:"
		echo "$verdict" | grep -v '^COUNTS ' >&2
		errors=1
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
	echo "$p passed, $f failed, $s skipped"
	return $errors
}

main() {
	local tests

	[ -f "$KTREE/.tbstream-unpacked" ] || bash "$SRC/harness/prepare.sh"
	# Re-wire cheaply so that new driver files get their symlinks.
	bash "$SRC/harness/prepare.sh" >/dev/null 2>&1 ||
		die "harness/prepare.sh failed"

	mkdir -p "$BUILD"
	exec 9>"$BUILD/$VM_NAME.lock"
	flock -n 9 || { log "waiting for another vm.sh"; flock 9; }

	# The kernel and modules only, for harness/tbvm.sh
	if [ "${1:-}" = build ]; then
		configure
		build_kernel
		return 0
	fi
	if [ "${1:-}" = demo ]; then
		[ -f "$TESTDIR/demo.sh" ] || die "no demo.sh in $TESTDIR"
		tests=demo.sh
	else
		tests=$(select_tests "$@")
	fi
	[ -n "$tests" ] || die "no tests selected"
	tests=$(echo "$tests" | paste -sd,)

	configure
	build_kernel
	build_initramfs
	# All of them: run_kselftest.sh without -t, as a user would
	if [ $# = 0 ]; then
		boot all
	else
		boot "$tests"
	fi
	check "$tests" || die "VM run failed"
}

main "$@"; exit

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Boot the unmodified thunderbolt.ko on the emulated Thunderbolt host
# controller (qemu/tb-nhi.c, built by harness/qemu.sh) and judge it.
#
#   bash harness/tbvm.sh           all: single, then pair (make check)
#   bash harness/tbvm.sh single    one guest with -device tb-nhi;
#                                  thunderbolt.ko binds, the ICM handshake
#                                  completes, domain0 and 0-0 appear, and
#                                  a module reload does it again
#   bash harness/tbvm.sh pair      two guests joined by the cable (a QEMU
#                                  socket chardev): XDomain 0-1 and the
#                                  stream service 0-1.0 on both, then the
#                                  flows of harness/tbvm/init: TBVM_MIB
#                                  (64) MiB each way with equal SHA-256
#                                  at both ends, EPIPE, a second stream,
#                                  tar | gzip, TBVM_REPLUGS (3) unplugs
#                                  during a transfer (done here, over
#                                  QMP), each with a replug and 1 MiB
#                                  through it, rmdir -p
#
# At the guests' @@TBVM-MARK@@ lines the controllers' counters are read
# over QMP (.build/tbvm-<name>-<mark>.stats); the run prints them per GiB
# for each direction of the bulk transfer.
#
# The guests run the test VM's kernel and modules (.build/vm-kernel, built
# by "harness/vm.sh build"; its fragment has CONFIG_PCI_MSI=y, which the
# NHI driver needs). Also under .build/:
#   tbvm-initramfs.cpio.gz  busybox, the modules and harness/tbvm/init
#   tbvm-<name>-console.log, tbvm-<name>-results.log   per guest
#
# A guest fails on a "not ok" line, a missing @@TBVM-DONE@@ (hang or
# timeout, TBVM_TIMEOUT seconds), a kernel splat (SPLAT_RE), a
# thunderbolt error/fail/warn line on the console or a kmemleak report;
# the pair also fails when a pair of SHA-256 lines differs. Prints
# "N passed, N failed".

set -euo pipefail
. "$(dirname "$0")/lib.sh"

TBVMK="$BUILD/vm-kernel"
MODSTAGE="$BUILD/vm-modules"
ROOTFS="$BUILD/tbvm-rootfs"
INITRAMFS="$BUILD/tbvm-initramfs.cpio.gz"
TBVM_TIMEOUT=${TBVM_TIMEOUT:-600}
TBVM_MIB=${TBVM_MIB:-64}
TBVM_REPLUGS=${TBVM_REPLUGS:-3}
TB_ERR_RE='thunderbolt.*(error|fail|warn)|tb-nhi: '
PASSED=0
FAILED=0

build_initramfs() {
	busybox_rootfs "$ROOTFS" "$SRC/harness/tbvm/init" "$MODSTAGE"
	pack_initramfs "$ROOTFS" "$TBVMK" "$INITRAMFS"
}

# start_guest NAME ROLE DEVICE-OPTIONS [QEMU ARGS...]: in the background
start_guest() {
	local name=$1 role=$2 dev=$3

	shift 3
	: >"$BUILD/tbvm-$name-results.log"
	timeout -k 10 "$TBVM_TIMEOUT" "$QEMU" -accel tcg \
		-L /usr/share/seabios -L /usr/lib/ipxe/qemu -L /usr/share/qemu \
		-m "${TBVM_MEM:-1G}" -smp "${TBVM_SMP:-1}" -nographic \
		-no-reboot -monitor none -nic none \
		-serial stdio -serial "file:$BUILD/tbvm-$name-results.log" \
		-kernel "$TBVMK/arch/x86/boot/bzImage" -initrd "$INITRAMFS" \
		-append "console=ttyS0 panic=-1 tbvm=$role tbvm_mib=$TBVM_MIB tbvm_replugs=$TBVM_REPLUGS ${TBVM_APPEND:-}" \
		-qmp "unix:$BUILD/tbvm-$name.qmp,server=on,wait=off" \
		-d guest_errors \
		-device "tb-nhi,id=tbnhi$dev,stats=on${TBVM_DEV:-}" "$@" \
		</dev/null >"$BUILD/tbvm-$name-console.log" 2>&1 &
	GUEST_PID=$!
}

# judge NAME RC: count the guest's results and print what is wrong
judge() {
	local name=$1 rc=$2
	local res="$BUILD/tbvm-$name-results.log"
	local con="$BUILD/tbvm-$name-console.log" p f bad=0 leaks

	tr -d '\r' <"$res" >"$res.tmp" && mv "$res.tmp" "$res"
	sed '/^@@KMEMLEAK-BEGIN@@/,$d' "$res" | sed "s/^/[$name] /"
	p=$(grep -c '^ok ' "$res" || true)
	f=$(grep -c '^not ok ' "$res" || true)
	if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
		log "ERROR: $name did not finish within ${TBVM_TIMEOUT}s"
		bad=1
	elif [ "$rc" != 0 ]; then
		log "ERROR: qemu ($name) exited with $rc"
		tail -20 "$con" >&2
		bad=1
	fi
	if ! grep -q '^@@TBVM-DONE@@' "$res"; then
		log "ERROR: $name did not finish its tests (see $con)"
		tail -30 "$con" >&2
		bad=1
	fi
	if find_splats "$con" >"$BUILD/tbvm-$name-splats.log"; then
		log "ERROR: kernel splat on the $name console:"
		head -20 "$BUILD/tbvm-$name-splats.log" >&2
		bad=1
	fi
	if grep -aiE "$TB_ERR_RE" "$con" | grep -avE '^(not )?ok [0-9]+ |^# ' \
		>"$BUILD/tbvm-$name-tberrors.log"; then
		log "ERROR: thunderbolt errors or warnings on the $name console:"
		head -20 "$BUILD/tbvm-$name-tberrors.log" >&2
		bad=1
	fi
	leaks=$(sed -n '/^@@KMEMLEAK-BEGIN@@/,/^@@KMEMLEAK-END@@/p' "$res" |
		grep -v '^@@' || true)
	if [ -n "$leaks" ]; then
		log "ERROR: kmemleak reports on $name:"
		echo "$leaks" | head -40 >&2
		bad=1
	fi
	grep -a '^tb-nhi\[.*\] stats:' "$con" | sed "s/^/[$name] /" || true
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f + bad))
	return 0
}

# qmp NAME link on|off: plug or unplug the cable at guest NAME
# qmp NAME stats: print the controller's counters, "name value" a line
qmp() {
	python3 - "$BUILD/tbvm-$1.qmp" "$2" "${3:-}" <<-'EOF'
	import json, socket, sys
	s = socket.socket(socket.AF_UNIX)
	s.connect(sys.argv[1])
	f = s.makefile("rw")
	def cmd(c, **a):
	    f.write(json.dumps({"execute": c, "arguments": a}) + "\n")
	    f.flush()
	    while True:
	        r = json.loads(f.readline())
	        if "return" in r or "error" in r:
	            return r
	f.readline()
	cmd("qmp_capabilities")
	dev = "/machine/peripheral/tbnhi"
	if sys.argv[2] == "link":
	    r = cmd("qom-set", path=dev, property="link",
	            value=sys.argv[3] == "on")
	    sys.exit("error" in r)
	for p in cmd("qom-list", path=dev)["return"]:
	    if p["name"].startswith("stat-"):
	        r = cmd("qom-get", path=dev, property=p["name"])
	        print(p["name"][5:], r.get("return"))
	EOF
}

# wait_marker MARKER SECONDS PID...: until both result logs have the
# line MARKER, false after SECONDS or once a guest (PID) has gone
wait_marker() {
	local m=$1 n=$(($2 * 10)) f all pid

	shift 2
	while [ $n -gt 0 ]; do
		all=1
		for f in "$BUILD/tbvm-recv-results.log" \
			 "$BUILD/tbvm-send-results.log"; do
			grep -q "^$m" "$f" 2>/dev/null || all=0
		done
		[ $all = 1 ] && return 0
		for pid in "$@"; do
			kill -0 "$pid" 2>/dev/null || return 1
		done
		sleep 0.1
		n=$((n - 1))
	done
	return 1
}

# snapshot MARK: both controllers' counters at MARK
snapshot() {
	local name

	for name in recv send; do
		qmp "$name" stats >"$BUILD/tbvm-$name-$1.stats" ||
			log "ERROR: reading the counters of $name failed"
	done
}

# per_gib FROM TO WHAT: counters per GiB moved between two snapshots
per_gib() {
	local name a b

	for name in recv send; do
		a="$BUILD/tbvm-$name-$1.stats"
		b="$BUILD/tbvm-$name-$2.stats"
		if [ ! -s "$a" ] || [ ! -s "$b" ]; then
			continue
		fi
		awk -v mib="$TBVM_MIB" -v what="$3" -v name="$name" '
			NR == FNR { a[$1] = $2; next }
			{ d[$1] = $2 - a[$1] }
			END {
				g = 1024 / mib
				printf "[tbvm] %s, %s: per GiB: mmio_writes %d " \
					"interrupts %d tx_frames %d rx_frames %d " \
					"mmio_reads %d credit_stalls %d " \
					"rx_dropped %d\n", what, name,
					d["mmio-writes"] * g, d["interrupts"] * g,
					d["tx-frames"] * g, d["rx-frames"] * g,
					d["mmio-reads"] * g, d["credit-stalls"] * g,
					d["rx-dropped"] * g
			}' "$a" "$b"
	done
}

# same_sha TAG: the receiver got what the sender sent
same_sha() {
	local sa sb

	sa=$(sed -n "s/^$1 recv //p" "$BUILD/tbvm-recv-results.log" | tr -d '\r')
	sb=$(sed -n "s/^$1 send //p" "$BUILD/tbvm-send-results.log" | tr -d '\r')
	if [ -n "$sa" ] && [ "$sa" = "$sb" ]; then
		log "$1 equal at both ends: $sa"
		PASSED=$((PASSED + 1))
	else
		log "ERROR: $1 differ: recv '$sa', send '$sb'"
		FAILED=$((FAILED + 1))
	fi
}

run_single() {
	local rc=0

	log "single guest (timeout ${TBVM_TIMEOUT}s)"
	start_guest single single ",uid=0x8086000000000101"
	wait "$GUEST_PID" || rc=$?
	judge single "$rc"
}

run_pair() {
	local sock="$BUILD/tbvm-cable.sock" pa pb ra=0 rb=0 m k

	log "two guests on one cable, $TBVM_MIB MiB (timeout ${TBVM_TIMEOUT}s)"
	rm -f "$sock" "$BUILD"/tbvm-*.stats
	start_guest recv recv ",uid=0x8086000000000a0a,chardev=cable" \
		-chardev "socket,id=cable,path=$sock,server=on,wait=off"
	pa=$GUEST_PID
	for _ in $(seq 50); do
		[ -S "$sock" ] && break
		sleep 0.1
	done
	start_guest send send ",uid=0x8086000000000b0b,chardev=cable" \
		-chardev "socket,id=cable,path=$sock,reconnect=1"
	pb=$GUEST_PID
	for m in bulk-a bulk-b bulk-end; do
		wait_marker "@@TBVM-MARK@@ $m" "$TBVM_TIMEOUT" "$pa" "$pb" ||
			break
		snapshot "$m"
	done
	for k in $(seq "$TBVM_REPLUGS"); do
		wait_marker "@@TBVM-UNPLUG@@ $k" "$TBVM_TIMEOUT" "$pa" "$pb" ||
			break
		log "unplugging the cable during a transfer ($k of $TBVM_REPLUGS)"
		qmp send link off || log "ERROR: qom-set link off failed"
		sleep 3
		log "plugging the cable back"
		qmp send link on || log "ERROR: qom-set link on failed"
	done
	wait "$pa" || ra=$?
	wait "$pb" || rb=$?
	judge recv "$ra"
	judge send "$rb"
	same_sha SHA256
	same_sha SHA256R
	same_sha SHA256T1
	same_sha SHA256TAR
	for k in $(seq "$TBVM_REPLUGS"); do
		same_sha "SHA256B$k"
	done
	per_gib bulk-a bulk-b "A (recv <- send, $TBVM_MIB MiB)"
	per_gib bulk-b bulk-end "B (recv -> send, $TBVM_MIB MiB)"
}

main() {
	local what=${1:-all}

	case "$what" in
	single|pair|all) ;;
	*) die "usage: $0 [single|pair|all]" ;;
	esac
	[ -f "$KTREE/.tbstream-unpacked" ] || bash "$SRC/harness/prepare.sh"
	bash "$SRC/harness/prepare.sh" >/dev/null 2>&1 ||
		die "harness/prepare.sh failed"
	QEMU=$(bash "$SRC/harness/qemu.sh" | tail -1)
	[ -x "$QEMU" ] || die "no qemu binary from harness/qemu.sh"

	exec 9>"$BUILD/tbvm.lock"
	flock -n 9 || { log "waiting for another tbvm.sh"; flock 9; }
	# The test VM's kernel and modules (its fragment has PCI_MSI=y)
	bash "$SRC/harness/vm.sh" build
	build_initramfs

	case "$what" in
	single) run_single ;;
	pair) run_pair ;;
	all) run_single; run_pair ;;
	esac
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

main "$@"

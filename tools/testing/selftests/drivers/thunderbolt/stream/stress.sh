#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Fault campaign over the simulated cable (busybox sh, in the test VM).
#
#   sh stress.sh [COUNT [SEED]]
#
# COUNT and SEED default to tbstress_count= and tbstress_seed= on the
# kernel command line (make stress COUNT=... SEED=...), then to 50 and a
# seed taken from the clock. The seed is printed; the same seed replays
# the same choices (sizes, directions, faults, delays).
#
# Each iteration makes one or two streams (host B allocates the HopIDs,
# host A inherits them), starts a transfer on each (random size, random
# direction, random block sizes; the writer sends a known file, the
# reader keeps what it gets) and, at a random point, does one fault to
# the first stream: unplug and replug the cable, rmdir the reader's or
# the writer's stream, kill the writer, kill the reader, kill -9 a
# process blocked in read, write or poll (then transfer again), open
# the devices from several processes at once, or stop the reader for 5 s
# (SIGSTOP, as a disk in writeback would: the writer's close must wait). Every RELOAD iterations
# the module is unloaded and loaded again.
#
# What the reader got must always be a prefix of what was sent. A
# transfer is intact when both ends agree on the whole file; otherwise
# both ends must report what the fault explains (ENXIO after an unplug,
# end of file after the writer was killed or the reader's stream was
# removed, EPIPE for a writer whose reader went away...). A process
# still running 60 s after its fault is a hang. After every iteration
# the HopIDs of the cable must all be free again.
#
# Prints a summary and exits 1 on any failure.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

COUNT=${1:-$(cmdline_arg tbstress_count)}
SEED=${2:-$(cmdline_arg tbstress_seed)}
COUNT=${COUNT:-50}
SEED=${SEED:-$(( $(date +%s) % 1000000 ))}
RELOAD=${STRESS_RELOAD:-10}
HANG_S=${STRESS_HANG_S:-60}
W=/tmp/stress

FAULTS="none unplug rmdir-rx rmdir-tx kill-writer kill-reader blocked-read blocked-write blocked-poll openers reader-pause"
NFAULTS=11

# rnd N: R = a pseudo-random number in [0, N), from the seed only
ST=$SEED
rnd() {
	ST=$(( (ST * 1103515245 + 12345) % 2147483648 ))
	R=$(( (ST / 65536) % $1 ))
}

# counters: cnt NAME increments C_NAME
cnt() {
	local n

	n=$(echo "$1" | tr -c 'A-Za-z0-9_\n' _)
	eval "C_$n=\$(( \${C_$n:-0} + 1 ))"
}

FAILS=0
ITER=0
failure() {
	FAILS=$((FAILS + 1))
	echo "STRESS FAILURE: seed $SEED iteration $ITER: $*"
}

# status of a dd: ok, killed, or the errno its message names
dd_status() {
	local rc=$1 err=$2

	if [ "$rc" = 0 ]; then
		echo ok
	elif [ "$rc" -gt 128 ]; then
		echo killed
	elif grep -q "No such device or address" "$err"; then
		echo ENXIO
	elif grep -q "Broken pipe" "$err"; then
		echo EPIPE
	elif grep -q "Input/output error" "$err"; then
		echo EIO
	elif grep -q "Invalid argument" "$err"; then
		echo EINVAL
	elif grep -q "No such file" "$err"; then
		echo ENOENT
	else
		echo "other($(head -c 80 "$err" | tr '\n' ' '))"
	fi
}

# wait_bounded PID...: wait for the processes, at most HANG_S seconds
# from now; kill -9 what is left and return 1 on a hang
wait_bounded() {
	local t=0 alive p

	while :; do
		alive=
		for p in "$@"; do
			kill -0 "$p" 2>/dev/null && alive="$alive $p"
		done
		[ -z "$alive" ] && return 0
		if [ $t -ge $((HANG_S * 10)) ]; then
			for p in $alive; do
				echo "hung: $p $(cat /proc/$p/cmdline 2>/dev/null | tr '\0' ' ') wchan $(cat /proc/$p/wchan 2>/dev/null)"
				cat /proc/$p/stack 2>/dev/null
				kill -9 "$p" 2>/dev/null
			done
			return 1
		fi
		sleep 0.1
		t=$((t + 1))
	done
}

setup_cable() {
	new_cable
	PLUG="$SIMFS/cable$CABLE/plugged"
}

# prepare K: make stream K of this iteration, pick its transfer
prepare() {
	local k=$1 size

	eval "N$k=s${ITER}n$k"
	eval "name=\$N$k"
	mkstream "$SVC_B" "$name" -1 -1 >/dev/null
	mkstream "$SVC_A" "$name" >/dev/null
	wait_inherit "$SVC_A" "$name"
	rnd 2
	if [ $R = 0 ]; then
		eval "WDEV$k=$(dev_of "$SVC_A" "$name") RDEV$k=$(dev_of "$SVC_B" "$name")"
		eval "WSIDE$k=$SVC_A RSIDE$k=$SVC_B"
	else
		eval "WDEV$k=$(dev_of "$SVC_B" "$name") RDEV$k=$(dev_of "$SVC_A" "$name")"
		eval "WSIDE$k=$SVC_B RSIDE$k=$SVC_A"
	fi
	rnd 5
	case $R in
	0) rnd 5000; size=$R ;;
	1) rnd 64; size=$((R * 4096)); rnd 3; size=$((size + R)); [ $size -gt 0 ] && size=$((size - 1)) ;;
	2) rnd 524288; size=$R ;;
	3) rnd 3145728; size=$R ;;
	4) rnd 1048576; size=$((1048576 + R)) ;;
	esac
	eval "SIZE$k=$size"
	mkdir -p "$W/$k"
	rm -f "$W/$k"/*
	head -c "$size" /dev/urandom >"$W/$k/src"
	set -- 512 1000 4096 65536 262144 1048576
	rnd 6
	eval "WBS$k=\${$((R + 1))}"
	rnd 4
	eval "RBS$k=\${$((R + 1))}"
}

# start K: start the reader and the writer of stream K
start() {
	local k=$1 wdev rdev wbs rbs

	eval "wdev=\$WDEV$k rdev=\$RDEV$k wbs=\$WBS$k rbs=\$RBS$k"
	dd if="$rdev" of="$W/$k/dst" bs="$rbs" 2>"$W/$k/r.err" &
	eval "RPID$k=$!"
	dd if="$W/$k/src" of="$wdev" bs="$wbs" 2>"$W/$k/w.err" &
	eval "WPID$k=$!"
}

# finish K FAULT: wait for stream K and judge it
finish() {
	local k=$1 fault=$2 wpid rpid wrc rrc ws rs ssize dsize full=0 ok=1
	local size wbs rbs

	eval "wpid=\$WPID$k rpid=\$RPID$k size=\$SIZE$k wbs=\$WBS$k rbs=\$RBS$k"
	if ! wait_bounded "$wpid" "$rpid"; then
		failure "stream $k ($fault, $size bytes): hang"
		cnt hang
	fi
	wait "$wpid"
	wrc=$?
	wait "$rpid"
	rrc=$?
	ws=$(dd_status $wrc "$W/$k/w.err")
	rs=$(dd_status $rrc "$W/$k/r.err")
	[ "$rs" = ok ] && rs=EOF
	ssize=$(wc -c <"$W/$k/src")
	dsize=$(wc -c <"$W/$k/dst" 2>/dev/null || echo 0)
	[ -f "$W/$k/dst" ] || : >"$W/$k/dst"
	what="stream $k ($fault, $size bytes, bs $wbs/$rbs): writer $ws, reader $rs, got $dsize"

	# Never corrupted bytes: what arrived is a prefix of what was sent
	if [ "$dsize" -gt "$ssize" ] ||
	   [ "$(sum "$W/$k/dst")" != "$(head -c "$dsize" "$W/$k/src" | sha256sum | cut -d' ' -f1)" ]; then
		failure "$what: received bytes are not a prefix of the file sent"
		cnt corrupt
		return
	fi
	[ "$dsize" = "$ssize" ] && full=1

	if [ $full = 1 ] && [ "$rs" = EOF ] && [ "$ws" = ok ]; then
		cnt intact
		return
	fi
	case "$fault" in
	none|openers|blocked-*|reader-pause)
		ok=0 ;;
	unplug)
		case "$rs" in
		ENXIO) ;;
		EOF) [ $full = 1 ] || ok=0 ;;
		*) ok=0 ;;
		esac
		case "$ws" in
		ok|ENXIO) ;;
		*) ok=0 ;;
		esac ;;
	rmdir-rx)
		case "$rs" in
		EOF|ENXIO) ;;
		*) ok=0 ;;
		esac
		case "$ws" in
		ok|EPIPE|ENXIO) ;;
		*) ok=0 ;;
		esac ;;
	rmdir-tx)
		case "$ws" in
		ok|ENXIO) ;;
		*) ok=0 ;;
		esac
		case "$rs" in
		ENXIO) ;;
		EOF) [ $full = 1 ] || [ "$ws" != ok ] || ok=0 ;;
		*) ok=0 ;;
		esac ;;
	kill-writer)
		case "$ws" in
		ok|killed) ;;
		*) ok=0 ;;
		esac
		[ "$rs" = EOF ] || ok=0
		[ $full = 1 ] || [ "$ws" = killed ] || ok=0 ;;
	kill-reader)
		case "$rs" in
		killed) ;;
		EOF) [ $full = 1 ] || ok=0 ;;
		*) ok=0 ;;
		esac
		case "$ws" in
		ok|EPIPE) ;;
		*) ok=0 ;;
		esac ;;
	esac
	if [ $ok = 0 ]; then
		failure "$what: not explained by the fault"
		cat "$W/$k/w.err" "$W/$k/r.err" | grep -v records | head -4
		cnt unexplained
		return
	fi
	cnt "end_r_${rs}_w_${ws}"
	cnt ended_error
}

# blocked FAULT: kill -9 a process blocked on stream 1 before the transfer
blocked() {
	local pid

	case "$1" in
	blocked-read)
		dd if="$RDEV1" of=/dev/null bs=4096 2>/dev/null &
		pid=$! ;;
	blocked-write)
		dd if=/dev/zero of="$WDEV1" bs=65536 count=128 2>/dev/null &
		pid=$! ;;
	blocked-poll)
		tbstream_try poll-wait "$RDEV1" >/dev/null &
		pid=$! ;;
	esac
	rnd 800
	usleep $(( (R + 200) * 1000 ))
	if ! kill -0 $pid 2>/dev/null; then
		wait $pid
		failure "$1: the process did not block (exit $?)"
		cnt unexplained
	fi
	kill -9 $pid 2>/dev/null
	wait_bounded $pid || { failure "$1: kill -9 did not end it"; cnt hang; }
	wait $pid 2>/dev/null
}

# openers: several processes open and poll both ends of stream 1 at once
openers() {
	local i pids=

	for i in 1 2 3 4; do
		(tbstream_try poll "$RDEV1" >"$W/op.r$i") &
		pids="$pids $!"
		(tbstream_try poll "$WDEV1" >"$W/op.w$i") &
		pids="$pids $!"
	done
	wait_bounded $pids || { failure "openers: hang"; cnt hang; }
	for i in $pids; do
		wait $i
	done
	for i in 1 2 3 4; do
		for f in "$W/op.r$i" "$W/op.w$i"; do
			case "$(cat "$f")" in
			ok*) ;;
			*) failure "openers: poll gave '$(cat "$f")'"
			   cnt unexplained ;;
			esac
		done
	done
}

# cleanup: remove the streams of the iteration, check the HopIDs are free
cleanup() {
	local k name

	[ "$(cat "$PLUG")" = 1 ] || echo 1 >"$PLUG"
	for k in 1 2; do
		eval "name=\${N$k:-}"
		[ -n "$name" ] || continue
		for s in "$SVC_A" "$SVC_B"; do
			[ -d "$CONFIGFS/$s/$name" ] && rmdir "$CONFIGFS/$s/$name"
			[ -d "$CONFIGFS/$s/$name" ] &&
				failure "cannot rmdir $s/$name"
		done
		eval "N$k="
	done
	hopids_free() {
		[ "$(cat "$SIMFS/cable$CABLE/hopids_a")" = 0 ] &&
		[ "$(cat "$SIMFS/cable$CABLE/hopids_b")" = 0 ]
	}
	wait_for hopids_free || {
		failure "HopIDs still held: A $(cat "$SIMFS/cable$CABLE/hopids_a") B $(cat "$SIMFS/cable$CABLE/hopids_b")"
		cnt hopid_leak
	}
}

reload() {
	rmdir "$CONFIGFS/$SVC_A" "$CONFIGFS/$SVC_B" 2>/dev/null
	del_cable
	rmmod "$MODULE" || { failure "rmmod $MODULE"; return; }
	modprobe "$MODULE" || fail "modprobe $MODULE after rmmod"
	setup_cable
	cnt reload
}

need_sim
echo "stress: seed $SEED, $COUNT iterations, reload every $RELOAD (replay: make stress SEED=$SEED COUNT=$COUNT)"
mkdir -p "$W"
setup_cable
t0=$(date +%s)

while [ $ITER -lt "$COUNT" ]; do
	ITER=$((ITER + 1))
	rnd 3
	nstreams=1
	[ $R = 0 ] && nstreams=2
	rnd $NFAULTS
	set -- $FAULTS
	eval "fault=\${$((R + 1))}"
	cnt "fault_$(echo $fault | tr - _)"
	prepare 1
	[ $nstreams = 2 ] && prepare 2
	echo "iteration $ITER: $fault, $nstreams stream(s), $SIZE1 bytes $WSIDE1>$RSIDE1${SIZE2:+, $SIZE2 bytes $WSIDE2>$RSIDE2}"

	case $fault in
	blocked-*) blocked $fault ;;
	esac
	start 1
	[ $nstreams = 2 ] && start 2
	rnd 1500
	usleep $((R * 1000))
	case $fault in
	unplug)
		echo 0 >"$PLUG" || failure "unplug" ;;
	rmdir-rx)
		rmdir "$CONFIGFS/$RSIDE1/$N1" || failure "rmdir $RSIDE1/$N1" ;;
	rmdir-tx)
		rmdir "$CONFIGFS/$WSIDE1/$N1" || failure "rmdir $WSIDE1/$N1" ;;
	kill-writer)
		rnd 2
		if [ $R = 0 ]; then kill -9 $WPID1; else kill $WPID1; fi 2>/dev/null ;;
	kill-reader)
		rnd 2
		if [ $R = 0 ]; then kill -9 $RPID1; else kill $RPID1; fi 2>/dev/null ;;
	openers)
		openers ;;
	reader-pause)
		kill -STOP "$RPID1" 2>/dev/null
		sleep 5
		kill -CONT "$RPID1" 2>/dev/null ;;
	esac
	finish 1 $fault
	if [ $nstreams = 2 ]; then
		f2=none
		[ $fault = unplug ] && f2=unplug
		finish 2 $f2
	fi
	SIZE2=
	[ $fault = unplug ] && echo 1 >"$PLUG"
	cleanup
	if [ $((ITER % RELOAD)) = 0 ] && [ $ITER -lt "$COUNT" ]; then
		reload
	fi
done

rmdir "$CONFIGFS/$SVC_A" "$CONFIGFS/$SVC_B" 2>/dev/null
del_cable
rm -rf "$W"

echo "stress summary: seed $SEED, $ITER iterations in $(( $(date +%s) - t0 )) s"
printf '  faults:'
for f in $FAULTS; do
	eval "printf ' %s %s' $f \${C_fault_$(echo $f | tr - _):-0}"
done
echo "; module reloads ${C_reload:-0}"
echo "  transfers intact: ${C_intact:-0}"
echo "  transfers ended with an error: ${C_ended_error:-0}"
set | sed -n "s/^C_end_r_\([A-Za-z]*\)_w_\([A-Za-z]*\)=\(.*\)/    reader \1, writer \2: \3/p" | tr -d "'"
echo "  failures: $FAILS (corrupt ${C_corrupt:-0}, unexplained ${C_unexplained:-0}, hang ${C_hang:-0}, hopid leak ${C_hopid_leak:-0})"
[ $FAILS = 0 ]

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Allocation failures in our own system calls: mkdir of a service group
# and of a stream, attaching (new_cable, HopID writes), open, and the
# first write and read, which start the rings. With
# /proc/thread-self/fail-nth the N-th allocation of the one call fails,
# for N = 1, 2, ... until the call no longer reaches an N-th: every
# allocation on its path fails once (slab refills add page allocations
# to some runs, so the counts vary a little). A failed call must say
# ENOMEM and leave things as they were, the call must then succeed, and
# a transfer at the end must arrive intact; kmemleak (run by the
# harness) finds leaks.
#
# Only the calling task's allocations fail: those of work items (the
# simulated wire, the peer's reaction to an advertisement) are not
# covered.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

FAILSLAB=/sys/kernel/debug/failslab
FAILPAGE=/sys/kernel/debug/fail_page_alloc
# Far more than any path here has; a loop that reaches it is a bug
MAX_TRIES=3000
TBSTREAM_THROTTLING=8192
# Smallest rings: fewer allocations to fail, the same paths
RING_SIZE=32

need_sim
[ -e /proc/self/fail-nth ] || skip "no fail-nth (CONFIG_FAULT_INJECTION)"
if [ ! -d "$FAILSLAB" ] || [ ! -d "$FAILPAGE" ]; then
	skip "no failslab or fail_page_alloc in debugfs"
fi

# Both skip sleeping (GFP_KERNEL) allocations by default, and page
# allocations below order 1
restore_knobs() {
	echo Y > "$FAILSLAB/ignore-gfp-wait"
	echo Y > "$FAILPAGE/ignore-gfp-wait"
	echo 1 > "$FAILPAGE/min-order"
}
trap restore_knobs EXIT
echo N > "$FAILSLAB/ignore-gfp-wait" || fail "failslab/ignore-gfp-wait"
echo N > "$FAILPAGE/ignore-gfp-wait" || fail "fail_page_alloc/ignore-gfp-wait"
echo 0 > "$FAILPAGE/min-order" || fail "fail_page_alloc/min-order"

# inject LABEL DONE CHECK_FAILED CHECK_DONE UNDO OP ARGS...
#
# For N = 1, 2, ...: "tbstream_try fail-nth N OP ARGS...". DONE is what
# the call prints without injection. An injected failure must give
# ENOMEM and pass CHECK_FAILED (nothing changed). A call that returned
# DONE although its N-th allocation failed must pass CHECK_DONE, then
# UNDO restores the state before the call. The first call that ran
# without reaching its N-th allocation must pass CHECK_DONE and is kept.
inject() {
	label=$1 want=$2 check_failed=$3 check_done=$4 undo=$5
	shift 5
	n=1
	enomem=0
	absorbed=0
	t0=$(date +%s)
	while [ $n -le $MAX_TRIES ]; do
		res=$(tbstream_try fail-nth $n "$@")
		case "$res" in
		"$want")
			$check_done || fail "$label: after success"
			info "$label: $((n - 1)) allocations, $enomem ENOMEM," \
				"$absorbed ignored or with a fallback" \
				"($(($(date +%s) - t0)) s)"
			return 0
			;;
		"err ENOMEM fired")
			enomem=$((enomem + 1))
			$check_failed || fail "$label: after ENOMEM at $n"
			;;
		"$want fired")
			# One with a fallback (kmemleak's metadata, slab's
			# high-order pages) or whose failure the kernel
			# ignores (debugfs files, uevents)
			absorbed=$((absorbed + 1))
			$check_done || fail "$label: after ignored failure at $n"
			$undo || fail "$label: undo after $n"
			;;
		*)
			fail "$label: allocation $n: '$res'"
			;;
		esac
		n=$((n + 1))
	done
	fail "$label: more than $MAX_TRIES allocations"
}

true_() {
	true
}

misc_count() {
	set -- /sys/class/misc/tbstream*
	[ -e "$1" ] || set --
	echo $#
}

hopids() {
	cat "$SIMFS/cable$CABLE/hopids_$1"
}

# not_open SVC NAME: no file of the stream is open, so that a setting
# can change (throttling, which the simulated cable ignores, to a value
# not in effect)
not_open() {
	echo $((TBSTREAM_THROTTLING + n)) > "$CONFIGFS/$1/$2/throttling"
}

new_cable
misc0=$(misc_count)

# --- mkdir of service groups: one whose peer is there, and one whose
# name is too long for the name buffer in the config_item
for grp in "$SVC_B" 0-ffffffffffffffff.0; do
	gdir="$CONFIGFS/$grp"
	group_gone() {
		[ ! -d "$gdir" ]
	}
	group_there() {
		[ -d "$gdir" ]
	}
	group_rm() {
		rmdir "$gdir"
	}
	inject "mkdir $grp" "ok 0" group_gone group_there group_rm \
		mkdir "$gdir"
done
rmdir "$CONFIGFS/0-ffffffffffffffff.0" || fail "rmdir long group"
mkdir "$CONFIGFS/$SVC_A" || fail "mkdir $SVC_A"

# --- mkdir of a stream on host B, attached at once (no HopIDs yet)
sdir="$CONFIGFS/$SVC_B/af"
stream_gone() {
	[ ! -d "$sdir" ] && [ "$(misc_count)" = "$misc0" ]
}
stream_there() {
	[ -d "$sdir" ] && [ -c "/dev/tbstream$(cat "$sdir/index")" ] &&
	[ "$(misc_count)" = $((misc0 + 1)) ]
}
stream_rm() {
	rmdir "$sdir"
}
inject "mkdir stream" "ok 0" stream_gone stream_there stream_rm \
	mkdir "$sdir"
dev_b="/dev/tbstream$(cat "$sdir/index")"
echo $RING_SIZE > "$sdir/ring_size" || fail "ring_size on B"

# --- HopID writes on host B: the second one advertises the stream,
# which host A's stream of the same name must then inherit
in_unset() {
	[ "$(attr "$SVC_B" af in_hopid)" = 0 ] && [ "$(hopids b)" = 0 ]
}
in_set() {
	[ "$(attr "$SVC_B" af in_hopid)" -ge 8 ] && [ "$(hopids b)" = 1 ]
}
in_clear() {
	echo 0 > "$sdir/in_hopid"
}
inject "in_hopid -1" "ok 2" in_unset in_set in_clear \
	store "$sdir/in_hopid" -1
# ENOMEM from advertising keeps the new HopID: writing it again retries
out_unset() {
	if [ "$(attr "$SVC_B" af out_hopid)" = 0 ]; then
		[ "$(hopids b)" = 1 ]
		return
	fi
	[ "$(tbstream_try store "$sdir/out_hopid" -1)" = "ok 2" ] &&
	out_set && out_clear
}
# The peer sees the advertisement: a new stream of that name inherits
out_set() {
	[ "$(attr "$SVC_B" af out_hopid)" -ge 8 ] && [ "$(hopids b)" = 2 ] &&
	mkdir "$CONFIGFS/$SVC_A/af" && has_hopids "$SVC_A" af &&
	rmdir "$CONFIGFS/$SVC_A/af"
}
out_clear() {
	echo 0 > "$sdir/out_hopid"
}
inject "out_hopid -1" "ok 2" out_unset out_set out_clear \
	store "$sdir/out_hopid" -1

# --- mkdir of host A's stream: attaches, inherits and advertises
adir="$CONFIGFS/$SVC_A/af"
a_gone() {
	[ ! -d "$adir" ] && [ "$(misc_count)" = $((misc0 + 1)) ] &&
	[ "$(hopids a)" = 0 ]
}
a_there() {
	[ -d "$adir" ] && [ -c "/dev/tbstream$(cat "$adir/index")" ] &&
	has_hopids "$SVC_A" af && [ "$(hopids a)" = 2 ]
}
a_rm() {
	rmdir "$adir"
}
inject "mkdir inheriting stream" "ok 0" a_gone a_there a_rm mkdir "$adir"
dev_a="/dev/tbstream$(cat "$adir/index")"
echo $RING_SIZE > "$adir/ring_size" || fail "ring_size on A"

# --- new_cable: both hosts attach; B allocates and advertises, A
# inherits (from a work item)
grp_a=$SVC_A
grp_b=$SVC_B
del_cable
cable_gone() {
	! grep -q "^$CABLE " "$SIMFS/cables" &&
	[ "$(attr "$grp_b" af in_hopid)" = -1 ] &&
	[ "$(attr "$grp_a" af in_hopid)" = 0 ] &&
	[ "$(tbstream_try open-nb "$dev_b")" = "err ENXIO" ] &&
	[ "$(tbstream_try open-nb "$dev_a")" = "err ENXIO" ]
}
cable_there() {
	grep -qx "$CABLE A:$grp_a B:$grp_b plugged" "$SIMFS/cables" &&
	has_hopids "$grp_b" af && wait_for has_hopids "$grp_a" af
}
cable_del() {
	echo "$CABLE" > "$SIMFS/del_cable"
}
inject "new_cable" "ok 1" cable_gone cable_there cable_del \
	store "$SIMFS/new_cable" 1

# --- open of an attached stream with HopIDs
b_closed() {
	not_open "$SVC_B" af
}
inject "open" "ok 0" b_closed b_closed true_ open-nb "$dev_b"

# sink DEV: read DEV and discard, again after each end of file, until
# /tmp/af.stop exists. The other end's close then finds a reader for its
# CLOSE instead of waiting a second for one.
sink() {
	while [ ! -e /tmp/af.stop ]; do
		cat "$1" > /dev/null &
		echo $! > /tmp/af.sink
		wait $!
	done
}

start_sink() {
	rm -f /tmp/af.stop /tmp/af.sink
	sink "$1" 2>/dev/null &
	sinkpid=$!
}

stop_sink() {
	touch /tmp/af.stop
	while kill -0 $sinkpid 2>/dev/null; do
		[ -s /tmp/af.sink ] && kill "$(cat /tmp/af.sink)" 2>/dev/null
		sleep 0.1
	done
	rm -f /tmp/af.stop /tmp/af.sink
}

# --- first write on host A: starts its rings
a_closed() {
	not_open "$SVC_A" af
}
start_sink "$dev_b"
inject "first write" "ok 5" a_closed a_closed true_ \
	write-nb "$dev_a" hello
stop_sink
# Each frame of the rings is an allocation of its own
[ $enomem -ge $((RING_SIZE - 1)) ] || fail "first write: too few ENOMEM"

# --- first read on host B: starts its rings, finds nothing
start_sink "$dev_a"
inject "first read" "err EAGAIN" b_closed b_closed true_ read-nb "$dev_b"
stop_sink
[ $enomem -ge $((RING_SIZE - 1)) ] || fail "first read: too few ENOMEM"

# --- all of it still works
must dd if=/dev/urandom of=/tmp/af.in bs=64k count=32 2>/dev/null
cat "$dev_b" > /tmp/af.out &
reader=$!
must dd if=/tmp/af.in of="$dev_a" bs=64k 2>/dev/null
wait $reader || fail "reader failed"
assert_eq "$(sum /tmp/af.out)" "$(sum /tmp/af.in)" "transfer after faults"
rm -f /tmp/af.in /tmp/af.out

rmstream "$SVC_A" af
rmstream "$SVC_B" af
assert_eq "$(hopids a)" 0 "HopIDs held by A at the end"
assert_eq "$(hopids b)" 0 "HopIDs held by B at the end"
del_cable

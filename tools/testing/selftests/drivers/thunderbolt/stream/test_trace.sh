#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Tracepoints: a transfer over the simulated cable, traced through
# tracefs, leaves the events of the rings, the paths, every frame and the
# CLOSE with their fields; an unplug and a replug leave the detach and
# the attach with the HopIDs, and a read after the unplug the error it
# returned.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

TRACEFS=/sys/kernel/tracing
EVENTS=$TRACEFS/events/thunderbolt_stream

need_sim
[ -d "$TRACEFS/events" ] || mount -t tracefs nodev "$TRACEFS" 2>/dev/null
[ -d "$TRACEFS/events" ] || skip "no tracefs (CONFIG_TRACING)"
[ -d "$EVENTS" ] || fail "tracefs without the thunderbolt_stream events"

# has PATTERN: the trace has a line matching the extended regex PATTERN
has() {
	grep -Eq "$1" /tmp/trace.txt || fail "no trace line matching '$1'"
}

# count PATTERN: how many trace lines match PATTERN
count() {
	grep -Ec "$1" /tmp/trace.txt
}

echo 0 > "$TRACEFS/tracing_on"
echo > "$TRACEFS/trace"
echo 1 > "$EVENTS/enable" || fail "cannot enable the events"
echo 1 > "$TRACEFS/tracing_on"

new_cable
mkpair tr
a=$(attr "$SVC_A" tr index)
b=$(attr "$SVC_B" tr index)
in=$(attr "$SVC_B" tr in_hopid)
out=$(attr "$SVC_B" tr out_hopid)

# One write of 10000 bytes: frames of 4096, 4096 and 1808 bytes
head -c 10000 /dev/urandom > /tmp/tr.src
cat "$RX" > /tmp/tr.dst &
reader=$!
dd if=/tmp/tr.src of="$TX" bs=10000 count=1 2>/dev/null ||
	fail "write failed"
wait $reader || fail "reader failed"
cmp -s /tmp/tr.src /tmp/tr.dst || fail "data differs"

exec 3<"$RX"
echo 0 > "$SIMFS/cable$CABLE/plugged" || fail "unplug"
cat <&3 >/dev/null 2>/tmp/tr.err && fail "read after the unplug succeeded"
grep -q "No such device or address" /tmp/tr.err ||
	fail "read after the unplug: $(cat /tmp/tr.err)"
exec 3<&-
echo 1 > "$SIMFS/cable$CABLE/plugged" || fail "replug"
wait_inherit "$SVC_A" tr
in2=$(attr "$SVC_B" tr in_hopid)
out2=$(attr "$SVC_B" tr out_hopid)

echo 0 > "$TRACEFS/tracing_on"
cp "$TRACEFS/trace" /tmp/trace.txt
echo 0 > "$EVENTS/enable"

# Rings and paths: host A transmits to B's in HopID, receives on B's out
for s in starting running closing stopping idle; do
	has "tbstream_rings: tbstream$a rings=$s "
done
has "tbstream_rings: tbstream$b rings=running "
has "tbstream_paths: tbstream$a enable out_hopid=$in tx_hop=[0-9]+ in_hopid=$out rx_hop=[0-9]+ ret=0"
has "tbstream_paths: tbstream$a disable out_hopid=$in "
has "tbstream_paths: tbstream$b enable out_hopid=$out tx_hop=[0-9]+ in_hopid=$in "

# Every frame: queued on A, received on B, then the CLOSE
tx="tbstream_frame_queued: tbstream$a tx frame=[0-9]+"
assert_eq "$(count "$tx size=4096 sof=1 eof=2 ")" 2 "full frames queued"
assert_eq "$(count "$tx size=1808 sof=1 eof=2 ")" 1 "last frame queued"
assert_eq "$(count "$tx size=256 sof=1 eof=3 ")" 1 "CLOSE frames queued"
rx="tbstream_frame_done: tbstream$b rx frame=[0-9]+"
assert_eq "$(count "$rx size=4096 sof=1 eof=2 ")" 2 \
	"full frames received"
assert_eq "$(count "$rx size=1808 sof=1 eof=2 ")" 1 \
	"last frame received"
assert_eq "$(count "$rx size=256 sof=1 eof=3 ")" 1 "CLOSE frames received"
[ "$(count "tbstream_frame_queued: tbstream$b rx ")" -ge 31 ] ||
	fail "receive buffers of B not posted"
has "tbstream_close_sent: tbstream$a$"
has "tbstream_close_received: tbstream$b$"

# Unplug and replug, and the read in between
has "tbstream_detach: tbstream$b name=tr service=$SVC_B in_hopid=$in out_hopid=$out$"
# B allocates at attach; A may attach before B advertises, and inherit later
has "tbstream_attach: tbstream$b name=tr service=$SVC_B in_hopid=$in2 out_hopid=$out2$"
has "tbstream_attach: tbstream$a name=tr service=$SVC_A in_hopid=[0-9]+ out_hopid=[0-9]+$"
has "tbstream_error: tbstream$b read err=-6$"

rm -f /tmp/tr.src /tmp/tr.dst /tmp/tr.err /tmp/trace.txt
rmstream "$SVC_A" tr
rmstream "$SVC_B" tr
del_cable

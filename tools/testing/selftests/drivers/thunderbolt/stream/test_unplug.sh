#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Unplug while a read and a write are blocked: both end with ENXIO; the
# groups and nodes stay and a replug reapplies the configuration, after
# which data flows again. rmdir while open: reads give end of file,
# writes ENXIO, the node goes.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim
new_cable
plug="$SIMFS/cable$CABLE/plugged"

mkpair pull

# On host A: a reader that nobody writes to, and a writer that nobody
# reads from, so it runs out of credits. Both block.
tbstream_try read "$TX" > /tmp/r.out &
reader=$!
dd if=/dev/zero of="$TX" bs=1M count=64 2>/tmp/w.err &
writer=$!
sleep 2
kill -0 $reader 2>/dev/null || fail "reader did not block: $(cat /tmp/r.out)"
kill -0 $writer 2>/dev/null || fail "writer did not block"
echo 0 > "$plug" || fail "unplug"
wait $reader
assert_eq "$(cat /tmp/r.out)" "err ENXIO" "blocked read at unplug"
wait $writer && fail "writer survived the unplug"
grep -q "No such device or address" /tmp/w.err ||
	fail "blocked write at unplug: $(cat /tmp/w.err)"

# Nodes and groups stay; without the peer, O_NONBLOCK open gives ENXIO
[ -c "$RX" ] || fail "$RX gone after unplug"
expect "err ENXIO" open-nb "$RX"
assert_eq "$(attr "$SVC_B" pull in_hopid)" -1 "in_hopid while unplugged"
assert_eq "$(cat "$SIMFS/cable$CABLE/hopids_a")" 0 "HopIDs held by A"
assert_eq "$(cat "$SIMFS/cable$CABLE/hopids_b")" 0 "HopIDs held by B"

# Replug: the configuration is applied again and data flows
echo 1 > "$plug" || fail "replug"
b_in=$(attr "$SVC_B" pull in_hopid)
[ "$b_in" -ge 8 ] || fail "in_hopid $b_in after replug"
inherited_again() {
	[ "$(attr "$SVC_A" pull out_hopid)" = "$b_in" ]
}
wait_for inherited_again || fail "sender did not inherit again after replug"
cat "$RX" > /tmp/got &
reader=$!
echo "after replug" > "$TX" || fail "write after replug"
wait $reader || fail "reader after replug"

assert_eq "$(cat /tmp/got)" "after replug" "data after replug"

# rmdir while open: reads end of file, writes ENXIO
exec 6<>"$RX"
rmdir "$CONFIGFS/$SVC_B/pull" || fail "rmdir while open"
[ ! -e "$RX" ] || fail "$RX still there after rmdir"
assert_eq "$(cat <&6 | wc -c)" 0 "read after rmdir"
( echo x >&6 ) 2>/tmp/w.err && fail "write after rmdir succeeded"
grep -q "No such device or address" /tmp/w.err ||
	fail "write after rmdir: $(cat /tmp/w.err)"
exec 6<&-
rmdir "$CONFIGFS/$SVC_B" || fail "rmdir $SVC_B"
rm -f /tmp/r.out /tmp/w.err /tmp/got

rmstream "$SVC_A" pull
del_cable

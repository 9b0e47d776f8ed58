#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Two streams at once, one in each direction, with different ring sizes.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim
new_cable

# Host B configures both streams, host A inherits both: HopIDs are
# allocated independently on each host, so one host should allocate
# for all the streams of a link (see the admin guide)
ab_b=$(mkstream "$SVC_B" ab -1 -1)
ba_b=$(mkstream "$SVC_B" ba -1 -1)
ab_a=$(mkstream "$SVC_A" ab)
ba_a=$(mkstream "$SVC_A" ba)
echo 32 > "$CONFIGFS/$SVC_A/ba/ring_size" || fail "ring_size 32"
wait_inherit "$SVC_A" ab
wait_inherit "$SVC_A" ba

must dd if=/dev/urandom of=/tmp/s1 bs=1M count=16 2>/dev/null
must dd if=/dev/urandom of=/tmp/s2 bs=1M count=16 2>/dev/null

dd if="$ab_b" of=/tmp/d1 bs=64k 2>/dev/null &
r1=$!
dd if="$ba_a" of=/tmp/d2 bs=64k 2>/dev/null &
r2=$!
dd if=/tmp/s1 of="$ab_a" bs=256k 2>/dev/null &
w1=$!
dd if=/tmp/s2 of="$ba_b" bs=4k 2>/dev/null &
w2=$!
for p in $w1 $w2 $r1 $r2; do
	wait $p || fail "a transfer failed"
done
assert_eq "$(sum /tmp/d1)" "$(sum /tmp/s1)" "A to B"
assert_eq "$(sum /tmp/d2)" "$(sum /tmp/s2)" "B to A"
rm -f /tmp/s1 /tmp/s2 /tmp/d1 /tmp/d2

for s in ab ba; do
	rmstream "$SVC_A" $s
	rmstream "$SVC_B" $s
done
del_cable

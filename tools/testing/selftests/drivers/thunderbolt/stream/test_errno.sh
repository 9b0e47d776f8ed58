#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Every documented error of the ConfigFS ABI and of open(), with the exact
# errno, and that a failed write changes nothing.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim

# Group names
for bad in 0 0-1 0-1. 0-1.x x-1.0 0-g.0 "0-1.0 " 0-1.0.1 -1-1.0; do
	expect "err EINVAL" mkdir "$CONFIGFS/$bad"
done
expect "ok 0" mkdir "$CONFIGFS/0-503.0"
expect "err ENAMETOOLONG" mkdir "$CONFIGFS/0-503.0/ninechars"
expect "ok 0" mkdir "$CONFIGFS/0-503.0/eight888"
rmdir "$CONFIGFS/0-503.0/eight888" "$CONFIGFS/0-503.0" || fail "rmdir 0-503.0"

new_cable
dev=$(mkstream "$SVC_B" errs)
d="$CONFIGFS/$SVC_B/errs"

# Defaults
assert_eq "$(cat "$d/ring_size")" 256 "default ring_size"
assert_eq "$(cat "$d/throttling")" 8192 "default throttling"
assert_eq "$(cat "$d/busy_poll")" 0 "default busy_poll"
assert_eq "$(cat "$d/in_hopid")" 0 "default in_hopid"

# Attached, no HopIDs: open fails with EINVAL
expect "err EINVAL" open-nb "$dev"

# Ranges; a failed write changes nothing
for v in 31 4097 -1 abc " " 99999999999 0x1001; do
	expect "err EINVAL" store "$d/ring_size" "$v"
done
assert_eq "$(cat "$d/ring_size")" 256 "ring_size after bad writes"
expect "ok 2" store "$d/ring_size" 32
expect "ok 4" store "$d/ring_size" 4096
for v in 16776961 -1 x; do
	expect "err EINVAL" store "$d/throttling" "$v"
done
expect "ok 8" store "$d/throttling" 16776960
expect "ok 1" store "$d/throttling" 0
expect "err EINVAL" store "$d/busy_poll" maybe
for v in 7 1 2048 -2 x; do
	expect "err EINVAL" store "$d/in_hopid" "$v"
	expect "err EINVAL" store "$d/out_hopid" "$v"
done
assert_eq "$(cat "$d/in_hopid")" 0 "in_hopid after bad writes"

# HopIDs: automatic skips 8; an exact one that is taken gives EBUSY and
# keeps the old value; writing the value in effect is a no-op
expect "ok 2" store "$d/in_hopid" -1
expect "ok 2" store "$d/out_hopid" -1
in=$(cat "$d/in_hopid")
[ "$in" -ge 9 ] || fail "automatic in_hopid $in"
mkstream "$SVC_B" other >/dev/null
expect "err EBUSY" store "$CONFIGFS/$SVC_B/other/in_hopid" "$in"
assert_eq "$(cat "$CONFIGFS/$SVC_B/other/in_hopid")" 0 "after EBUSY"
expect "ok ${#in}" store "$d/in_hopid" "$in"
assert_eq "$(cat "$d/in_hopid")" "$in" "rewriting the same HopID"
rmstream "$SVC_B" other

# Open: attributes are busy, except for their current value
exec 3<>"$dev"
expect "err EBUSY" store "$d/ring_size" 64
expect "ok 4" store "$d/ring_size" 4096
expect "err EBUSY" store "$d/throttling" 5
expect "err EBUSY" store "$d/busy_poll" 1
expect "err EBUSY" store "$d/in_hopid" 0
exec 3<&-

# Detached: O_NONBLOCK open gives ENXIO
mkdir -p "$CONFIGFS/0-1.0/lonely" || fail "mkdir 0-1.0/lonely"
expect "err ENXIO" open-nb "/dev/tbstream$(cat "$CONFIGFS/0-1.0/lonely/index")"
rmstream 0-1.0 lonely

rmstream "$SVC_B" errs
del_cable

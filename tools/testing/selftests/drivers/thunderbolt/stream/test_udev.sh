#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Stable names through udev: with systemd-udevd running the rule that
# ships with the module (packaging/udev/60-thunderbolt-stream.rules,
# installed in the system's rules directory), every stream gets
# /dev/tbstream/by-name/<service>/<name> pointing at its /dev/tbstreamX
# and the udev properties TBSTREAM_SERVICE and TBSTREAM_NAME. The backup
# flow runs through the links with equal sha256; the link stays across
# an unplug and replug of the cable, follows the stream to its new index
# after an rmdir and mkdir, and is gone after rmdir.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

BYNAME=/dev/tbstream/by-name
UDEVD=

need_sim
UDEVD=$(command -v systemd-udevd || ls /lib/systemd/systemd-udevd 2>/dev/null) ||
	skip "no systemd-udevd"
command -v udevadm >/dev/null || skip "no udevadm"
ls /lib/udev/rules.d/*thunderbolt-stream.rules >/dev/null 2>&1 ||
	skip "the thunderbolt-stream udev rule is not installed"

# Our own udevd, unless one runs already
if ! udevadm control --ping 2>/dev/null; then
	"$UDEVD" --daemon || fail "cannot start $UDEVD"
	trap 'udevadm control --exit' EXIT
	wait_for udevadm control --ping || fail "udevd does not answer"
fi

# link_is SVC NAME DEV: the by-name link of SVC/NAME resolves to DEV
link_is() {
	udevadm settle || fail "udevadm settle"
	[ -L "$BYNAME/$1/$2" ] || fail "no link $BYNAME/$1/$2"
	assert_eq "$(readlink -f "$BYNAME/$1/$2")" "$3" "target of $1/$2"
}

# no_link SVC NAME: the by-name link of SVC/NAME does not exist
no_link() {
	udevadm settle || fail "udevadm settle"
	if [ -e "$BYNAME/$1/$2" ] || [ -L "$BYNAME/$1/$2" ]; then
		fail "$BYNAME/$1/$2 still there: $(ls -l "$BYNAME/$1/$2")"
	fi
}

# property DEV VAR: the udev property VAR of DEV
property() {
	udevadm info --query=property --name="$1" | sed -n "s/^$2=//p"
}

new_cable
mkpair backup
link_is "$SVC_B" backup "$RX"
link_is "$SVC_A" backup "$TX"
assert_eq "$(property "$RX" TBSTREAM_SERVICE)" "$SVC_B" "TBSTREAM_SERVICE"
assert_eq "$(property "$RX" TBSTREAM_NAME)" backup "TBSTREAM_NAME"
assert_eq "$(property "$TX" TBSTREAM_SERVICE)" "$SVC_A" "TBSTREAM_SERVICE"

# The backup flow, through the stable names only
dd_across "$BYNAME/$SVC_B/backup" "$BYNAME/$SVC_A/backup" 8

# The devices, and so the links, stay while the cable is out
echo 0 > "$SIMFS/cable$CABLE/plugged" || fail "unplug"
link_is "$SVC_B" backup "$RX"
echo 1 > "$SIMFS/cable$CABLE/plugged" || fail "replug"
link_is "$SVC_B" backup "$RX"

# rmdir removes the link; a stream made meanwhile takes the freed index,
# so the new backup stream gets another one, and the link follows it
old=$RX
rmdir "$CONFIGFS/$SVC_B/backup" || fail "rmdir $SVC_B/backup"
no_link "$SVC_B" backup
other=$(mkstream "$SVC_B" other)
assert_eq "$other" "$old" "index reused by the next stream"
link_is "$SVC_B" other "$other"
RX=$(mkstream "$SVC_B" backup -1 -1)
[ "$RX" != "$old" ] || fail "backup got its old device $old again"
link_is "$SVC_B" backup "$RX"
link_is "$SVC_B" other "$other"

rmstream "$SVC_B" other
rmstream "$SVC_B" backup
rmstream "$SVC_A" backup
no_link "$SVC_B" other
no_link "$SVC_B" backup
no_link "$SVC_A" backup
del_cable

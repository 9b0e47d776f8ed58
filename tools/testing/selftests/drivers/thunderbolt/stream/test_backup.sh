#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The admin guide's backup flow over the simulated cable: host B (the
# receiver) configures first with -1, host A only names the stream and
# inherits the HopIDs reversed; 64 MiB of random data goes through
# dd bs=256k and arrives with the same sha256. rmdir -p cleans up and
# leaves no advertisement behind.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim
new_cable

mkpair backup

b_in=$(attr "$SVC_B" backup in_hopid)
b_out=$(attr "$SVC_B" backup out_hopid)
[ "$b_in" -ge 8 ] && [ "$b_out" -ge 8 ] || fail "receiver HopIDs $b_in/$b_out"
inherited() {
	[ "$(attr "$SVC_A" backup in_hopid)" = "$b_out" ] &&
	[ "$(attr "$SVC_A" backup out_hopid)" = "$b_in" ]
}
wait_for inherited || fail "sender did not inherit $b_out/$b_in: got \
$(attr "$SVC_A" backup in_hopid)/$(attr "$SVC_A" backup out_hopid)"

dd_across "$RX" "$TX" 64

rmstream "$SVC_B" backup
[ ! -e "$CONFIGFS/$SVC_B" ] || fail "rmdir -p left $SVC_B"
# No stale advertisement: a new stream of that name inherits nothing
rmstream "$SVC_A" backup
mkstream "$SVC_A" backup >/dev/null
sleep 0.5
assert_eq "$(attr "$SVC_A" backup in_hopid)" 0 "in_hopid after peer rmdir"
rmstream "$SVC_A" backup
del_cable

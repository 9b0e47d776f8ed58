#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Demo run by `make demo` (harness/vm.sh demo): the admin guide's backup
# flow over the simulated cable, shown command by command.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

# show CMD...: print a command as typed at a prompt, then run it
show() {
	echo "# $*"
	sh -c "$*" || fail "'$*' failed"
}

echo "== kernel $(uname -r)"
show modprobe "$MODULE"
need_sim
show "echo 1 > $SIMFS/new_cable"
show "cat $SIMFS/cables"
CABLE=$(tail -n 1 "$SIMFS/cables" | cut -d' ' -f1)
SVC_A=$(cat "$SIMFS/cable$CABLE/service_a")
SVC_B=$(cat "$SIMFS/cable$CABLE/service_b")
echo "== host A sees host B as $SVC_A, host B sees host A as $SVC_B"

echo "== host B (receiver) configures first"
show "mkdir -p $CONFIGFS/$SVC_B/backup"
show "echo -1 > $CONFIGFS/$SVC_B/backup/in_hopid"
show "echo -1 > $CONFIGFS/$SVC_B/backup/out_hopid"
show "grep . $CONFIGFS/$SVC_B/backup/*"
echo "== host A only names the stream and inherits the HopIDs, reversed"
show "mkdir -p $CONFIGFS/$SVC_A/backup"
wait_inherit "$SVC_A" backup
show "grep . $CONFIGFS/$SVC_A/backup/*"

rx=/dev/tbstream$(attr "$SVC_B" backup index)
tx=/dev/tbstream$(attr "$SVC_A" backup index)
echo "== a 32 MiB 'disk' on host A"
show "dd if=/dev/urandom of=/tmp/disk.img bs=1M count=32 2>/dev/null"
echo "== host B: dd if=$rx of=/tmp/copy.img bs=256k &"
dd if="$rx" of=/tmp/copy.img bs=256k 2>/dev/null &
reader=$!
show "dd if=/tmp/disk.img of=$tx bs=256k"
wait $reader || fail "reader dd failed"
show "sha256sum /tmp/disk.img /tmp/copy.img"
assert_eq "$(sum /tmp/copy.img)" "$(sum /tmp/disk.img)" "sha256 across the cable"
echo "== checksums match"
show "cat /sys/kernel/debug/thunderbolt_stream/tbstream$(attr "$SVC_B" backup index)/stats"

echo "== clean up"
show "rmdir -p $CONFIGFS/$SVC_A/backup $CONFIGFS/$SVC_B/backup 2>/dev/null; true"
show "echo $CABLE > $SIMFS/del_cable"
rm -f /tmp/disk.img /tmp/copy.img
unload_all
echo "== done: the backup crossed the simulated cable intact"
exit 0

# SPDX-License-Identifier: GPL-2.0
#
# Helpers for tests over the simulated cable (busybox sh). Source after
# lib.sh. A cable joins host A and host B; host A sees host B as service
# $SVC_A (its ConfigFS group), host B sees host A as $SVC_B.

SIMFS=/sys/kernel/debug/thunderbolt_stream_sim
CABLE=
SVC_A=
SVC_B=
RX=
TX=

# need_sim: load the module, skip the test without the simulated cable
need_sim() {
	load_module
	[ -d "$SIMFS" ] || skip "no simulated cable (CONFIG_USB4_STREAM_SIM)"
}

# new_cable: create a cable, set CABLE, SVC_A and SVC_B
new_cable() {
	local before after

	before=$(cut -d' ' -f1 "$SIMFS/cables")
	echo 1 > "$SIMFS/new_cable" || fail "cannot create a cable"
	after=$(cut -d' ' -f1 "$SIMFS/cables")
	for id in $after; do
		echo "$before" | grep -qx "$id" || CABLE=$id
	done
	[ -n "$CABLE" ] || fail "new cable not listed in $SIMFS/cables"
	SVC_A=$(cat "$SIMFS/cable$CABLE/service_a")
	SVC_B=$(cat "$SIMFS/cable$CABLE/service_b")
}

# del_cable: remove the cable made by new_cable
del_cable() {
	echo "$CABLE" > "$SIMFS/del_cable" || fail "cannot remove cable $CABLE"
}

# mkstream SVC NAME [IN OUT]: make a stream, optionally set its HopIDs;
# prints /dev/tbstreamX
mkstream() {
	local dir="$CONFIGFS/$1/$2"

	mkdir -p "$dir" || fail "mkdir $dir"
	if [ $# -ge 4 ]; then
		echo "$3" > "$dir/in_hopid" || fail "in_hopid $3 for $dir"
		echo "$4" > "$dir/out_hopid" || fail "out_hopid $4 for $dir"
	fi
	dev_of "$1" "$2"
}

# mkpair NAME: stream NAME from host A to host B, set up as the admin
# guide does it: the receiver (host B) asks for automatic HopIDs, the
# sender inherits them. Sets RX (host B's device) and TX (host A's).
# shellcheck disable=SC2034 # for the tests that source this file
mkpair() {
	RX=$(mkstream "$SVC_B" "$1" -1 -1)
	TX=$(mkstream "$SVC_A" "$1")
	wait_inherit "$SVC_A" "$1"
}

# attr SVC NAME ATTR: print an attribute
attr() {
	cat "$CONFIGFS/$1/$2/$3"
}

# dev_of SVC NAME: the device of a stream
dev_of() {
	echo "/dev/tbstream$(attr "$1" "$2" index)"
}

# rmstream SVC NAME: rmdir -p the stream and its group (if empty)
rmstream() {
	rmdir "$CONFIGFS/$1/$2" || fail "rmdir $1/$2"
	rmdir "$CONFIGFS/$1" 2>/dev/null
	return 0
}

# wait_for CMD...: retry CMD for up to 10 s (advertisements are async)
wait_for() {
	local i=0

	while [ $i -lt 100 ]; do
		"$@" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# sum FILE: sha256 of FILE
sum() {
	sha256sum "$1" | cut -d' ' -f1
}

# dd_across RX TX MIB: MIB MiB of random data written to TX with dd
# bs=256k while dd reads RX; fail unless they arrive with the same sha256
dd_across() {
	local reader

	must dd if=/dev/urandom of=/tmp/src bs=1M count="$3" 2>/dev/null
	dd if="$1" of=/tmp/dst bs=256k 2>/dev/null &
	reader=$!
	must dd if=/tmp/src of="$2" bs=256k 2>/dev/null
	wait $reader || fail "reader dd failed"
	assert_eq "$(sum /tmp/dst)" "$(sum /tmp/src)" "sha256 across the cable"
	rm -f /tmp/src /tmp/dst
}

# expect WANT CMD...: run tbstream_try CMD..., fail unless it prints WANT
expect() {
	local want=$1 got

	shift
	got=$(tbstream_try "$@")
	[ "$got" = "$want" ] || fail "tbstream_try $*: got '$got', want '$want'"
}

# has_hopids SVC NAME: both HopIDs of the stream are set
has_hopids() {
	[ "$(attr "$1" "$2" in_hopid)" -gt 0 ] &&
	[ "$(attr "$1" "$2" out_hopid)" -gt 0 ]
}

# wait_inherit SVC NAME: wait until the stream inherited its HopIDs
wait_inherit() {
	wait_for has_hopids "$1" "$2" || fail "$1/$2 inherited no HopIDs"
}

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Benchmark the simulated cable against pipe(2) and TCP on loopback, in
# one boot (`make bench`, or harness/vm.sh bench). Not a test_*.sh: the
# numbers are for reading, not for judging; test_bench_short.sh runs the
# short form in CI and fails only when tbstream_bench itself fails (an
# error, or data that arrives corrupted).
#
#   bench.sh           the full table (about two seconds per figure)
#   bench.sh --short   small sizes, a few seconds in all
#
# Streams, all on one cable, configured on host B first:
#   bt      one-way throughput A to B, default ring_size
#   bt32    the same with ring_size 32 (the minimum)
#   pab/pba ping-pong, one stream per direction
#   qab/qba ping-pong with busy_poll on both ends of both streams

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

STREAMS="bt bt32 pab pba qab qba"

need_sim
new_cable
cable=$CABLE
svc_a=$SVC_A
svc_b=$SVC_B

# stream SVC NAME [HOPIDS] [ATTR=VALUE...]: configure one end, print its
# device; HOPIDS "-1" asks for automatic HopIDs (the receiver's side)
stream() {
	dir="$CONFIGFS/$1/$2"
	hop=$3
	mkdir -p "$dir" || fail "mkdir $dir"
	shift 3
	for kv in "$@"; do
		echo "${kv#*=}" > "$dir/${kv%%=*}" || fail "$dir: $kv"
	done
	if [ "$hop" = -1 ]; then
		echo -1 > "$dir/in_hopid" || fail "$dir: in_hopid"
		echo -1 > "$dir/out_hopid" || fail "$dir: out_hopid"
	fi
	echo "/dev/tbstream$(cat "$dir/index")"
}

# inherited SVC NAME: the end without HopIDs got them from the peer
inherited() {
	i=0
	while [ $i -lt 100 ]; do
		[ "$(cat "$CONFIGFS/$1/$2/in_hopid")" != 0 ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "$1/$2 did not inherit the peer's HopIDs"
}

# Host B asks for automatic HopIDs on every stream and host A inherits
# them, reversed: were some asked for on A, the HopIDs A got could be the
# ones it must inherit for another stream (each host allocates its own)
bt_b=$(stream "$svc_b" bt -1)
bt32_b=$(stream "$svc_b" bt32 -1 ring_size=32)
pab_b=$(stream "$svc_b" pab -1)
pba_b=$(stream "$svc_b" pba -1)
qab_b=$(stream "$svc_b" qab -1 busy_poll=1)
qba_b=$(stream "$svc_b" qba -1 busy_poll=1)
bt_a=$(stream "$svc_a" bt 0)
bt32_a=$(stream "$svc_a" bt32 0 ring_size=32)
pab_a=$(stream "$svc_a" pab 0)
pba_a=$(stream "$svc_a" pba 0)
qab_a=$(stream "$svc_a" qab 0 busy_poll=1)
qba_a=$(stream "$svc_a" qba 0 busy_poll=1)
for s in $STREAMS; do
	inherited "$svc_a" "$s"
done

info "cable $cable: $svc_a (host A) <-> $svc_b (host B)"
if [ "${1:-}" = --short ]; then
	set -- -q
else
	set --
fi

# Ping-pong: A writes pab on its side and reads pba on its side; B reads
# pab on its side and writes pba on its side
tbstream_bench "$@" \
	-T "stream=$bt_a:$bt_b" \
	-T "stream-ring32=$bt32_a:$bt32_b" \
	-P "stream=$pab_a:$pab_b:$pba_b:$pba_a" \
	-P "stream-busy_poll=$qab_a:$qab_b:$qba_b:$qba_a"
rc=$?

for s in $STREAMS; do
	rmdir "$CONFIGFS/$svc_a/$s" "$CONFIGFS/$svc_b/$s" ||
		fail "rmdir stream $s"
done
rmdir "$CONFIGFS/$svc_a" "$CONFIGFS/$svc_b" 2>/dev/null
del_cable

[ $rc = 0 ] || fail "tbstream_bench failed (exit $rc)"
exit 0

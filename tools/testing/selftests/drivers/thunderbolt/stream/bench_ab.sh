#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# A/B benchmark of two builds of thunderbolt_stream in one boot (`make
# bench-ab A=old.ko B=new.ko`). Under emulation on a shared host, runs in
# separate boots differ by more than the change being measured, so the two
# modules take turns: ROUNDS times (default 3) each one is loaded, runs
# the same tbstream_bench workloads (256 KiB one-way throughput, 64 B
# ping-pong with and without busy_poll) next to its own pipe and TCP
# baselines, and is unloaded. ROUNDS comes from tbbench_rounds= on the
# kernel command line. Not a test_*.sh: the numbers are for reading. The
# harness copies the modules to /lib/bench/a.ko and b.ko.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

ROUNDS=$(cmdline_arg tbbench_rounds)
ROUNDS=${ROUNDS:-3}
KOS="/lib/bench/a.ko /lib/bench/b.ko"

for ko in $KOS; do
	[ -f "$ko" ] || skip "$ko missing (run through make bench-ab)"
done

# run_one KO: load KO, measure, print the result rows prefixed by its name
run_one() {
	label=$(basename "$1" .ko)

	unload_all
	must modprobe thunderbolt
	must insmod "$1"
	[ -d "$SIMFS" ] || fail "$1 has no simulated cable"
	new_cable
	# Host B allocates, host A inherits (as bench.sh)
	for s in bt pab pba qab qba; do
		for svc in "$SVC_B" "$SVC_A"; do
			must mkdir -p "$CONFIGFS/$svc/$s"
			case $s in
			q*) echo 1 > "$CONFIGFS/$svc/$s/busy_poll" ||
				fail "$svc/$s: busy_poll" ;;
			esac
		done
		echo -1 > "$CONFIGFS/$SVC_B/$s/in_hopid" || fail "$s in_hopid"
		echo -1 > "$CONFIGFS/$SVC_B/$s/out_hopid" || fail "$s out_hopid"
		wait_inherit "$SVC_A" "$s"
	done
	tbstream_bench -w 256k -l 64 -t 2 \
		-T "stream=$(dev_of "$SVC_A" bt):$(dev_of "$SVC_B" bt)" \
		-P "stream=$(dev_of "$SVC_A" pab):$(dev_of "$SVC_B" pab):$(dev_of "$SVC_B" pba):$(dev_of "$SVC_A" pba)" \
		-P "stream-busy_poll=$(dev_of "$SVC_A" qab):$(dev_of "$SVC_B" qab):$(dev_of "$SVC_B" qba):$(dev_of "$SVC_A" qba)" \
		>/tmp/ab.out 2>&1 || { cat /tmp/ab.out; fail "$label: tbstream_bench failed"; }
	grep -E '^(256K|64 ) |per GiB' /tmp/ab.out | sed "s/^/$label /"
	for s in bt pab pba qab qba; do
		rmdir "$CONFIGFS/$SVC_A/$s" "$CONFIGFS/$SVC_B/$s" || fail "rmdir $s"
	done
	rmdir "$CONFIGFS/$SVC_A" "$CONFIGFS/$SVC_B"
	del_cable
}

round=1
while [ $round -le "$ROUNDS" ]; do
	for ko in $KOS; do
		info "round $round: $(basename "$ko" .ko)"
		run_one "$ko"
	done
	round=$((round + 1))
done
unload_all
exit 0

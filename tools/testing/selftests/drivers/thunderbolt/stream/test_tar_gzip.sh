#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tar cf - dir | gzip > /dev/tbstreamA on one host, gunzip < /dev/tbstreamB
# | tar xf - on the other; the trees must be equal byte for byte.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim
new_cable

mkpair tree

rm -rf /tmp/tree /tmp/out
mkdir -p /tmp/tree/a/b/c /tmp/out
i=0
while [ $i -lt 40 ]; do
	dd if=/dev/urandom of=/tmp/tree/a/f$i bs=$((i * 997 + 1)) count=1 \
		2>/dev/null
	i=$((i + 1))
done
dd if=/dev/urandom of=/tmp/tree/a/b/c/big bs=1M count=8 2>/dev/null
echo hello > /tmp/tree/a/b/small
: > /tmp/tree/empty

(gunzip < "$RX" | tar xf - -C /tmp/out) &
reader=$!
(cd /tmp && tar cf - tree | gzip > "$TX") || fail "tar | gzip failed"
wait $reader || fail "gunzip | tar failed"

(cd /tmp/tree && find . -type f | sort | xargs sha256sum) > /tmp/want
(cd /tmp/out/tree && find . -type f | sort | xargs sha256sum) > /tmp/got
cmp -s /tmp/want /tmp/got || fail "trees differ: $(diff /tmp/want /tmp/got)"
rm -rf /tmp/tree /tmp/out /tmp/want /tmp/got

rmstream "$SVC_A" tree
rmstream "$SVC_B" tree
del_cable

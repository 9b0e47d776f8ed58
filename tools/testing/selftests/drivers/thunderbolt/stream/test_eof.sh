#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The reader sees end of file when the writer closes, and again on the
# next read; after the peer closed, a write fails with EPIPE.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim
new_cable

mkpair eof

exec 3<"$RX"
cat <&3 > /tmp/got &
reader=$!
echo "hello over the cable" > "$TX" || fail "write failed"
wait $reader || fail "reader failed"
assert_eq "$(cat /tmp/got)" "hello over the cable" "received text"
# Sticky EOF: the same open file reads end of file again at once
assert_eq "$(timeout 5 cat <&3 | wc -c)" 0 "second read after EOF"
# The peer has closed: writing on the receiving side fails with EPIPE,
# and poll reports the hang-up
expect "err EPIPE" write "$RX" x
tbstream_try poll "$RX" | grep -q HUP || fail "no EPOLLHUP after peer CLOSE"
exec 3<&-
rm -f /tmp/got

# close(2) of the last descriptor reports whether the peer took every
# byte: it did here; closing a duplicate first ends nothing. A stream of
# its own: busybox timeout's watcher above may still hold the first one
# for a second, and a file opened meanwhile shares its ended session
mkpair eofc
cat "$RX" > /tmp/got &
reader=$!
expect "ok 0" write-close "$TX" "all of it"
wait $reader || fail "reader failed"
assert_eq "$(cat /tmp/got)" "all of it" "text before a checked close"
rm -f /tmp/got
# Nobody reads: ETIMEDOUT once drain_timeout seconds pass without progress
param=/sys/module/thunderbolt_stream/parameters/drain_timeout
timeout=$(cat "$param")
echo 1 > "$param" || fail "cannot set drain_timeout"
expect "err ETIMEDOUT" write-close "$TX" "nobody reads this"
echo "$timeout" > "$param"
rmstream "$SVC_A" eofc
rmstream "$SVC_B" eofc

rmstream "$SVC_A" eof
rmstream "$SVC_B" eof
del_cable

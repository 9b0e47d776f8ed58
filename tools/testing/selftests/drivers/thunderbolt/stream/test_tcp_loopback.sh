#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The VM's TCP over loopback works: the benchmarks' baseline needs it.

. "$(dirname "$0")/lib.sh"

ip link show lo | grep -q UP || fail "lo is not up"
out=$(tcp_loopback 8) || fail "tcp_loopback failed"
info "$out"
exit 0

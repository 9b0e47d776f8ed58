# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the thunderbolt_stream guest tests (busybox sh).
# Source it first thing:  . "$(dirname "$0")/lib.sh"
#
# A test is one script that exits 0 (pass), 1 (fail) or 4 (skip, the
# kselftest code). fail() and skip() print why and exit. The kselftest
# runner starts it from its own directory, where the C helpers
# (tbstream_try, tbstream_bench, tcp_loopback) are installed too: that
# directory goes first in PATH.

# Used by the tests that source this file.
# shellcheck disable=SC2034
MODULE=thunderbolt_stream
CONFIGFS=/sys/kernel/config/thunderbolt/stream
DEBUGFS=/sys/kernel/debug/thunderbolt_stream
DRIVER_DIR=/sys/bus/thunderbolt/drivers/thunderbolt_stream
TEST_NAME=$(basename "$0" .sh)

ksft_skip=4

PATH="$(cd "$(dirname "$0")" && pwd):$PATH"
export PATH

# fail MSG: the test failed
fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

# skip MSG: the test cannot run here
skip() {
	echo "SKIP: $TEST_NAME: $*" >&2
	exit $ksft_skip
}

# info MSG: progress message
info() {
	echo "$TEST_NAME: $*"
}

# must CMD...: run CMD, fail the test if it fails
must() {
	"$@" || fail "'$*' failed with exit $?"
}

# mustnt CMD...: run CMD, fail the test if it succeeds
mustnt() {
	if "$@"; then
		fail "'$*' succeeded but should have failed"
	fi
}

# cmdline_arg NAME: the value of NAME=value on the kernel command line
cmdline_arg() {
	for w in $(cat /proc/cmdline); do
		case "$w" in
		"$1"=*) echo "${w#*=}" ;;
		esac
	done
}

# module_loaded NAME: is the module loaded?
module_loaded() {
	grep -q "^$1 " /proc/modules 2>/dev/null
}

# need_module: skip the test unless it can load thunderbolt_stream
need_module() {
	module_loaded "$MODULE" && return 0
	[ "$(id -u)" = 0 ] || skip "must be run as root"
	modinfo "$MODULE" >/dev/null 2>&1 || skip "no $MODULE module installed"
}

# load_module: modprobe thunderbolt_stream (and thunderbolt)
load_module() {
	module_loaded "$MODULE" && return 0
	need_module
	modprobe "$MODULE" || fail "modprobe $MODULE failed"
}

# unload_all: remove thunderbolt_stream and thunderbolt if loaded
unload_all() {
	if module_loaded "$MODULE"; then
		rmmod "$MODULE" || fail "rmmod $MODULE failed"
	fi
	if module_loaded thunderbolt; then
		rmmod thunderbolt || fail "rmmod thunderbolt failed"
	fi
}

# sim_available: was the module built with the simulated cable?
sim_available() {
	[ -d "$DEBUGFS" ]
}

# assert_eq GOT WANT MSG
assert_eq() {
	[ "$1" = "$2" ] || fail "$3: got '$1', want '$2'"
}

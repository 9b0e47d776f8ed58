# SPDX-License-Identifier: GPL-2.0
#
# Shared settings for the harness scripts. Sourced, not executed.

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD="$SRC/.build"
KSERIES=6.12
KSOURCE_VERSION=6.12.117-1~deb12u1
KTREE="$BUILD/linux"
JOBS=$(nproc)

log() {
	echo "[$(basename "$0" .sh)] $*" >&2
}

die() {
	log "FAILED: $*"
	exit 1
}

# Kernel console patterns that fail a run even when every test passed.
SPLAT_RE='BUG:|WARNING:|KASAN:|UBSAN:|Oops|kernel BUG|possible recursive locking|possible circular locking|inconsistent lock state|suspicious RCU usage|INFO: task .* blocked|unreferenced object|Kernel panic|general protection fault|stack-protector|list_add corruption|list_del corruption|ODEBUG:'

# Print the splat lines of a log and return 0 if there were any.
find_splats() {
	grep -E "$SPLAT_RE" "$1"
}

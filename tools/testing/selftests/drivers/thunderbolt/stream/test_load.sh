#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Load, inspect, unload and reload thunderbolt_stream.

. "$(dirname "$0")/lib.sh"

need_module
unload_all

must modprobe "$MODULE"
module_loaded thunderbolt || fail "thunderbolt was not pulled in as a dependency"
module_loaded "$MODULE" || fail "$MODULE not in /proc/modules after modprobe"

[ -d "$CONFIGFS" ] || fail "$CONFIGFS missing"
[ -d "$DRIVER_DIR" ] || fail "$DRIVER_DIR missing"

# The service driver must be matchable by the XDomain service alias.
alias=$(modinfo "$MODULE" 2>/dev/null | grep '^alias:.*tbsvc:')
if [ -z "$alias" ]; then
	alias=$(grep " $MODULE\$" "/lib/modules/$(uname -r)/modules.alias" |
		grep tbsvc:)
fi
[ -n "$alias" ] || fail "no tbsvc: alias for $MODULE"
info "$alias"

must rmmod "$MODULE"
module_loaded "$MODULE" && fail "$MODULE still loaded after rmmod"
[ -d "$CONFIGFS" ] && fail "$CONFIGFS still there after rmmod"
must rmmod thunderbolt
module_loaded thunderbolt && fail "thunderbolt still loaded after rmmod"

# Reload: init must not depend on state left behind by the first load.
must modprobe "$MODULE"
[ -d "$CONFIGFS" ] || fail "$CONFIGFS missing after reload"
[ -d "$DRIVER_DIR" ] || fail "$DRIVER_DIR missing after reload"

# Configured streams pin the module: unload fails and changes nothing,
# and succeeds once they are gone.
must mkdir -p "$CONFIGFS/0-1.0/pinned"
mustnt rmmod "$MODULE" 2>/dev/null
module_loaded "$MODULE" || fail "$MODULE unloaded with a stream configured"
[ -d "$CONFIGFS/0-1.0/pinned" ] || fail "stream lost by a failed rmmod"
must rmdir "$CONFIGFS/0-1.0/pinned" "$CONFIGFS/0-1.0"
unload_all

info "load, unload and reload work"
exit 0

#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Demo run by `make demo` (harness/vm.sh demo): shows the driver in a VM.

. "$(dirname "$0")/lib.sh"

echo "== kernel $(uname -r)"
echo "== modprobe $MODULE"
must modprobe "$MODULE"
grep -E "^($MODULE|thunderbolt) " /proc/modules
echo "== configfs: $CONFIGFS"
ls -la "$CONFIGFS"
echo "== service driver: $DRIVER_DIR"
ls "$DRIVER_DIR"
echo "== aliases"
modinfo "$MODULE" | grep '^alias:'

if sim_available; then
	echo "== simulated cable: $DEBUGFS"
	ls -la "$DEBUGFS"
else
	echo "== the simulated cable (CONFIG_USB4_STREAM_SIM) is not there yet:"
	echo "   no $DEBUGFS, so there is no second host to stream to."
fi

unload_all
echo "== unloaded"
exit 0

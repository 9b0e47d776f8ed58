#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install what goes with the thunderbolt_stream module besides the .ko:
# the udev rule of the /dev/tbstream/by-name links, the initramfs-tools
# hook and boot script and the dracut module. Run by `make install` and
# `make install-data` (DESTDIR, UDEVDIR, INITRAMFSDIR, DRACUTDIR) and by
# DKMS after it installed the module (POST_INSTALL in dkms.conf).
#
#   install-data.sh [DESTDIR]

set -eu

here=$(cd "$(dirname "$0")" && pwd)
dest=${1:-${DESTDIR:-}}
udevdir=${UDEVDIR:-/lib/udev}
initramfsdir=${INITRAMFSDIR:-/usr/share/initramfs-tools}
dracutdir=${DRACUTDIR:-/usr/lib/dracut}
dracutmod=$dracutdir/modules.d/90thunderbolt-stream

install -D -m 644 "$here/udev/60-thunderbolt-stream.rules" \
	"$dest$udevdir/rules.d/60-thunderbolt-stream.rules"
install -D -m 755 "$here/initramfs-tools/hooks/thunderbolt-stream" \
	"$dest$initramfsdir/hooks/thunderbolt-stream"
install -D -m 755 "$here/initramfs-tools/scripts/init-top/thunderbolt-stream" \
	"$dest$initramfsdir/scripts/init-top/thunderbolt-stream"
install -D -m 755 "$here/dracut/90thunderbolt-stream/module-setup.sh" \
	"$dest$dracutmod/module-setup.sh"
install -D -m 755 "$here/dracut/90thunderbolt-stream/tbstream-configfs.sh" \
	"$dest$dracutmod/tbstream-configfs.sh"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dracut module of thunderbolt_stream: puts the Thunderbolt core, the
# stream driver and ConfigFS (unless built in) into the initramfs, with
# the udev rule of the /dev/tbstream/by-name links, and mounts ConfigFS
# at boot (tbstream-configfs.sh), so that a disk can be backed up over
# the cable from the emergency shell (rd.break).

# Included whenever the driver is installed for the kernel
check() {
	[[ -n $(find "${srcmods:?}" -name 'thunderbolt_stream.ko*' -print -quit \
		2>/dev/null) ]] || return 1
	return 0
}

depends() {
	return 0
}

installkernel() {
	hostonly='' instmods configfs thunderbolt thunderbolt_stream
}

# moddir is dracut's: this module's directory
# shellcheck disable=SC2154
install() {
	inst_rules 60-thunderbolt-stream.rules
	# What a backup from the emergency shell needs besides the shell
	inst_multiple -o dd sha256sum
	inst_hook cmdline 05 "$moddir/tbstream-configfs.sh"
}

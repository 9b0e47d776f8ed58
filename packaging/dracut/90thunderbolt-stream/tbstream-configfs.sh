#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# dracut cmdline hook: mount ConfigFS, where thunderbolt_stream streams
# are made, before any rd.break shell but rd.break=cmdline.

modprobe -q configfs 2>/dev/null
if [ -d /sys/kernel/config ] && ! ismounted /sys/kernel/config; then
	mount -t configfs configfs /sys/kernel/config
fi

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare everything the other harness steps need, idempotently:
#  - install the Debian packages the builds and the VM need (apt-get);
#  - unpack the pinned linux-source-6.12 tree into .build/linux;
#  - wire our sources into that tree (symlinks plus one Kconfig and one
#    Makefile line), without editing anything by hand, and our kselftest
#    target into tools/testing/selftests/drivers/thunderbolt/stream
#    (symlinks to its files in a real directory, so that its Makefile
#    finds ../../../lib.mk, and the programs it builds stay in the tree).
#
# Everything lives under .build/ and is reused between runs.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS="build-essential flex bison bc libelf-dev libssl-dev cpio rsync kmod
python3 qemu-system-x86 busybox-static sparse xz-utils dwarves shellcheck
dkms udev initramfs-tools-core dracut-core"

install_packages() {
	local missing=""
	local p

	for p in $PKGS; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	if ! dpkg -s "linux-source-$KSERIES" >/dev/null 2>&1; then
		missing="$missing linux-source-$KSERIES"
	fi
	[ -z "$missing" ] && return 0

	log "installing:$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
	# The pinned version is the reference; the security archive moves,
	# so fall back to the newest 6.12 source when it is gone.
	apt-get install -y -qq "linux-source-$KSERIES=$KSOURCE_VERSION" \
		>/dev/null 2>&1 ||
		apt-get install -y -qq "linux-source-$KSERIES" >/dev/null
}

unpack_tree() {
	local tarball="/usr/src/linux-source-$KSERIES.tar.xz"
	local stamp="$KTREE/.tbstream-unpacked"
	local version

	version=$(dpkg-query -W -f='${Version}' "linux-source-$KSERIES")
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ]; then
		return 0
	fi
	log "unpacking linux-source $version"
	rm -rf "$KTREE" "$BUILD/linux-source-$KSERIES"
	tar -C "$BUILD" -xf "$tarball"
	mv "$BUILD/linux-source-$KSERIES" "$KTREE"
	cp "$KTREE/drivers/thunderbolt/Kconfig" \
	   "$KTREE/drivers/thunderbolt/Kconfig.orig"
	cp "$KTREE/drivers/thunderbolt/Makefile" \
	   "$KTREE/drivers/thunderbolt/Makefile.orig"
	echo "$version" >"$stamp"
}

# Write $2 to $1 only when it differs, so that make sees no change.
update_file() {
	if ! cmp -s "$2" "$1"; then
		cp "$2" "$1"
	fi
	rm -f "$2"
}

wire_sources() {
	local tbdir="$KTREE/drivers/thunderbolt"
	local SELFTEST=tools/testing/selftests/drivers/thunderbolt/stream
	local f

	for f in "$SRC"/drivers/thunderbolt/*; do
		case "$(basename "$f")" in
		Kbuild) continue ;;
		esac
		ln -sfn "$f" "$tbdir/$(basename "$f")"
	done
	for f in "$SRC"/Documentation/admin-guide/*.rst; do
		[ -e "$f" ] && ln -sfn "$f" "$KTREE/Documentation/admin-guide/"
	done

	mkdir -p "$KTREE/$SELFTEST"
	for f in "$SRC/$SELFTEST"/*; do
		ln -sfn "$f" "$KTREE/$SELFTEST/$(basename "$f")"
	done
	# A file removed from the repo leaves a dangling link behind
	find "$KTREE/$SELFTEST" -maxdepth 1 -xtype l -delete

	cat "$tbdir/Kconfig.orig" >"$tbdir/Kconfig.new"
	echo 'source "drivers/thunderbolt/Kconfig.stream"' >>"$tbdir/Kconfig.new"
	update_file "$tbdir/Kconfig" "$tbdir/Kconfig.new"

	cat "$tbdir/Makefile.orig" >"$tbdir/Makefile.new"
	echo 'include $(srctree)/drivers/thunderbolt/Makefile.stream' \
		>>"$tbdir/Makefile.new"
	update_file "$tbdir/Makefile" "$tbdir/Makefile.new"
}

mkdir -p "$BUILD"
install_packages
unpack_tree
wire_sources
log "kernel tree ready in $KTREE"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build qemu-system-x86_64 with the emulated Thunderbolt host controller
# (qemu/, the "tb-nhi" PCI device) into .build/qemu-build, idempotently:
#  - install the build dependencies (apt-get);
#  - fetch Debian 12's own QEMU source at the version of the installed
#    qemu-system-x86 package (QEMU_VERSION), through a private sources
#    list under .build/apt/ (deb-src entries; /etc/apt is left alone),
#    and unpack it with its Debian patches into .build/qemu-src;
#  - wire qemu/ into hw/misc of that tree (symlinks plus one meson.build
#    and one Kconfig entry, appended once);
#  - configure once, then build incrementally with ninja.
#
# A warm run (nothing changed) takes a few seconds; a cold one fetches
# about 12 MB and compiles for several minutes.
#
# Prints the path of the binary last, on stdout.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

QEMU_VERSION=${QEMU_VERSION:-1:7.2+dfsg-7+deb12u18}
QSRC="$BUILD/qemu-src"
QBUILD="$BUILD/qemu-build"
QAPT="$BUILD/apt"
QDEV="$SRC/qemu"
QPKGS="libglib2.0-dev libpixman-1-dev libfdt-dev meson ninja-build
python3-venv pkg-config dpkg-dev build-essential seabios ipxe-qemu
qemu-system-x86"

install_packages() {
	local missing="" p

	for p in $QPKGS; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	log "installing:$missing"
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

papt() {
	apt-get -o Dir::Etc::SourceList="$QAPT/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$QAPT/lists" \
		-o Dir::Cache="$QAPT/cache" "$@"
}

fetch_source() {
	local stamp="$QSRC/.tbnhi-version" dl

	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$QEMU_VERSION" ]; then
		return 0
	fi
	log "fetching qemu source $QEMU_VERSION"
	mkdir -p "$QAPT/lists/partial" "$QAPT/cache/archives/partial"
	cat >"$QAPT/sources.list" <<-SL
	deb-src http://deb.debian.org/debian bookworm main
	deb-src http://deb.debian.org/debian-security bookworm-security main
	deb-src http://deb.debian.org/debian bookworm-updates main
	SL
	papt update -qq
	dl="$QAPT/dl"
	rm -rf "$dl" "$QSRC" "$QBUILD"
	mkdir -p "$dl"
	# The pinned version is the reference; a point release drops it from
	# the archive, so fall back to the newest 7.2 source then.
	(cd "$dl" && papt source -qq "qemu=$QEMU_VERSION" >"$QAPT/source.log" 2>&1) ||
		(log "qemu=$QEMU_VERSION is gone, fetching the newest qemu source" &&
		 cd "$dl" && papt source -qq qemu >>"$QAPT/source.log" 2>&1) ||
		die "apt-get source qemu failed, see $QAPT/source.log"
	mv "$dl"/qemu-7.2* "$QSRC" 2>/dev/null ||
		mv "$(find "$dl" -mindepth 1 -maxdepth 1 -type d | head -1)" "$QSRC"
	echo "$QEMU_VERSION" >"$stamp"
}

# Symlink every file of qemu/ into hw/misc and add the build entries once.
wire_device() {
	local f misc="$QSRC/hw/misc"

	for f in "$QDEV"/*.c "$QDEV"/*.h; do
		[ -e "$f" ] || continue
		ln -sfn "$f" "$misc/$(basename "$f")"
	done
	if ! grep -q TB_NHI "$misc/Kconfig"; then
		cat >>"$misc/Kconfig" <<-KC

		config TB_NHI
		    bool
		    default y if PCI_DEVICES
		    depends on PCI && MSI_NONBROKEN
		KC
	fi
	if ! grep -q TB_NHI "$misc/meson.build"; then
		echo "softmmu_ss.add(when: 'CONFIG_TB_NHI', if_true: files('tb-nhi.c'))" \
			>>"$misc/meson.build"
	fi
}

configure_build() {
	[ -f "$QBUILD/build.ninja" ] && return 0
	log "configuring $QBUILD"
	rm -rf "$QBUILD"
	mkdir -p "$QBUILD"
	(cd "$QBUILD" && "$QSRC/configure" --target-list=x86_64-softmmu \
		--without-default-features --enable-tcg --enable-fdt=system \
		--disable-werror >"$QBUILD/configure.log" 2>&1) ||
		die "configure failed, see $QBUILD/configure.log"
}

build() {
	local t0=$SECONDS

	ninja -C "$QBUILD" -j"$JOBS" qemu-system-x86_64 \
		>"$QBUILD/ninja.log" 2>&1 || {
		grep -E 'error|Error' "$QBUILD/ninja.log" | head -40 >&2
		die "qemu build failed, see $QBUILD/ninja.log"
	}
	log "qemu-system-x86_64 ready ($((SECONDS - t0))s)"
}

main() {
	mkdir -p "$BUILD"
	exec 8>"$BUILD/qemu.lock"
	flock -n 8 || { log "waiting for another qemu.sh"; flock 8; }
	install_packages
	fetch_source
	wire_device
	configure_build
	build
	echo "$QBUILD/qemu-system-x86_64"
}

main "$@"

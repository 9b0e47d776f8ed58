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

# busybox_rootfs DIR INIT MODULES: a static busybox root in DIR (emptied
# first) with every applet linked, INIT as /init and the modules that
# MODULES/lib/modules holds (a modules_install staging directory).
busybox_rootfs() {
	local dir=$1 init=$2 mods=$3 busybox applet

	busybox=$(command -v busybox) || die "busybox not installed"
	if readelf -l "$(readlink -f "$busybox")" | grep -q INTERP; then
		die "$busybox is not static (install busybox-static)"
	fi
	rm -rf "$dir"
	mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,lib}
	cp "$busybox" "$dir/bin/busybox"
	for applet in $("$busybox" --list-full); do
		[ -e "$dir/$applet" ] || ln -s /bin/busybox "$dir/$applet"
	done
	install -m 755 "$init" "$dir/init"
	cp -a "$mods/lib/modules" "$dir/lib/"
}

# pack_initramfs DIR KERNEL-BUILD OUT: DIR as a gzipped initramfs in OUT.
# Device nodes come from the kernel build's gen_init_cpio so that no mknod
# (root) is needed; the kernel unpacks the two concatenated archives in
# turn.
pack_initramfs() {
	local dir=$1 gen="$2/usr/gen_init_cpio" out=$3

	[ -x "$gen" ] || die "$gen missing (BLK_DEV_INITRD off?)"
	{
		(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort |
			cpio --quiet -o -H newc -R 0:0) | gzip -1
		printf '%s\n' 'nod /dev/console 600 0 0 c 5 1' \
			'nod /dev/null 666 0 0 c 1 3' | "$gen" - | gzip -1
	} >"$out.tmp"
	mv "$out.tmp" "$out"
}

# CONFIG_DMA_API_DEBUG reports through WARN() only for its first few
# errors: every "DMA-API:" line is a splat but for these start-up notes.
DMA_API_INFO_RE='DMA-API: (preallocated [0-9]+ debug entries|debugging enabled by kernel config|dma_debug_entry pool grown to)'

# Print the splat lines of a log and return 0 if there were any.
find_splats() {
	{
		grep -aE "$SPLAT_RE" "$1"
		grep -a 'DMA-API:' "$1" | grep -avE "$DMA_API_INFO_RE"
	} | grep -a .
}

# copy_binary DIR FILE...: FILE (a dynamically linked program) and the
# shared libraries it needs, at the same paths below DIR
copy_binary() {
	local dir=$1 f lib

	shift
	for f in "$@"; do
		mkdir -p "$dir/$(dirname "$f")"
		cp -L "$f" "$dir/$f"
		for lib in $(ldd "$f" | grep -o '/[^ ]*'); do
			[ -e "$dir/$lib" ] && continue
			mkdir -p "$dir/$(dirname "$lib")"
			cp -L "$lib" "$dir/$lib"
		done
	done
}

# udev_rootfs DIR RULES...: Debian's systemd-udevd and udevadm in DIR,
# with the udev rules files RULES as the only rules (in lib/udev/rules.d)
udev_rootfs() {
	local dir=$1 udevadm

	shift
	udevadm=$(command -v udevadm) || die "udevadm not installed (udev)"
	udevadm=$(readlink -f "$udevadm")
	copy_binary "$dir" "$udevadm"
	mkdir -p "$dir/lib/systemd" "$dir/lib/udev/rules.d" "$dir/etc/udev"
	ln -sfn "$udevadm" "$dir/lib/systemd/systemd-udevd"
	[ "$udevadm" = /bin/udevadm ] || ln -sfn "$udevadm" "$dir/bin/udevadm"
	cp "$@" "$dir/lib/udev/rules.d/"
}

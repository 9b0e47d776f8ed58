#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The recovery initramfs of the admin guide, built by the distribution's
# own tools: Debian's mkinitramfs (initramfs-tools-core) and dracut
# (dracut-core) make an image for the test-VM kernel (harness/vm.sh
# build) with what `make install` installs (the module, packaging/),
# QEMU boots it, and the administrator's commands are typed into the
# shell that break=premount (initramfs-tools) or rd.break=pre-mount
# (dracut) opens: load the driver, make a simulated cable and the backup
# stream on both ends as the admin guide does, dd a disk image to the
# peer through the /dev/tbstream/by-name links, compare sha256, clean
# up, ask kmemleak.
#
#   bash harness/initramfs.sh                 both tools
#   bash harness/initramfs.sh initramfs-tools one of them (or dracut)
#
# Everything is staged in .build/initramfs/stage: the VM kernel's modules
# (modules_install) but thunderbolt_stream, its .config as
# /boot/config-<release>, and `make install KDIR=.build/vm-kernel
# DESTDIR=...` of a copy of the sources (thunderbolt_stream.ko built out
# of tree, with the simulated cable, and the files of packaging/). Each
# tool runs in a private mount namespace in which the stage lies over
# /usr/lib, /usr/share and /boot (overlayfs), as if it had been installed
# there, so that nothing on this machine changes. Fails when a tool or
# the boot fails, the shell does not come, the checksums differ, a link
# points elsewhere, a command fails, or the console shows a kernel splat
# or a kmemleak report. Prints "N passed, N failed" (harness/check.sh).
#
# Environment: INITRAMFS_TIMEOUT (seconds per boot, default 600).

set -euo pipefail
. "$(dirname "$0")/lib.sh"

VMK="$BUILD/vm-kernel"
MODSTAGE="$BUILD/vm-modules"
WORK="$BUILD/initramfs"
STAGE="$WORK/stage"
TIMEOUT=${INITRAMFS_TIMEOUT:-600}
# 32 MiB of random data stand for the disk
IMAGE_MIB=32

# The VM kernel's modules but thunderbolt_stream, then `make install`
# of a copy of the sources against the VM kernel build (the module, out
# of tree, with the simulated cable; the files of packaging/), in $STAGE
stage_install() {
	local copy="$WORK/src"

	rm -rf "$STAGE" "$copy"
	mkdir -p "$STAGE/lib" "$copy"
	cp -a "$MODSTAGE/lib/modules" "$STAGE/lib/"
	find "$STAGE/lib/modules" -name 'thunderbolt_stream.ko*' -delete
	# As the kernel's own installation would: mkinitramfs reads it
	mkdir -p "$STAGE/boot"
	cp "$VMK/.config" "$STAGE/boot/config-$KREL"
	cp -r "$SRC/drivers" "$SRC/packaging" "$SRC/Makefile" "$copy/"
	make -C "$copy" install KDIR="$VMK" DESTDIR="$STAGE" \
		CONFIG_USB4_STREAM_SIM=y >"$WORK/install.log" 2>&1 || {
		tail -20 "$WORK/install.log" >&2
		die "make install failed, see $WORK/install.log"
	}
	[ -n "$(find "$STAGE/lib/modules/$KREL" -name thunderbolt_stream.ko)" ] ||
		die "make install installed no thunderbolt_stream.ko"
}

# overlaid CMD...: CMD in a private mount namespace in which $STAGE lies
# over the system's library and data directories
overlaid() {
	# shellcheck disable=SC2016 # expanded by the inner bash
	unshare --mount --propagation private bash -euc '
		stage=$1
		shift
		over() {
			mount -t overlay overlay -o "lowerdir=$1" "${1##*:}"
		}
		if [ "$(readlink -f /lib)" = /usr/lib ]; then
			over "$stage/lib:$stage/usr/lib:/usr/lib"
		else
			over "$stage/lib:/lib"
			over "$stage/usr/lib:/usr/lib"
		fi
		over "$stage/usr/share:/usr/share"
		over "$stage/boot:/boot"
		exec "$@"' overlaid "$STAGE" "$@"
}

build_initramfs_tools() {
	overlaid mkinitramfs -c gzip -o "$1" "$KREL"
}

# No systemd in the image (the VM kernel cannot run it): the base
# module's shell init, the block root handling that root= needs, ours
build_dracut() {
	overlaid dracut --force --quiet --no-hostonly --no-early-microcode \
		--gzip --kver "$KREL" \
		--modules "base rootfs-block thunderbolt-stream" "$1"
}

# What the administrator types, the admin guide's flow over the
# simulated cable ("Testing without hardware"). Results are printed
# with markers split in the command so that the echo of the typed line
# does not match them.
guest_commands() {
	cat <<EOF
modprobe thunderbolt_stream; echo "TB""STEP modprobe \$?"
mount -t debugfs debugfs /sys/kernel/debug
echo 1 > /sys/kernel/debug/thunderbolt_stream_sim/new_cable
cd /sys/kernel/config/thunderbolt/stream; echo "TB""STEP cd \$?"
mkdir -p 1001-1.0/backup
echo -1 > 1001-1.0/backup/in_hopid
echo -1 > 1001-1.0/backup/out_hopid
mkdir -p 1000-1.0/backup; echo "TB""STEP mkdir \$?"
cd /tmp
dd if=/dev/urandom of=disk.img bs=1M count=$IMAGE_MIB 2>/dev/null
n=0; while [ "\$(cat /sys/kernel/config/thunderbolt/stream/1000-1.0/backup/in_hopid)" = 0 ] && [ \$n -lt 100 ]; do sleep 0.1; n=\$((n + 1)); done
udevadm settle; echo "TB""LINK \$(readlink -f /dev/tbstream/by-name/1001-1.0/backup) \$(readlink -f /dev/tbstream/by-name/1000-1.0/backup)"
dd if=/dev/tbstream/by-name/1001-1.0/backup of=copy.img bs=256k & rx=\$!
dd if=disk.img of=/dev/tbstream/by-name/1000-1.0/backup bs=256k; tx=\$?; wait \$rx; echo "TB""STEP dd \$tx \$?"
echo "TB""SUM \$(sha256sum < disk.img) \$(sha256sum < copy.img)"
rmdir -p /sys/kernel/config/thunderbolt/stream/1000-1.0/backup /sys/kernel/config/thunderbolt/stream/1001-1.0/backup 2>/dev/null; echo 0 > /sys/kernel/debug/thunderbolt_stream_sim/del_cable; echo "TB""STEP cleanup \$?"
echo scan > /sys/kernel/debug/kmemleak; cat /sys/kernel/debug/kmemleak; echo "TB""DONE"
EOF
}

# wait_for_console LOG TEXT PID: until LOG has TEXT; 1 when qemu PID
# exits or $TIMEOUT passes first
wait_for_console() {
	local t0=$SECONDS

	until grep -qF -- "$2" "$1"; do
		kill -0 "$3" 2>/dev/null || return 1
		[ $((SECONDS - t0)) -lt "$TIMEOUT" ] || return 1
		sleep 1
	done
}

# boot_and_type NAME IMAGE PROMPT APPEND: boot IMAGE, type the commands
# when PROMPT shows, stop the guest after the last one
boot_and_type() {
	local name=$1 image=$2 prompt=$3 append=$4
	local fifo="$WORK/$name.in" console="$WORK/$name-console.log" qpid fd
	local rc=0

	rm -f "$fifo"
	mkfifo "$fifo"
	qemu-system-x86_64 -accel tcg -m 2G -smp 2 -nographic -no-reboot \
		-monitor none -serial stdio \
		-kernel "$VMK/arch/x86/boot/bzImage" -initrd "$image" \
		-append "console=ttyS0 $append" \
		<"$fifo" >"$console" 2>&1 &
	qpid=$!
	exec {fd}>"$fifo"
	if wait_for_console "$console" "$prompt" "$qpid"; then
		guest_commands >&"$fd"
		wait_for_console "$console" "TBDONE" "$qpid" || rc=2
	else
		rc=1
	fi
	kill "$qpid" 2>/dev/null || true
	wait "$qpid" 2>/dev/null || true
	exec {fd}>&-
	rm -f "$fifo"
	case $rc in
	1) log "$name: no shell prompt '$prompt' (console: $console)" ;;
	2) log "$name: the commands did not finish (console: $console)" ;;
	esac
	return $rc
}

# judge NAME: check what the guest printed; print the failures
judge() {
	local console="$WORK/$1-console.log" ok=0 line step

	tr -d '\r' <"$console" >"$console.tmp" && mv "$console.tmp" "$console"
	for step in modprobe cd mkdir "dd 0" cleanup; do
		line=$(grep -a "^TBSTEP ${step%% *} " "$console" || true)
		case "$step" in
		"dd 0") [ "$line" = "TBSTEP dd 0 0" ] ;;
		*) [ "$line" = "TBSTEP $step 0" ] ;;
		esac || { log "$1: $step failed: '${line:-no result}'"; ok=1; }
	done
	line=$(grep -a '^TBLINK ' "$console" || true)
	[ "$line" = "TBLINK /dev/tbstream0 /dev/tbstream1" ] ||
		{ log "$1: by-name links: '${line:-no result}'"; ok=1; }
	line=$(grep -a '^TBSUM ' "$console" || true)
	# "TBSUM <sha256> - <sha256> -"
	read -r _ src _ dst _ <<<"$line"
	if [ -z "${src:-}" ] || [ "$src" != "${dst:-}" ] ||
	   [ "${#src}" != 64 ]; then
		log "$1: sha256 differ: '${line:-no result}'"
		ok=1
	else
		log "$1: $IMAGE_MIB MiB across the cable, sha256 $src"
	fi
	if find_splats "$console" >"$WORK/$1-splats.log"; then
		log "$1: kernel splat or kmemleak report on the console:"
		head -20 "$WORK/$1-splats.log" >&2
		ok=1
	fi
	return $ok
}

# run_tool NAME: build the image with tool NAME, boot it, judge it
run_tool() {
	local name=$1 image="$WORK/$1.img" t0=$SECONDS maker prompt append

	case "$name" in
	initramfs-tools)
		maker=build_initramfs_tools
		prompt="(initramfs) "
		append="break=premount"
		;;
	dracut)
		maker=build_dracut
		prompt="pre-mount:/# "
		append="root=/dev/null rd.break=pre-mount"
		;;
	*)
		die "unknown tool $name"
		;;
	esac
	if ! "$maker" "$image" >"$WORK/$name-build.log" 2>&1; then
		cat "$WORK/$name-build.log" >&2
		log "$name: building the image failed"
		return 1
	fi
	log "$name: $(basename "$image") built in $((SECONDS - t0))s, booting"
	boot_and_type "$name" "$image" "$prompt" "$append" || return 1
	judge "$name" || return 1
	log "$name: OK in $((SECONDS - t0))s"
}

main() {
	local tools=("$@") tool passed=0 failed=0

	[ ${#tools[@]} -gt 0 ] || tools=(initramfs-tools dracut)
	command -v mkinitramfs >/dev/null || die "no mkinitramfs (initramfs-tools-core)"
	command -v dracut >/dev/null || die "no dracut (dracut-core)"
	bash "$SRC/harness/vm.sh" build
	KREL=$(cd "$MODSTAGE/lib/modules" && ls)
	[ -d "$MODSTAGE/lib/modules/$KREL" ] || die "no single kernel in $MODSTAGE"
	mkdir -p "$WORK"
	exec 9>"$WORK.lock"
	flock 9
	stage_install
	for tool in "${tools[@]}"; do
		if run_tool "$tool"; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
		fi
	done
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
}

main "$@"

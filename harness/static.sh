#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Static checks of the thunderbolt_stream driver; every one must be clean:
#
#  1. checkpatch.pl --strict on every source, header, Kconfig and Makefile
#     of drivers/thunderbolt/ (run from the kernel tree .build/linux);
#  2. W=1 and sparse (C=2): the driver's objects compiled in an O= build
#     of .build/linux (.build/static-kernel) from a small x86_64 config
#     (tinyconfig + PCI, MODULES, USB4=m, USB4_STREAM=m, USB4_STREAM_SIM=y,
#     CONFIGFS_FS, DEBUG_FS, KUNIT for the KUnit test file);
#  3. the module linked in that build (vmlinux and modules, modpost):
#     USB4=m with the KUnit option on builds and links whatever the
#     Kconfig then allows (the core's tests; not the backend's, which
#     need symbols a modular Thunderbolt core does not export);
#  4. kernel-doc -none -Wall on the .c and .h files;
#  5. shellcheck (warnings and up) on the harness scripts, .ci/run, the
#     guest's init and timeout and the guest tests (the kselftest
#     target), when shellcheck is installed.
#
# Every check runs and reports before the script fails. A warm run only
# recompiles what changed (sparse always reruns on our few files).
#
# Needs: bash harness/prepare.sh (the wired kernel tree, sparse).

set -euo pipefail
. "$(dirname "$0")/lib.sh"

DRV="$SRC/drivers/thunderbolt"
OBJ="$BUILD/static-kernel"
LOGS="$BUILD/static"
failed=""

# Options added to x86_64 tinyconfig. The driver's Kconfig symbols come
# last so that their dependencies are set by then.
FRAGMENT='CONFIG_64BIT=y
CONFIG_PCI=y
CONFIG_MODULES=y
CONFIG_MODULE_UNLOAD=y
CONFIG_SYSFS=y
CONFIG_CONFIGFS_FS=y
CONFIG_DEBUG_KERNEL=y
CONFIG_DEBUG_FS=y
CONFIG_DEBUG_FS_ALLOW_ALL=y
CONFIG_FTRACE=y
CONFIG_ENABLE_DEFAULT_TRACERS=y
CONFIG_KUNIT=y
CONFIG_USB4=m
CONFIG_USB4_STREAM=m
CONFIG_USB4_STREAM_SIM=y
CONFIG_USB4_STREAM_KUNIT_TEST=y'

fail() {
	log "FAIL: $*"
	failed="$failed
  $*"
}

# The driver's files, by kind. The repo is the source of truth; the tree
# only has symlinks to them.
sources() {
	find "$DRV" -maxdepth 1 -type f \( -name '*.c' -o -name '*.h' \) |
		sort
}

build_files() {
	find "$DRV" -maxdepth 1 -type f \
		\( -name 'Kconfig*' -o -name 'Makefile*' -o -name Kbuild \) |
		sort
}

check_checkpatch() {
	local out rc=0

	log "checkpatch --strict"
	# shellcheck disable=SC2046
	out=$(cd "$KTREE" && perl scripts/checkpatch.pl --strict --no-tree \
		--no-summary --terse --show-types -f $(sources) $(build_files) \
		2>&1) || rc=1
	if [ "$rc" != 0 ] || [ -n "$out" ]; then
		printf '%s\n' "$out" >&2
		fail "checkpatch --strict"
	fi
}

# Print the fragment lines that .config does not have.
config_missing() {
	local line

	while read -r line; do
		grep -qxF "$line" "$OBJ/.config" || echo "$line"
	done <<<"$FRAGMENT"
}

# Fail unless every fragment option is in .config: the check would cover
# less than it claims.
config_verify() {
	local missing line sym

	missing=$(config_missing)
	[ -z "$missing" ] && return 0
	while read -r line; do
		sym=${line%%=*}
		log "static config: $line did not stick ($(grep -E \
			"^(# )?${sym}[= ]" "$OBJ/.config" || echo unset))"
	done <<<"$missing"
	rm -f "$OBJ/.tbstream-config"
	die "static config incomplete: dependencies changed?"
}

# Write .config for the static build from tinyconfig when the fragment
# changed. Changes to our Kconfig need nothing here: the build's own
# syncconfig picks them up (a .config from scratch costs minutes).
static_config() {
	local key

	key=$(printf '%s\n' "$FRAGMENT" | sha256sum | cut -d' ' -f1)
	if [ -f "$OBJ/.config" ] && [ -f "$OBJ/.tbstream-config" ] &&
	   [ "$(cat "$OBJ/.tbstream-config")" = "$key" ]; then
		return 0
	fi
	log "configuring $OBJ (tinyconfig + driver options)"
	mkdir -p "$OBJ"
	printf '%s\n' "$FRAGMENT" >"$OBJ/tbstream.config"
	make -C "$KTREE" O="$OBJ" -s tinyconfig >"$LOGS/config.log" 2>&1 ||
		{ cat "$LOGS/config.log" >&2; die "make tinyconfig failed"; }
	(cd "$KTREE" && scripts/kconfig/merge_config.sh -m -O "$OBJ" \
		"$OBJ/.config" "$OBJ/tbstream.config") >>"$LOGS/config.log" 2>&1 ||
		{ cat "$LOGS/config.log" >&2; die "merge_config failed"; }
	make -C "$KTREE" O="$OBJ" -s olddefconfig >>"$LOGS/config.log" 2>&1 ||
		{ cat "$LOGS/config.log" >&2; die "make olddefconfig failed"; }
	config_verify
	echo "$key" >"$OBJ/.tbstream-config"
}

# What a build in $OBJ depends on: its config, the tree, the checks and
# every driver file, as one hash.
fingerprint() {
	{
		cat "$OBJ/.config" "$KTREE/.tbstream-unpacked" \
			"$SRC/harness/static.sh" "$SRC/harness/lib.sh"
		cd "$DRV" && find . -maxdepth 1 -type f -print0 | sort -z |
			xargs -0 sha256sum
	} | sha256sum | cut -d' ' -f1
}

check_build() {
	local targets=() f out="$LOGS/build.log" rc=0 bad fp

	static_config

	# Same sources, config, tree and checks as a passing run: done.
	# (Make itself takes seconds to find nothing to do.)
	fp=$(fingerprint)
	if [ -f "$OBJ/.tbstream-passed" ] &&
	   [ "$(cat "$OBJ/.tbstream-passed")" = "$fp" ]; then
		log "W=1 C=2: up to date"
		return 0
	fi
	rm -f "$OBJ/.tbstream-passed"

	for f in $(sources); do
		case "$f" in
		*.c) targets+=("drivers/thunderbolt/$(basename "${f%.c}").o") ;;
		esac
	done
	# Objects that compiled with warnings in a failed run would not be
	# rebuilt, hiding the warnings: always recompile ours (a few seconds).
	for f in "${targets[@]}"; do
		rm -f "$OBJ/$f"
	done
	log "W=1 C=2: ${targets[*]}"
	make -C "$KTREE" O="$OBJ" -j"$JOBS" W=1 C=2 "${targets[@]}" \
		>"$out" 2>&1 || rc=$?
	# The build ran syncconfig if our Kconfig changed: recheck.
	config_verify
	# Progress lines ("  CC [M]  drivers/...", "  CHECK   drivers/...")
	# are not findings; anything else that says warning or error is,
	# whether gcc or sparse said it, in our file or in a header.
	bad=$(grep -iE 'warning|error' "$out" |
		grep -vE '^  [A-Z0-9_]+ +(\[M\] +)?[^ ]+$' || true)
	if [ "$rc" != 0 ] || [ -n "$bad" ]; then
		cat "$out" >&2
		fail "W=1/sparse build (log: $out)"
		return 0
	fi
	echo "$fp" >"$OBJ/.tbstream-passed"
}

# The module as the Kconfig lets USB4=m, KUNIT=y and the KUnit option
# build it: it must link (modpost: no undefined symbol), hold the core's
# tests and leave out the backend's.
check_link() {
	local out="$LOGS/link.log" ko="$OBJ/drivers/thunderbolt/thunderbolt_stream"
	local fp rc=0

	fp=$(fingerprint)
	if [ -f "$OBJ/.tbstream-linked" ] &&
	   [ "$(cat "$OBJ/.tbstream-linked")" = "$fp" ]; then
		log "link (USB4=m, KUnit): up to date"
		return 0
	fi
	rm -f "$OBJ/.tbstream-linked"
	log "link (USB4=m, KUnit): make vmlinux modules"
	make -C "$KTREE" O="$OBJ" -j"$JOBS" vmlinux modules >"$out" 2>&1 ||
		rc=$?
	if [ "$rc" != 0 ] || grep -q 'undefined!' "$out"; then
		grep -E 'ERROR|undefined|error' "$out" | head -20 >&2
		fail "link with USB4=m and the KUnit option (log: $out)"
		return 0
	fi
	if ! grep -qx 'CONFIG_USB4_STREAM_KUNIT_TEST=y' "$OBJ/.config" ||
	   grep -q '^CONFIG_USB4_STREAM_TB_KUNIT_TEST=y' "$OBJ/.config" ||
	   ! grep -q 'test_stream\.o' "$ko.mod" ||
	   grep -q 'test_stream_tb\.o' "$ko.mod"; then
		fail "link: the module does not hold the core's tests alone ($ko.mod)"
		return 0
	fi
	echo "$fp" >"$OBJ/.tbstream-linked"
}

check_kernel_doc() {
	local out

	log "kernel-doc -none -Wall"
	# shellcheck disable=SC2046
	out=$(cd "$KTREE" && perl scripts/kernel-doc -none -Wall \
		$(sources) 2>&1) || true
	if [ -n "$out" ]; then
		printf '%s\n' "$out" >&2
		fail "kernel-doc"
	fi
}

check_shell() {
	local f files=() out rc=0

	if ! command -v shellcheck >/dev/null; then
		log "shellcheck not installed: skipped"
		return 0
	fi
	log "shellcheck"
	for f in "$SRC"/harness/*.sh "$SRC/.ci/run"; do
		case "$f" in
		*/lib.sh) ;;
		*) [ -f "$f" ] && files+=("$f") ;;
		esac
	done
	# lib.sh is sourced: its variables are used by the others, and
	# the others source it as "$(dirname "$0")/lib.sh", which cannot be
	# followed statically.
	out=$(shellcheck -s bash -S warning -e SC1091 "${files[@]}" 2>&1) ||
		rc=1
	out=$out$(shellcheck -s bash -S warning -e SC2034 \
		"$SRC/harness/lib.sh" 2>&1) || rc=1
	# The guest tests run under busybox sh, which has "local" (SC3043);
	# -x follows their lib.sh and simlib.sh from the test directory.
	out=$out$(cd "$SRC/tools/testing/selftests/drivers/thunderbolt/stream" &&
		shellcheck -s sh -x -S warning -e SC3043 ./*.sh 2>&1) || rc=1
	out=$out$(shellcheck -s sh -S warning -e SC3043 "$SRC/harness/vm/init" \
		"$SRC/harness/vm/timeout" 2>&1) || rc=1
	# What make install-data installs: POSIX sh, but dracut's bash
	out=$out$(shellcheck -s sh -S warning "$SRC/packaging/install-data.sh" \
		"$SRC"/packaging/initramfs-tools/hooks/* \
		"$SRC"/packaging/initramfs-tools/scripts/*/* \
		"$SRC"/packaging/dracut/*/tbstream-*.sh 2>&1) || rc=1
	out=$out$(shellcheck -s bash -S warning \
		"$SRC"/packaging/dracut/*/module-setup.sh 2>&1) || rc=1
	if [ "$rc" != 0 ]; then
		printf '%s\n' "$out" >&2
		fail "shellcheck"
	fi
}

[ -f "$KTREE/scripts/checkpatch.pl" ] ||
	die "no kernel tree in $KTREE: run bash harness/prepare.sh"
for f in $(sources); do
	[ -L "$KTREE/drivers/thunderbolt/$(basename "$f")" ] ||
		die "$f not wired into $KTREE: run bash harness/prepare.sh"
done
command -v sparse >/dev/null || die "sparse missing: run harness/prepare.sh"
mkdir -p "$LOGS"
# One run at a time: parallel runs would share the build directories.
exec 9>"$BUILD/static.lock"
flock 9

check_checkpatch
check_kernel_doc
check_shell
check_build
check_link

if [ -n "$failed" ]; then
	die "static checks failed:$failed"
fi
log "all static checks clean"

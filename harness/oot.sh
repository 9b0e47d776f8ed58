#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Out-of-tree compile checks of thunderbolt_stream.ko against Debian's
# distribution kernel headers, without installing any kernel image:
#
#  - pick a 6.12 headers ABI (the one matching the pinned linux-source if
#    the archive still has it, else the newest 6.12.*+deb12) and the newest
#    6.1.0-* ABI, with apt-cache;
#  - `apt-get download` linux-headers-<abi>-amd64 and the headers/kbuild
#    packages it depends on into .build/debs (kept between runs);
#  - `dpkg -x` them into a private root .build/headers/<abi>/ and point the
#    absolute links and includes of the packages into that root;
#  - build the module with W=1 in .build/oot/<abi>/<variant>/, a directory
#    of symlinks to drivers/thunderbolt/ (so no object lands in the repo),
#    once plain and, when stream_sim.c exists, once more with
#    CONFIG_USB4_STREAM_SIM=y;
#  - fail on any warning or error in the build output, and check that the
#    .ko has a tbsvc: alias and the right vermagic;
#  - `dkms build` dkms.conf against the 6.12 headers (private dkms tree in
#    .build/dkms; dkms is apt-get installed if missing);
#  - the same two builds against the Linux 7.2 and 7.3 source trees of
#    harness/trees.sh, each in an O= directory .build/tree-obj/<series>
#    configured from x86_64_defconfig with USB4=m (and so USB4_CONFIGFS=m
#    where the tree has it), ConfigFS and debugfs, and readied with
#    `make modules_prepare` (scripts and objtool: no vmlinux). With no
#    Module.symvers, modpost would fail on every symbol the module uses
#    (or, with KBUILD_MODPOST_WARN=1, only warn and so prove nothing);
#    the O= directory gets instead the Module.symvers of Debian's own
#    build of the same upload, so modpost checks that every symbol is
#    exported, GPL-compatibly and in an imported namespace, by the
#    vmlinux or a module of the kernel Debian ships for that tree.
#
# A .ko is checked for its tbsvc: alias, its vermagic and a dependency on
# thunderbolt (what modpost found the backend's symbols in).
#
# A warm run, nothing changed, only checks stamps and the modules: seconds.
#
# Environment:
#   OOT_ABIS   space-separated ABIs to use instead of the automatic pick,
#              e.g. "6.12.117+deb12-amd64 6.1.0-57-amd64".

set -euo pipefail
. "$(dirname "$0")/lib.sh"

DEBS="$BUILD/debs"
HDRS="$BUILD/headers"
OOT="$BUILD/oot"
TOBJ="$BUILD/tree-obj"
DRV="$SRC/drivers/thunderbolt"
APT_OPTS=(-o APT::Sandbox::User=root -qq)

apt_updated=0

# Candidate version of package $1, empty if the archive does not have it.
candidate() {
	apt-cache policy "$1" 2>/dev/null |
		awk '$1 == "Candidate:" && $2 != "(none)" { print $2 }'
}

# Run apt-get update once, when the package lists look empty or stale.
apt_update_once() {
	[ "$apt_updated" = 1 ] && return 1
	apt_updated=1
	log "apt-get update"
	apt-get "${APT_OPTS[@]}" update >/dev/null 2>&1 || true
}

# ABI name of the pinned linux-source, e.g. 6.12.117-1~deb12u1 ->
# 6.12.117+deb12-amd64. Uses the installed linux-source if there is one.
pinned_612_abi() {
	local v

	v=$(dpkg-query -W -f='${Version}' "linux-source-$KSERIES" \
		2>/dev/null || true)
	[ -n "$v" ] || v=$KSOURCE_VERSION
	echo "${v%%-*}+deb12-amd64"
}

# The 6.12 and 6.1 headers ABIs the archive offers: the pinned 6.12 one if
# it is there, else the newest 6.12.*+deb12; the newest 6.1.0-*. One
# apt-cache call (each costs over a second here: no pkgcache).
archive_abis() {
	local names pinned a612 a61

	names=$(apt-cache search --names-only \
		'^linux-headers-6\.1(2\.[0-9]+\+deb12|\.0-[0-9]+)-amd64$' \
		2>/dev/null | awk '{ print $1 }' | sed 's/^linux-headers-//')
	pinned=$(pinned_612_abi)
	if echo "$names" | grep -qxF "$pinned"; then
		a612=$pinned
	else
		a612=$(echo "$names" | grep -E '^6\.12\.' | sort -V | tail -n 1)
	fi
	a61=$(echo "$names" | grep -E '^6\.1\.0-' | sort -V | tail -n 1)
	echo "$a612 $a61"
}

# ABIs already extracted by an earlier run: the offline fallback.
extracted_abis() {
	local d

	for d in "$HDRS"/*/.extracted; do
		[ -f "$d" ] && basename "$(dirname "$d")"
	done
	return 0
}

# Key of the package lists and pinned source: the pick is redone only when
# it changes.
lists_key() {
	{
		pinned_612_abi
		stat -c '%n %Y %s' /var/lib/apt/lists/*_Packages* 2>/dev/null
	} | sha256sum | cut -d' ' -f1
}

pick_abis() {
	local a612 a61 have key cache="$HDRS/.pick"

	if [ -n "${OOT_ABIS:-}" ]; then
		echo "$OOT_ABIS"
		return 0
	fi
	key=$(lists_key)
	if [ -f "$cache" ] && [ "$(head -n 1 "$cache")" = "$key" ]; then
		sed -n 2p "$cache"
		return 0
	fi
	read -r a612 a61 <<<"$(archive_abis)"
	if [ -z "$a612" ] || [ -z "$a61" ]; then
		if apt_update_once; then
			read -r a612 a61 <<<"$(archive_abis)"
			key=$(lists_key)
		fi
	fi
	# Offline and the lists lost: reuse what an earlier run extracted.
	have=$(extracted_abis)
	if [ -z "$a612" ]; then
		a612=$(echo "$have" | grep -E '^6\.12\.' | sort -V | tail -n 1)
	fi
	if [ -z "$a61" ]; then
		a61=$(echo "$have" | grep -E '^6\.1\.0-' | sort -V | tail -n 1)
	fi
	[ -n "$a612" ] || die "no linux-headers-6.12.*+deb12-amd64 found"
	[ -n "$a61" ] || die "no linux-headers-6.1.0-*-amd64 found"
	printf '%s\n%s\n' "$key" "$a612 $a61" >"$cache"
	echo "$a612 $a61"
}

# Cached .deb of package $1 at version $2, downloading it if needed.
# Prints the path; fails if the archive does not have it.
fetch_deb() {
	local pkg=$1 ver=$2
	local fver=${ver//:/%3a}
	local f tmp

	for f in "$DEBS/${pkg}_${fver}_"*.deb; do
		if [ -f "$f" ]; then
			echo "$f"
			return 0
		fi
	done
	log "downloading $pkg=$ver"
	tmp=$(mktemp -d "$DEBS/.dl.XXXXXX")
	if ! (cd "$tmp" && apt-get "${APT_OPTS[@]}" download "$pkg=$ver") \
		>"$tmp/log" 2>&1; then
		if apt_update_once &&
		   (cd "$tmp" && apt-get "${APT_OPTS[@]}" download "$pkg=$ver") \
			>"$tmp/log" 2>&1; then
			:
		else
			log "cannot download $pkg=$ver: $(tail -n 1 "$tmp/log")"
			rm -rf "$tmp"
			return 1
		fi
	fi
	mv "$tmp"/*.deb "$DEBS/"
	rm -rf "$tmp"
	for f in "$DEBS/${pkg}_${fver}_"*.deb; do
		echo "$f"
		return 0
	done
}

# The linux-headers-* and linux-kbuild-* packages that the headers package
# $1 (a .deb) needs. They all come from the same source version.
deb_deps() {
	dpkg-deb -f "$1" Depends | sed 's/[,|]/\n/g' |
		sed -n 's/^ *\(linux-\(headers\|kbuild\)-[^ ]*\).*/\1/p' |
		sort -u
}

# Make sure headers for ABI $1 are extracted in $HDRS/$1; print the
# kernel build directory.
setup_headers() {
	local abi=$1
	local root="$HDRS/$abi"
	local main ver deb dep dver debs stamp want common kdir

	kdir="$root/usr/src/linux-headers-$abi"
	stamp="$root/.extracted"

	# An ABI name stands for one upload: once extracted, keep it.
	if [ ! -f "$stamp" ]; then
		ver=$(candidate "linux-headers-$abi")
		if [ -z "$ver" ]; then
			# Gone from the archive: a cached .deb still does.
			deb=$(find "$DEBS" -maxdepth 1 \
				-name "linux-headers-${abi}_*.deb" | sort -V | tail -n 1)
			[ -n "$deb" ] || die "linux-headers-$abi is not in the archive"
			ver=$(dpkg-deb -f "$deb" Version)
		fi
		main=$(fetch_deb "linux-headers-$abi" "$ver") ||
			die "no linux-headers-$abi=$ver"
		debs=("$main")
		# The -common package has the same version; linux-kbuild-6.1 is
		# shared by all 6.1 ABIs, so the archive may only have a newer
		# one, which the package accepts (>=).
		for dep in $(deb_deps "$main"); do
			if ! deb=$(fetch_deb "$dep" "$ver"); then
				dver=$(candidate "$dep")
				[ -n "$dver" ] || die "no $dep in the archive"
				deb=$(fetch_deb "$dep" "$dver") ||
					die "cannot download $dep=$dver"
			fi
			debs+=("$deb")
		done
		log "extracting headers $abi ($ver)"
		rm -rf "$root"
		mkdir -p "$root"
		for deb in "${debs[@]}"; do
			dpkg -x "$deb" "$root"
		done
		echo "$ver" >"$stamp.new"
	fi

	# The packages refer to each other through /usr/src and /lib/modules:
	# point those references into the private root. scripts/ and tools/
	# are relative links into usr/lib/linux-kbuild-*, which already work.
	[ -f "$kdir/Makefile" ] || die "no $kdir/Makefile"
	want=$(sed -n 's|^include .*/\(linux-headers-[^/]*\)/Makefile$|\1|p' \
		"$kdir/Makefile")
	[ -n "$want" ] || die "unexpected $kdir/Makefile"
	common="$root/usr/src/$want"
	[ -d "$common" ] || die "$want is missing from $root"
	if ! grep -qxF "include $common/Makefile" "$kdir/Makefile"; then
		sed -i "s|^include .*/$want/Makefile\$|include $common/Makefile|" \
			"$kdir/Makefile"
	fi
	if [ -d "$root/lib/modules/$abi" ]; then
		ln -sfn "../../../usr/src/linux-headers-$abi" \
			"$root/lib/modules/$abi/build"
		ln -sfn "../../../usr/src/$want" "$root/lib/modules/$abi/source"
	fi
	[ -x "$kdir/scripts/basic/fixdep" ] ||
		die "kbuild tools missing in $kdir/scripts"
	if [ -f "$stamp.new" ]; then
		mv "$stamp.new" "$stamp"
	fi
	echo "$kdir"
}

# The Debian headers build with gcc-12 (x86_64-linux-gnu-gcc-12).
check_tools() {
	local t missing=""

	for t in x86_64-linux-gnu-gcc-12 pahole; do
		command -v "$t" >/dev/null || missing=1
	done
	if [ -n "$missing" ]; then
		log "installing gcc-12 dwarves"
		apt-get "${APT_OPTS[@]}" install -y --no-install-recommends \
			gcc-12 dwarves >/dev/null ||
			die "cannot install gcc-12/dwarves"
	fi
}

# Populate build directory $1 with symlinks to the driver sources.
link_sources() {
	local dir=$1 f l

	mkdir -p "$dir"
	# Drop links to sources that are gone.
	for l in "$dir"/*; do
		if [ -L "$l" ] && [ ! -e "$l" ]; then
			rm -f "$l"
		fi
	done
	for f in "$DRV"/*; do
		[ -f "$f" ] || continue
		case "$f" in
		*.o | *.ko | *.mod | *.mod.c | *.cmd | */modules.order | \
		*/Module.symvers) continue ;;
		esac
		l="$dir/$(basename "$f")"
		if [ "$(readlink "$l" 2>/dev/null)" != "$f" ]; then
			ln -sfn "$f" "$l"
		fi
	done
}

# Hash of the driver sources and of the harness: computed once per run.
sources_hash() {
	{
		cd "$DRV" && find . -maxdepth 1 -type f ! -name '*.o' \
			! -name '*.ko' ! -name '*.cmd' -print0 | sort -z |
			xargs -0 sha256sum
		sha256sum "$SRC/harness/oot.sh" "$SRC/harness/lib.sh" \
			"$SRC/harness/trees.sh"
	} | sha256sum | cut -d' ' -f1
}

# Everything a build's result depends on: the driver sources, what it is
# built against ($3: the headers upload, or a tree's version and config),
# the variant and this script.
fingerprint() {
	echo "$1 $2 $3 $SRC_HASH" | sha256sum | cut -d' ' -f1
}

# Check the tbsvc: alias, the vermagic and the dependency on thunderbolt
# of module $2 built for ABI $1.
check_ko() {
	local abi=$1 ko=$2 info alias vermagic

	[ -f "$ko" ] || die "no $ko"
	info=$(modinfo "$ko")
	alias=$(echo "$info" | sed -n 's/^alias: *\(tbsvc:.*\)/\1/p' |
		head -n 1)
	[ -n "$alias" ] || die "no tbsvc: alias in $ko"
	vermagic=$(echo "$info" | sed -n 's/^vermagic: *//p')
	case "$vermagic" in
	"$abi "*) ;;
	*) die "vermagic '$vermagic' of $ko is not $abi" ;;
	esac
	echo "$info" | grep -qE '^depends: *(.*,)?thunderbolt(,|$)' ||
		die "$ko does not depend on thunderbolt: modpost found no exports?"
	echo "$alias"
}

# Build variant $3 (plain or sim) against the headers or O= dir $2 of ABI
# $1; $4 names what $2 holds (see fingerprint()).
build_one() {
	local abi=$1 kdir=$2 variant=$3 base=$4
	local dir="$OOT/$abi/$variant"
	local out="$OOT/$abi/$variant.log"
	local ko="$dir/thunderbolt_stream.ko"
	local args=() rc=0 bad fp alias

	# Nothing changed since a passing build: only recheck the module.
	# (A warm make on the distro headers costs seconds even with nothing
	# to do.)
	fp=$(fingerprint "$abi" "$variant" "$base")
	if [ -f "$dir/.passed" ] && [ "$(cat "$dir/.passed")" = "$fp" ]; then
		alias=$(check_ko "$abi" "$ko")
		log "$abi $variant: up to date ($alias)"
		return 0
	fi
	# A previous run that did not pass may have left objects that compiled
	# with warnings: start that variant from scratch so they show again.
	if [ ! -f "$dir/.passed" ]; then
		rm -rf "$dir"
	fi
	rm -f "$dir/.passed"
	link_sources "$dir"
	[ "$variant" = sim ] && args+=(CONFIG_USB4_STREAM_SIM=y)

	log "$abi $variant: make W=1"
	make -C "$kdir" M="$dir" W=1 -j"$JOBS" "${args[@]}" >"$out" 2>&1 ||
		rc=$?
	# Kbuild progress lines ("  CC [M]  /path") are not findings; the 6.1
	# headers ship no vmlinux, so "Skipping BTF generation" is expected.
	bad=$(grep -iE 'warning|error|undefined!' "$out" |
		grep -vE '^  [A-Z0-9_]+ +(\[M\] +)?/' || true)
	if [ "$rc" != 0 ] || [ -n "$bad" ]; then
		cat "$out" >&2
		die "$abi $variant: build failed or not W=1 clean (log: $out)"
	fi
	if [ "$variant" = sim ] &&
	   ! grep -q 'stream_sim\.o' "$dir/thunderbolt_stream.mod"; then
		die "$abi $variant: stream_sim.o not linked in"
	fi
	alias=$(check_ko "$abi" "$ko")
	echo "$fp" >"$dir/.passed"
	log "$abi $variant: OK ($alias)"
}

# `dkms build` of dkms.conf against ABI $1 (headers dir $2), with private
# dkms and source trees under .build/dkms: proves that dkms.conf builds
# and names the module right. Needs no installed headers or kernel.
check_dkms() {
	local abi=$1 kdir=$2
	local top="$BUILD/dkms" name ver tree src fp ko rc=0 bad

	[ -f "$SRC/dkms.conf" ] || return 0
	if ! command -v dkms >/dev/null; then
		log "installing dkms"
		apt-get "${APT_OPTS[@]}" install -y --no-install-recommends dkms \
			>/dev/null 2>&1 || die "cannot install dkms"
	fi
	name=$(sed -n 's/^PACKAGE_NAME="\(.*\)"$/\1/p' "$SRC/dkms.conf")
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"$/\1/p' "$SRC/dkms.conf")
	[ -n "$name" ] && [ -n "$ver" ] ||
		die "dkms.conf: no PACKAGE_NAME/PACKAGE_VERSION"
	fp=$( {
		fingerprint "$abi" dkms "$(cat "$HDRS/$abi/.extracted")"
		sha256sum "$SRC/dkms.conf"
	} | sha256sum | cut -d' ' -f1)
	if [ -f "$top/.passed" ] && [ "$(cat "$top/.passed")" = "$fp" ]; then
		log "$abi dkms: up to date"
		return 0
	fi

	rm -rf "$top"
	tree="$top/tree"
	src="$top/src/$name-$ver"
	mkdir -p "$tree" "$src/drivers"
	cp "$SRC/dkms.conf" "$src/"
	cp -r "$DRV" "$src/drivers/"
	# POST_INSTALL's script and what it installs
	cp -r "$SRC/packaging" "$src/"
	log "$abi dkms: dkms build $name/$ver"
	{
		dkms add -m "$name" -v "$ver" --sourcetree "$top/src" \
			--dkmstree "$tree" &&
		dkms build -m "$name" -v "$ver" --sourcetree "$top/src" \
			--dkmstree "$tree" -k "$abi" --kernelsourcedir "$kdir"
	} >"$top/dkms.log" 2>&1 || rc=$?
	ko="$tree/$name/$ver/$abi/x86_64/module/thunderbolt_stream.ko"
	bad=$(grep -iE 'warning|error' "$tree/$name/$ver/$abi/x86_64/log/make.log" \
		2>/dev/null | grep -vE '^  [A-Z0-9_]+ +(\[M\] +)?/' || true)
	if [ "$rc" != 0 ] || [ -n "$bad" ] || [ ! -f "$ko" ]; then
		cat "$top/dkms.log" >&2
		cat "$tree/$name/$ver/$abi/x86_64/log/make.log" >&2 || true
		die "$abi dkms: dkms build failed (log: $top/dkms.log)"
	fi
	log "$abi dkms: OK ($(check_ko "$abi" "$ko"))"
	echo "$fp" >"$top/.passed"
}

# Options added to x86_64_defconfig for the builds against the trees
TREE_FRAGMENT='CONFIG_USB4=m
CONFIG_CONFIGFS_FS=y
CONFIG_DEBUG_FS=y'

# Print the fragment lines, and USB4_CONFIGFS=m where tree $1 has it,
# that the .config in $2 lacks.
tree_config_missing() {
	local tree=$1 obj=$2 line

	while read -r line; do
		grep -qxF "$line" "$obj/.config" || echo "$line"
	done <<<"$TREE_FRAGMENT"
	if grep -qx 'config USB4_CONFIGFS' "$tree/drivers/thunderbolt/Kconfig" &&
	   ! grep -qx 'CONFIG_USB4_CONFIGFS=m' "$obj/.config"; then
		echo CONFIG_USB4_CONFIGFS=m
	fi
}

# Configure O= dir $2 for tree $1 and run modules_prepare there.
tree_obj_prepare() {
	local tree=$1 obj=$2 log="$2.log" missing

	rm -rf "$obj"
	mkdir -p "$obj"
	printf '%s\n' "$TREE_FRAGMENT" >"$obj/tbstream.config"
	{
		make -C "$tree" O="$obj" x86_64_defconfig &&
		(cd "$tree" && scripts/kconfig/merge_config.sh -m -O "$obj" \
			"$obj/.config" "$obj/tbstream.config") &&
		make -C "$tree" O="$obj" olddefconfig &&
		make -C "$tree" O="$obj" -j"$JOBS" modules_prepare
	} >"$log" 2>&1 ||
		{ cat "$log" >&2; die "$tree: modules_prepare failed (log: $log)"; }
	missing=$(tree_config_missing "$tree" "$obj")
	[ -z "$missing" ] || die "$tree: config lacks" $missing
}

# The O= dir for tree $2 (series $1, version $4), prepared once per
# version and fragment, with the Module.symvers $3 of Debian's build.
# Prints the dir and its key, for fingerprint().
tree_obj() {
	local series=$1 tree=$2 symvers=$3 ver=$4
	local obj="$TOBJ/$series" key

	key=$(printf '%s\n' "$ver" "$TREE_FRAGMENT" "$(sha256sum <"$symvers")" |
		sha256sum | cut -d' ' -f1)
	if [ "$(cat "$obj/.tbstream-prepared" 2>/dev/null)" != "$key" ]; then
		log "$series: x86_64_defconfig + USB4=m, modules_prepare ($ver)"
		tree_obj_prepare "$tree" "$obj"
		cp "$symvers" "$obj/Module.symvers"
		echo "$key" >"$obj/.tbstream-prepared"
	fi
	echo "$obj $key"
}

mkdir -p "$DEBS" "$HDRS" "$OOT" "$TOBJ"
# One run at a time: parallel runs would share the build directories.
exec 9>"$BUILD/oot.lock"
flock 9
export PATH="$PATH:/sbin:/usr/sbin"
check_tools

variants="plain"
[ -f "$DRV/stream_sim.c" ] && variants="plain sim"

SRC_HASH=$(sources_hash)
read -r -a abis <<<"$(pick_abis)"
for abi in "${abis[@]}"; do
	kdir=$(setup_headers "$abi")
	for variant in $variants; do
		build_one "$abi" "$kdir" "$variant" \
			"$(cat "$HDRS/$abi/.extracted")"
	done
	# dkms once, against the 6.12 headers: it is about dkms.conf.
	case "$abi" in
	6.12.*) check_dkms "$abi" "$kdir" ;;
	esac
done

trees=$(bash "$SRC/harness/trees.sh") || die "harness/trees.sh failed"
while read -r series tree symvers ver; do
	read -r obj key <<<"$(tree_obj "$series" "$tree" "$symvers" "$ver")"
	abi=$(make -s -C "$obj" kernelrelease)
	for variant in $variants; do
		build_one "$abi" "$obj" "$variant" "$key"
	done
	abis+=("$abi")
done <<<"$trees"
log "all out-of-tree builds clean: ${abis[*]} ($variants)"

#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Prepare the Linux 7.2 and 7.3 source trees that oot.sh builds the module
# against, idempotently, from Debian's linux-source-7.2 (unstable) and
# linux-source-7.3 (experimental):
#
#  - a private apt state in .build/apt-trees/ (sources list, lists, cache):
#    the machine's own apt sources, lists and preferences stay as they
#    are. Debian signs unstable and experimental with the same automatic
#    archive keys as bookworm, so the machine's debian-archive-keyring
#    verifies them (signed-by), and apt-get download checks each .deb
#    against the signed lists;
#  - the pinned version of each package if the archive still has it, else
#    the newest; the lists are fetched again only when a tree is missing;
#  - apt-get download into .build/debs-src/, dpkg -x, then the tarball
#    unpacked into .build/linux-<series>, stamped with the package version
#    (a tree at its stamp is never fetched again, even offline);
#  - the Module.symvers of Debian's own amd64 build of the same upload,
#    from its linux-headers package, into .build/linux-<series>.symvers:
#    oot.sh resolves the module's symbols against it (no vmlinux here).
#
# Prints one line per tree on stdout: series, tree, symvers, version.
# A warm run only compares the stamps.

set -euo pipefail
. "$(dirname "$0")/lib.sh"

# series=version pinned; the archive's newest of the series otherwise
TREE_PINS="7.2=7.2.13-1 7.3=7.3~rc7-1~exp1"
TAPT="$BUILD/apt-trees"
TDEBS="$BUILD/debs-src"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

lists_fetched=0

tapt() {
	local cmd=$1

	shift
	"$cmd" -o Dir::Etc::SourceList="$TAPT/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::Etc::Preferences=/dev/null \
		-o Dir::Etc::PreferencesParts=/dev/null \
		-o Dir::State::Lists="$TAPT/lists" \
		-o Dir::Cache="$TAPT/cache" \
		-o APT::Sandbox::User=root -qq "$@"
}

# The package lists of unstable and experimental, once per run
fetch_lists() {
	[ "$lists_fetched" = 1 ] && return 0
	[ -f "$KEYRING" ] || die "$KEYRING missing (debian-archive-keyring)"
	mkdir -p "$TAPT/lists/partial" "$TAPT/cache/archives/partial"
	cat >"$TAPT/sources.list" <<-SL
	deb [signed-by=$KEYRING] http://deb.debian.org/debian unstable main
	deb [signed-by=$KEYRING] http://deb.debian.org/debian experimental main
	SL
	log "apt-get update (unstable, experimental; private lists)"
	tapt apt-get update >"$TAPT/update.log" 2>&1 ||
		{ cat "$TAPT/update.log" >&2; die "apt-get update failed"; }
	lists_fetched=1
}

# Download package $1 at version $2, else at the newest version, into
# $TDEBS; prints the .deb's path.
fetch_deb() {
	local pkg=$1 ver=$2 f

	rm -f "$TDEBS/${pkg}_"*.deb
	if ! (cd "$TDEBS" && tapt apt-get download "$pkg=$ver") \
		>"$TDEBS/$pkg.log" 2>&1; then
		log "$pkg=$ver is not in the archive, taking the newest"
		(cd "$TDEBS" && tapt apt-get download "$pkg") \
			>>"$TDEBS/$pkg.log" 2>&1 ||
			{ cat "$TDEBS/$pkg.log" >&2; die "cannot download $pkg"; }
	fi
	for f in "$TDEBS/${pkg}_"*.deb; do
		[ -f "$f" ] && echo "$f" && return 0
	done
	die "no $pkg .deb after download"
}

# Debian's amd64 headers package built from the upload of linux-source
# version $2 of series $1, e.g. linux-headers-7.2.13+deb14-amd64
headers_pkg() {
	local series=$1 ver=$2 p info

	for p in $(tapt apt-cache search --names-only \
		"^linux-headers-${series//./\\.}[^ ]*-amd64\$" | awk '{ print $1 }'); do
		case "$p" in
		*-cloud-amd64 | *-rt-amd64) continue ;;
		esac
		# apt-cache show of a version it lacks prints nothing, rc 0
		info=$(tapt apt-cache show "$p=$ver" 2>/dev/null || true)
		if grep -qxF "Version: $ver" <<<"$info"; then
			echo "$p"
			return 0
		fi
	done
	die "no linux-headers-$series*-amd64 of version $ver"
}

# Module.symvers of Debian's build of linux-source version $2 (series $1)
# into $3
fetch_symvers() {
	local series=$1 ver=$2 out=$3 pkg deb tmp f

	pkg=$(headers_pkg "$series" "$ver")
	deb=$(fetch_deb "$pkg" "$ver")
	tmp=$(mktemp -d "$TDEBS/.x.XXXXXX")
	dpkg -x "$deb" "$tmp"
	f=$(find "$tmp/usr/src" -maxdepth 2 -name Module.symvers | head -n 1)
	[ -n "$f" ] || die "no Module.symvers in $deb"
	mv "$f" "$out"
	rm -rf "$tmp" "$deb"
}

# Unpack linux-source-$1 (pinned at $2) into .build/linux-$1 and its
# symvers next to it, unless the stamp says it is there already.
prepare_tree() {
	local series=$1 pin=$2
	local tree="$BUILD/linux-$series" stamp="$BUILD/linux-$series.stamp"
	local deb ver tmp

	# The stamp names the pin and what it gave: a new pin fetches again
	if [ -f "$stamp" ] && [ "$(head -n 1 "$stamp")" = "$pin" ] &&
	   [ -f "$tree/Makefile" ] && [ -f "$tree.symvers" ]; then
		echo "$series $tree $tree.symvers $(sed -n 2p "$stamp")"
		return 0
	fi
	fetch_lists
	deb=$(fetch_deb "linux-source-$series" "$pin")
	ver=$(dpkg-deb -f "$deb" Version)
	log "unpacking linux-source-$series $ver"
	rm -rf "$tree" "$tree.symvers" "$stamp"
	tmp=$(mktemp -d "$BUILD/.linux-$series.XXXXXX")
	dpkg -x "$deb" "$tmp"
	tar -C "$tmp" -xf "$tmp/usr/src/linux-source-$series.tar.xz"
	mv "$tmp/linux-source-$series" "$tree"
	rm -rf "$tmp" "$deb"
	fetch_symvers "$series" "$ver" "$tree.symvers"
	printf '%s\n%s\n' "$pin" "$ver" >"$stamp"
	echo "$series $tree $tree.symvers $ver"
}

mkdir -p "$TDEBS"
# One run at a time: oot.sh and a direct run share the trees.
exec 9>"$BUILD/trees.lock"
flock 9
for pin in $TREE_PINS; do
	prepare_tree "${pin%%=*}" "${pin#*=}"
done

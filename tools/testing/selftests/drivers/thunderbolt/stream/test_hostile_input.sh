#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Hostile input to ConfigFS: for every attribute, values that no parse can
# take (empty, whitespace, huge, negative, overflowing, malformed hex and
# octal, non-numeric, embedded NUL, 4 KiB strings) give EINVAL and change
# nothing, detached and attached; malformed or too long group names give
# EINVAL or ENAMETOOLONG and create nothing.

. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/simlib.sh"

need_sim
set -f	# the lists hold glob characters

# Values invalid for every numeric attribute (tbstream_try store-esc
# syntax: \0 \n \t \xHH)
NUMERIC='\n|\n\n| |\t| 64|64 |64\n\n|\x20\n|-|+|--64|+-64|-4294967296|4294967296|18446744073709551616|-9223372036854775809|99999999999999999999999|0x|0xZZ|0x-40|0b101|0o17|09|0128|1e3|64abc|abc|NaN|\0|\064|\0\n|\xff|\x80\x80|64\t'
# Values kstrtobool refuses
BOOLEAN='\n| |\t| 1|2|-1|+1|x|\0|\01|\xff|?|'

# try_values DIR ATTR LIST REPS: every value of LIST, and 4 KiB of each
# character of REPS, give EINVAL; the value stays
try_values() {
	local dir=$1 a=$2 list=$3 reps=$4 before v got ifs=$IFS

	before=$(cat "$dir/$a")
	IFS='|'
	for v in $list; do
		IFS=$ifs
		got=$(tbstream_try store-esc "$dir/$a" "$v")
		case "$v" in
		'') got=${got#ok 0} ;;	# write(0) is no store at all
		esac
		[ -z "$got" ] || [ "$got" = "err EINVAL" ] ||
			fail "$a '$v': got '$got', want 'err EINVAL'"
		IFS='|'
	done
	IFS=$ifs
	for v in $reps; do
		got=$(tbstream_try store-rep "$dir/$a" "$v" 4096)
		[ "$got" = "err EINVAL" ] ||
			fail "$a 4 KiB of '$v': got '$got', want 'err EINVAL'"
	done
	got=$(tbstream_try store-rep "$dir/$a" a 65536)
	[ "$got" = "err EINVAL" ] ||
		fail "$a 64 KiB of 'a': got '$got', want 'err EINVAL'"
	assert_eq "$(cat "$dir/$a")" "$before" "$a after hostile writes"
}

# all_attrs DIR: the whole list on every writable attribute
all_attrs() {
	for a in in_hopid out_hopid ring_size throttling; do
		try_values "$1" $a "$NUMERIC" "1 7 a -"
	done
	try_values "$1" busy_poll "$BOOLEAN" "a 2 -"
	# index is read-only
	mustnt sh -c "echo 1 > '$1/index'" 2>/dev/null
}

# Detached (no such peer), then attached with HopIDs held
mkdir -p "$CONFIGFS/0-1.0/hostile" || fail "mkdir 0-1.0/hostile"
all_attrs "$CONFIGFS/0-1.0/hostile"
rmstream 0-1.0 hostile

new_cable
mkstream "$SVC_B" hostile -1 -1 >/dev/null
all_attrs "$CONFIGFS/$SVC_B/hostile"
hop_a=$(cat "$SIMFS/cable$CABLE/hopids_b")

# Group names: malformed ones give EINVAL
NL=$(printf '\nx')
NL=${NL%x}
for bad in '' ' ' '0' '0-' '0-1' '0-1.' '.0-1.0' '0-1.0.' '0-1..0' \
	'0-1.0x' 'x0-1.0' '0_1.0' '0-1,0' '0-1.0-1.0' '-0-1.0' '+0-1.0' \
	'0-x.0' '0-1.-1' "0-1.0$(printf '\t')" '0-1.0 ' "0-1$NL.0" \
	; do
	case "$bad" in
	'') continue ;;	# mkdir "" is ENOENT from the VFS
	esac
	got=$(tbstream_try mkdir "$CONFIGFS/$bad")
	[ "$got" = "err EINVAL" ] || fail "group '$bad': got '$got', want 'err EINVAL'"
done
# Components over NAME_MAX are the VFS's ENAMETOOLONG
expect "err ENAMETOOLONG" mkdir "$CONFIGFS/0-1.$(head -c 300 /dev/zero | tr '\0' 1)"

# Stream names: more than 8 characters is ENAMETOOLONG
for bad in ninechars "$(head -c 255 /dev/zero | tr '\0' a)" '12345678 '; do
	expect "err ENAMETOOLONG" mkdir "$CONFIGFS/$SVC_B/$bad"
done
expect "err ENAMETOOLONG" mkdir "$CONFIGFS/$SVC_B/$(head -c 300 /dev/zero | tr '\0' a)"

# Nothing was created, nothing changed (group names have no odd characters)
# shellcheck disable=SC2010
ls "$CONFIGFS" | grep -v -e '^0-1\.0$' -e "^$SVC_A\$" -e "^$SVC_B\$" |
	grep -q . && fail "groups created by bad names: $(ls "$CONFIGFS")"
assert_eq "$(ls "$CONFIGFS/$SVC_B")" hostile "streams of $SVC_B"
assert_eq "$(cat "$SIMFS/cable$CABLE/hopids_b")" "$hop_a" "HopIDs of B"

# Probes, reported but not judged: names a lenient parser may take
for odd in '0- 1.0' '0-1. 0' '4294967297-1.0' '0-10000000000000000.0' \
	'0-1.4294967297' '00-01.00' '0-0x1.0' \
	"0-$(head -c 200 /dev/zero | tr '\0' 9).0"; do
	got=$(tbstream_try mkdir "$CONFIGFS/$odd")
	info "probe: group '$odd': $got"
	[ "$got" = "ok 0" ] && rmdir "$CONFIGFS/$odd"
done

rmstream "$SVC_B" hostile
rmdir "$CONFIGFS/0-1.0" 2>/dev/null
del_cable

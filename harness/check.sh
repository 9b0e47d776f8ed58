#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every test vehicle in turn, timing each, stopping at the
# first failure. Steps that count their tests print "N passed, N failed";
# a step that does not counts as one test. The last line is the sum.

set -uo pipefail
. "$(dirname "$0")/lib.sh"

STEPS="static oot kunit vm initramfs tbvm"
passed=0
failed=0

for step in $STEPS; do
	start=$(date +%s)
	out="$BUILD/check-$step.log"
	bash "$SRC/harness/$step.sh" 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	# The last summary of each kind ("kunit-plain: ...", or unnamed)
	counts=$(grep -E '^([a-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" |
		 sed -E 's/^(([a-z-]+): )?([0-9]+) passed, ([0-9]+) failed.*/\2 \3 \4/;s/^ /- /' |
		 awk '{ p[$1] = $2; f[$1] = $3 }
		      END { for (k in p) { tp += p[k]; tf += f[k] }
			    if (length(p)) print tp, tf }')
	[ -n "$counts" ] || counts="1 0"
	[ "$rc" -eq 0 ] || counts="${counts% *} $((${counts#* } > 0 ? ${counts#* } : 1))"
	passed=$((passed + ${counts% *}))
	failed=$((failed + ${counts#* }))
	log "$step: $([ "$rc" -eq 0 ] && echo ok || echo FAILED) in $(($(date +%s) - start)) s ($counts)"
	[ "$rc" -eq 0 ] || break
done

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

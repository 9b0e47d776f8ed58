#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make check: every test vehicle in turn, timing each, stopping at the
# first failure. The last line is the plain "N passed, N failed" summary
# of the steps.

set -uo pipefail
. "$(dirname "$0")/lib.sh"

STEPS="static oot kunit vm"
passed=0
failed=0

for step in $STEPS; do
	start=$(date +%s)
	if bash "$SRC/harness/$step.sh"; then
		passed=$((passed + 1))
		result=ok
	else
		failed=$((failed + 1))
		result=FAILED
	fi
	log "$step: $result in $(($(date +%s) - start)) s"
	[ "$result" = ok ] || break
done

echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

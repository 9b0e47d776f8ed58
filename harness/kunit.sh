#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Run the thunderbolt_stream KUnit suites under UML, twice: once with the
# plain kunitconfig and once with the kernel's debug checkers (KASAN,
# lockdep, atomic-sleep, list and object debugging). A splat in the
# console log fails the run even when every case passed, because KUnit
# does not turn a WARN or a lockdep report into a failed case by itself.
#
# Usage: harness/kunit.sh [plain|debug]...   (default: both)

set -euo pipefail
. "$(dirname "$0")/lib.sh"

KUNITCONFIG="$SRC/drivers/thunderbolt/stream.kunitconfig"
DEBUG_CONFIG="$SRC/harness/kunit-debug.config"

run_kunit() {
	local name=$1
	local build_dir="$BUILD/kunit-$name"
	local cfg="$BUILD/kunit-$name.kunitconfig"
	local out="$BUILD/kunit-$name.out"

	cat "$KUNITCONFIG" >"$cfg.new"
	if [ "$name" = debug ]; then
		cat "$DEBUG_CONFIG" >>"$cfg.new"
	fi
	cmp -s "$cfg.new" "$cfg" || cp "$cfg.new" "$cfg"
	rm -f "$cfg.new"

	log "$name: building and running (log: $out)"
	if ! (cd "$KTREE" && python3 tools/testing/kunit/kunit.py run \
		--kunitconfig="$cfg" --build_dir="$build_dir" \
		--jobs "$JOBS" --timeout 600 --raw_output=all) >"$out" 2>&1; then
		tail -n 60 "$out" >&2
		die "$name: kunit.py failed"
	fi
	grep -E '^(# )?(ok|not ok) [0-9]+ thunderbolt_stream' "$out" >&2 || true
	if find_splats "$out" >&2; then
		die "$name: kernel splat in the KUnit console log"
	fi
	# With --raw_output kunit.py does not judge the results: we do
	if grep -E '^ *not ok ' "$out" >&2; then
		die "$name: KUnit test failures"
	fi
	if ! grep -qE '^ok [0-9]+ thunderbolt_stream' "$out"; then
		die "$name: no thunderbolt_stream suite passed"
	fi
	# Test cases are the results one level below the suites
	echo "kunit-$name: $(grep -cE '^    ok ' "$out") passed," \
	     "$(grep -cE '^    not ok ' "$out") failed"
}

suites=${*:-plain debug}
for s in $suites; do
	run_kunit "$s"
done

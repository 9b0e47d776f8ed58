#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The short form of the fault campaign (stress.sh): 20 iterations with a
# seed from the clock (printed; `make stress SEED=... COUNT=20` replays
# it), a module reload every 10. Fails on corrupted or silently
# truncated data, an errno the fault does not explain, a hang or a HopID
# that stays held; the harness adds splats and kmemleak.

exec sh "$(dirname "$0")/stress.sh" "${STRESS_COUNT:-20}" "${STRESS_SEED:-}"

#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs every bench/*.sh in turn and says which failed. Full mode prints the
# figures docs/BENCHMARKS.md quotes; --quick runs fewer rounds, for CI.
#
# Usage: bench/run.sh [--quick] [FILTER]     (root; O=build dir, default build/)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
export O=${O:-$top/build}

mode=
if [ "${1:-}" = "--quick" ]; then
	mode=--quick
	shift
fi
filter=${1:-}

failed=()
for b in "$top"/bench/*.sh; do
	name=$(basename "$b" .sh)
	# run.sh is this script; plot.sh draws for the others.
	[ "$name" = run ] || [ "$name" = plot ] && continue
	[ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
	echo "=== $name ${mode:-(full)}"
	if ! bash "$b" $mode; then
		failed+=("$name")
	fi
	echo
done
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench/run.sh: failed: ${failed[*]}" >&2
	exit 1
fi

#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs every bench/*.sh in turn and says which failed. Full mode prints the
# figures docs/BENCHMARKS.md quotes and draws its plots into docs/bench/;
# --quick runs fewer rounds, for CI. With --summary it ends with every
# FIGURE line the scripts printed, from this same run:
#
#   FIGURE name value unit target-or-dash met|missed|info
#
# Usage: bench/run.sh [--quick] [--summary] [FILTER]
#   (root; O=build dir, default build/; PLOTS=folder for the PNGs, default docs/bench)
set -u -o pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
export O=${O:-$top/build}

mode=
summary=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) mode=--quick ;;
	--summary) summary=1 ;;
	-*) echo "usage: bench/run.sh [--quick] [--summary] [FILTER]" >&2; exit 2 ;;
	*) break ;;
	esac
	shift
done
filter=${1:-}

out=$(mktemp /tmp/bench-run.XXXXXX)
trap 'rm -f "$out"' EXIT
failed=()
start=$SECONDS
for b in "$top"/bench/*.sh; do
	name=$(basename "$b" .sh)
	# run.sh is this script; plot.sh draws for the others.
	[ "$name" = run ] || [ "$name" = plot ] && continue
	[ -n "$filter" ] && [[ $name != *"$filter"* ]] && continue
	echo "=== $name ${mode:-(full)}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	t0=$SECONDS
	if ! bash "$b" $mode | tee -a "$out"; then
		failed+=("$name")
	fi
	echo "=== $name: $((SECONDS - t0)) s"
	echo
done
if [ -n "$summary" ]; then
	echo "=== summary: every figure of this run ($((SECONDS - start)) s, $(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r))"
	grep '^FIGURE ' "$out"
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench/run.sh: failed: ${failed[*]}" >&2
	exit 1
fi

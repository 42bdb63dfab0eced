#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Dispatch cost by BPF_PROG_TEST_RUN (no interface, no attach): the default
# pipeline in each carrier against the same stages inlined, ns per extra
# stage for sluice and the designs it did not take, the entry against ABI
# 2's, a canary, the anomaly recorder, stage timing and one clock read,
# each stage's own cost, the kernel feature's own workloads, the ACL against
# its size. See bench/dispatch.c and docs/BENCHMARKS.md. Draws
# docs/bench/{stages,kernel,acl}.png from the same run.
#
# Usage: bench/dispatch.sh [--quick] [dispatch options]
#   (root; O=build dir, default build/; PLOTS=folder for the PNGs, default docs/bench)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
BIN=$O/bench/dispatch
PLOTS=${PLOTS:-$top/docs/bench}

[ -x "$BIN" ] || { echo "bench/dispatch.sh: $BIN not built (make O=$O)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/dispatch.sh: needs root (BPF)" >&2; exit 1; }

data=$(mktemp -d /tmp/bench-dispatch.XXXXXX)
trap 'rm -rf "$data"' EXIT
cmd="bench/dispatch.sh $*"
echo "# $BIN $* (load average $(cut -d' ' -f1-3 /proc/loadavg))"
"$BIN" --data "$data" "$@" || exit 1
bash "$top/bench/plot.sh" stages "$data/stages.dat" "$PLOTS/stages.png" "$cmd"
bash "$top/bench/plot.sh" kernel "$data" "$PLOTS/kernel.png" "$cmd"
bash "$top/bench/plot.sh" acl "$data/acl.dat" "$PLOTS/acl.png" "$cmd"

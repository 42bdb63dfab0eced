#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Dispatch cost by BPF_PROG_TEST_RUN (no interface, no attach): the default
# pipeline against the same stages inlined, ns per extra stage, constant vs
# variable tail-call index, per-packet context in metadata vs a per-CPU
# array. See bench/dispatch.c and docs/BENCHMARKS.md.
#
# Usage: bench/dispatch.sh [--quick]     (root; O=build dir, default build/)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
BIN=$O/bench/dispatch

case ${1:-} in
--quick | "") ;;
*) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
[ -x "$BIN" ] || { echo "bench/dispatch.sh: $BIN not built (make O=$O)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/dispatch.sh: needs root (BPF)" >&2; exit 1; }

echo "# $BIN ${1:-}"
exec "$BIN" ${1:+"$1"}

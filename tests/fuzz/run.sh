#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Runs every fuzz target for SECONDS from its seed corpus (tests/fuzz/corpus)
# and prints, per target, "fuzz: NAME EXECS execs, N crashes". With --tap it
# speaks TAP instead, for tests/run.sh. Findings go to
# $O/tests/fuzz/artifacts/NAME-*; what the fuzzer learns stays in
# $O/tests/fuzz/work/NAME (never in the seed corpus).
# Usage: tests/fuzz/run.sh [--tap] [SECONDS]
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-$top/build}
tap=0
[ "${1:-}" = --tap ] && { tap=1; shift; }
secs=${1:-${FUZZ_SECONDS:-10}}
dir=$O/tests/fuzz
targets=()
for t in "$dir"/fuzz_*; do
	[ -x "$t" ] && [[ "$t" != *.* ]] && targets+=("$t")
done
if [ ${#targets[@]} -eq 0 ]; then
	if [ $tap -eq 1 ]; then
		echo "1..1"
		echo "ok 1 # SKIP fuzz targets not built (clang without libFuzzer?)"
	else
		echo "fuzz: no targets in $dir (make fuzz builds them)" >&2
	fi
	exit 0
fi

# max_len per target: a configuration or a control stream is longer than a rule.
declare -A max_len=([fuzz_acl]=4096 [fuzz_config]=65536 [fuzz_ctl]=65536 [fuzz_pcap]=65536)
[ $tap -eq 1 ] && echo "1..${#targets[@]}"
n=0 failed=0
for t in "${targets[@]}"; do
	name=$(basename "$t")
	n=$((n + 1))
	work=$dir/work/$name
	art=$dir/artifacts
	rm -rf "$work"
	mkdir -p "$work" "$art"
	rm -f "$art/$name"-*
	log=$dir/$name.log
	# ASAN_OPTIONS: a leak is a finding too; an allocation the size of the
	# machine is the target's bug, not the fuzzer's.
	ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
		timeout $((secs + 120)) "$t" -max_total_time="$secs" -print_final_stats=1 \
		-timeout=30 -rss_limit_mb=3072 -max_len="${max_len[$name]:-65536}" \
		-artifact_prefix="$art/$name-" "$work" "$top/tests/fuzz/corpus/${name#fuzz_}" \
		>"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
	crashes=$(find "$art" -name "$name-*" -type f | wc -l)
	# A run that died without saying how far it got is a crash of its own.
	if [ -z "$execs" ] || { [ $rc -ne 0 ] && [ "$crashes" -eq 0 ]; }; then
		crashes=$((crashes + 1))
	fi
	line="fuzz: ${name#fuzz_} ${execs:-0} execs, $crashes crashes"
	if [ $tap -eq 1 ]; then
		if [ "$crashes" -eq 0 ]; then
			echo "ok $n - $line"
		else
			echo "not ok $n - $line (see $log)"
			grep -m3 -E "ERROR|SUMMARY|abort|deadly" "$log" | sed 's/^/# /'
		fi
	else
		echo "$line"
	fi
	[ "$crashes" -eq 0 ] || failed=1
done
exit $failed

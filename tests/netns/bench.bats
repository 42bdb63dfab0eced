#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The benchmarks' quick modes, so a benchmark that no longer runs, or whose
# own checks fail (every case's verdict, path, deciding rule and counters;
# timing that timed nothing), fails here and not on the day someone needs
# its figures. The figures themselves are never asserted: only that each
# one the run could take is a number, in the summary's line format. The
# slow benchmarks (gen, swap, xsk, hardening) are covered by their own
# suites' real traffic.

load ../lib/common

setup() {
	require_root
	OUTD=$BATS_TEST_TMPDIR
	# Quick plots go to the test's folder, never over docs/bench/.
	export PLOTS=$OUTD O=$SLUICE_BUILD
}

# figures_ok FILE [MIN]: every FIGURE line is "FIGURE name value unit target
# status", the value a number or n/a, the status met, missed or info; at least
# MIN of them (default 1).
figures_ok() {
	python3 - "$1" "${2:-1}" <<'EOF'
import re, sys
bad, n = [], 0
for line in open(sys.argv[1]):
    if not line.startswith("FIGURE "):
        continue
    n += 1
    f = line.split()
    if (len(f) != 6 or not re.fullmatch(r"[a-z0-9_.+-]+", f[1]) or
            not (f[2] == "n/a" or re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", f[2])) or
            f[5] not in ("met", "missed", "info")):
        bad.append(line.rstrip())
for b in bad:
    print("malformed:", b)
if n < int(sys.argv[2]):
    print(f"{n} FIGURE lines, want at least {sys.argv[2]}")
sys.exit(1 if bad or n < int(sys.argv[2]) else 0)
EOF
}

# figure FILE NAME: the value of one FIGURE line.
figure() {
	awk -v n="$2" '$1 == "FIGURE" && $2 == n { print $3 }' "$1"
}

# numeric VALUE: fails, saying which, unless VALUE is a number.
numeric() {
	[[ $2 =~ ^-?[0-9]+(\.[0-9]+)?$ ]] || { echo "$1: '$2', want a number"; return 1; }
}

@test "dispatch --quick: every case's checks pass; both carriers where this kernel has both; plots drawn" {
	require_file "$SLUICE_BUILD/bench/dispatch"
	run bash "$SLUICE_TOP/bench/dispatch.sh" --quick
	echo "$output" > "$OUTD/out"
	[ "$status" -eq 0 ] || { tail -20 "$OUTD/out"; false; }
	figures_ok "$OUTD/out"
	numeric percpu "$(figure "$OUTD/out" dispatch.pipeline_over_inlined.percpu)"
	meta=$(figure "$OUTD/out" dispatch.pipeline_over_inlined.meta)
	if probe_ok xdp_adjust_meta; then
		numeric meta "$meta"
	else
		[ "$meta" = n/a ]
	fi
	# The recorder and the timed case ran their checks (the timed one needs histograms).
	numeric recorder "$(figure "$OUTD/out" dispatch.recorder_cost)"
	numeric timing "$(figure "$OUTD/out" dispatch.timing_cost.1_in_64)"
	numeric acl "$(figure "$OUTD/out" dispatch.acl.100000.last)"
	# gnuplot drew each plot: a PNG signature, and more than a header.
	for p in stages kernel acl; do
		python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.exit(not (d[:8] == b"\x89PNG\r\n\x1a\n" and len(d) > 10000))' \
			"$OUTD/$p.png"
	done
}

@test "as on a kernel refusing metadata, the benches load only what such a kernel takes" {
	require_file "$SLUICE_BUILD/bench/acl"
	require_file "$SLUICE_BUILD/bench/dispatch"
	# The loaders refuse any program calling bpf_xdp_adjust_meta, as that verifier does.
	SLUICE_DENY_FEATURES=xdp_adjust_meta run "$SLUICE_BUILD/bench/acl" --quick --no-updates
	[ "$status" -eq 0 ] || { echo "$output" | tail -5; false; }
	[[ "$output" == *"acl-peer-3 "* ]]
	SLUICE_DENY_FEATURES=xdp_adjust_meta run "$SLUICE_BUILD/bench/dispatch" --quick --only default
	[ "$status" -eq 0 ] || { echo "$output" | tail -5; false; }
	[[ "$output" == *"FIGURE dispatch.pipeline_over_inlined.meta n/a "* ]]
	[[ "$output" =~ FIGURE\ dispatch.pipeline_over_inlined.percpu\ [0-9] ]]
}

@test "acl --quick: the ACL's cases and one-rule changes run; figures in the summary format" {
	require_file "$SLUICE_BUILD/bench/acl"
	run bash "$SLUICE_TOP/bench/acl.sh" --quick
	echo "$output" > "$OUTD/out"
	[ "$status" -eq 0 ] || { tail -20 "$OUTD/out"; false; }
	figures_ok "$OUTD/out" 0
	grep -Eq '^1,000 rules: add one at the end +[0-9.]+ ' "$OUTD/out"
	grep -Eq '^acl with no rule, ns +-?[0-9.]+$' "$OUTD/out"
}

@test "daemon and metrics --quick: start-up, adoption and a scrape measured" {
	require_file "$SLUICE_BUILD/bench/startup"
	for b in daemon metrics; do
		run bash "$SLUICE_TOP/bench/$b.sh" --quick
		echo "$output" > "$OUTD/$b"
		[ "$status" -eq 0 ] || { tail -20 "$OUTD/$b"; false; }
	done
	figures_ok "$OUTD/daemon"
	numeric restart "$(figure "$OUTD/daemon" daemon.restart_to_serving)"
	figures_ok "$OUTD/metrics" 0
	grep -Eq '^scrape \(HTTP request, client side\): median [0-9.]+ ms' "$OUTD/metrics"
}

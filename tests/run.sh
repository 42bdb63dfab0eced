#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Runs every test: the cmocka unit binaries and the bats netns suites, all
# speaking TAP, and ends with one line "N passed, N failed, N skipped".
# Usage: tests/run.sh [-q] [FILTER]   (FILTER: a substring of test file names)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
filter=${1:-}
export SLUICE_TOP=$top SLUICE_BUILD=$O

passed=0 failed=0 skipped=0
failures=()

# count_tap NAME: reads TAP on stdin, echoes it, adds to the totals.
count_tap() {
	local name=$1 line planned=0 seen=0
	while IFS= read -r line; do
		printf '%s\n' "$line"
		case "$line" in
		1..*) planned=${line#1..}; planned=${planned%% *} ;;
		# cmocka prints a skipped test as "not ok N # SKIP name".
		ok*"# skip"*|ok*"# SKIP"*|"not ok"*"# SKIP"*)
			seen=$((seen + 1)); skipped=$((skipped + 1)) ;;
		"not ok"*)
			seen=$((seen + 1)); failed=$((failed + 1)); failures+=("$name: ${line#not ok }") ;;
		ok*)
			seen=$((seen + 1)); passed=$((passed + 1)) ;;
		esac
	done
	# A binary that died before finishing its plan has failed.
	if [ "$planned" -gt "$seen" ]; then
		failed=$((failed + planned - seen))
		failures+=("$name: $((planned - seen)) planned tests did not run")
	fi
	if [ "$seen" -eq 0 ] && [ "$planned" -eq 0 ]; then
		failed=$((failed + 1)); failures+=("$name: printed no TAP")
	fi
}

mkdir -p "$O" && touch "$O/.tests-ran"
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

# The per-packet context may ride in XDP metadata or in a per-CPU map. The
# suites that load pipelines run under the carrier sluice picks here (auto),
# then the ones that depend on it again under the other, where the kernel
# has metadata at all: both paths are proven wherever that is possible.
other_carrier=
if [ -z "${SLUICE_TEST_CARRIER:-}" ] &&
   "$O/cli/sluicectl" probe -j 2>/dev/null | python3 -c '
import json, sys
sys.exit(0 if {f["name"]: f["ok"] for f in json.load(sys.stdin)["features"]}.get("xdp_adjust_meta") else 1)'; then
	other_carrier=percpu
fi
carrier_suites=" test_entry test_pipeline test_equivalence test_parse test_acl test_count test_ratelimit "

for t in "$O"/tests/unit/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	case "$name" in *.o|*.d) continue ;; esac
	[ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
	runs=("")
	[ -n "$other_carrier" ] && [[ "$carrier_suites" == *" $name "* ]] && runs+=("$other_carrier")
	for carrier in "${runs[@]}"; do
		label=$name${carrier:+[$carrier]}
		echo "# unit: $name${carrier:+ (context: $carrier)}"
		out=$(mktemp)
		(cd "$top" && SLUICE_TEST_CARRIER=${carrier:-${SLUICE_TEST_CARRIER:-}} \
			CMOCKA_MESSAGE_OUTPUT=TAP timeout 600 "$t" > "$out" 2>&1; echo "# exit: $?" >> "$out")
		count_tap "$label" < "$out"
		# All its TAP said ok, yet it ended badly (a sanitizer at exit, a leak): a failure.
		rc=$(sed -n 's/^# exit: //p' "$out")
		if [ "${rc:-1}" -ne 0 ] && ! grep -q "^not ok" "$out"; then
			failed=$((failed + 1))
			failures+=("$label: exited with status $rc")
		fi
		rm -f "$out"
	done
done

# A short run of every fuzz target (tests/fuzz), FUZZ_SECONDS each.
if [ -z "$filter" ] || [[ fuzz == *"$filter"* ]]; then
	echo "# fuzz: ${FUZZ_SECONDS:-3} s per target"
	count_tap fuzz < <(O=$O bash "$top/tests/fuzz/run.sh" --tap "${FUZZ_SECONDS:-3}" 2>&1)
fi

# Where the kernel has metadata, the suites whose checks depend on what
# reaches an AF_XDP socket run a second time as on a kernel that refuses it
# and live frames (the probe's SLUICE_DENY_FEATURES), which the whole suite
# also passes (docs/testing.md); carrier.bats covers the rest of that path.
deny_suites=" capture.bats xsk_pipeline.bats "
for t in "$top"/tests/netns/*.bats; do
	[ -f "$t" ] || continue
	name=$(basename "$t")
	[ -n "$filter" ] && [[ "$name" != *"$filter"* ]] && continue
	denies=("")
	[ -n "$other_carrier" ] && [[ "$deny_suites" == *" $name "* ]] &&
		denies+=("xdp_adjust_meta,xdp_live_frames")
	for deny in "${denies[@]}"; do
		echo "# netns: $name${deny:+ (as on a kernel refusing $deny)}"
		count_tap "$name${deny:+[no-meta]}" < <(cd "$top" &&
			SLUICE_DENY_FEATURES=${deny:-${SLUICE_DENY_FEATURES:-}} timeout 900 bats --tap "$t" 2>&1)
	done
done

# The oldest kernel the matrix proves, under qemu (docs/kernels.md); a skip
# naming the reason where qemu or the kernel package cannot be had.
if [ -z "$filter" ] || [[ kernels == *"$filter"* ]]; then
	echo "# kernels: ${SLUICE_CI_KERNEL:=6.1}"
	count_tap kernels < <(cd "$top" && SLUICE_KERNEL_TIMEOUT=420 timeout 480 \
		tests/kernels/matrix.sh -t "$SLUICE_CI_KERNEL" 2>&1)
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "# failures:"
	printf '#   %s\n' "${failures[@]}"
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

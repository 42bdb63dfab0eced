#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The kernel matrix (`make test-kernels`): boots each kernel under qemu and
# runs sluice's BPF unit tests and a short netns suite inside it, with the
# host's root (and so this build) shared read-only over virtio-9p.
#
# Usage: tests/kernels/matrix.sh [-t] [-l] [-x CMD] [KERNEL...]
#   KERNEL	5.10, 6.1, 6.12, 6.18 (Debian's bullseye, bookworm,
#		bookworm-backports and trixie-backports images) or host
#		(this machine's kernel, no VM); default: 5.10 6.1 6.12 host
#   -t		TAP output (one test line per test, "kernel X:" prefixed),
#		for tests/run.sh; a kernel that cannot be had is a skip
#   -l		keep each kernel's results directory (console log, dmesg,
#		TAP files) and print its path
#   -x CMD	also run CMD (bash -c, in the source tree) in each guest
#		first, its output in the results directory's exec.log;
#		for looking into a kernel's differences (implies -l)
#
# Prints one line per kernel, "kernel VERSION: N passed, N failed, N skipped
# (S s)", then the total and the matrix's wall time. A guest that hangs or
# oopses fails its own kernel (panic=-1 oops=panic, -no-reboot, a timeout
# around qemu), never the run; nothing is left running.
#
# Environment: SLUICE_KERNEL_UNIT (unit binaries), SLUICE_KERNEL_BATS
# (FILE[:FILTER] bats suites, '_' for a space in FILTER), SLUICE_KERNEL_TIMEOUT
# (seconds for one guest), SLUICE_KCACHE (the package cache,
# /var/cache/sluice-kernels), SLUICE_KPKG_6_1=linux-image-... (a package).
set -u
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
O=${O:-$top/build}
. "$here/lib.sh"

tap=0 keep=0 exec_cmd=
while getopts :tlx: o; do
	case $o in
	t) tap=1 ;;
	l) keep=1 ;;
	x) exec_cmd=$OPTARG; keep=1 ;;
	*) sed -n '/^# Usage/,/^# Prints/s/^# \{0,1\}//p' "$0" | sed '$d' >&2; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
kernels=("$@")
[ ${#kernels[@]} -gt 0 ] || kernels=(5.10 6.1 6.12 host)

UNIT=${SLUICE_KERNEL_UNIT:-test_entry test_pipeline test_equivalence test_parse test_acl test_jit test_probe}
# A pipeline on veth, a swap and a transaction under traffic, the ACL end
# to end. The swap suite's counts are cut down for emulation (below).
BATS=${SLUICE_KERNEL_BATS:-daemon.bats:attaches_and_passes_real_traffic 'swap.bats:(swaps|transactions)_under_traffic' acl_e2e.bats}
GUEST_TIMEOUT=${SLUICE_KERNEL_TIMEOUT:-900}
SUITE_TIMEOUT=$((GUEST_TIMEOUT / 2))

total_p=0 total_f=0 total_s=0
work=
qpid=
cleanup() {
	if [ -n "$qpid" ]; then
		kill "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null
	fi
	[ -n "$work" ] && [ $keep -eq 0 ] && rm -rf "$work"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

say() {
	if [ $tap -eq 1 ]; then
		printf '# %s\n' "$*"
	else
		printf '%s\n' "$*"
	fi
}

# tally KERNEL DIR: counts the TAP files in DIR, sets p f s; prints them
# (prefixed) in TAP mode. A binary that stopped before its plan, or a
# suite that printed nothing, counts as failed.
tally() {
	local k=$1 dir=$2 file line planned seen name
	p=0 f=0 s=0
	for file in "$dir"/[0-9]*.tap; do
		[ -e "$file" ] || continue
		name=$(basename "$file" .tap)
		name=${name#*-}
		planned=0 seen=0
		while IFS= read -r line; do
			case "$line" in
			1..*) planned=${line#1..}; planned=${planned%% *}; continue ;;
			ok*"# skip"*|ok*"# SKIP"*|"not ok"*"# SKIP"*) seen=$((seen + 1)); s=$((s + 1)) ;;
			"not ok"*) seen=$((seen + 1)); f=$((f + 1)) ;;
			ok*) seen=$((seen + 1)); p=$((p + 1)) ;;
			*) [ $tap -eq 1 ] && printf '# %s\n' "${line#\# }"; continue ;;
			esac
			[ $tap -eq 1 ] && tap_line "$k" "$name" "$line"
		done < "$file"
		if [ "$planned" -gt "$seen" ]; then
			f=$((f + planned - seen))
			[ $tap -eq 1 ] && tap_line "$k" "$name" "not ok - $((planned - seen)) planned tests did not run"
		elif [ "$seen" -eq 0 ]; then
			f=$((f + 1))
			[ $tap -eq 1 ] && tap_line "$k" "$name" "not ok - printed no TAP"
		fi
	done
}

# tap_line KERNEL SUITE LINE: LINE renumbered into the one stream run.sh reads.
tnum=0
tap_line() {
	local verdict=ok rest=${3#ok}
	case "$3" in "not ok"*) verdict="not ok"; rest=${3#not ok} ;; esac
	# " N - name", " N name" (bats) or " - name": keep the name only.
	[[ $rest =~ ^\ *[0-9]*\ *(-\ )?(.*)$ ]] && rest=${BASH_REMATCH[2]}
	tnum=$((tnum + 1))
	printf '%s %d - kernel %s: %s: %s\n' "$verdict" "$tnum" "$1" "$2" "$rest"
}

# secs T0 T1: the seconds between two `date +%s.%N`.
secs() {
	awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'
}

# tap_skip KERNEL REASON: the whole kernel skipped, as one TAP test.
tap_skip() {
	tnum=$((tnum + 1))
	if [ $tap -eq 1 ]; then
		printf 'ok %d - kernel %s # skip %s\n' "$tnum" "$1" "$2"
	fi
	total_s=$((total_s + 1))
	say "kernel $1: skipped: $2"
	[ -n "$work" ] && [ $keep -eq 0 ] && rm -rf "$work"
	work=
}

# write_env DIR KDIR: the guest's parameters.
write_env() {
	{
		printf 'SLUICE_GUEST=%q\n' "$here/guest.sh"
		printf 'SLUICE_TOP=%q\n' "$top"
		printf 'SLUICE_BUILD=%q\n' "$O"
		printf 'SLUICE_KDIR=%q\n' "$2"
		# The system's python3 first: a pyenv shim costs 0.6 s a start
		# here, several seconds under emulation, and the suites start
		# python3 hundreds of times.
		printf 'SLUICE_PATH=%q\n' "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
		printf 'SLUICE_UNIT=%q\n' "$UNIT"
		printf 'SLUICE_BATS=%q\n' "$BATS"
		printf 'SLUICE_MODULES=%q\n' "veth sch_ingress cls_bpf"
		printf 'SLUICE_SUITE_TIMEOUT=%q\n' "$SUITE_TIMEOUT"
		printf 'SLUICE_EXEC=%q\n' "$exec_cmd"
		# Emulation is 10x or more slower: fewer swaps and shorter
		# traffic in the swap suite; it asserts no time.
		printf 'export SLUICE_SWAP_OPS=%q SLUICE_TXN_OPS=%q SLUICE_SWAP_SECS=%q SLUICE_TXN_SECS=%q SLUICE_SWAP_RATE=%q\n' \
			"${SLUICE_SWAP_OPS:-50}" "${SLUICE_TXN_OPS:-10}" "${SLUICE_SWAP_SECS:-20}" \
			"${SLUICE_TXN_SECS:-30}" "${SLUICE_SWAP_RATE:-20000}"
	} > "$1/env"
}

# run_kernel KERNEL: fetch, boot, run, count; one result line.
run_kernel() {
	local k=$1 t0 t1 rc label why
	t0=$(date +%s.%N)
	work=$(mktemp -d /tmp/sluice-kernel.XXXXXX) || return 1
	if [ "$k" = host ]; then
		label="$(uname -r) (host)"
		write_env "$work" ""
		SLUICE_OUT=$work bash "$here/guest.sh" >/dev/null 2>&1 &
		qpid=$!
		wait $qpid
		qpid=
	else
		if ! command -v qemu-system-x86_64 >/dev/null; then
			tap_skip "$k" "qemu-system-x86_64 is not installed (scripts/deps.sh)"
			return 0
		fi
		# Another run (another checkout's make test) may be filling
		# the same cache: one fetch at a time.
		if ! flock -w 900 9; then
			tap_skip "$k" "the kernel cache $SLUICE_KCACHE stayed locked for 900 s"
			return 0
		fi
		if ! kernel_fetch "$k" 2>"$work/fetch.log"; then
			flock -u 9
			why=$(grep -v '^W:' "$work/fetch.log" | tail -1)
			why=${why#\# kernels: }
			tap_skip "$k" "the kernel package could not be had (${why:-download failed})"
			return 0
		fi
		label=$KVER
		if ! kernel_initramfs 2>>"$work/fetch.log"; then
			flock -u 9
			tap_skip "$k" "no initramfs: $(tail -1 "$work/fetch.log")"
			return 0
		fi
		flock -u 9
		write_env "$work" "$KDIR"
		kernel_boot "$work" "$GUEST_TIMEOUT" &
		qpid=$!
		wait $qpid
		rc=$?
		qpid=
	fi
	t1=$(date +%s.%N)
	tally "$label" "$work"
	if [ ! -e "$work/done" ]; then
		# The guest died before it finished: the kernel fails.
		why="guest did not finish"
		[ "${rc:-0}" -eq 124 ] && why="guest timed out after $GUEST_TIMEOUT s"
		grep -qE 'Kernel panic|Oops|BUG:' "$work/console.log" 2>/dev/null &&
			why="guest crashed: $(grep -m1 -E 'Kernel panic|Oops|BUG:' "$work/console.log" | tr -d '\r')"
		f=$((f + 1))
		[ $tap -eq 1 ] && tap_line "$label" guest "not ok - $why"
		say "kernel $label: $why (console: $work/console.log)"
		keep=1
	fi
	total_p=$((total_p + p)) total_f=$((total_f + f)) total_s=$((total_s + s))
	say "$(printf 'kernel %s: %d passed, %d failed, %d skipped (%.0f s)' "$label" "$p" "$f" "$s" \
		"$(secs "$t0" "$t1")")"
	if [ $keep -eq 1 ]; then
		say "kernel $label: results in $work"
	else
		rm -rf "$work"
	fi
	work=
}

case "$SLUICE_KCACHE" in
/tmp/*|/run/*|/dev/*|/proc/*|/sys/*)
	# The guest mounts its own filesystems there and would not find the
	# kernel's modules.
	echo "matrix: SLUICE_KCACHE=$SLUICE_KCACHE is hidden in the guest; use a directory elsewhere" >&2
	exit 2 ;;
esac
mkdir -p "$SLUICE_KCACHE" && exec 9>"$SLUICE_KCACHE/.lock" || exit 1
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
m0=$(date +%s.%N)
for k in "${kernels[@]}"; do
	run_kernel "$k"
done
m1=$(date +%s.%N)
if [ $tap -eq 1 ]; then
	echo "1..$tnum"
	say "kernels: $total_p passed, $total_f failed, $total_s skipped ($(printf '%.0f' "$(secs "$m0" "$m1")") s)"
else
	printf 'total: %d passed, %d failed, %d skipped\n' "$total_p" "$total_f" "$total_s"
	printf 'matrix time: %.0f s\n' "$(secs "$m0" "$m1")"
fi
[ "$total_f" -eq 0 ]

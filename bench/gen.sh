#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Generator rates on one veth pair: every sluice-gen engine that can run here
# (xdp live frames, xsk AF_XDP TX ring, packet AF_PACKET TX ring, dpdk with
# the net_af_xdp vdev) and dpdk-testpmd --forward-mode=txonly on the same
# vdev: the reference the DPDK engine must match (ratio >= 1.0), and the one
# the xsk engine, an AF_XDP sender through the same kernel path, is compared
# with. Also says which engine --engine auto takes.
# Each figure is the median of several rounds, the generators interleaved.
# The receiving veth has GRO on and no program: frames are taken and dropped
# by its stack.
#
# Usage: bench/gen.sh [--quick]     (root; O=build dir, default build/)
# SLUICE_DENY_FEATURES=xdp_live_frames bench/gen.sh measures as on a kernel
# that refuses live frames (the xdp engine is then reported unavailable).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
GEN=$O/tools/gen/sluice-gen
. "$top/tests/lib/netns.sh"

rounds=5 secs=4
if [ "${1:-}" = "--quick" ]; then
	rounds=3 secs=2
fi
[ -x "$GEN" ] || { echo "bench/gen.sh: $GEN not built (make O=$O)" >&2; exit 1; }
command -v dpdk-testpmd >/dev/null || { echo "bench/gen.sh: dpdk-testpmd not installed" >&2; exit 1; }

name=bg$$
tmp=$(mktemp -d)
trap 'topo_destroy $name; rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
topo_create "$name" || exit 1

median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# gen_run ENGINE SECONDS: one sluice-gen run; its JSON summary in $tmp/gen.json.
gen_run() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine "$1" \
		--duration "$2" --dst-mac "$TOPO_DUT_MAC" -q -j >"$tmp/gen.json" 2>"$tmp/gen.err"
}

# gen_pps ENGINE: one round of sluice-gen, prints packets per second.
gen_pps() {
	gen_run "$1" "$secs" &&
		python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["pps"])' "$tmp/gen.json"
}

# testpmd_pps: one round of testpmd txonly, to the same peer MAC and with the
# same frame length as sluice-gen (a frame to a foreign MAC is dropped at L2 by
# the receiver, one to its own is processed, which costs the shared CPUs
# more): the median of its per-second
# non-zero Tx-pps lines, less the first (start-up) one when there are more. testpmd wants a main lcore
# besides the forwarding one: --main-lcore 1 leaves it forwarding on CPU 0,
# where sluice-gen's -l 0 runs its loop, so both send from the same core.
testpmd_pps() {
	ip netns exec "$TOPO_GEN_NS" timeout -s INT "$((secs + 3))" dpdk-testpmd -l 0-1 --main-lcore 1 --no-huge -m 256 \
		--no-pci --file-prefix "$name-tp" --vdev "net_af_xdp0,iface=$TOPO_GEN_IF" -- \
		--forward-mode=txonly --total-num-mbufs=16384 --stats-period 1 \
		--eth-peer="0,$TOPO_DUT_MAC" --txpkts=66 >"$tmp/tp.out" 2>&1
	awk '/Tx-pps:/ && $2 > 0 { v[++n] = $2 }
	     END { for (i = n > 2 ? 2 : 1; i <= n; i++) print v[i] }' "$tmp/tp.out" | median
}

# Which engines run here: a short run of each; one that cannot run says why.
declare -A why
engines=""
for eng in xdp xsk packet dpdk; do
	if gen_run "$eng" 0.2; then
		engines+="$eng "
	else
		why[$eng]=$(grep -m1 'cannot run here' "$tmp/gen.err" | sed 's/^sluice-gen: //')
		why[$eng]=${why[$eng]:-$(tail -1 "$tmp/gen.err")}
	fi
done
gen_run auto 0.2 || { cat "$tmp/gen.err" >&2; echo "bench/gen.sh: --engine auto failed" >&2; exit 1; }
auto=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["engine"])' "$tmp/gen.json")
engines+="testpmd"

# Rounds interleave the generators so that noise from other work on the
# two cores spreads over all of them alike.
declare -A res
for eng in $engines; do : >"$tmp/$eng"; done
for ((r = 0; r < rounds; r++)); do
	for eng in $engines; do
		if [ "$eng" = testpmd ]; then
			v=$(testpmd_pps)
		else
			v=$(gen_pps "$eng")
		fi
		[ -n "$v" ] && echo "$v" >>"$tmp/$eng"
	done
done
for eng in $engines; do
	res[$eng]=$(median <"$tmp/$eng")
	if [ -z "${res[$eng]}" ]; then
		echo "bench/gen.sh: no figure for $eng" >&2
		cat "$tmp/gen.err" "$tmp/tp.out" 2>/dev/null | tail -5 >&2
		exit 1
	fi
done

mpps() { awk -v v="$1" 'BEGIN { printf "%.3f", v / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
declare -A label=(
	[xdp]="sluice-gen --engine xdp (live frames)"
	[xsk]="sluice-gen --engine xsk (AF_XDP copy)"
	[packet]="sluice-gen --engine packet (TX ring)"
	[dpdk]="sluice-gen --engine dpdk (af_xdp)"
	[testpmd]="dpdk-testpmd txonly (af_xdp)"
)

echo "# sluice-gen rates on one veth pair, medians of $rounds rounds of ${secs}s, 66-byte UDP to the DUT's MAC"
echo "# $(nproc) CPUs shared with other work (load average $(cut -d' ' -f1-3 /proc/loadavg)), $(uname -r)${SLUICE_DENY_FEATURES:+, SLUICE_DENY_FEATURES=$SLUICE_DENY_FEATURES}"
printf '%-40s %10s\n' "generator" "Mpps"
for eng in xdp xsk packet dpdk testpmd; do
	if [ -n "${res[$eng]:-}" ]; then
		printf '%-40s %10s\n' "${label[$eng]}" "$(mpps "${res[$eng]}")"
	else
		printf '%-40s %10s   %s\n' "${label[$eng]}" "-" "${why[$eng]:-}"
	fi
done

for eng in xsk dpdk; do
	[ -n "${res[$eng]:-}" ] || continue
	r=$(ratio "${res[$eng]}" "${res[testpmd]}")
	printf '%-40s %10s\n' "ratio $eng engine / testpmd" "$r"
	[ "$eng" = dpdk ] && ! awk -v r="$r" 'BEGIN { exit !(r >= 1.0) }' &&
		echo "# WARNING: dpdk engine below testpmd (target ratio >= 1.0)"
done
echo "# --engine auto takes: $auto"
echo "# command: bench/gen.sh $*"
echo "# sluice-gen -i IF --engine {xdp|xsk|packet|dpdk} --duration $secs -q -j"
echo "# dpdk-testpmd -l 0-1 --main-lcore 1 --no-huge -m 256 --no-pci --file-prefix X --vdev net_af_xdp0,iface=IF -- --forward-mode=txonly --total-num-mbufs=16384 --stats-period 1 --eth-peer=0,DUT_MAC --txpkts=66"
echo
for eng in xdp xsk packet dpdk testpmd; do
	[ -n "${res[$eng]:-}" ] && echo "FIGURE gen.${eng}_mpps $(mpps "${res[$eng]}") Mpps - info"
done
for eng in xsk dpdk; do
	[ -n "${res[$eng]:-}" ] || continue
	r=$(ratio "${res[$eng]}" "${res[testpmd]}")
	echo "FIGURE gen.${eng}_over_testpmd $r ratio >=1.0 $(awk -v r="$r" 'BEGIN { print (r >= 1.0 ? "met" : "missed") }')"
done

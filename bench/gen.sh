#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Generator rates on one veth pair: sluice-gen's XDP live-frames engine, its
# DPDK engine (net_af_xdp vdev), and dpdk-testpmd --forward-mode=txonly on
# the same vdev as the reference the DPDK engine must match (ratio >= 1.0).
# Each figure is the median of several rounds. The receiving veth has GRO on
# and no program: frames are taken and dropped by the stack.
#
# Usage: bench/gen.sh [--quick]     (root; O=build dir, default build/)
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

# gen_pps ENGINE: one round of sluice-gen, prints packets per second.
gen_pps() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine "$1" \
		--duration "$secs" --dst-mac "$TOPO_DUT_MAC" -q -j 2>"$tmp/gen.err" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["pps"])'
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

# Rounds interleave the generators so that noise from other work on the
# two cores spreads over all of them alike.
declare -A res
engines="xdp dpdk testpmd"
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
ratio=$(awk -v a="${res[dpdk]}" -v b="${res[testpmd]}" 'BEGIN { printf "%.2f", a / b }')

echo "# sluice-gen rates on one veth pair, medians of $rounds rounds of ${secs}s, 66-byte UDP to the DUT's MAC"
printf '%-36s %10s\n' "generator" "Mpps"
printf '%-36s %10s\n' "sluice-gen --engine xdp (live frames)" "$(mpps "${res[xdp]}")"
printf '%-36s %10s\n' "sluice-gen --engine dpdk (af_xdp)" "$(mpps "${res[dpdk]}")"
printf '%-36s %10s\n' "dpdk-testpmd txonly (af_xdp)" "$(mpps "${res[testpmd]}")"
printf '%-36s %10s\n' "ratio dpdk engine / testpmd" "$ratio"
echo "# command: bench/gen.sh $*"
echo "# sluice-gen -i IF --engine {xdp|dpdk} --duration $secs -q -j"
echo "# dpdk-testpmd -l 0-1 --main-lcore 1 --no-huge -m 256 --no-pci --file-prefix X --vdev net_af_xdp0,iface=IF -- --forward-mode=txonly --total-num-mbufs=16384 --stats-period 1 --eth-peer=0,DUT_MAC --txpkts=66"
awk -v r="$ratio" 'BEGIN { exit !(r >= 1.0) }' || echo "# WARNING: dpdk engine below testpmd (target ratio >= 1.0)"
echo
echo "FIGURE gen.xdp_mpps $(mpps "${res[xdp]}") Mpps - info"
echo "FIGURE gen.dpdk_mpps $(mpps "${res[dpdk]}") Mpps - info"
echo "FIGURE gen.testpmd_mpps $(mpps "${res[testpmd]}") Mpps - info"
echo "FIGURE gen.dpdk_over_testpmd $ratio ratio >=1.0 $(awk -v r="$ratio" 'BEGIN { print (r >= 1.0 ? "met" : "missed") }')"

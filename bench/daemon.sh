#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluiced's start-up figures (issue: daemon): start to first packet processed,
# adoption time on restart, RSS with one interface and 1,000 ACL rules.
# Traffic: sluice-gen at 100 kpps into the DUT for the whole run.
#
# Usage: bench/daemon.sh [--quick]     (root; O=build dir)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
. "$top/tests/lib/netns.sh"
rounds=7
[ "${1:-}" = "--quick" ] && rounds=2

name=bd$$
work=$(mktemp -d /tmp/sluice-bench-daemon.XXXXXX)
pin=/sys/fs/bpf/sluice-bench-$name
cleanup() {
	pkill -f "sluice-gen -i $name-g0" 2>/dev/null || true
	rm -rf "$pin" "$work"
	topo_destroy "$name" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM
[ -n "${BENCH_KEEP:-}" ] && trap - EXIT
bpffs_mount
topo_create "$name" >/dev/null

# 1,000 rules the traffic does not match: each a /24 source and a port.
{
	cat <<-EOF2
	pin_root: $pin
	state_dir: $work/state
	control: { socket: $work/sluiced.sock }
	pipelines:
	  - name: fw
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	EOF2
	for i in $(seq 1 1000); do
		printf '          - { id: %d, action: drop, proto: udp, src: 172.%d.%d.0/24, dport: %d }\n' \
			"$i" $((16 + i / 256)) $((i % 256)) $((10000 + i))
	done
	cat <<-EOF2
	      - { name: ratelimit, object: ratelimit, params: { rate_pps: 100000000, burst: 100000000 } }
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: fw }
	EOF2
} > "$work/sluiced.yaml"
nsenter --net="/run/netns/$TOPO_DUT_NS" "$O/daemon/sluiced" -n -c "$work/sluiced.yaml" >/dev/null || exit 1

ip netns exec "$TOPO_GEN_NS" "$O/tools/gen/sluice-gen" -i "$TOPO_GEN_IF" --engine auto --rate 100000 \
	--duration $((rounds * 8 + 5)) --dst-mac "$TOPO_DUT_MAC" -q >/dev/null &
echo "command: O=$O bench/daemon.sh${1:+ $1}"
echo "$rounds rounds, 1,000 ACL rules, traffic at 100 kpps"
nsenter --net="/run/netns/$TOPO_DUT_NS" "$O/bench/startup" "$O/daemon/sluiced" "$work/sluiced.yaml" \
	"$pin/$TOPO_DUT_IF" "$work/sluiced.sock" "$rounds"

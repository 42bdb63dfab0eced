#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Scrape time of sluiced's /metrics with 1,000 ACL rules and 16 stages
# (parse, acl, ratelimit, 12 pass, count), the recorder on and stage timing
# at 1/64, so every family has its series. One client asks N times in a row,
# as Prometheus does; the figure is the whole HTTP request, and beside it
# the render in the event loop (sluice_metrics_render_seconds of the
# previous scrape). Traffic: one short burst first, so counters are not 0.
#
# Usage: bench/metrics.sh [--quick]     (root; O=build dir)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
. "$top/tests/lib/netns.sh"
scrapes=500
[ "${1:-}" = "--quick" ] && scrapes=50

name=bm$$
work=$(mktemp -d /tmp/sluice-bench-metrics.XXXXXX)
pin=/sys/fs/bpf/sluice-bench-$name
port=$((20000 + $$ % 10000))
cleanup() {
	[ -s "$work/pid" ] && kill "$(cat "$work/pid")" 2>/dev/null && sleep 0.3
	rm -rf "$pin" "$work"
	topo_destroy "$name" >/dev/null 2>&1
}
trap cleanup EXIT INT TERM
bpffs_mount
topo_create "$name" >/dev/null

{
	cat <<-EOF
	pin_root: $pin
	state_dir: $work/state
	control: { socket: $work/sluiced.sock }
	metrics: { listen: 127.0.0.1:$port }
	pipelines:
	  - name: fw
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	EOF
	for i in $(seq 1 1000); do
		printf '          - { id: %d, action: drop, proto: udp, src: 172.%d.%d.0/24, dport: %d }\n' \
			"$i" $((16 + i / 256)) $((i % 256)) $((10000 + i))
	done
	echo "      - { name: ratelimit, object: ratelimit, params: { rate_pps: 100000000, burst: 100000000 } }"
	for i in $(seq 1 12); do
		echo "      - { name: p$i, object: pass }"
	done
	cat <<-EOF
	      - { name: count, object: count }
	interfaces:
	  - name: $TOPO_DUT_IF
	    pipeline: fw
	    observe: { record: true, time_sample: 64 }
	EOF
} > "$work/sluiced.yaml"
nsenter --net="/run/netns/$TOPO_DUT_NS" "$O/daemon/sluiced" -n -c "$work/sluiced.yaml" >/dev/null || exit 1
nsenter --net="/run/netns/$TOPO_DUT_NS" "$O/daemon/sluiced" -c "$work/sluiced.yaml" >"$work/log" 2>&1 &
echo $! > "$work/pid"
for _ in $(seq 100); do
	[ -S "$work/sluiced.sock" ] && "$O/cli/sluicectl" -s "$work/sluiced.sock" status >/dev/null 2>&1 && break
	sleep 0.1
done
"$O/cli/sluicectl" -s "$work/sluiced.sock" status >/dev/null || { cat "$work/log" >&2; exit 1; }
ip netns exec "$TOPO_GEN_NS" "$O/tools/gen/sluice-gen" -i "$TOPO_GEN_IF" --dst-mac "$TOPO_DUT_MAC" \
	--count 100000 --rate 100000 -q >/dev/null || echo "(no traffic: sluice-gen failed; counters stay 0)"

echo "command: O=$O bench/metrics.sh${1:+ $1}"
nsenter --net="/run/netns/$TOPO_DUT_NS" python3 - "http://127.0.0.1:$port/metrics" "$scrapes" <<-'PY'
import http.client, statistics, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
n = int(sys.argv[2])
took, render = [], []
size = series = 0
for i in range(n + 1):
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    t0 = time.perf_counter()
    c.request("GET", u.path)
    body = c.getresponse().read()
    t = time.perf_counter() - t0
    c.close()
    if i == 0:
        continue	# the first scrape also warms the daemon's map fds and the client
    took.append(t)
    text = body.decode()
    size = len(body)
    series = sum(1 for l in text.splitlines() if l and not l.startswith("#"))
    for l in text.splitlines():
        if l.startswith("sluice_metrics_render_seconds "):
            render.append(float(l.split()[1]))
took.sort()
render.sort()
ms = lambda v: f"{v * 1e3:.2f} ms"
q = lambda v, p: v[min(len(v) - 1, int(p * len(v)))]
print(f"{n} scrapes of {series} series ({size / 1024:.0f} KiB), 1,000 rules, 16 stages")
print(f"scrape (HTTP request, client side): median {ms(statistics.median(took))}, "
      f"p90 {ms(q(took, 0.9))}, p99 {ms(q(took, 0.99))}, max {ms(took[-1])}")
print(f"render in the event loop: median {ms(statistics.median(render))}, p99 {ms(q(render, 0.99))}")
PY

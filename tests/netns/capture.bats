#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Capture mode: sluiced with an xsk section binds its own AF_XDP socket into
# the pipeline's XSKMAP and counts what the ACL's xsk rule selects. Exact
# counts by `sluicectl -j xsk stats` (packets, verified payloads, no gap, no
# corruption, frames by rule from the metadata) and the metrics endpoint;
# SIGTERM joins the threads and exits 0; the sockets leave the map with the
# process (the xsk stage falls back, counted) and a restart binds new ones.
# Where the context rides in the per-CPU map (a kernel without XDP
# metadata), frames arrive without it: all counted as no_meta, by_rule
# empty, and the rule's own counter still counts them.
#
# Bursts are paced and smaller than the rx ring, so a receiving thread
# descheduled for the whole burst still loses nothing.

load ../lib/common
load ../lib/daemon

XSK_ID=20
DROP_ID=10
XSK_PORT=5000
DROP_PORT=5001
PASS_PORT=5002
# XDP actions (linux/bpf.h), keys of the pinned sluice_xsk_verdicts.
XDP_PASS=2
XDP_REDIRECT=4

setup_file() {
	export GEN=$SLUICE_BUILD/tools/gen/sluice-gen
	require_file "$GEN"
	daemon_setup cap
	export MAPS=$PIN/$TOPO_DUT_IF/maps
	export METRICS_PORT=$((30000 + $$ % 10000))
	# 32k frames of 2 KiB: the measured ring size at a quarter of the default umem.
	daemon_config <<-EOF
	metrics: { listen: 127.0.0.1:$METRICS_PORT }
	pipelines:
	  - name: capture
	    default_verdict: pass
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	          - { id: $DROP_ID, action: drop, proto: udp, dport: $DROP_PORT }
	          - { id: $XSK_ID, action: xsk, proto: udp, dport: $XSK_PORT }
	      - { name: xsk, object: xsk }
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: capture }
	xsk:
	  interface: $TOPO_DUT_IF
	  queues: [0]
	  rx_ring: 32768
	  fill_ring: 32768
	  frames: 32768
	  frame_size: 2048
	  mode: copy
	EOF
	daemon_start
	# 1: frames reach the socket with the entry's metadata in front of them.
	META=0
	[ "$(ctl_json 'r["interfaces"][0]["context"]' status)" = meta ] && META=1
	export META
}

teardown_file() {
	daemon_teardown
}

# A daemon a test started itself ends with that test, passed or failed: the
# next test would find the interface and the state folder taken.
teardown() {
	local pid

	[ -s "$WORK/test.pid" ] || return 0
	pid=$(cat "$WORK/test.pid")
	rm -f "$WORK/test.pid"
	kill "$pid" 2>/dev/null
	for _ in $(seq 30); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -9 "$pid" 2>/dev/null
	return 0
}

# gen N DPORT: a paced single-flow burst from the generator namespace.
gen() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto -q -j -n "$1" -r 50000 --dport "$2" \
		> "$WORK/gen.json"
	python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); assert g["sent"] == int(sys.argv[2]) and g["errors"] == 0, g' \
		"$WORK/gen.json" "$1"
}

# xsk_total KEY: a counter of the capture's total.
xsk_total() {
	ctl_json "r['xsk']['total']['$1']" xsk stats
}

# wait_packets N: until the capture has counted N frames (the thread drains
# after the generator returns), then a little longer to catch any extra.
wait_packets() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(xsk_total packets)" -ge "$1" ] && break
		sleep 0.1
	done
	sleep 0.3
}

# check_capture N: exactly N frames in total and on queue 0, all verified,
# no gap, reorder, corruption or socket drop, copy mode; with metadata all
# from the xsk rule (by id, resolved from meta.rule), without it all no_meta.
check_capture() {
	ctl -j xsk stats > "$WORK/xsk.json"
	python3 - "$WORK/xsk.json" "$1" "$XSK_ID" "$TOPO_DUT_IF" "$META" <<-'PY'
	import json, sys
	r = json.load(open(sys.argv[1]))["xsk"]
	n, xsk_id, ifname, meta = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5] == "1"
	errs = []
	def want(what, got, exp):
	    if got != exp:
	        errs.append(f"{what}: {got}, want {exp}")
	want("interface", r["interface"], ifname)
	want("queues", [q["queue"] for q in r["queues"]], [0])
	q, t = r["queues"][0], r["total"]
	want("xdp_mode", q["xdp_mode"], "copy")
	for o, name in ((q, "queue 0"), (t, "total")):
	    want(name + " packets", o["packets"], n)
	    want(name + " valid", o["valid"], n)
	    for k in ("corrupt", "gaps", "reordered", "no_payload"):
	        want(f"{name} {k}", o[k], 0)
	    for k, v in o["xdp"].items():
	        want(f"{name} xdp.{k}", v, 0)
	    want(name + " no_meta", o["no_meta"], 0 if meta else n)
	    want(name + " by_rule ids", [(e["id"], e["packets"]) for e in o["by_rule"]],
	         [(xsk_id, n)] if meta else [])
	if t["bytes"] < 60 * n:
	    errs.append(f"bytes {t['bytes']} for {n} frames")
	if errs:
	    print("\n".join(errs), file=sys.stderr)
	    sys.exit(1)
	PY
}

# xsk_verdict V: the xsk stage's pinned per-CPU count of verdict V.
xsk_verdict() {
	bpftool -j map lookup pinned "$MAPS/sluice_xsk_verdicts" key "$1" 0 0 0 |
		python3 -c 'import json,sys; print(sum(c["value"] for c in json.load(sys.stdin)["formatted"]["values"]))'
}

@test "capture: exactly the ACL's xsk packets reach the daemon's socket, verified, counted by rule" {
	local n=5000 redirect0
	redirect0=$(xsk_verdict "$XDP_REDIRECT")
	gen "$n" "$DROP_PORT"
	gen "$n" "$PASS_PORT"
	gen "$n" "$XSK_PORT"
	wait_packets "$n"
	check_capture "$n"
	[ "$(( $(xsk_verdict "$XDP_REDIRECT") - redirect0 ))" -eq "$n" ]
	# The drop rule's frames never reached the stage after acl, the pass ones went on.
	[ "$(ctl_json '[r for r in r["rules"] if r["id"] == '"$DROP_ID"'][0]["packets"]' rule list "$TOPO_DUT_IF")" -eq "$n" ]
}

@test "capture: text output and metrics carry the same counts" {
	local n
	n=$(xsk_total packets)
	run ctl xsk stats
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "capture on $TOPO_DUT_IF, 1 queue(s)" ]]
	[[ "$output" =~ total\ +$n\  ]]
	if [ "$META" = 1 ]; then
		[[ "$output" == *"rule $XSK_ID (position "*"): $n"* ]]
	else
		[[ "$output" == *"frames without sluice metadata (rule unknown; see rule list): $n"* ]]
	fi
	# Either way the xsk rule's own counter saw every one of them.
	[ "$(ctl_json '[r for r in r["rules"] if r["id"] == '"$XSK_ID"'][0]["packets"]' rule list "$TOPO_DUT_IF")" -eq "$n" ]
	# The daemon, and its metrics listener, live in the DUT namespace.
	run in_ns "$TOPO_DUT_NS" python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode())' \
		"http://127.0.0.1:$METRICS_PORT/metrics"
	[ "$status" -eq 0 ]
	[[ "$output" == *"sluice_xsk_packets_total{iface=\"$TOPO_DUT_IF\",queue=\"0\"} $n"* ]]
	[[ "$output" == *"sluice_xsk_gaps_total{iface=\"$TOPO_DUT_IF\",queue=\"0\"} 0"* ]]
	[[ "$output" == *"sluice_xsk_rx_ring_full_total{iface=\"$TOPO_DUT_IF\",queue=\"0\"} 0"* ]]
	# The xsk stage's own per-CPU counts, summed by the daemon, as the pinned map has them.
	[[ "$output" == *"sluice_xsk_stage_packets_total{iface=\"$TOPO_DUT_IF\",verdict=\"redirect\"} $(xsk_verdict "$XDP_REDIRECT")"* ]]
}

@test "capture: SIGTERM joins the threads and exits 0; without the daemon the xsk stage falls back; a restart binds again" {
	local pid rc=0 pass0 n=2000 t0
	# The daemon of setup_file is not our child: end it, and run one we can wait for.
	daemon_stop
	for _ in $(seq 50); do
		pgrep -f "sluiced -c $WORK/sluiced.yaml" >/dev/null || break
		sleep 0.1
	done
	! pgrep -f "sluiced -c $WORK/sluiced.yaml"
	grep -q 'xsk: 1 queue thread(s) joined' "$WORK/log"

	# No socket in the map now: marked frames get the fallback verdict (pass), counted.
	pass0=$(xsk_verdict "$XDP_PASS")
	gen "$n" "$XSK_PORT"
	[ "$(( $(xsk_verdict "$XDP_PASS") - pass0 ))" -eq "$n" ]

	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$WORK/sluiced.yaml" > "$WORK/log2" 2>&1 &
	pid=$!
	echo "$pid" > "$WORK/test.pid"
	for _ in $(seq 50); do
		ctl status >/dev/null 2>&1 && break
		sleep 0.1
	done
	gen "$n" "$XSK_PORT"
	wait_packets "$n"
	check_capture "$n"

	t0=$(date +%s%N)
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	# An idle thread sleeps at most 100 ms in poll(): the stop is prompt.
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2000 ]
	grep -q "xsk: 1 queue thread(s) joined, sockets on $TOPO_DUT_IF closed after $n frames" "$WORK/log2"
	! grep -qi 'error' "$WORK/log2"
}

@test "capture: with only the capabilities the systemd unit grants, the sockets bind and capture" {
	local caps pid n=500
	daemon_stop
	for _ in $(seq 50); do
		pgrep -f "sluiced -c $WORK/sluiced.yaml" >/dev/null || break
		sleep 0.1
	done
	# CapabilityBoundingSet=CAP_A CAP_B -> -all,+a,+b (root's permitted set is its bounding set).
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$SLUICE_TOP/daemon/sluiced.service.in" |
		tr 'A-Z' 'a-z' | sed -e 's/cap_/+/g' -e 's/ /,/g')
	[ -n "$caps" ]
	nsenter --net="/run/netns/$TOPO_DUT_NS" setpriv --bounding-set "-all,$caps" \
		"$SLUICED" -c "$WORK/sluiced.yaml" > "$WORK/log4" 2>&1 &
	pid=$!
	echo "$pid" > "$WORK/test.pid"
	for _ in $(seq 50); do
		ctl status >/dev/null 2>&1 && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null || { cat "$WORK/log4"; false; }
	gen "$n" "$XSK_PORT"
	wait_packets "$n"
	check_capture "$n"
	kill -TERM "$pid"
	wait "$pid"
}

@test "capture: xsk stats is refused by a daemon without an xsk section" {
	local sock=$WORK/plain.sock
	sed -e '/^xsk:/,$d' -e "s#socket: .*#socket: $sock }#" -e '/^metrics:/d' \
		-e "s#state_dir: .*#state_dir: $WORK/state2#" "$WORK/sluiced.yaml" > "$WORK/plain.yaml"
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$WORK/plain.yaml" > "$WORK/log3" 2>&1 &
	PLAIN_PID=$!
	echo "$PLAIN_PID" > "$WORK/test.pid"
	for _ in $(seq 50); do
		"$SLUICECTL" -s "$sock" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	run "$SLUICECTL" -s "$sock" xsk stats
	kill -TERM "$PLAIN_PID"
	wait "$PLAIN_PID"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no xsk section"* ]]
}

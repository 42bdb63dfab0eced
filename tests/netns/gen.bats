#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluice-gen end to end: each engine sends an exact count from the generator
# namespace to a checking XDP sink on the DUT veth, which must see every
# seq 0..N-1 exactly once with valid checksums (in BPF for every frame, with
# pkt_check() in user space for a sample).

load ../lib/common

GEN=$SLUICE_BUILD/tools/gen/sluice-gen
SINK=$SLUICE_BUILD/tools/gen/sluice-gen-sink

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	export TOPO=$(topo_name sg)
	topo_create "$TOPO"
}

teardown_file() {
	[ -n "${TOPO:-}" ] && topo_destroy "$TOPO"
	return 0
}

setup() {
	require_root
	require_file "$GEN"
	require_file "$SINK"
	# setup_file's exports reach tests, not the topology's own names
	TOPO_GEN_NS=$TOPO-gen TOPO_DUT_NS=$TOPO-dut TOPO_GEN_IF=$TOPO-g0 TOPO_DUT_IF=$TOPO-d0
	TOPO_DUT_MAC=$(ip -n "$TOPO_DUT_NS" -br link show dev "$TOPO_DUT_IF" | awk '{print $3}')
	OUTD=$BATS_TEST_TMPDIR
}

# sink_start N [ARGS...]: the checker on the DUT veth, expecting N frames.
sink_start() {
	local n=$1
	shift
	rm -f "$OUTD/ready"
	ip netns exec "$TOPO_DUT_NS" "$SINK" -i "$TOPO_DUT_IF" --expect "$n" --timeout 20 \
		--sample-every 61 --ready "$OUTD/ready" -j "$@" >"$OUTD/sink.json" 2>"$OUTD/sink.err" &
	SINK_PID=$!
	wait_file "$OUTD/ready" 100 || { cat "$OUTD/sink.err" >&2; return 1; }
}

# sink_wait: the sink's verdict; prints its JSON for the log.
sink_wait() {
	local rc=0
	wait "$SINK_PID" || rc=$?
	cat "$OUTD/sink.json" "$OUTD/sink.err" >&2
	return $rc
}

gen() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --dst-mac "$TOPO_DUT_MAC" -q -j "$@"
}

# check_run ENGINE N [GEN ARGS...]
check_run() {
	local engine=$1 n=$2
	shift 2
	sink_start "$n"
	gen --engine "$engine" --count "$n" "$@" >"$OUTD/gen.json"
	cat "$OUTD/gen.json" >&2
	sink_wait
	[ "$(json_get "$OUTD/gen.json" sent)" -eq "$n" ]
	[ "$(json_get "$OUTD/gen.json" errors)" -eq 0 ]
	[ "$(json_get "$OUTD/sink.json" packets)" -eq "$n" ]
	[ "$(json_get "$OUTD/sink.json" seen)" -eq "$n" ]
	[ "$(json_get "$OUTD/sink.json" bad_csum)" -eq 0 ]
	[ "$(json_get "$OUTD/sink.json" samples)" -gt 0 ]
	[ "$(json_get "$OUTD/sink.json" samples_bad)" -eq 0 ]
}

@test "xdp engine: every frame of an exact count arrives, in order, checksums valid" {
	check_run xdp 50000 --rate 250000
	[ "$(json_get "$OUTD/sink.json" reorder)" -eq 0 ]
}

@test "xdp engine: a paced sender that was stopped moves its schedule on instead of bursting" {
	# 6,000 frames at 10 kpps take 0.6 s. Stopped for 0.5 s on the way, a
	# sender that owed the backlog would send it at full speed and still
	# end near 0.6 s; one that moves its schedule on (--rate's 2 ms lag
	# allowance) ends near 1.1 s, every frame sent all the same.
	local pids
	sink_start 6000
	gen --engine xdp --count 6000 --rate 10000 >"$OUTD/gen.json" &
	local gen_job=$!
	sleep 0.2
	pids=$(ip netns pids "$TOPO_GEN_NS")
	[ -n "$pids" ]
	kill -STOP $pids
	sleep 0.5
	kill -CONT $pids
	wait "$gen_job"
	cat "$OUTD/gen.json" >&2
	sink_wait
	[ "$(json_get "$OUTD/gen.json" sent)" -eq 6000 ]
	[ "$(json_get "$OUTD/sink.json" seen)" -eq 6000 ]
	python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["seconds"]; assert s >= 1.0, s' "$OUTD/gen.json"
}

@test "xdp engine: flows, VLAN, 300-byte frames, TCP" {
	check_run xdp 20000 --rate 200000 --flows 13 --src 10.9.0.1-10.9.0.4 \
		--sport 1000-1006 --vlan 42 --size 300
	check_run xdp 20000 --rate 200000 --flows 5 --proto tcp --dport 80-84
}

@test "xdp engine: unpaced run stamps every frame" {
	# Full speed may overrun the veth ring: what was dropped there must
	# be exactly what the sink did not see.
	sink_start 200000 --no-body-check
	gen --engine xdp --count 200000 >"$OUTD/gen.json"
	sink_wait || true
	[ "$(json_get "$OUTD/gen.json" sent)" -eq 200000 ]
	errors=$(json_get "$OUTD/gen.json" errors)
	seen=$(json_get "$OUTD/sink.json" seen)
	[ "$((seen + errors))" -eq 200000 ]
	[ "$(json_get "$OUTD/sink.json" dups)" -eq 0 ]
}

@test "dpdk engine (net_af_xdp): every frame of an exact count arrives, checksums valid" {
	check_run dpdk 50000 --rate 250000
	[ "$(json_get "$OUTD/sink.json" reorder)" -eq 0 ]
}

@test "dpdk engine: flows, VLAN and TCP match the xdp engine's frames" {
	check_run dpdk 20000 --rate 200000 --flows 13 --src 10.9.0.1-10.9.0.4 \
		--sport 1000-1006 --vlan 42 --size 300
	check_run dpdk 20000 --rate 200000 --flows 5 --proto tcp --dport 80-84
}

@test "dpdk engine (net_af_packet vdev)" {
	check_run dpdk 20000 --rate 200000 --vdev-type af_packet
}

@test "sink fails when a frame is missing" {
	sink_start 1001
	gen --engine xdp --count 1000 --rate 100000 >"$OUTD/gen.json"
	rc=0
	sink_wait || rc=$?
	[ "$rc" -ne 0 ]
	[ "$(json_get "$OUTD/sink.json" missing)" -eq 1 ]
	[ "$(json_get "$OUTD/sink.json" ok)" = False ]
}

@test "progress and summary: --duration bounds a run, text and JSON agree" {
	run ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --duration 1.5 --rate 1000
	[ "$status" -eq 0 ]
	[[ "$output" == *"Mpps"* ]]
	[[ "$output" == *"sluice-gen:"*"1.0s"* ]]	# progress line on stderr
	run gen --duration 0.5 --rate 2000
	[ "$status" -eq 0 ]
	sent=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["sent"])' "$output")
	[ "$sent" -ge 800 ] && [ "$sent" -le 1002 ]
}

@test "bad options are refused" {
	run ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF"
	[ "$status" -eq 2 ]	# unbounded: no --count nor --duration
	run gen --count 1 --src 10.0.0.9-10.0.0.1
	[ "$status" -eq 2 ]
	run gen --count 1 --proto sctp
	[ "$status" -eq 2 ]
	run ip netns exec "$TOPO_GEN_NS" "$GEN" -i nosuch0 --count 1
	[ "$status" -eq 1 ]
}

@test "teardown removes the namespaces and is idempotent" {
	topo_destroy "$TOPO"
	topo_destroy "$TOPO"
	! topo_exists "$TOPO"
	! ip netns list | grep -q "^$TOPO-"
}

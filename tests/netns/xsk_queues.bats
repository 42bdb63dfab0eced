#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluice-xsk on several queues of one veth (2 rx and 2 tx queues on each
# end), and the latency it reads from the transmit stamp sluice-gen --stamp
# writes: exact per-queue counts that add up to what was sent, latency
# fields present and ordered (no time threshold: the machine is shared),
# interval lines that add up to the summary. Live frames are optional: where
# the kernel refuses them (or SLUICE_DENY_FEATURES says so) a test needing
# them skips, and --stamp falls back to the xsk engine.

load ../lib/common
load ../lib/xsk

BURST=20000

setup() {
	require_root
	XSK=$SLUICE_BUILD/tools/xsk/sluice-xsk
	GEN=$SLUICE_BUILD/tools/gen/sluice-gen
	SINK=$SLUICE_BUILD/tools/gen/sluice-gen-sink
	require_file "$XSK"
	require_file "$GEN"
	bpffs_mount
	NAME=$(topo_name xq)
	TMP=$(mktemp -d /tmp/xsk-queues-bats.XXXXXX)
	RX_DIR=$TMP
	TOPO_QUEUES=2 topo_create "$NAME"
}

teardown() {
	[ -n "${RX_PID:-}" ] && kill "$RX_PID" 2>/dev/null
	[ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null
	topo_destroy "$NAME"
	rm -rf "$TMP"
}

gen() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" -q -j "$@"
}

# rx2 ARGS...: sluice-xsk on queues 0 and 1 with its own redirect program;
# each queue's rings hold more than a whole burst.
rx2() {
	rx_start --attach -q 0,1 --rx-ring 16384 --frames 16384 -d 60 "$@"
}

# check_queues N Q0 Q1 [FLOWS]: the summary holds exactly N frames, Q0 on
# queue 0 and Q1 on queue 1, every payload valid, no drop; with --latency
# each queue's and the total's fields are present and ordered. The
# generator numbers frames across its FLOWS flows (default 1) in turn, so a
# flow sees every FLOWS-th number: gaps of FLOWS - 1 between its frames.
check_queues() {
	python3 - "$TMP/rx.json" "$@" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n, want_q = int(sys.argv[2]), [int(x) for x in sys.argv[3:5]]
flows = int(sys.argv[5]) if len(sys.argv) > 5 else 1
errs = []
def want(what, got, exp):
    if got != exp:
        errs.append(f"{what}: {got}, want {exp}")
t = d["total"]
want("total rx_packets", t["rx_packets"], n)
want("queues", [q["queue"] for q in d["queues"]], [0, 1])
want("per-queue rx_packets", [q["rx_packets"] for q in d["queues"]], want_q)
want("verify.valid", t["verify"]["valid"], n)
for k in ("corrupt", "no_payload", "dups", "late", "stale"):
    want("verify." + k, t["verify"][k], 0)
want("verify.gaps", t["verify"]["gaps"], flows * (n // flows - 1) * (flows - 1))
for k, v in t["drops"].items():
    if k != "tx_ring_empty_descs":
        want("drops." + k, v, 0)
for name, o, cnt in [("total", t, n)] + [(f"queue {q['queue']}", q, q["rx_packets"]) for q in d["queues"]]:
    if "rx_mpps" not in o:
        errs.append(f"{name}: no rx_mpps")
    lat = o["latency"]
    want(name + " latency.samples", lat["samples"], cnt)
    want(name + " latency.unstamped", lat["unstamped"], 0)
    if cnt:
        p = [lat[k] for k in ("p50_ns", "p90_ns", "p99_ns", "max_ns")]
        if not (0 < p[0] <= p[1] <= p[2] <= p[3]):
            errs.append(f"{name}: latency not 0 < p50 <= p90 <= p99 <= max: {p}")
        if not (0 < lat["mean_ns"] <= p[3]):
            errs.append(f"{name}: mean {lat['mean_ns']} not in (0, max]")
if errs:
    print("\n".join(errs), file=sys.stderr)
    sys.exit(1)
PY
}

@test "xsk queues: xsk engine on 2 queues, sluice-xsk -q 0,1: per-queue counts add up to what was sent, latency ordered" {
	rx2 --verify --latency --count "$BURST" -I 50 --interval-file "$TMP/iv.jsonl"
	# Four flows, flow f on queue f % 2: seq s is flow s % 4, so each
	# queue gets exactly half. Paced: the rate is not what is tested.
	gen --engine xsk --queues 2 --stamp --sport 1000-1003 -n "$BURST" -r 200000 > "$TMP/gen.json"
	rx_wait
	cat "$TMP/gen.json" >&2
	[ "$(json_get "$TMP/gen.json" sent)" -eq "$BURST" ]
	[ "$(json_get "$TMP/gen.json" queues)" -eq 2 ]
	check_queues "$BURST" $((BURST / 2)) $((BURST / 2)) 4
	# The interval lines add up to the summary, queue by queue, in time order.
	python3 - "$TMP/iv.jsonl" "$TMP/rx.json" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
d = json.load(open(sys.argv[2]))
assert lines and lines[-1].get("last"), "no last line"
per_q = [sum(l["queues"][i] for l in lines) for i in range(2)]
assert per_q == [q["rx_packets"] for q in d["queues"]], per_q
assert sum(l["rx"] for l in lines) == d["total"]["rx_packets"]
assert sum(l["latency"]["samples"] for l in lines) == d["total"]["latency"]["samples"]
ts = [l["t_ns"] for l in lines]
assert ts == sorted(ts) and all(l["dt_ns"] > 0 for l in lines), ts
for l in lines:
    lat = l["latency"]
    if lat["samples"]:
        assert 0 < lat["p50_ns"] <= lat["p99_ns"] <= lat["max_ns"], l
PY
	! ip -n "$TOPO_DUT_NS" -d link show dev "$TOPO_DUT_IF" | grep -q 'prog/xdp'
}

@test "xsk queues: one flow stays on one queue" {
	rx2 --verify --latency --count "$BURST"
	gen --engine xsk --queues 2 --stamp -n "$BURST" -r 200000 > /dev/null
	rx_wait
	check_queues "$BURST" "$BURST" 0
}

@test "xsk queues: live frames land on the peer's queue of the sending CPU" {
	[ "$(nproc)" -ge 2 ] || skip "needs 2 CPUs"
	probe_ok xdp_live_frames || skip "the kernel refuses XDP live frames (sluicectl probe)"
	command -v taskset > /dev/null || skip "no taskset"
	rx2 --verify --latency --count "$BURST"
	ip netns exec "$TOPO_GEN_NS" taskset -c 1 "$GEN" -i "$TOPO_GEN_IF" -q -j --engine xdp --stamp \
		-n "$BURST" -r 200000 > "$TMP/gen.json"
	rx_wait
	[ "$(json_get "$TMP/gen.json" engine)" = xdp ]
	check_queues "$BURST" 0 "$BURST"
}

@test "xsk queues: without live frames, --stamp falls back to the xsk engine and still stamps" {
	rx2 --verify --latency --count "$BURST"
	SLUICE_DENY_FEATURES=xdp_live_frames gen --engine auto --stamp -n "$BURST" -r 200000 \
		> "$TMP/gen.json" 2> "$TMP/gen.err"
	rx_wait
	[ "$(json_get "$TMP/gen.json" engine)" = xsk ]
	grep -q 'xdp_live_frames' "$TMP/gen.err"
	check_queues "$BURST" "$BURST" 0
}

@test "xsk queues: frames without a stamp are counted unstamped, no percentiles" {
	rx2 --latency --sample 4 --count 4000
	gen --engine xsk -n 4000 -r 200000 > /dev/null
	rx_wait
	python3 - "$TMP/rx.json" <<'PY'
import json, sys
lat = json.load(open(sys.argv[1]))["total"]["latency"]
# Every 4th of 4000 frames is looked at.
assert lat["samples"] == 0 and lat["unstamped"] == 1000, lat
assert lat["p50_ns"] == lat["p99_ns"] == lat["max_ns"] == 0, lat
PY
}

@test "xsk queues: a stamped frame still passes the checking sink's payload checksums" {
	require_file "$SINK"
	ip netns exec "$TOPO_DUT_NS" "$SINK" -i "$TOPO_DUT_IF" --expect 5000 --timeout 20 \
		--sample-every 61 --ready "$TMP/ready" -j > "$TMP/sink.json" 2> "$TMP/sink.err" &
	SINK_PID=$!
	wait_file "$TMP/ready" 100 || { cat "$TMP/sink.err" >&2; false; }
	gen --engine auto --stamp -n 5000 -r 200000 --dst-mac "$(ip -n "$TOPO_DUT_NS" -br link show dev "$TOPO_DUT_IF" | awk '{print $3}')" \
		> "$TMP/gen.json"
	wait "$SINK_PID"
	SINK_PID=
	cat "$TMP/sink.json" >&2
	[ "$(json_get "$TMP/sink.json" seen)" -eq 5000 ]
	[ "$(json_get "$TMP/sink.json" bad_csum)" -eq 0 ]
	[ "$(json_get "$TMP/gen.json" size)" -eq 82 ]
}

@test "xsk queues: bad latency and interval options are refused" {
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --txonly --latency
	[ "$status" -eq 2 ]
	[[ $output == *"--latency measures received frames"* ]]
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --attach --latency --sample 0
	[ "$status" -eq 2 ]
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --attach -I 0
	[ "$status" -eq 2 ]
	run gen --queues 9 -n 1
	[ "$status" -eq 2 ]
	[[ $output == *"--queues"* ]]
	run gen --engine xdp --queues 2 -n 1
	[ "$status" -eq 1 ]
	[[ $output == *"cannot choose a frame's queue"* ]]
}

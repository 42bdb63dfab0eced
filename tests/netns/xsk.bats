#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluice-xsk end to end on a private veth pair: an exact burst from the
# generator namespace must reach the AF_XDP socket in the DUT namespace
# whole (every packet, every sequence number and checksum, no ring drop),
# through our own bare redirect program (--attach) or through an XSKMAP
# pinned by someone else (--xskmap); and nothing may stay behind.

load ../lib/common
load ../lib/xsk

BURST=20000

setup() {
	require_root
	XSK=$SLUICE_BUILD/tools/xsk/sluice-xsk
	GEN=$SLUICE_BUILD/tools/gen/sluice-gen
	REDIRECT_OBJ=$SLUICE_BUILD/tools/xsk/xsk_redirect.bpf.o
	require_file "$XSK"
	bpffs_mount
	NAME=$(topo_name xsk)
	PIN=/sys/fs/bpf/sluice-xsk-test-$NAME
	TMP=$(mktemp -d /tmp/xsk-bats.XXXXXX)
	RX_DIR=$TMP
	topo_create "$NAME"
}

teardown() {
	[ -n "${RX_PID:-}" ] && kill "$RX_PID" 2>/dev/null
	topo_destroy "$NAME"
	rm -rf "$PIN" "$TMP"
}

# xdp_attached: true while any XDP program is on the DUT veth.
xdp_attached() {
	ip -n "$TOPO_DUT_NS" -d link show dev "$TOPO_DUT_IF" | grep -q 'prog/xdp'
}

# wait_xdp: until the receiver has its program attached (it attaches last,
# after every socket is in the map).
wait_xdp() {
	local i
	for ((i = 0; i < 100; i++)); do
		xdp_attached && return 0
		sleep 0.1
	done
	echo "no XDP program appeared on $TOPO_DUT_IF" >&2
	return 1
}

# check_burst N: the summary shows exactly N packets in one flow numbered
# 0..N-1, every payload verified, and no drop of any kind.
check_burst() {
	python3 - "$TMP/rx.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
t = d["total"]
q = d["queues"][0]
errs = []
def want(what, got, exp):
    if got != exp:
        errs.append(f"{what}: {got}, want {exp}")
want("rx_packets", t["rx_packets"], n)
for k in ("valid",):
    want("verify." + k, t["verify"][k], n)
for k in ("corrupt", "no_payload", "gaps", "dups", "late", "stale", "untracked"):
    want("verify." + k, t["verify"][k], 0)
# tx_ring_empty_descs counts transmit kicks that found nothing to send: not a loss.
for k, v in t["drops"].items():
    if k != "tx_ring_empty_descs":
        want("drops." + k, v, 0)
want("flows", len(q["flows"]), 1)
f = q["flows"][0]
want("first_seq", f["first_seq"], 0)
want("last_seq", f["last_seq"], n - 1)
want("flow valid", f["valid"], n)
want("xdp_mode", q["xdp_mode"], "copy")
if errs:
    print("\n".join(errs), file=sys.stderr)
    sys.exit(1)
PY
}

@test "xsk: --attach rxdrop gets an exact burst from sluice-gen, all verified, no drops" {
	require_file "$GEN"
	rx_start --attach --verify --count "$BURST" -d 30
	wait_xdp
	# Paced: the generator's XDP_TX has no backpressure, and a veth that
	# overflows drops before the socket; the rate is not what is tested.
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto -n "$BURST" -r 200000 -q
	rx_wait
	check_burst "$BURST"
	# The tool removed its program at exit.
	! xdp_attached
}

@test "xsk: txonly to --attach rxdrop, exact count both ends" {
	rx_start --attach --verify --count "$BURST" -d 30
	wait_xdp
	run in_ns "$TOPO_GEN_NS" "$XSK" -i "$TOPO_GEN_IF" --txonly --count "$BURST" --quiet -j
	[ "$status" -eq 0 ]
	echo "$output" > "$TMP/tx.json"
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; assert t["tx_packets"] == int(sys.argv[2]), t' \
		"$TMP/tx.json" "$BURST"
	rx_wait
	check_burst "$BURST"
	! xdp_attached
}

@test "xsk: l2fwd sends every frame back to the generator side" {
	local before after
	rx_start --attach --l2fwd --verify --count "$BURST" -d 30
	before=$(netdev_stat "$TOPO_GEN_NS" "$TOPO_GEN_IF" rx_packets)
	run in_ns "$TOPO_GEN_NS" "$XSK" -i "$TOPO_GEN_IF" --txonly --count "$BURST" --quiet
	[ "$status" -eq 0 ]
	rx_wait
	check_burst "$BURST"
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; assert t["tx_packets"] == int(sys.argv[2]) and t["tx_bytes"] == t["rx_bytes"], t' \
		"$TMP/rx.json" "$BURST"
	after=$(netdev_stat "$TOPO_GEN_NS" "$TOPO_GEN_IF" rx_packets)
	[ $((after - before)) -eq "$BURST" ]
}

@test "xsk: --xskmap receives through an XSKMAP pinned by another program" {
	require_file "$GEN"
	require_file "$REDIRECT_OBJ"
	# Someone else's program and map, pinned: here the same bare redirect,
	# loaded by bpftool and attached by netlink, not by sluice-xsk.
	mkdir -p "$PIN"
	bpftool prog loadall "$REDIRECT_OBJ" "$PIN/progs" type xdp pinmaps "$PIN/maps"
	in_ns "$TOPO_DUT_NS" ip link set dev "$TOPO_DUT_IF" xdpdrv pinned "$PIN/progs/xsk_redirect"
	rx_start --xskmap "$PIN/maps/xsks" --verify --count "$BURST" -d 30
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto -n "$BURST" -r 200000 -q
	rx_wait
	check_burst "$BURST"
	[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["source"])' "$TMP/rx.json")" = xskmap ]
	# Not ours: sluice-xsk leaves the program it found in place.
	xdp_attached
}

@test "xsk: SIGINT ends a run with a summary and detaches" {
	rx_start --attach -d 60
	wait_xdp
	SECONDS=0
	kill -INT "$RX_PID"
	rx_wait
	[ "$SECONDS" -le 2 ]
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["mode"] == "rxdrop" and d["source"] == "attach", d' \
		"$TMP/rx.json"
	! xdp_attached
	grep -q 'queue 0 copy, ready' "$TMP/rx.err"
}

@test "xsk: bad options are refused before touching the interface" {
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --attach --rx-ring 3000
	[ "$status" -eq 2 ]
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --attach --frames 4096 --fill-ring 2048
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot hold"* ]]
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --attach --xskmap "$PIN"
	[ "$status" -eq 2 ]
	run in_ns "$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --xskmap "$PIN-none"
	[ "$status" -eq 1 ]
	[[ "$output" == *"$PIN-none"* ]]
	! xdp_attached
}

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The hot-swap proof, CI-sized: sluiced runs [parse, a, b, sink] on the DUT
# veth, the last stage being the seqcheck sink (examples/seqcheck.bpf.c).
# While sluice-gen sends a fixed rate, bench/swapload swaps stage a between
# two programs >= 1,000 times, or commits >= 200 four-stage transactions,
# and every packet sent must reach the sink exactly once, through one
# generation, past every stage: 0 lost, 0 duplicated, 0 mixed, 0 missed.
# Then the refusals (verifier, pre-flight, corrupt object) must leave the
# live programs and the counters as they were, and rollback, manual and
# automatic, must bring the previous program back.

load ../lib/common

GEN=$SLUICE_BUILD/tools/gen/sluice-gen
SLUICED=$SLUICE_BUILD/daemon/sluiced
CTL=$SLUICE_BUILD/cli/sluicectl
SWAPLOAD=$SLUICE_BUILD/bench/swapload
SINK_OBJ=$SLUICE_BUILD/examples/seqcheck.bpf.o
ABORTS_OBJ=$SLUICE_BUILD/bpf/testdata/aborts.bpf.o
OOB_OBJ=$SLUICE_BUILD/bpf/testdata/oob.bpf.o

# Packets per second of the proof runs: modest, so two noisy cores keep up.
# The kernel matrix (tests/kernels) runs this suite under emulation, 10x
# and more slower: it lowers the rate, the times and the operation counts
# through these variables; the proof asserted stays the same.
RATE=${SLUICE_SWAP_RATE:-300000}
SWAP_OPS=${SLUICE_SWAP_OPS:-1000}
TXN_OPS=${SLUICE_TXN_OPS:-200}
# The generator runs for a fixed time and swapload (-u) operates until it
# ends: sluice-gen's XDP engine cannot yet be stopped cleanly with SIGINT
# (docs/swap.md). The times leave room for ~30 ms per swap and ~200 ms per
# transaction on two loaded cores; idle, swaps take ~3 ms and transactions
# ~20 ms, and the runs just do more operations.
SWAP_SECS=${SLUICE_SWAP_SECS:-30}
TXN_SECS=${SLUICE_TXN_SECS:-45}

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	for f in "$GEN" "$SLUICED" "$CTL" "$SWAPLOAD" "$SINK_OBJ" "$ABORTS_OBJ" "$OOB_OBJ"; do
		[ -e "$f" ] || return 0
	done
	bpffs_mount
	export TOPO=$(topo_name sw)
	export WORK=$(mktemp -d /tmp/sluice-swap-bats.XXXXXX)
	export PIN_ROOT=/sys/fs/bpf/sluice-swap-$TOPO
	topo_create "$TOPO"
	# No stage has config tests: a pre-flight run builds a scratch copy of
	# the pipeline's state maps, which would slow every transaction down.
	# The pre-flight refusal below brings its own packet (pcap + expect).
	cat > "$WORK/sluiced.yaml" <<-EOF
	pin_root: $PIN_ROOT
	state_dir: $WORK/state
	log_level: info
	control:
	  socket: $WORK/sock
	pipelines:
	  - name: proof
	    stages:
	      - { name: parse, object: parse }
	      - name: a
	        object: pass
	        auto_rollback: { window_ms: 3000, max_aborted: 0 }
	      - { name: b, object: pass }
	      - { name: sink, object: $SINK_OBJ }
	interfaces:
	  - name: $TOPO-d0
	    pipeline: proof
	EOF
	mkdir -p "$WORK/state"
	in_ns "$TOPO-dut" "$SLUICED" -c "$WORK/sluiced.yaml" >"$WORK/sluiced.log" 2>&1 3>&- &
	echo $! > "$WORK/sluiced.pid"
	local i
	for i in $(seq 100); do
		[ -S "$WORK/sock" ] && break
		sleep 0.1
	done
}

teardown_file() {
	[ -n "${WORK:-}" ] || return 0
	[ -f "$WORK/sluiced.pid" ] && kill "$(cat "$WORK/sluiced.pid")" 2>/dev/null
	[ -n "${TOPO:-}" ] && topo_destroy "$TOPO"
	[ -n "${PIN_ROOT:-}" ] && rm -rf "$PIN_ROOT"
	rm -rf "$WORK"
	return 0
}

setup() {
	require_root
	for f in "$GEN" "$SLUICED" "$CTL" "$SWAPLOAD" "$SINK_OBJ" "$ABORTS_OBJ" "$OOB_OBJ"; do
		require_file "$f"
	done
	[ -S "$WORK/sock" ] || { cat "$WORK/sluiced.log" >&2; return 1; }
	IFACE=$TOPO-d0
	DUT_MAC=$(ip -n "$TOPO-dut" -br link show dev "$IFACE" | awk '{print $3}')
}

ctl() {
	"$CTL" -s "$WORK/sock" "$@"
}

# gen_cmd SECONDS: the generator command line swapload runs.
gen_cmd() {
	echo ip netns exec "$TOPO-gen" "$GEN" -i "$TOPO-g0" --engine auto --dst-mac "$DUT_MAC" \
		--rate "$RATE" --duration "$1" -q -j
}

# swapload ARGS... -- : the proof; its JSON result in $WORK/result.json.
swapload() {
	local rc=0
	"$SWAPLOAD" -s "$WORK/sock" -r "$PIN_ROOT" -i "$IFACE" -j "$@" >"$WORK/result.json" || rc=$?
	cat "$WORK/result.json" >&2
	return $rc
}

result() {
	json_get "$WORK/result.json" "$1"
}

# prog_ids: "name=id ..." of every live stage, in slot order.
prog_ids() {
	ctl -j stage list "$IFACE" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(" ".join("%s=%d" % (s["name"], s["prog_id"]) for s in r["interfaces"][0]["stages"]))'
}

prog_id() {
	ctl -j stage list "$IFACE" | python3 -c '
import json, sys
r = json.load(sys.stdin)
print([s["prog_id"] for s in r["interfaces"][0]["stages"] if s["name"] == sys.argv[1]][0])' "$1"
}

# counters: the pipeline counters and every slot's, as one comparable line.
counters() {
	ctl -j stats "$IFACE" | python3 -c '
import json, sys
i = json.load(sys.stdin)["interfaces"][0]
print(json.dumps([i["gen"], i["pipeline"], i["stages"]], sort_keys=True))'
}

# assert_proof MIN_OPS: the swapload result holds the zero-loss proof. One
# python3 for every field: on loaded cores each start costs most of a second.
assert_proof() {
	python3 - "$WORK/result.json" "$1" <<-'EOF'
	import json, sys
	r = json.load(open(sys.argv[1]))
	want = {
	    "ok": r["ok"] is True,
	    "ops under traffic": r["ops_under_traffic"] >= int(sys.argv[2]),
	    "no refused op": r["failed_ops"] == 0,
	    "traffic": r["sent"] > 0,
	    "seen == delivered": r["seen"] == r["delivered"],
	}
	for k in ("lost", "duplicated", "unexpected", "mixed", "pipeline_mixed", "missed",
	          "bad_path", "bad_verdict"):
	    want[k + " == 0"] = r[k] == 0
	bad = [k for k, v in want.items() if not v]
	if bad:
	    sys.exit("proof failed: " + ", ".join(bad))
	EOF
}

@test "$SWAP_OPS single-stage swaps under traffic: every packet seen once, 0 lost, 0 mixed, 0 missed" {
	swapload -m swap -n "$SWAP_OPS" -u -x a=pass,count -- $(gen_cmd $SWAP_SECS)
	assert_proof "$SWAP_OPS"
}

@test "$TXN_OPS four-stage transactions under traffic: every packet seen once, 0 lost, 0 mixed, 0 missed" {
	local gen0
	gen0=$(ctl -j stats "$IFACE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["gen"])')
	swapload -m txn -n "$TXN_OPS" -u -x parse=parse -x a=count,pass -x b=count,pass \
		-x "sink=$SINK_OBJ" -- $(gen_cmd $TXN_SECS)
	assert_proof "$TXN_OPS"
	# Each transaction was a generation of its own.
	local gen1
	gen1=$(ctl -j stats "$IFACE" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["gen"])')
	[ "$((gen1 - gen0))" -eq "$(result ops)" ]
}

# refused OBJECT-ARGS... : a swap of b that must fail with exit 1 and change nothing.
refused() {
	local ids0 cnt0
	ids0=$(prog_ids)
	cnt0=$(counters)
	run ctl stage swap "$IFACE" b "$@"
	echo "$output" >&2
	[ "$status" -eq 1 ]
	[ "$(prog_ids)" = "$ids0" ]
	[ "$(counters)" = "$cnt0" ]
}

@test "a stage the verifier refuses: exit 1 with the verifier's reason, live pipeline and counters untouched" {
	refused "$OOB_OBJ"
	[[ "$output" == *"verifier refused"* ]]
}

# write_pcap FILE: one UDP frame in a classic pcap file.
write_pcap() {
	python3 - "$1" <<-'EOF'
	import struct, sys
	eth = bytes.fromhex("020000000002" "020000000001" "0800")
	udp = struct.pack("!HHHH", 1000, 2000, 8 + 18, 0) + b"x" * 18
	ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
			 bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
	s = sum(struct.unpack("!10H", ip))
	s = (s & 0xffff) + (s >> 16)
	ip = ip[:10] + struct.pack("!H", ~s & 0xffff) + ip[12:]
	frame = eth + ip + udp
	with open(sys.argv[1], "wb") as f:
	    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
	    f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)
	EOF
}

@test "a pre-flight mismatch: exit 1 naming the verdict, live pipeline and counters untouched" {
	# The sink drops every packet; a b that passes them ends the pipeline
	# with XDP_PASS for a packet that must be dropped.
	write_pcap "$WORK/one.pcap"
	refused verdict pcap "$WORK/one.pcap" expect drop
	[[ "$output" == *"pass"* ]]
}

@test "a corrupt object: exit 1, live pipeline and counters untouched" {
	head -c 4096 /dev/urandom > "$WORK/corrupt.bpf.o"
	printf '\177ELF' | dd of="$WORK/corrupt.bpf.o" conv=notrunc status=none
	refused "$WORK/corrupt.bpf.o"
	[[ "$output" == *"not a loadable BPF object"* ]]
}

@test "stage rollback restores the previous program" {
	local before swapped
	before=$(prog_id a)
	ctl stage swap "$IFACE" a count
	swapped=$(prog_id a)
	[ "$swapped" -ne "$before" ]
	ctl stage rollback "$IFACE" a
	[ "$(prog_id a)" -eq "$before" ]
}

@test "auto-rollback: a stage that aborts under traffic is rolled back within its window" {
	local before new gen_pid i t0 at=
	before=$(prog_id a)
	$(gen_cmd 8) >"$WORK/gen.json" 2>"$WORK/gen.err" &
	gen_pid=$!
	sleep 0.5
	t0=$(date +%s)
	# The daemon may roll back before a second request could look: take
	# the new program's id from the swap's own reply.
	new=$(ctl -j stage swap "$IFACE" a "$ABORTS_OBJ" | python3 -c 'import json,sys; print(json.load(sys.stdin)["new_prog_id"])')
	[ "$new" -ne "$before" ]
	# When the daemon acted comes from its own history entry, not from
	# how fast this loop can poll on loaded cores.
	for i in $(seq 60); do
		at=$(ctl -j history 10 | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin)["entries"]
     if x["op"] == "auto-rollback" and x["result"] == "ok" and x["stages"] == ["a"]]
print(max(x["time"] for x in e) if e else "")')
		[ -n "$at" ] && break
		sleep 0.2
	done
	kill "$gen_pid" 2>/dev/null || true
	wait "$gen_pid" 2>/dev/null || true
	[ -n "$at" ]
	[ "$(prog_id a)" -eq "$before" ]
	# Window 3 s; history times are whole seconds.
	echo "rolled back $((at - t0)) s after the swap" >&2
	[ "$((at - t0))" -le 4 ]
	grep -q "rolling back" "$WORK/sluiced.log"
}

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Live change the way operators need it, on real traffic: prepared
# candidates committed with one store, 1,000 times under a stream with every
# packet accounted for (the seqcheck sink); a stale candidate refused; a
# canary on 10% of 1,000 flows that keeps each flow on its side and never
# mixes banks; a canary that aborts by itself; two interfaces switched by one
# commit, or neither; a shadow diff that finds exactly the UDP share; slot
# drift found and repaired.
#
# Two veth pairs into one DUT namespace: d0 runs [parse, a, seqcheck], d1
# runs [parse, a, sides], whose sink records per source port the banks its
# packets ran in.

load ../lib/common

GEN=$SLUICE_BUILD/tools/gen/sluice-gen
SLUICED=$SLUICE_BUILD/daemon/sluiced
CTL=$SLUICE_BUILD/cli/sluicectl
SWAPLOAD=$SLUICE_BUILD/bench/swapload
SINK_OBJ=$SLUICE_BUILD/examples/seqcheck.bpf.o
SIDES_OBJ=$SLUICE_BUILD/bpf/testdata/sides.bpf.o
ABORTS_OBJ=$SLUICE_BUILD/bpf/testdata/aborts.bpf.o
OOB_OBJ=$SLUICE_BUILD/bpf/testdata/oob.bpf.o
DROP_UDP_OBJ=$SLUICE_BUILD/bpf/testdata/drop_udp.bpf.o

RATE=300000
# Long enough for 1,000 prepare-and-commit rounds on two loaded cores
# (idle, a round takes about 10 ms, nearly all of it the prepare).
COMMIT_SECS=60

setup_file() {
	[ "$(id -u)" -eq 0 ] || return 0
	for f in "$GEN" "$SLUICED" "$CTL" "$SWAPLOAD" "$SINK_OBJ" "$SIDES_OBJ" "$ABORTS_OBJ" \
		 "$OOB_OBJ" "$DROP_UDP_OBJ"; do
		[ -e "$f" ] || return 0
	done
	bpffs_mount
	export TOPO=$(topo_name lv)
	export WORK=$(mktemp -d /tmp/sluice-live-bats.XXXXXX)
	export PIN_ROOT=/sys/fs/bpf/sluice-live-$TOPO
	topo_create "$TOPO"
	# The second pair, made the way topo_create makes the first.
	ip link add "$TOPO-g1" netns "$TOPO-gen" type veth peer name "$TOPO-d1" netns "$TOPO-dut"
	in_ns "$TOPO-dut" ethtool -K "$TOPO-d1" gro on >/dev/null 2>&1
	ip -n "$TOPO-gen" link set "$TOPO-g1" up
	ip -n "$TOPO-dut" link set "$TOPO-d1" up
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
	      - { name: a, object: pass }
	      - { name: sink, object: $SINK_OBJ }
	  - name: sides
	    stages:
	      - { name: parse, object: parse }
	      - { name: a, object: pass }
	      - { name: sink, object: $SIDES_OBJ, params: { verdict: 2 } }
	interfaces:
	  - { name: $TOPO-d0, pipeline: proof }
	  - { name: $TOPO-d1, pipeline: sides }
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
	for f in "$GEN" "$SLUICED" "$CTL" "$SWAPLOAD" "$SINK_OBJ" "$SIDES_OBJ" "$ABORTS_OBJ" \
		 "$OOB_OBJ" "$DROP_UDP_OBJ"; do
		require_file "$f"
	done
	[ -S "$WORK/sock" ] || { cat "$WORK/sluiced.log" >&2; return 1; }
	D0=$TOPO-d0
	D1=$TOPO-d1
}

teardown() {
	[ -n "${GEN_PID:-}" ] && kill "$GEN_PID" 2>/dev/null
	GEN_PID=
	# Whatever a failed test left half-done must not leak into the next one.
	ctl canary abort "$D1" >/dev/null 2>&1
	return 0
}

ctl() {
	"$CTL" -s "$WORK/sock" "$@"
}

# st EXPR [IFACE]: a field of `sluicectl -j status` for IFACE (d0), as python sees r.
st() {
	ctl -j status | python3 -c '
import json, sys
r = [i for i in json.load(sys.stdin)["interfaces"] if i["name"] == sys.argv[2]][0]
print(eval(sys.argv[1]))' "$1" "${2:-$D0}"
}

# mac IFACE: the DUT interface's address, where the generator sends.
mac() {
	ip -n "$TOPO-dut" -br link show dev "$1" | awk '{print $3}'
}

# send G_IF DST_IF ARGS...: sluice-gen out of G_IF towards DST_IF, summary in $WORK/gen.json.
send() {
	local gif=$1 dif=$2
	shift 2
	ip netns exec "$TOPO-gen" "$GEN" -i "$gif" --engine auto --dst-mac "$(mac "$dif")" -q -j "$@" > "$WORK/gen.json"
}

# sides: "live canary both" flow counts from the sides sink, given the two banks.
sides() {
	bpftool -j map dump pinned "$PIN_ROOT/$D1/maps/sides_by_sport" | python3 -c '
import json, sys
live, cand = 1 << int(sys.argv[1]), 1 << int(sys.argv[2])
n = {"live": 0, "canary": 0, "both": 0}
for e in json.load(sys.stdin):
    v = e["formatted"]["value"]
    if v == live: n["live"] += 1
    elif v == cand: n["canary"] += 1
    elif v: n["both"] += 1
print(n["live"], n["canary"], n["both"])' "$1" "$2"
}

sides_reset() {
	local p=$PIN_ROOT/$D1/maps/sides_by_sport k
	for k in $(seq 20000 21099); do
		bpftool map update pinned "$p" key $((k & 255)) $((k >> 8)) 0 0 value 0 0 0 0 0 0 0 0
	done
}

@test "1,000 prepared commits under traffic: every packet seen once, 0 lost, 0 mixed, 0 missed" {
	local gen0 r
	gen0=$(st 'r["gen"]')
	"$SWAPLOAD" -s "$WORK/sock" -r "$PIN_ROOT" -i "$D0" -j -m prepared -n 1000 -x a=pass,count -- \
		ip netns exec "$TOPO-gen" "$GEN" -i "$TOPO-g0" --engine auto --dst-mac "$(mac "$D0")" \
		--rate "$RATE" --duration "$COMMIT_SECS" -q -j > "$WORK/result.json" || true
	cat "$WORK/result.json" >&2
	python3 - "$WORK/result.json" <<-'EOF'
	import json, sys
	r = json.load(open(sys.argv[1]))
	want = {"ok": r["ok"] is True, "ops >= 1000": r["ops_under_traffic"] >= 1000,
	        "none refused": r["failed_ops"] == 0, "seen == delivered > 0": r["seen"] == r["delivered"] > 0}
	for k in ("lost", "duplicated", "unexpected", "mixed", "pipeline_mixed", "missed", "bad_path"):
	    want[k + " == 0"] = r[k] == 0
	bad = [k for k, v in want.items() if not v]
	if bad:
	    sys.exit("proof failed: " + ", ".join(bad))
	print("commit: daemon to switch p50 %d us, p99 %d us" % (r["daemon_us"]["p50"], r["daemon_us"]["p99"]),
	      file=sys.stderr)
	EOF
	r=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ops"])' "$WORK/result.json")
	[ "$(st 'r["gen"]')" -eq $((gen0 + r)) ]
}

@test "a candidate whose base changed is refused, and shows as stale" {
	local cand ids0
	cand=$(ctl -j stage prepare "$D0" a count | python3 -c 'import json,sys; print(json.load(sys.stdin)["candidate"])')
	[ "$(st '[b["stale"] for b in r["banks"] if b.get("candidate") == '"$cand"'][0]')" -eq 0 ]
	ctl stage swap "$D0" a pass >/dev/null
	[ "$(st '[b["stale"] for b in r["banks"] if b.get("candidate") == '"$cand"'][0]')" -eq 1 ]
	ids0=$(st '[s["prog_id"] for s in r["stages"]]')
	run ctl stage commit "$D0" a "$cand"
	[ "$status" -eq 1 ]
	[[ "$output" == *"stale"* ]]
	[ "$(st '[s["prog_id"] for s in r["stages"]]')" = "$ids0" ]
	ctl stage drop "$D0" "$cand"
	[ "$(st 'len([b for b in r["banks"] if b.get("candidate") == '"$cand"'])')" -eq 0 ]
}

@test "a canary at 10% of 1,000 flows: its share, each flow on one side, no packet in two banks" {
	local live cand out n=100000 lp cp share
	sides_reset
	ctl canary start "$D1" a=count share 10 >/dev/null
	live=$(st 'r["bank"]' "$D1")
	cand=$(st '[b["bank"] for b in r["banks"] if b["state"] == "canary"][0]' "$D1")
	ctl -j stats "$D1" > "$WORK/before.json"
	send "$TOPO-g1" "$D1" --count "$n" --rate 50000 --sport 20000-20999 --flows 1000
	ctl -j canary status "$D1" > "$WORK/canary.json"
	read -r lp cp < <(python3 -c '
import json, sys
c = json.load(open(sys.argv[1]))
print(c["live"]["stats"]["packets"], c["canary"]["stats"]["packets"])' "$WORK/canary.json")
	read -r nl nc both < <(sides "$live" "$cand")
	share=$(python3 -c "print(round(100.0 * $cp / ($lp + $cp), 2))")
	echo "canary: $cp of $((lp + cp)) packets ($share%), flows live $nl canary $nc both $both" >&2
	[ "$((lp + cp))" -ge "$n" ]
	python3 -c "import sys; sys.exit(0 if 7 <= $share <= 13 else 1)"
	[ "$both" -eq 0 ]
	[ "$((nl + nc))" -eq 1000 ]
	[ "$(ctl -j stats "$D1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["pipeline"]["mixed"])')" -eq 0 ]
	ctl canary promote "$D1" >/dev/null
	[ "$(st 'r["bank"]' "$D1")" -eq "$cand" ]
	ctl txn rollback "$D1" >/dev/null
	[ "$(st 'r["bank"]' "$D1")" -eq "$live" ]
}

@test "a canary that aborts is aborted by the daemon, and every flow is back with 0 lost" {
	local p0 p1 a0 a1 i done=
	ctl canary start "$D1" a="$ABORTS_OBJ" share 50 auto window 60 max-aborted 0 >/dev/null
	send "$TOPO-g1" "$D1" --count 2000 --rate 20000 --sport 20000-20099 --flows 100
	for i in $(seq 50); do
		ctl -j history 20 | grep -q '"op":"canary.abort".*"reason"' && { done=1; break; }
		ctl -j history 20 | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin)["entries"] if x["op"] == "canary.abort" and x.get("reason")]
sys.exit(0 if e else 1)' && { done=1; break; }
		sleep 0.2
	done
	[ -n "$done" ]
	run ctl canary status "$D1"
	[ "$status" -eq 1 ]
	grep -q "canary: aborting" "$WORK/sluiced.log"
	# Back on the live side: every packet passes the pipeline, none aborts.
	read -r p0 a0 < <(ctl -j stats "$D1" | python3 -c '
import json, sys
p = json.load(sys.stdin)["interfaces"][0]["pipeline"]
print(p["packets"], p["verdicts"]["aborted"])')
	send "$TOPO-g1" "$D1" --count 5000 --rate 20000 --sport 20000-20099 --flows 100
	read -r p1 a1 < <(ctl -j stats "$D1" | python3 -c '
import json, sys
p = json.load(sys.stdin)["interfaces"][0]["pipeline"]
print(p["packets"], p["verdicts"]["aborted"])')
	[ "$((p1 - p0))" -eq 5000 ]
	[ "$a1" -eq "$a0" ]
}

@test "one commit switches two interfaces together; a refused part leaves both unchanged" {
	local g0 g1 h0 h1 ids0 ids1
	g0=$(st 'r["gen"]' "$D0")
	g1=$(st 'r["gen"]' "$D1")
	ids0=$(st '[s["prog_id"] for s in r["stages"]]' "$D0")
	ids1=$(st '[s["prog_id"] for s in r["stages"]]' "$D1")
	run ctl txn "$D0:a=count" "$D1:a=$OOB_OBJ"
	[ "$status" -eq 1 ]
	[[ "$output" == *"verifier refused"* ]]
	[ "$(st 'r["gen"]' "$D0")" -eq "$g0" ]
	[ "$(st 'r["gen"]' "$D1")" -eq "$g1" ]
	[ "$(st '[s["prog_id"] for s in r["stages"]]' "$D0")" = "$ids0" ]
	[ "$(st '[s["prog_id"] for s in r["stages"]]' "$D1")" = "$ids1" ]
	# No candidate of the refused attempt stays behind.
	[ "$(st 'len([b for b in r["banks"] if b["state"] == "prepared"])' "$D0")" -eq 0 ]
	ctl txn "$D0:a=count" "$D1:a=count"
	h0=$(st 'r["gen"]' "$D0")
	h1=$(st 'r["gen"]' "$D1")
	[ "$h0" -gt "$g0" ]
	[ "$h1" -gt "$g1" ]
	# One group commit, recorded for both interfaces.
	ctl -j history 10 | python3 -c '
import json, sys
e = [x for x in json.load(sys.stdin)["entries"] if x["op"] == "group.commit" and x["result"] == "ok"]
assert sorted(x["iface"] for x in e[-2:]) == sorted(sys.argv[1:]), e' "$D0" "$D1"
}

@test "a shadow diff of a UDP-dropping candidate reports exactly the UDP frames and touches nothing live" {
	local p0 p1 out
	probe_ok xdp_load_bytes || skip "no bpf_xdp_load_bytes on this kernel: no shadow diff"
	p0=$(ctl -j stats "$D1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["pipeline"]["packets"])')
	ctl stage diff "$D1" a "$DROP_UDP_OBJ" samples 1000 seconds 60 write "$WORK/diff.pcap" -j \
		> "$WORK/diff.json" &
	local diff_pid=$!
	sleep 1
	# 300 UDP and 700 TCP frames, slowly enough that every one is sampled.
	send "$TOPO-g1" "$D1" --count 300 --rate 150 --sport 21000 &
	GEN_PID=$!
	ip netns exec "$TOPO-gen" "$GEN" -i "$TOPO-g1" --engine auto --dst-mac "$(mac "$D1")" -q -j --count 700 \
		--rate 350 --proto tcp --sport 21001 > "$WORK/gen2.json"
	wait "$GEN_PID"
	GEN_PID=
	wait "$diff_pid"
	cat "$WORK/diff.json" >&2
	python3 - "$WORK/diff.json" <<-'EOF'
	import json, sys
	d = json.load(open(sys.argv[1]))["diff"]
	# Sampling may thin out on loaded cores; what was sampled must add up exactly.
	assert d["samples"] >= 500 and d["samples"] == d["udp"] + d["tcp"], d
	assert d["differ"] == d["udp"], d
	m = {(v["live"], v["candidate"]): v["frames"] for v in d["verdicts"]}
	assert m == {("pass", "drop"): d["udp"], ("pass", "pass"): d["tcp"]}, m
	EOF
	# Every frame in the pcap is UDP, and tshark reads it.
	out=$(tshark -r "$WORK/diff.pcap" -T fields -e ip.proto 2>/dev/null | sort -u)
	[ "$out" = 17 ]
	# The live pipeline counted the traffic and nothing else.
	p1=$(ctl -j stats "$D1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["pipeline"]["packets"])')
	[ "$((p1 - p0))" -eq 1000 ]
}

@test "a slot changed behind the daemon's back is reported and repaired" {
	local bank key other
	bank=$(st 'r["bank"]')
	key=$((bank * 16 + 1))
	other=$PIN_ROOT/$D0/bank$bank/stage0
	[ "$(st 'r["drift"]')" = "[]" ]
	bpftool map update pinned "$PIN_ROOT/$D0/progs" key $key 0 0 0 value pinned "$other"
	for i in $(seq 30); do
		[ "$(st 'r["drift"]')" = "[1]" ] && break
		sleep 0.2
	done
	[ "$(st 'r["drift"]')" = "[1]" ]
	grep -q "slot 1 (stage 'a') runs program" "$WORK/sluiced.log"
	run ctl repair "$D0"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 slot(s) restored"* ]]
	[ "$(st 'r["drift"]')" = "[]" ]
}

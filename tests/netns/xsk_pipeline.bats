#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# AF_XDP through the sluice pipeline: sluiced runs [parse, acl, xsk, count] on
# a private veth, sluice-xsk binds its socket into the pipeline's pinned
# XSKMAP. The ACL picks exactly the dport-5000 packets for the socket, drops
# 5001 and passes 5002, with every counter exact; swapping the xsk stage, the
# stage before it and both in one transaction under a stream loses nothing
# at the socket; with no socket bound the fallback verdict applies, counted.
# Each frame's metadata is checked where the context rides in it (not with
# the per-CPU carrier, where none reaches the socket).
#
# Bursts stay below the socket's rx ring (32768) and are paced well under
# what copy mode sustains, so a receiver descheduled for the whole burst
# still loses nothing: the counts are exact without depending on scheduling.

load ../lib/common
load ../lib/xsk

# Rule ids: the drop rule comes from the configuration, the xsk rule from
# sluicectl, so both ways of installing a rule are in play.
DROP_ID=10
XSK_ID=20
XSK_PORT=5000
DROP_PORT=5001
PASS_PORT=5002
# XDP actions (linux/bpf.h) and the ACL action of an xsk rule (abi.h).
XDP_DROP=1
XDP_PASS=2
XDP_REDIRECT=4
SLUICE_ACL_XSK=2

setup_file() {
	require_root
	export SLUICED=$SLUICE_BUILD/daemon/sluiced SLUICECTL=$SLUICE_BUILD/cli/sluicectl
	export XSK=$SLUICE_BUILD/tools/xsk/sluice-xsk GEN=$SLUICE_BUILD/tools/gen/sluice-gen
	require_file "$SLUICED"
	require_file "$SLUICECTL"
	require_file "$XSK"
	require_file "$GEN"
	bpffs_mount
	NAME=$(topo_name xp)
	export NAME
	topo_create "$NAME" >/dev/null
	WORK=$(mktemp -d /tmp/xsk-pipeline-bats.XXXXXX)
	export WORK
	export PIN=/sys/fs/bpf/sluice-xskp-test-$NAME SOCK=$WORK/sluiced.sock
	export MAPS=$PIN/$TOPO_DUT_IF/maps RX_DIR=$WORK
	cat > "$WORK/sluiced.yaml" <<-EOF
	pin_root: $PIN
	state_dir: $WORK/state
	control: { socket: $SOCK }
	pipelines:
	  - name: capture
	    default_verdict: pass
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	          - { id: $DROP_ID, action: drop, proto: udp, dport: $DROP_PORT }
	      - { name: xsk, object: xsk }
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: capture }
	EOF
	# nsenter itself, not the in_ns function: $! must be the daemon.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$WORK/sluiced.yaml" >>"$WORK/log" 2>&1 &
	echo $! > "$WORK/pid"
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && "$SLUICECTL" -s "$SOCK" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$SLUICECTL" -s "$SOCK" rule add "$TOPO_DUT_IF" xsk id "$XSK_ID" proto udp dport "$XSK_PORT" >/dev/null ||
		{ cat "$WORK/log" >&2; return 1; }
	# Frames reach the socket with the entry's metadata only where the context
	# rides in it; with the per-CPU carrier none comes (sluice-xsk refuses --meta).
	META=0
	"$SLUICECTL" -s "$SOCK" -j status | python3 -c 'import json,sys; sys.exit(json.load(sys.stdin)["interfaces"][0]["context"] != "meta")' &&
		META=1
	export META
}

# The receiver's metadata option, where metadata comes.
meta_opt() {
	if [ "$META" = 1 ]; then
		echo --meta
	fi
}

teardown_file() {
	[ -s "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null
	topo_destroy "$NAME"
	rm -rf "$PIN" "$WORK"
}

teardown() {
	[ -n "${RX_PID:-}" ] && kill "$RX_PID" 2>/dev/null
	[ -n "${GEN_PID:-}" ] && kill "$GEN_PID" 2>/dev/null
	RX_PID='' GEN_PID=''
	return 0
}

ctl() {
	"$SLUICECTL" -s "$SOCK" "$@"
}

# snap NAME: the daemon's stats, the ACL rules with their hits and the xsk
# stage's per-verdict counters (pinned, per-CPU) into $WORK/NAME.json.
snap() {
	{
		printf '{"stats":'
		ctl -j stats "$TOPO_DUT_IF"
		printf ',"rules":'
		ctl -j rule list "$TOPO_DUT_IF"
		printf ',"xsk_verdicts":'
		bpftool -j map dump pinned "$MAPS/sluice_xsk_verdicts"
		printf ',"status":'
		ctl -j status
		printf '}'
	} > "$WORK/$1.json"
}

# delta BEFORE AFTER 'CHECK'...: each CHECK is "what expected", where what is
# pipe.VERDICT|pipe.FIELD, stage.NAME.VERDICT, rule.ID or xsk.VERDICT_NUMBER;
# fails naming every counter that moved by anything but its expected amount.
delta() {
	python3 - "$WORK/$1.json" "$WORK/$2.json" "${@:3}" <<-'PY'
	import json, sys
	def flat(path):
	    d = json.load(open(path))
	    i = d["stats"]["interfaces"][0]
	    out = {}
	    for k, v in i["pipeline"].items():
	        if k == "verdicts":
	            out.update({"pipe." + vk: vv for vk, vv in v.items()})
	        elif isinstance(v, int):
	            out["pipe." + k] = v
	    for s in i["stages"]:
	        for vk, vv in s["verdicts"].items():
	            out[f"stage.{s['name']}.{vk}"] = vv
	        out[f"stage.{s['name']}.packets"] = s["packets"]
	    for r in d["rules"]["rules"]:
	        out[f"rule.{r['id']}"] = r["packets"]
	    for e in d["xsk_verdicts"]:
	        f = e["formatted"]
	        out[f"xsk.{f['key']}"] = sum(c["value"] for c in f["values"])
	    return out
	a, b = flat(sys.argv[1]), flat(sys.argv[2])
	errs = []
	for c in sys.argv[3:]:
	    what, exp = c.split()
	    got = b[what] - a[what]
	    if got != int(exp):
	        errs.append(f"{what}: moved by {got}, want {exp}")
	if errs:
	    print("\n".join(errs), file=sys.stderr)
	    sys.exit(1)
	PY
}

# gen ARGS...: sluice-gen from the generator namespace, summary in $WORK/gen.json.
gen() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto -q -j "$@" > "$WORK/gen.json"
}

# gen_check N: the generator sent exactly N frames and the veth took them all.
gen_check() {
	python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); assert g["sent"] == int(sys.argv[2]) and g["errors"] == 0, g' \
		"$WORK/gen.json" "$1"
}

# check_rx N STRIDE GMIN GMAX NGENS: the socket got exactly N frames of flow
# 0, every payload verified, seqs 0, STRIDE, ..., (N-1)*STRIDE in order (the
# generator's other flows own the numbers between), no ring drop; every frame
# carries metadata from a run of slots parse, acl, xsk (count never ran: the
# xsk stage redirected), no mixed generation, at least NGENS generations, all
# in GMIN..GMAX, and a rule field that names the xsk rule's position in the
# pinned rule array (meta.rule is position + 1, not the rule id). Without
# metadata (the per-CPU carrier) the frames alone are checked.
check_rx() {
	bpftool -j map dump pinned "$MAPS/sluice_acl_rules" > "$WORK/rules.json"
	python3 - "$WORK/rx.json" "$WORK/rules.json" "$1" "$2" "$3" "$4" "$5" \
		"$XSK_ID" "$SLUICE_ACL_XSK" "$XSK_PORT" "$META" <<-'PY'
	import json, sys
	d = json.load(open(sys.argv[1]))
	rules = {e["formatted"]["key"]: e["formatted"]["value"] for e in json.load(open(sys.argv[2]))}
	n, stride, gmin, gmax, ngens, xsk_id, xsk_action, port, meta = (int(x) for x in sys.argv[3:12])
	t, q = d["total"], d["queues"][0]
	errs = []
	def want(what, got, exp):
	    if got != exp:
	        errs.append(f"{what}: {got}, want {exp}")
	want("source", d["source"], "xskmap")
	want("rx_packets", t["rx_packets"], n)
	want("verify.valid", t["verify"]["valid"], n)
	for k in ("corrupt", "no_payload", "dups", "late", "stale", "untracked"):
	    want("verify." + k, t["verify"][k], 0)
	# tx_ring_empty_descs counts transmit kicks that found nothing: not a loss.
	for k, v in t["drops"].items():
	    if k != "tx_ring_empty_descs":
	        want("drops." + k, v, 0)
	want("flows", [f["flow"] for f in q["flows"]], [0])
	f = q["flows"][0]
	want("first_seq", f["first_seq"], 0)
	want("last_seq", f["last_seq"], (n - 1) * stride)
	want("flow gaps", f["gaps"], (n - 1) * (stride - 1))
	if not meta:
	    if errs:
	        print("\n".join(errs), file=sys.stderr)
	    sys.exit(1 if errs else 0)
	m = t["meta"]
	want("meta.frames", m["frames"], n)
	want("meta.none", m["none"], 0)
	want("meta.mixed", m["mixed"], 0)
	want("meta.by_path", m["by_path"], {"0x7": n})
	gens = [int(g) for g in m["by_gen"]]
	if len(gens) < ngens or not all(gmin <= g <= gmax for g in gens):
	    errs.append(f"meta.by_gen: {m['by_gen']}, want >= {ngens} generations in {gmin}..{gmax}")
	want("meta.by_gen sum", sum(m["by_gen"].values()), n)
	want("meta.by_rule keys", len(m["by_rule"]), 1)
	pos = int(next(iter(m["by_rule"]))) - 1
	r = rules.get(pos, {})
	# struct sluice_acl_rule: the match in "m", a port range as lo and span
	rm = r.get("m", {})
	want("rule at meta.rule - 1: id", r.get("id"), xsk_id)
	want("rule at meta.rule - 1: action", rm.get("action"), xsk_action)
	want("rule at meta.rule - 1: dport", (rm.get("dport_lo"), rm.get("dport_span")), (port, 0))
	if errs:
	    print("\n".join(errs), file=sys.stderr)
	    sys.exit(1)
	PY
}

# cur_gen: the interface's live generation.
cur_gen() {
	ctl -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["gen"])'
}

# stage_prog NAME: prog id of a stage now.
stage_prog() {
	ctl -j stage list "$TOPO_DUT_IF" |
		python3 -c 'import json,sys; print([s["prog_id"] for s in json.load(sys.stdin)["interfaces"][0]["stages"] if s["name"] == sys.argv[1]][0])' "$1"
}

# xsk_uses_pinned_map: the running xsk program's XSKMAP is the pinned one.
xsk_uses_pinned_map() {
	local map_id
	map_id=$(bpftool -j map show pinned "$MAPS/sluice_xsks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	bpftool -j prog show id "$(stage_prog xsk)" |
		python3 -c 'import json,sys; ids = json.load(sys.stdin)["map_ids"]; assert int(sys.argv[1]) in ids, (sys.argv[1], ids)' "$map_id"
}

@test "xsk pipeline: exactly the ACL's xsk packets reach the socket, verified, with their metadata where it is carried" {
	local n=5000 g
	g=$(cur_gen)
	snap before
	rx_start --xskmap "$MAPS/sluice_xsks" --verify $(meta_opt) --count "$n" -d 30
	# Flows 0, 1, 2 = dports 5000, 5001, 5002, interleaved: packet i is flow i % 3.
	gen -n $((3 * n)) -r 50000 --dport "$XSK_PORT-$PASS_PORT" --flows 3
	gen_check $((3 * n))
	rx_wait
	snap after
	check_rx "$n" 3 "$g" "$g" 1
	delta before after "pipe.packets $((3 * n))" "pipe.redirect $n" "pipe.drop $n" "pipe.pass $n" \
		"pipe.aborted 0" "pipe.tx 0" "pipe.missed 0" "pipe.mixed 0" "pipe.bad_verdict 0" "pipe.no_meta 0" \
		"rule.$XSK_ID $n" "rule.$DROP_ID $n" \
		"stage.acl.drop $n" "stage.xsk.packets $((2 * n))" "stage.xsk.redirect $n" "stage.xsk.pass 0" \
		"stage.count.packets $n" \
		"xsk.$XDP_REDIRECT $n" "xsk.$XDP_PASS 0"
}

@test "xsk pipeline: swaps of xsk, of acl and transactions of both under a stream lose nothing at the socket" {
	# 30000 frames at 6 kpps: about 5 s of stream, fewer frames than the rx ring.
	local n=30000 rate=6000 rounds=0 g0 g1 xsk0 acl0
	g0=$(cur_gen)
	xsk0=$(stage_prog xsk)
	acl0=$(stage_prog acl)
	xsk_uses_pinned_map
	snap before
	rx_start --xskmap "$MAPS/sluice_xsks" --verify $(meta_opt) --count "$n" -d 300
	gen -n "$n" -r "$rate" --dport "$XSK_PORT" &
	GEN_PID=$!
	# At most 20 rounds: on a slow machine the stream outlasts them, which is fine.
	while kill -0 "$GEN_PID" 2>/dev/null && [ "$rounds" -lt 20 ]; do
		ctl stage swap "$TOPO_DUT_IF" xsk xsk >/dev/null
		ctl stage swap "$TOPO_DUT_IF" acl acl >/dev/null
		ctl txn "$TOPO_DUT_IF" acl=acl xsk=xsk >/dev/null
		rounds=$((rounds + 1))
	done
	# Every op of at least three rounds ran while frames were still coming.
	[ "$rounds" -ge 3 ] || { echo "only $rounds rounds before the stream ended" >&2; false; }
	wait "$GEN_PID"
	GEN_PID=
	gen_check "$n"
	rx_wait
	snap after
	g1=$(cur_gen)
	[ "$g1" -eq $((g0 + rounds)) ]
	[ "$(stage_prog xsk)" -ne "$xsk0" ]
	[ "$(stage_prog acl)" -ne "$acl0" ]
	# New programs, new generations: still the one pinned XSKMAP.
	xsk_uses_pinned_map
	# The pipeline's counters first: when the socket misses frames, they
	# say whether XDP saw them and what it did with them.
	delta before after "pipe.packets $n" "pipe.redirect $n" "pipe.pass 0" "pipe.drop 0" "pipe.aborted 0" \
		"pipe.missed 0" "pipe.mixed 0" "pipe.bad_verdict 0" "pipe.no_meta 0" "rule.$XSK_ID $n"
	# Which generations the frames saw depends on timing; two full rounds
	# ran under the stream, so at least three did. Every frame, once, in
	# order, is the claim, not a split between generations.
	check_rx "$n" 1 "$g0" "$g1" 3
}

@test "xsk pipeline: with no socket bound the fallback verdict applies and is counted" {
	local n=2000
	# No sluice-xsk runs: the previous tests' sockets closed, which emptied their map entries.
	snap before
	gen -n "$n" -r 50000 --dport "$XSK_PORT"
	gen_check "$n"
	snap mid
	delta before mid "rule.$XSK_ID $n" "stage.xsk.pass $n" "stage.xsk.redirect 0" \
		"xsk.$XDP_PASS $n" "xsk.$XDP_REDIRECT 0" "pipe.pass $n" "pipe.redirect 0"
	# The fallback is a parameter: a version that drops instead.
	ctl stage swap "$TOPO_DUT_IF" xsk xsk param fallback=$XDP_DROP >/dev/null
	gen -n "$n" -r 50000 --dport "$XSK_PORT"
	gen_check "$n"
	snap after
	delta mid after "rule.$XSK_ID $n" "stage.xsk.drop $n" "stage.xsk.pass 0" "stage.xsk.redirect 0" \
		"xsk.$XDP_DROP $n" "xsk.$XDP_PASS 0" "pipe.drop $n" "pipe.pass 0" "pipe.redirect 0"
	ctl stage swap "$TOPO_DUT_IF" xsk xsk >/dev/null
}

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The per-CPU context carrier on real traffic, wherever this runs (on a
# kernel that refuses XDP metadata it is the only one; here it is chosen):
# d0 runs [parse, acl, xsk, count] with context: percpu and d1 the hot-swap
# proof [parse, a, seqcheck]. Traffic passes and is counted, swaps and
# transactions under a stream lose nothing, a restarted daemon adopts
# without a detach, ACL rules act, AF_XDP sockets get their frames (and
# sluice-xsk says metadata cannot come with them). Last, where the kernel
# has metadata: a pipeline whose every packet is refused metadata at run
# time (a test knob standing for a driver without support) still gives
# every packet its verdict, counted, never an abort.

load ../lib/common
load ../lib/daemon
load ../lib/xsk

SWAPLOAD=$SLUICE_BUILD/bench/swapload
SINK_OBJ=$SLUICE_BUILD/examples/seqcheck.bpf.o
XSK=$SLUICE_BUILD/tools/xsk/sluice-xsk
GEN=$SLUICE_BUILD/tools/gen/sluice-gen

setup_file() {
	daemon_setup cr
	for f in "$SWAPLOAD" "$SINK_OBJ" "$XSK" "$GEN"; do
		require_file "$f"
	done
	export D1=$NAME-d1 RX_DIR=$WORK XSK GEN
	ip link add "$NAME-g1" netns "$TOPO_GEN_NS" type veth peer name "$D1" netns "$TOPO_DUT_NS"
	in_ns "$TOPO_DUT_NS" ethtool -K "$D1" gro on >/dev/null 2>&1
	ip -n "$TOPO_GEN_NS" link set "$NAME-g1" up
	ip -n "$TOPO_DUT_NS" link set "$D1" up
	static_neigh
	write_config
	daemon_start
}

teardown_file() {
	daemon_teardown
}

teardown() {
	[ -n "${RX_PID:-}" ] && kill "$RX_PID" 2>/dev/null
	RX_PID=
	return 0
}

write_config() {
	daemon_config <<-EOF
	pipelines:
	  - name: fw
	    default_verdict: pass
	    stages:
	      - { name: parse, object: parse }
	      - { name: acl, object: acl }
	      - { name: xsk, object: xsk }
	      - { name: count, object: count }
	  - name: proof
	    stages:
	      - { name: parse, object: parse }
	      - { name: a, object: pass }
	      - { name: sink, object: $SINK_OBJ }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: fw, context: ${1:-percpu} }
	  - { name: $D1, pipeline: proof, context: percpu }
	EOF
}

# burst N ARGS...: N UDP frames from the generator to the DUT veth.
burst() {
	local n=$1
	shift
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto --dst-mac "$TOPO_DUT_MAC" -q -j \
		--count "$n" --rate 20000 "$@" > "$WORK/gen.json"
}

@test "context percpu: status says so, traffic passes, every packet counted, none through metadata" {
	local p0 n0 p1 n1
	[ "$(ctl_json 'r["interfaces"][0]["context"]' status)" = percpu ]
	run ping_dut 10
	[[ "$output" == *" 0% packet loss"* ]]
	read -r p0 n0 < <(pipe_stat packets no_meta)
	burst 1000
	read -r p1 n1 < <(pipe_stat packets no_meta)
	[ "$((p1 - p0))" -eq 1000 ]
	[ "$n1" -eq 0 ]
	[ "$(pipe_stat verdicts.aborted missed mixed)" = "0 0 0" ]
}

@test "context percpu: 200 swaps and 40 transactions under a stream, every packet seen once" {
	local mac kind n
	mac=$(ip -n "$TOPO_DUT_NS" -br link show dev "$D1" | awk '{print $3}')
	for kind in "swap 200 -x a=pass,count" "txn 40 -x a=count,pass -x parse=parse"; do
		set -- $kind
		"$SWAPLOAD" -s "$SOCK" -r "$PIN" -i "$D1" -j -m "$1" -n "$2" "${@:3}" -- \
			ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$NAME-g1" --engine auto --dst-mac "$mac" --rate 100000 \
			--duration 15 -q -j > "$WORK/result.json" || true
		cat "$WORK/result.json" >&2
		python3 - "$WORK/result.json" "$2" <<-'EOF'
		import json, sys
		r = json.load(open(sys.argv[1]))
		bad = [k for k in ("lost", "duplicated", "unexpected", "mixed", "pipeline_mixed", "missed", "bad_path")
		       if r[k]]
		if not r["ok"] or r["ops_under_traffic"] < int(sys.argv[2]) or r["seen"] != r["delivered"] or bad:
		    sys.exit("proof failed: %s" % (bad or r))
		EOF
	done
}

@test "context percpu: a restarted daemon adopts without a detach and keeps the carrier" {
	local link
	link=$(ctl_json 'r["interfaces"][0]["link_id"]' status)
	kill -9 "$(cat "$WORK/pid")"
	burst 100
	daemon_start
	[ "$(ctl_json 'r["interfaces"][0]["link_id"]' status)" -eq "$link" ]
	[ "$(ctl_json 'r["interfaces"][0]["context"]' status)" = percpu ]
	grep -q "adopted pipeline 'fw'" "$WORK/log"
	run ping_dut 5
	[[ "$output" == *" 0% packet loss"* ]]
}

@test "context percpu: ACL rules drop and pass what they name, and count it" {
	local d0 d1
	ctl rule add "$TOPO_DUT_IF" id 7 drop proto udp dport 7001 >/dev/null
	d0=$(pipe_stat verdicts.drop)
	burst 300 --dport 7001
	burst 200 --dport 7000
	d1=$(pipe_stat verdicts.drop)
	[ "$((d1 - d0))" -eq 300 ]
	[ "$(ctl_json '[x["packets"] for x in r["rules"] if x["id"] == 7][0]' rule list "$TOPO_DUT_IF")" -eq 300 ]
	ctl rule del "$TOPO_DUT_IF" 7 >/dev/null
}

@test "context percpu: an AF_XDP socket gets exactly its frames; --meta says metadata cannot come" {
	local maps=$PIN/$TOPO_DUT_IF/maps
	ctl rule add "$TOPO_DUT_IF" id 8 xsk proto udp dport 5000 >/dev/null
	run nsenter --net="/run/netns/$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --xskmap "$maps/sluice_xsks" \
		--meta --count 1 -d 1
	[ "$status" -ne 0 ]
	[[ "$output" == *"per-CPU map"*"no sluice metadata reaches AF_XDP"* ]]
	rx_start --xskmap "$maps/sluice_xsks" --verify --count 2000 -d 60
	burst 2000 --dport 5000
	rx_wait
	python3 -c '
import json, sys
t = json.load(open(sys.argv[1]))["total"]
assert t["rx_packets"] == 2000 and t["verify"]["valid"] == 2000, t' "$WORK/rx.json"
	ctl rule del "$TOPO_DUT_IF" 8 >/dev/null
}

@test "metadata refused at run time for every packet: verdicts stand, counted, never an abort" {
	local p0 n0 a0 p1 n1 a1
	probe_ok xdp_adjust_meta || skip "this kernel refuses XDP metadata: nothing to refuse at run time"
	ctl down "$TOPO_DUT_IF"
	daemon_stop
	write_config meta
	export SLUICE_TEST_ENTRY_NO_META=1
	daemon_start
	unset SLUICE_TEST_ENTRY_NO_META
	[ "$(ctl_json 'r["interfaces"][0]["context"]' status)" = meta ]
	ctl rule add "$TOPO_DUT_IF" id 9 drop proto udp dport 7001 >/dev/null
	read -r p0 n0 a0 < <(pipe_stat packets no_meta verdicts.drop)
	burst 500 --dport 7001
	burst 500 --dport 7000
	read -r p1 n1 a1 < <(pipe_stat packets no_meta verdicts.drop)
	[ "$((p1 - p0))" -eq 1000 ]
	[ "$((n1 - n0))" -eq 1000 ]
	[ "$((a1 - a0))" -eq 500 ]
	[ "$(pipe_stat verdicts.aborted missed)" = "0 0" ]
	run ping_dut 5
	[[ "$output" == *" 0% packet loss"* ]]
}

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Seeing every stage: a real Prometheus server (Debian's, on a loopback port
# of the DUT namespace, its storage in the run's folder) scrapes sluiced's
# /metrics during bounded bursts through the firewall pipeline, and what its
# HTTP API returns equals `sluicectl -j stats`, `sluicectl -j rule list` and
# the packets sent. promtool checks a live scrape that carries an interface
# named with a double quote, and the shipped alert rules. Under paced
# traffic a slot is emptied and an aborting stage swapped in: the anomaly
# recorder's pcapng holds those packets with their slot and reason (read by
# tshark), the missed-tail-call alert fires in Prometheus, and in `promtool
# test rules` fed with the samples Prometheus scraped.

load ../lib/common
load ../lib/daemon

GEN=$SLUICE_BUILD/tools/gen/sluice-gen
ABORTS_OBJ=$SLUICE_BUILD/bpf/testdata/aborts.bpf.o
OOB_OBJ=$SLUICE_BUILD/bpf/testdata/oob.bpf.o
RULES=$SLUICE_TOP/config/prometheus/sluice-rules.yml
PROM_PY=$SLUICE_TOP/tests/lib/prom.py

setup_file() {
	command -v prometheus >/dev/null && command -v promtool >/dev/null || return 0
	daemon_setup ob
	export METRICS_PORT=$((20000 + $$ % 10000)) PROM_PORT=$((30000 + $$ % 10000))
	# A second interface whose name needs escaping in a label value: Linux
	# allows a double quote. Both ends live in the DUT namespace.
	export QIF="q\"$(printf %s "$$" | tail -c 6)" QPEER="qp$(printf %s "$$" | tail -c 6)"
	ip -n "$TOPO_DUT_NS" link add "$QIF" type veth peer name "$QPEER"
	ip -n "$TOPO_DUT_NS" link set "$QIF" up
	ip -n "$TOPO_DUT_NS" link set "$QPEER" up
	daemon_config <<-EOF
	metrics: { listen: 127.0.0.1:$METRICS_PORT }
	pipelines:
	  - name: fw
	    default_verdict: pass
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	          - { id: 10, action: drop, proto: udp, dport: 9 }
	          - { id: 20, action: pass, proto: udp, dport: 7 }
	          - { id: 30, action: drop, proto: tcp }
	      - name: count
	        object: count
	        auto_rollback: { window_ms: 5000, max_aborted: 0 }
	interfaces:
	  - name: $TOPO_DUT_IF
	    pipeline: fw
	    observe: { record: true }
	  - name: '$QIF'
	    pipeline: fw
	EOF
	daemon_start
	static_neigh
	prom_start
	# sluice-gen's default engine sends with BPF_F_TEST_XDP_LIVE_FRAMES, which some kernels refuse.
	"$SLUICECTL" -j probe | python3 -c 'import json,sys
f = {x["name"]: x for x in json.load(sys.stdin)["features"]}["xdp_live_frames"]
print("" if f["ok"] else f["detail"] or "refused", end="")' > "$WORK/no-live-frames"
}

teardown_file() {
	[ -n "${WORK:-}" ] && [ -s "$WORK/prom.pid" ] && kill "$(cat "$WORK/prom.pid")" 2>/dev/null
	daemon_teardown
}

teardown() {
	# A follower of a test that failed before it stopped the follower.
	[ -n "${WORK:-}" ] && [ -s "$WORK/follower.pid" ] && kill "$(cat "$WORK/follower.pid")" 2>/dev/null
	rm -f "${WORK:-/nonexistent}/follower.pid"
	return 0
}

setup() {
	command -v prometheus >/dev/null || skip "no prometheus (scripts/deps.sh installs it)"
	command -v promtool >/dev/null || skip "no promtool (Debian package prometheus)"
	require_file "$GEN"
}

# prom_start: Prometheus in the DUT namespace, scraping sluiced every second
# and evaluating the shipped rules as often.
prom_start() {
	mkdir -p "$WORK/prom"
	cat > "$WORK/prom.yml" <<-EOF
	global: { scrape_interval: 1s, evaluation_interval: 1s }
	rule_files: [ "$RULES" ]
	scrape_configs:
	  - job_name: sluice
	    static_configs: [ { targets: [ "127.0.0.1:$METRICS_PORT" ] } ]
	EOF
	nsenter --net="/run/netns/$TOPO_DUT_NS" prometheus --config.file="$WORK/prom.yml" \
		--storage.tsdb.path="$WORK/prom" --web.listen-address="127.0.0.1:$PROM_PORT" \
		--log.level=warn >"$WORK/prom.log" 2>&1 &
	echo $! > "$WORK/prom.pid"
	disown
	prom ready 60 || { cat "$WORK/prom.log" >&2; return 1; }
	# Targets come up a few seconds after ready: wait for the first scrape.
	prom wait 'up{job="sluice"}' 1 60 || { cat "$WORK/prom.log" >&2; return 1; }
}

prom() {
	in_ns "$TOPO_DUT_NS" python3 "$PROM_PY" "http://127.0.0.1:$PROM_PORT" "$@"
}

scrape() {
	in_ns "$TOPO_DUT_NS" curl -sf "http://127.0.0.1:$METRICS_PORT/metrics"
}

# require_gen: skips a test that sends traffic where the generator cannot.
require_gen() {
	[ ! -s "$WORK/no-live-frames" ] ||
		skip "sluice-gen's XDP engine: live frames refused here ($(cat "$WORK/no-live-frames"))"
}

# gen ARGS...: sluice-gen from the generator namespace to the DUT's address.
gen() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --dst-mac "$TOPO_DUT_MAC" \
		--src "$TOPO_GEN_IP" --dst "$TOPO_DUT_IP" -q -j "$@" > "$WORK/gen.json"
}

sent() {
	json_get "$WORK/gen.json" sent
}

# promql_iface: the DUT interface as a PromQL string.
promql_iface() {
	printf '"%s"' "$TOPO_DUT_IF"
}

@test "observe: the shipped alert rules pass promtool check rules and promtool test rules" {
	run promtool check rules "$RULES"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"SUCCESS: 6 rules found"* ]]
	run promtool test rules "$SLUICE_TOP/config/prometheus/sluice-rules.test.yml"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "observe: a metrics listener that cannot bind stops the start, before ready" {
	local dir=$WORK/second
	mkdir -p "$dir"
	# Its own state, socket and pins; the running daemon's metrics port.
	sed -e "s#^pin_root: .*#pin_root: $PIN-second#" -e "s#^state_dir: .*#state_dir: $dir/state#" \
		-e "s#socket: [^ ]*#socket: $dir/sock#" -e '/^interfaces:/,$d' "$CFG" > "$dir/cfg.yaml"
	printf 'interfaces:\n  - { name: %s, pipeline: fw }\n' "$QPEER" >> "$dir/cfg.yaml"
	run timeout 30 nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$dir/cfg.yaml"
	rm -rf "$PIN-second"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"metrics: cannot listen on 127.0.0.1:$METRICS_PORT: Address already in use"* ]]
	[[ "$output" != *"ready:"* ]]
}

@test "observe: promtool check metrics passes a live scrape with an interface named with a double quote" {
	local esc
	scrape > "$WORK/scrape.txt"
	run promtool check metrics < "$WORK/scrape.txt"
	echo "$output"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	esc=${QIF//\"/\\\"}
	grep -F "sluice_pipeline_attached{iface=\"$esc\"} 1" "$WORK/scrape.txt"
	grep -F "sluice_build_info{version=" "$WORK/scrape.txt"
	grep -E '^sluice_config_info\{hash="[0-9a-f]{16}"\} 1$' "$WORK/scrape.txt"
	# Prometheus took the same series: the escaped value came back whole.
	run prom wait "sluice_pipeline_attached{iface=\"$esc\"}" 1 30
	[ "$status" -eq 0 ]
}

@test "observe: Prometheus's per-stage and per-rule counts equal sluicectl -j stats, rule list and the packets sent" {
	require_gen
	gen --dport 9 --count 3000 --rate 20000
	local n9; n9=$(sent)
	gen --dport 7 --count 2000 --rate 20000
	local n7; n7=$(sent)
	gen --dport 80 --proto tcp --count 1000 --rate 20000
	local n80; n80=$(sent)
	local n=$((n9 + n7 + n80))
	[ "$n" -eq 6000 ]
	# The burst is over and bounded: wait for a scrape that has all of it.
	for _ in $(seq 50); do
		[ "$(pipe_stat packets)" -eq "$n" ] && break
		sleep 0.1
	done
	[ "$(pipe_stat packets)" -eq "$n" ]
	run prom wait "sum(sluice_packets_total{iface=$(promql_iface)})" "$n" 60
	echo "$output"
	[ "$status" -eq 0 ]
	ctl -j stats "$TOPO_DUT_IF" > "$WORK/stats.json"
	ctl -j rule list "$TOPO_DUT_IF" > "$WORK/rules.json"
	run prom compare "$TOPO_DUT_IF" "$WORK/stats.json" "$WORK/rules.json" "$n"
	echo "$output"
	[ "$status" -eq 0 ]
	# And the rules counted what was sent to them.
	run prom vector "sluice_acl_rule_hits_total{iface=$(promql_iface)}" rule
	echo "$output"
	[ "$output" = "{\"10\": $n9.0, \"20\": $n7.0, \"30\": $n80.0}" ]
}

@test "observe: stage timing is off by default; sluicectl observe turns it on; stats and the histograms count the same" {
	require_gen
	local every
	every=$(ctl_json 'r["interfaces"][0]["observe"]["time_sample"]' stats "$TOPO_DUT_IF")
	[ "$every" -eq 0 ]
	[ "$(ctl_json 'r["interfaces"][0]["observe"]["entry_time"]["count"]' stats "$TOPO_DUT_IF")" -eq 0 ]
	run ctl observe "$TOPO_DUT_IF" timing 4
	[ "$status" -eq 0 ]
	[[ "$output" == *"stage timing 1 packet in 4"* ]]
	gen --dport 7 --count 400 --rate 20000
	run ctl stats "$TOPO_DUT_IF"
	echo "$output"
	[[ "$output" == *"stage time, 1 packet in 4 timed:"* ]]
	[[ "$output" =~ "(entry)"\ +[1-9] ]]
	[[ "$output" =~ count\ +[1-9][0-9]*\ +[0-9.]+\ [nu]s\ +[0-9.]+\ [nu]s ]]
	ctl -j stats "$TOPO_DUT_IF" > "$WORK/stats.json"
	python3 - "$WORK/stats.json" > "$WORK/timed.txt" <<-'PY'
	import json, sys
	o = json.load(open(sys.argv[1]))["interfaces"][0]["observe"]
	# Every timed packet went through every stage: parse, acl (pass rule 20), count.
	c = [t["count"] for t in o["stage_time"]]
	assert o["time_sample"] == 4 and len(set(c)) == 1 and 0 < c[0] <= 400, o
	assert o["entry_time"]["count"] == c[0], o
	assert all(sum(t["buckets"]) == t["count"] for t in o["stage_time"]), o
	print(c[0])
	PY
	local timed; timed=$(cat "$WORK/timed.txt")
	scrape > "$WORK/scrape.txt"
	grep -F "sluice_stage_timing_sample_every{iface=\"$TOPO_DUT_IF\"} 4" "$WORK/scrape.txt"
	grep -F "sluice_stage_duration_seconds_count{iface=\"$TOPO_DUT_IF\",slot=\"1\",stage=\"acl\"} $timed" "$WORK/scrape.txt"
	grep -F "sluice_stage_duration_seconds_bucket{iface=\"$TOPO_DUT_IF\",slot=\"1\",stage=\"acl\",le=\"+Inf\"} $timed" "$WORK/scrape.txt"
	grep -F "sluice_entry_duration_seconds_count{iface=\"$TOPO_DUT_IF\"} $timed" "$WORK/scrape.txt"
	run prom wait "sluice_stage_duration_seconds_count{iface=$(promql_iface),stage=\"count\"}" "$timed" 30
	[ "$status" -eq 0 ]
	run ctl observe "$TOPO_DUT_IF" timing off
	[[ "$output" == *"stage timing off"* ]]
}

@test "observe: an emptied slot and an aborting stage under traffic: anomalies in pcapng, alerts fire" {
	require_gen
	local bank start
	# Samples of 0 before the slot empties: increase() starts from them.
	start=$(date +%s)
	prom samples "sluice_stage_missed_tail_calls_total{iface=$(promql_iface)}" "$start" 2 60
	# A follower from before the first anomaly: it must end up with the same packets.
	"$SLUICECTL" -s "$SOCK" anomalies "$TOPO_DUT_IF" -f -w "$WORK/follow.pcapng" \
		>"$WORK/follow.out" 2>&1 &
	local follower=$!
	echo "$follower" > "$WORK/follower.pid"
	gen --dport 7 --rate 400 --duration 9 &
	local g=$!
	sleep 1
	bank=$(ctl_json 'r["interfaces"][0]["bank"]' status)
	bpftool map delete pinned "$PIN/$TOPO_DUT_IF/progs" key $((bank * 16 + 2)) 0 0 0
	sleep 0.3
	# The slot is empty while the daemon renders: drift.
	scrape > "$WORK/scrape-drift.txt"
	sleep 1.5
	# A swap fills the slot again. Then, once the recorder's budget of the
	# second (64 records per CPU) has come back, the aborting stage; its
	# auto_rollback puts count back.
	ctl stage swap "$TOPO_DUT_IF" count count
	sleep 1.2
	ctl stage swap "$TOPO_DUT_IF" count "$ABORTS_OBJ"
	for _ in $(seq 50); do
		[ "$(ctl_json 'r["interfaces"][0]["stages"][2]["object"]' status)" = count ] && break
		sleep 0.1
	done
	wait "$g"
	[ "$(ctl_json 'r["interfaces"][0]["stages"][2]["object"]' status)" = count ]
	grep -F "sluice_slot_drift{iface=\"$TOPO_DUT_IF\",slot=\"2\",stage=\"count\"} 1" "$WORK/scrape-drift.txt"
	scrape | grep -F "sluice_slot_drift{iface=\"$TOPO_DUT_IF\",slot=\"2\",stage=\"count\"} 0"

	# The recorder's file: only those packets, each with its slot and reason.
	ctl anomalies "$TOPO_DUT_IF" -w "$WORK/an.pcapng"
	tshark -r "$WORK/an.pcapng" -T fields -e frame.comment -e udp.dstport -e ip.dst \
		> "$WORK/an.txt" 2>"$WORK/tshark.err"
	local missed aborted total
	cut -d" " -f3-5 "$WORK/an.txt" | sort | uniq -c	# for the log
	missed=$(grep -c "^sluice anomaly: reason=missed slot=2 stage=count .*	7	$TOPO_DUT_IP\$" "$WORK/an.txt")
	aborted=$(grep -c "^sluice anomaly: reason=aborted slot=2 stage=count .*verdict=aborted .*	7	$TOPO_DUT_IP\$" "$WORK/an.txt")
	total=$(wc -l < "$WORK/an.txt")
	echo "missed $missed aborted $aborted total $total"
	[ "$missed" -ge 1 ]
	[ "$aborted" -ge 1 ]
	[ "$total" -eq $((missed + aborted)) ]
	# As many as the daemon counted, and no more than the pipeline saw.
	[ "$total" -eq "$(ctl_json 'r["interfaces"][0]["observe"]["anomalies"]' stats "$TOPO_DUT_IF")" ]
	[ "$missed" -le "$(pipe_stat missed)" ]
	[ "$aborted" -le "$(pipe_stat verdicts.aborted)" ]
	scrape > "$WORK/scrape.txt"
	grep -F "sluice_anomalies_total{iface=\"$TOPO_DUT_IF\",reason=\"missed\",slot=\"2\",stage=\"count\"} $missed" "$WORK/scrape.txt"
	grep -F "sluice_anomalies_total{iface=\"$TOPO_DUT_IF\",reason=\"aborted\",slot=\"2\",stage=\"count\"} $aborted" "$WORK/scrape.txt"
	grep -F "sluice_auto_rollbacks_total{iface=\"$TOPO_DUT_IF\",result=\"ok\"} 1" "$WORK/scrape.txt"
	grep -F 'sluice_changes_total{kind="stage.swap",result="ok"} 2' "$WORK/scrape.txt"

	# The follower wrote the same packets as they came.
	sleep 0.6
	kill -INT "$follower"
	wait "$follower"
	rm -f "$WORK/follower.pid"
	cat "$WORK/follow.out"
	[ "$(tshark -r "$WORK/follow.pcapng" -T fields -e frame.comment 2>/dev/null | wc -l)" -eq "$total" ]

	# Prometheus fired the alerts the shipped rules define.
	run prom alert SluiceMissedTailCalls iface="$TOPO_DUT_IF" slot=2 stage=count --timeout 60
	echo "$output"
	[ "$status" -eq 0 ]
	run prom alert SluiceAborted iface="$TOPO_DUT_IF" --timeout 60
	[ "$status" -eq 0 ]
	run prom alert SluiceAutoRollback iface="$TOPO_DUT_IF" result=ok --timeout 60
	[ "$status" -eq 0 ]

	# promtool test rules, fed with the samples Prometheus scraped: the alert fires.
	run prom missedtest "sluice_stage_missed_tail_calls_total{iface=$(promql_iface)}" "$start" "$RULES" \
		"$WORK/live.test.yml" severity=critical
	echo "$output"
	[ "$status" -eq 0 ]
	run promtool test rules "$WORK/live.test.yml"
	echo "$output"
	[ "$status" -eq 0 ]
	grep -q 'slot: "2"' "$WORK/live.test.yml"
}

@test "observe: swaps, transactions and reloads are counted by result; a failed reload shows until a good one" {
	local hash gen
	gen=$(ctl_json 'r["interfaces"][0]["gen"]' status)
	run ctl stage swap "$TOPO_DUT_IF" count "$OOB_OBJ"
	[ "$status" -ne 0 ]
	ctl txn "$TOPO_DUT_IF" count=count
	ctl reload
	scrape > "$WORK/scrape.txt"
	grep -F 'sluice_changes_total{kind="stage.swap",result="failed"} 1' "$WORK/scrape.txt"
	grep -F 'sluice_changes_total{kind="txn",result="ok"} 1' "$WORK/scrape.txt"
	grep -F "sluice_generation{iface=\"$TOPO_DUT_IF\"} $((gen + 1))" "$WORK/scrape.txt"
	grep -F 'sluice_reloads_total{result="ok"} 1' "$WORK/scrape.txt"
	grep -Fx 'sluice_config_last_reload_successful 1' "$WORK/scrape.txt"
	hash=$(grep -o '^sluice_config_info{hash="[0-9a-f]*"' "$WORK/scrape.txt")
	cp "$CFG" "$WORK/good.yaml"
	echo "pipelines: [" >> "$CFG"
	run ctl reload
	[ "$status" -ne 0 ]
	scrape > "$WORK/scrape.txt"
	grep -F 'sluice_reloads_total{result="failed"} 1' "$WORK/scrape.txt"
	grep -Fx 'sluice_config_last_reload_successful 0' "$WORK/scrape.txt"
	grep -F "$hash" "$WORK/scrape.txt"
	run prom alert SluiceReloadFailed --timeout 60
	[ "$status" -eq 0 ]
	# A good file again, with a comment: loaded, and another hash.
	{ cat "$WORK/good.yaml"; echo "# edited"; } > "$CFG"
	ctl reload
	scrape > "$WORK/scrape.txt"
	grep -Fx 'sluice_config_last_reload_successful 1' "$WORK/scrape.txt"
	grep -F 'sluice_reloads_total{result="ok"} 2' "$WORK/scrape.txt"
	run grep -F "$hash" "$WORK/scrape.txt"
	[ "$status" -eq 1 ]
}

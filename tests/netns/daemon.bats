#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluiced on a veth in its own namespaces, with a real client (ping) as
# traffic: the pipeline attaches and passes traffic, survives kill -9 of the
# daemon, is adopted by the next one without a detach (also when killed
# between a transaction's link update and its info write), keeps running through
# a broken reload, keeps CLI rule edits over a restart, and the control
# socket turns away strangers and garbage without falling over.

load ../lib/common
load ../lib/daemon

setup_file() {
	daemon_setup sd
	export METRICS_PORT=$((20000 + $$ % 10000))
	daemon_config_fw "metrics: { listen: 127.0.0.1:$METRICS_PORT }" <<-EOF
	- { id: 10, action: drop, proto: udp, dport: 9 }
	EOF
	daemon_start
}

teardown_file() {
	daemon_teardown
}

link_id() {
	ctl_json 'r["interfaces"][0]["link_id"]' status
}

@test "the pipeline attaches and passes real traffic" {
	run ping_dut 20
	[ "$status" -eq 0 ]
	[[ "$output" == *" 0% packet loss"* ]]
	[ "$(pinned_packets)" -ge 20 ]
	run ip -n "$TOPO_DUT_NS" -d link show dev "$TOPO_DUT_IF"
	[[ "$output" == *"prog/xdp"* ]]
	[ -e "$PIN/$TOPO_DUT_IF/link" ]
}

@test "sluiced -n names the file, line and column of each error" {
	printf 'pipelines:\n  - name: x\n    stages:\n      - { name: a, object: nope }\n' > "$WORK/bad.yaml"
	run "$SLUICED" -n -c "$WORK/bad.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.yaml:4:"* ]]
	# Where the daemon runs: its interface is there (elsewhere -n warns of it).
	run in_ns "$TOPO_DUT_NS" "$SLUICED" -n -c "$WORK/sluiced.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "configuration OK" ]
}

@test "kill -9 under traffic: the pinned pipeline keeps every packet flowing" {
	local before after
	before=$(pinned_packets)
	ping_dut 300 0.005 > "$WORK/ping.out" &
	local ping=$!
	sleep 0.4
	kill -9 "$(cat "$WORK/pid")"
	wait "$ping"
	grep -q " 0% packet loss" "$WORK/ping.out"
	after=$(pinned_packets)
	[ $((after - before)) -ge 300 ]	# every echo request went through XDP
	run ip -n "$TOPO_DUT_NS" -d link show dev "$TOPO_DUT_IF"
	[[ "$output" == *"prog/xdp"* ]]
}

@test "a restarted daemon adopts the pipeline without a detach" {
	local id_before
	id_before=$(bpftool -j link show pinned "$PIN/$TOPO_DUT_IF/link" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	daemon_start
	grep -q "adopted pipeline 'fw'" "$WORK/log" || { cat "$WORK/log"; false; }
	[ "$(link_id)" -eq "$id_before" ]
	run ping_dut 10
	[[ "$output" == *" 0% packet loss"* ]]
}

@test "a swap's reply says when it went live, on the clock a client reads (CLOCK_MONOTONIC)" {
	local t0 t1
	t0=$(python3 -c 'import time; print(time.monotonic_ns() // 1000)')
	ctl -j stage swap "$TOPO_DUT_IF" count count > "$WORK/swap.json"
	t1=$(python3 -c 'import time; print(time.monotonic_ns() // 1000)')
	python3 - "$WORK/swap.json" "$t0" "$t1" <<-'PY'
	import json, sys
	r, t0, t1 = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
	assert r["ok"] and r["new_prog_id"] != r["old_prog_id"], r
	assert t0 < r["switch_at_us"] < t1, (t0, r["switch_at_us"], t1)
	assert 0 < r["to_switch_us"] < t1 - t0, (r["to_switch_us"], t1 - t0)
	PY
}

# info_unswitch: makes the pinned pipeline info say what it said just before
# the last commit's switch-word store: the live bank back to a prepared
# candidate (state 3) and the previous bank live (state 1), as a daemon
# killed between the store and its info write leaves it. Offsets: struct
# sluice_pipeline_info is 32 bytes of header, then 4 banks of 784 bytes
# whose state byte is at 12.
info_unswitch() {
	local bytes
	bytes=$(bpftool -j map dump pinned "$PIN/$TOPO_DUT_IF/info" | python3 -c '
import json, sys
v = [int(b, 16) for b in json.load(sys.stdin)[0]["value"]]
for b in range(4):
    st = 32 + b * 784 + 12
    if v[st] == 1:
        v[st] = 3
    elif v[st] == 2:
        v[st] = 1
print(*v)')
	bpftool map update pinned "$PIN/$TOPO_DUT_IF/info" key 0 0 0 0 value $bytes
}

@test "killed between a transaction's switch and its info write: the next daemon trusts what runs" {
	local gen link lines
	ctl txn "$TOPO_DUT_IF" count=pass >/dev/null
	gen=$(ctl_json 'r["interfaces"][0]["gen"]' status)
	link=$(link_id)
	kill -9 "$(cat "$WORK/pid")"
	info_unswitch
	lines=$(wc -l < "$WORK/log")
	daemon_start
	tail -n +$((lines + 1)) "$WORK/log" | grep -q "adopted pipeline" || { cat "$WORK/log"; false; }
	[ "$(link_id)" -eq "$link" ]
	# The generation that runs, whatever info said; the configuration
	# (count, not the transaction's pass) was then applied again.
	[ "$(ctl_json 'r["interfaces"][0]["entry_prog_id"]' status)" -eq "$(xdp_prog_id)" ]
	[ "$(ctl_json 'r["interfaces"][0]["gen"]' status)" -gt "$gen" ]
	[ "$(ctl_json '[s["object"] for s in r["interfaces"][0]["stages"]][-1]' status)" = count ]
	run ping_dut 10
	[[ "$output" == *" 0% packet loss"* ]]
}

@test "a second daemon on the same state refuses to start" {
	run timeout 10 nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$WORK/sluiced.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"another sluiced"*"is running"* ]]
}

@test "a broken reload keeps the running pipeline and its counters" {
	local ids before
	ids=$(ctl -j stage list | python3 -c 'import json,sys; print([s["prog_id"] for s in json.load(sys.stdin)["interfaces"][0]["stages"]])')
	before=$(pinned_packets)
	cp "$WORK/sluiced.yaml" "$WORK/good.yaml"
	sed -i 's/object: count }/object: count, params: { no_such: 1 }, bogus: 2 }/' "$WORK/sluiced.yaml"
	run ctl reload
	[ "$status" -eq 1 ]
	[[ "$output" == *"sluiced.yaml:"*"bogus"* ]]
	kill -HUP "$(cat "$WORK/pid")"
	sleep 0.3
	grep -q "reload failed" "$WORK/log"
	cp "$WORK/good.yaml" "$WORK/sluiced.yaml"
	[ "$(ctl -j stage list | python3 -c 'import json,sys; print([s["prog_id"] for s in json.load(sys.stdin)["interfaces"][0]["stages"]])')" = "$ids" ]
	[ "$(pinned_packets)" -ge "$before" ]
	run ctl reload
	[ "$status" -eq 0 ]
}

@test "rules added with sluicectl drop at once and survive a restart" {
	run ctl rule add "$TOPO_DUT_IF" drop proto icmp
	[ "$status" -eq 0 ]
	run ping_dut 3
	[[ "$output" == *"100% packet loss"* ]]
	run ctl -j rule list "$TOPO_DUT_IF"
	[[ "$output" == *'"packets":3'* || "$output" == *'"packets": 3'* ]]
	kill -9 "$(cat "$WORK/pid")"
	daemon_start
	run ctl rule list "$TOPO_DUT_IF"
	[[ "$output" == *"proto icmp"* ]]
	run ping_dut 2
	[[ "$output" == *"100% packet loss"* ]]
	id=$(ctl -j rule list "$TOPO_DUT_IF" | python3 -c 'import json,sys; print([r["id"] for r in json.load(sys.stdin)["rules"] if "icmp" in r["text"]][0])')
	run ctl rule del "$TOPO_DUT_IF" "$id"
	[ "$status" -eq 0 ]
	run ping_dut 3
	[[ "$output" == *" 0% packet loss"* ]]
}

@test "the control socket refuses a user who is neither root nor in its group" {
	[ "$(stat -c %a "$SOCK")" = "600" ]
	# Get past file permissions to reach the daemon's SO_PEERCRED check.
	chmod 0755 "$WORK"
	chmod 0666 "$SOCK"
	run setpriv --reuid=65534 --regid=65534 --clear-groups "$SLUICECTL" -s "$SOCK" status
	chmod 0600 "$SOCK"
	[ "$status" -ne 0 ]
	[[ "$output" == *"the control socket admits root and the configured group"* ]]
	grep -q "refused a client" "$WORK/log"
}

@test "garbage, oversized and truncated frames do not wedge the daemon" {
	python3 - "$SOCK" <<-'EOF'
	import socket, struct, sys, time
	def conn():
	    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
	    s.connect(sys.argv[1])
	    s.settimeout(2)
	    return s
	s = conn(); s.sendall(b"GET / HTTP/1.0\r\n\r\n" * 4); time.sleep(0.1); s.close()
	s = conn(); s.sendall(struct.pack("!IHHI", 0x534c4354, 1, 1, 64 << 20)); r = s.recv(4096); s.close()
	assert b"too large" in r, r
	s = conn(); s.sendall(struct.pack("!IHHI", 0x534c4354, 1, 1, 100) + b"{\"op\""); s.close()
	s = conn(); s.sendall(struct.pack("!IHHI", 0x534c4354, 1, 1, 5) + b"[1,2]"); r = s.recv(4096); s.close()
	assert b"not a JSON object" in r, r
	stall = conn(); stall.sendall(struct.pack("!IHHI", 0x534c4354, 1, 1, 10))   # never finishes
	EOF
	run ctl status
	[ "$status" -eq 0 ]
	[[ "$output" == *"$TOPO_DUT_IF"* ]]
}

@test "metrics are served as Prometheus text" {
	local port=$METRICS_PORT
	# The daemon, and so its loopback listener, lives in the DUT namespace.
	run in_ns "$TOPO_DUT_NS" python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$port/metrics').read().decode())"
	[ "$status" -eq 0 ]
	[[ "$output" == *"sluice_packets_total{iface=\"$TOPO_DUT_IF\",verdict=\"pass\"}"* ]]
	[[ "$output" == *"sluice_missed_tail_calls_total{iface=\"$TOPO_DUT_IF\"} 0"* ]]
}

@test "sluicectl down detaches and unpins" {
	run ctl down "$TOPO_DUT_IF"
	[ "$status" -eq 0 ]
	[ ! -e "$PIN/$TOPO_DUT_IF" ]
	run ip -n "$TOPO_DUT_NS" -d link show dev "$TOPO_DUT_IF"
	[[ "$output" != *"prog/xdp"* ]]
}

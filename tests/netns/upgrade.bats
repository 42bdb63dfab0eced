#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# An upgrade across a pin-layout change, under traffic, with two real
# builds: the sluice of commit $UPGRADE_FROM (pin layout 2, one entry per
# generation behind a bpf_link) runs a firewall; this build's sluiced starts
# on its pins, finds the older layout, builds its own pipeline beside it with
# the state maps whose layout did not change, and switches the interface's
# XDP link to it in one step. Traffic never stops (every datagram to the open
# port reaches the DUT's socket), never fails open (none to the dropped port
# does), the link is the same one, and the counters it could carry go on.

load ../lib/common
load ../lib/daemon

# The last commit whose pins have layout 2. Its build is cached between runs.
UPGRADE_FROM=a86cdf7
GEN=$SLUICE_BUILD/tools/gen/sluice-gen

setup_file() {
	require_root
	git -C "$SLUICE_TOP" cat-file -e "$UPGRADE_FROM^{commit}" 2>/dev/null || return 0
	export OLD_BUILD=${SLUICE_UPGRADE_CACHE:-/var/cache/sluice-upgrade}/$UPGRADE_FROM
	build_old || return 1
	daemon_setup up
	static_neigh
	daemon_config_fw <<-EOF
	- { id: 10, action: drop, proto: udp, dport: 7001 }
	EOF
}

teardown_file() {
	daemon_teardown
}

setup() {
	git -C "$SLUICE_TOP" cat-file -e "$UPGRADE_FROM^{commit}" 2>/dev/null ||
		skip "commit $UPGRADE_FROM (the older layout) is not in this clone's history"
	# That sluice could only run with XDP metadata.
	probe_ok xdp_adjust_meta || skip "the older build needs XDP metadata, which this kernel refuses"
	require_file "$OLD_BUILD/daemon/sluiced"
	require_file "$GEN"
}

# build_old: the daemon, CLI and BPF objects of $UPGRADE_FROM, once per cache.
build_old() {
	local src
	[ -x "$OLD_BUILD/daemon/sluiced" ] && return 0
	src=$(mktemp -d /tmp/sluice-old-src.XXXXXX)
	git -C "$SLUICE_TOP" archive "$UPGRADE_FROM" | tar -x -C "$src"
	mkdir -p "$OLD_BUILD"
	for d in bpf lib daemon cli; do
		make -C "$src/$d" O="$OLD_BUILD" all >"$OLD_BUILD/build.log" 2>&1 ||
			{ cat "$OLD_BUILD/build.log" >&2; rm -rf "$src" "$OLD_BUILD"; return 1; }
	done
	rm -rf "$src"
}

# Counts the datagrams reaching the DUT's ports 7000 and 7001 until told to stop.
start_listener() {
	nsenter --net="/run/netns/$TOPO_DUT_NS" python3 - "$TOPO_DUT_IP" "$WORK" <<-'EOF' &
	import json, os, select, socket, sys, time
	ip, work = sys.argv[1], sys.argv[2]
	socks = {}
	for port in (7000, 7001):
	    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
	    s.bind((ip, port))
	    socks[s] = port
	open(work + "/listening", "w").write("ok")
	got = {7000: 0, 7001: 0}
	while True:
	    r, _, _ = select.select(list(socks), [], [], 0.2)
	    for s in r:
	        s.recv(2048)
	        got[socks[s]] += 1
	    if not r and os.path.exists(work + "/stop"):
	        break
	json.dump(got, open(work + "/received.tmp", "w"))
	os.rename(work + "/received.tmp", work + "/received")
	EOF
	wait_file "$WORK/listening"
}

link_id() {
	bpftool -j link show pinned "$PIN/$TOPO_DUT_IF/link" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}

count_packets() {
	count_stage_counts | python3 -c 'import json,sys; print(sum(c["packets"] for c in json.load(sys.stdin).values()))'
}

@test "a daemon of the older pin layout is replaced under traffic: no detach, nothing lost, nothing let through" {
	local link0 count0 gen_pid gen2_pid
	# The older sluice attaches and pins the firewall.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$OLD_BUILD/daemon/sluiced" -c "$CFG" >>"$WORK/log" 2>&1 &
	echo $! > "$WORK/pid"
	disown
	for _ in $(seq 50); do
		"$OLD_BUILD/cli/sluicectl" -s "$SOCK" status >/dev/null 2>&1 && break
		sleep 0.1
	done
	link0=$(link_id)
	start_listener
	# Eight seconds of two flows, one the ACL passes, one it drops.
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto --dst-mac "$TOPO_DUT_MAC" \
		--src "$TOPO_GEN_IP" --dst "$TOPO_DUT_IP" --dport 7000 --rate 2000 --duration 8 -q -j \
		> "$WORK/gen.json" &
	gen_pid=$!
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto --dst-mac "$TOPO_DUT_MAC" \
		--src "$TOPO_GEN_IP" --dst "$TOPO_DUT_IP" --dport 7001 --rate 2000 --duration 8 -q -j \
		> "$WORK/gen2.json" &
	gen2_pid=$!
	sleep 2
	count0=$(count_packets)
	[ "$count0" -gt 0 ]
	# The old daemon goes; the new one finds its pins.
	kill -9 "$(cat "$WORK/pid")"
	daemon_start
	wait "$gen_pid"
	wait "$gen2_pid"
	touch "$WORK/stop"
	wait_file "$WORK/received" 100
	cat "$WORK/received" >&2
	grep "upgraded without a detach" "$WORK/log" >&2
	grep -q "upgraded without a detach (link $link0)" "$WORK/log"
	# The same link, now running this build's entry.
	[ "$(link_id)" -eq "$link0" ]
	[ "$(ctl_json 'r["interfaces"][0]["entry_prog_id"]' status)" -eq "$(bpftool -j link show pinned "$PIN/$TOPO_DUT_IF/link" | python3 -c 'import json,sys; print(json.load(sys.stdin)["prog_id"])')" ]
	[ ! -e "$PIN/$TOPO_DUT_IF:new" ] && [ ! -e "$PIN/$TOPO_DUT_IF:old" ]
	python3 - "$WORK/received" "$WORK/gen.json" <<-'EOF'
	import json, sys
	got, sent = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))["sent"]
	assert got["7001"] == 0, "the dropped port got %d datagrams: failed open" % got["7001"]
	assert got["7000"] == sent, "sent %d to the open port, %d arrived" % (sent, got["7000"])
	EOF
	# The count stage's counters came along: they went on from where they were.
	[ "$(count_packets)" -gt "$count0" ]
	# And the rule is still the configuration's, with its hits carried too.
	[ "$(ctl_json '[x["packets"] for x in r["rules"] if x["id"] == 10][0]' rule list "$TOPO_DUT_IF")" -gt 0 ]
}

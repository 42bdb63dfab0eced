#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# ACL filtering as the DUT's own sockets see it: sluiced runs [parse, acl,
# count] on the DUT end; the generator sends known numbers of UDP datagrams
# from two source addresses to three ports; UDP sockets bound to the DUT
# address count what arrives. Every datagram a rule passes must arrive, none
# that a rule drops may, and each rule's hit counter (sluicectl rule list) and
# the count stage must agree to the packet.

load ../lib/common
load ../lib/daemon

# Datagrams per (source, port); the expected outcome follows from the rules.
N_PASS=50	# .1 -> 7000: rule 40 passes
N_DROP_PORT=40	# .1 -> 7001: rule 10 drops
N_COUNTED=30	# .1 -> 7002: rule 30 counts, rule 40 passes
N_SRC_A=10	# .129 -> 7000: rule 20 drops (before rule 40)
N_SRC_B=10	# .129 -> 7002: rule 20 drops (before rule 30 counts it)

setup_file() {
	daemon_setup acl
	local net=${TOPO_DUT_IP%.*}
	export SRC2=$net.129
	# A second source address in the generator, inside the dropped prefix.
	ip -n "$TOPO_GEN_NS" addr add "$SRC2/24" dev "$TOPO_GEN_IF"
	static_neigh
	daemon_config_fw <<-EOF
	- { id: 10, action: drop, proto: udp, dport: 7001 }
	- { id: 20, action: drop, src: $net.128/25 }
	- { id: 30, action: count, proto: udp, dport: 7002 }
	- { id: 40, action: pass, proto: udp, dport: 7000-7002 }
	EOF
	daemon_start
}

teardown_file() {
	daemon_teardown
}

# Listens on the three ports of the DUT address and, once told to stop,
# writes {"SRC:PORT": datagrams} as JSON.
start_listeners() {
	nsenter --net="/run/netns/$TOPO_DUT_NS" python3 - "$TOPO_DUT_IP" "$WORK" <<-'EOF' &
	import json, os, select, socket, sys, time
	ip, work = sys.argv[1], sys.argv[2]
	socks = []
	for port in (7000, 7001, 7002):
	    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
	    s.bind((ip, port))
	    socks.append(s)
	open(work + "/listening", "w").write("ok")
	got = {}
	deadline = time.time() + 60
	while time.time() < deadline:
	    r, _, _ = select.select(socks, [], [], 0.1)
	    for s in r:
	        _, (src, _) = s.recvfrom(2048)
	        k = "%s:%d" % (src, s.getsockname()[1])
	        got[k] = got.get(k, 0) + 1
	    if not r and os.path.exists(work + "/stop"):
	        break
	with open(work + "/received.tmp", "w") as f:
	    json.dump(got, f)
	os.rename(work + "/received.tmp", work + "/received")
	EOF
	echo $! > "$WORK/listener.pid"
	wait_file "$WORK/listening"
}

# send SRC PORT COUNT: COUNT datagrams from SRC to the DUT address.
send() {
	nsenter --net="/run/netns/$TOPO_GEN_NS" python3 - "$1" "$TOPO_DUT_IP" "$2" "$3" <<-'EOF'
	import socket, sys, time
	src, dst, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
	s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
	s.bind((src, 0))
	for i in range(n):
	    s.sendto(b"sluice acl e2e %d" % i, (dst, port))
	    time.sleep(0.001)
	EOF
}

hits() {
	ctl -j rule list "$TOPO_DUT_IF" | python3 -c '
import json, sys
print(" ".join("%d:%d" % (r["id"], r["packets"]) for r in json.load(sys.stdin)["rules"]))'
}

@test "rules pass, drop and count exactly what the DUT's sockets see" {
	local before after received

	before=$(count_stage_counts)
	start_listeners
	send "$TOPO_GEN_IP" 7000 $N_PASS
	send "$TOPO_GEN_IP" 7001 $N_DROP_PORT
	send "$TOPO_GEN_IP" 7002 $N_COUNTED
	send "$SRC2" 7000 $N_SRC_A
	send "$SRC2" 7002 $N_SRC_B
	touch "$WORK/stop"
	wait_file "$WORK/received" 100
	received=$(cat "$WORK/received")
	echo "received: $received"

	# Exactly the passed datagrams reached the sockets, none of the dropped.
	[ "$received" = "{\"$TOPO_GEN_IP:7000\": $N_PASS, \"$TOPO_GEN_IP:7002\": $N_COUNTED}" ]

	run hits
	echo "hits: $output"
	[ "$output" = "10:$N_DROP_PORT 20:$((N_SRC_A + N_SRC_B)) 30:$N_COUNTED 40:$((N_PASS + N_COUNTED))" ]

	# The count stage, after acl, saw only the passed datagrams.
	after=$(count_stage_counts)
	run python3 -c 'import json,sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print({c: a[c]["packets"] - b[c]["packets"] for c in a if a[c]["packets"] != b[c]["packets"]})' "$before" "$after"
	echo "count stage: $output"
	[ "$output" = "{'ipv4_udp': $((N_PASS + N_COUNTED))}" ]
}

@test "the pipeline dropped what acl dropped and missed nothing" {
	[ "$(pipe_stat verdicts.drop missed mixed)" = "$((N_DROP_PORT + N_SRC_A + N_SRC_B)) 0 0" ]
}

@test "a rule added at run time drops at once, and its counter starts at zero" {
	local id

	run ctl rule add "$TOPO_DUT_IF" before 40 drop proto udp dport 7000
	[ "$status" -eq 0 ]
	rm -f "$WORK/stop" "$WORK/received" "$WORK/listening"
	start_listeners
	send "$TOPO_GEN_IP" 7000 7
	send "$TOPO_GEN_IP" 7002 3
	touch "$WORK/stop"
	wait_file "$WORK/received" 100
	echo "received: $(cat "$WORK/received")"
	[ "$(cat "$WORK/received")" = "{\"$TOPO_GEN_IP:7002\": 3}" ]
	id=$(ctl -j rule list "$TOPO_DUT_IF" | python3 -c '
import json, sys
print([r["id"] for r in json.load(sys.stdin)["rules"] if "7000" in r["text"] and r["id"] != 40][0])')
	run hits
	echo "hits: $output"
	[ "$output" = "10:$N_DROP_PORT 20:$((N_SRC_A + N_SRC_B)) 30:$((N_COUNTED + 3)) $id:7 40:$((N_PASS + N_COUNTED + 3))" ]
}

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A TCP transfer through the daemon's filtering pipeline [parse, acl, count]
# while stages are swapped and transactions replace two stages at once: the
# stream must arrive whole (sha256 of every byte sent equals that of every
# byte received), no connection may be reset, and the pipeline must report
# no packet that met an empty slot (missed) or ran stages of two
# generations (mixed).

load ../lib/common
load ../lib/daemon

PORT=7100
SWAPS=6
TXNS=3

setup_file() {
	daemon_setup tsw
	static_neigh
	daemon_config_fw <<-EOF
	- { id: 1, action: drop, proto: tcp, dport: 9999 }
	EOF
	daemon_start
}

teardown_file() {
	daemon_teardown
}

# nstat_sum NS COUNTER...: the sum of absolute SNMP counters in a namespace.
nstat_sum() {
	local ns=$1
	shift
	ip netns exec "$ns" nstat -az "$@" | awk 'NR > 1 { s += $2 } END { print s + 0 }'
}

resets() {
	echo $(( $(nstat_sum "$TOPO_GEN_NS" TcpOutRsts TcpEstabResets TcpExtTCPAbortOnData) +
		 $(nstat_sum "$TOPO_DUT_NS" TcpOutRsts TcpEstabResets TcpExtTCPAbortOnData) ))
}

# The receiver: one connection, everything it carries hashed, then
# "BYTES SHA256" in $WORK/received.
start_receiver() {
	nsenter --net="/run/netns/$TOPO_DUT_NS" python3 - "$TOPO_DUT_IP" $PORT "$WORK" <<-'EOF' &
	import hashlib, os, socket, sys
	ip, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	ls = socket.socket()
	ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
	ls.bind((ip, port))
	ls.listen(1)
	ls.settimeout(30)
	open(work + "/listening", "w").write("ok")
	c, _ = ls.accept()
	c.settimeout(30)
	h, n = hashlib.sha256(), 0
	while True:
	    b = c.recv(1 << 16)
	    if not b:
	        break
	    h.update(b)
	    n += len(b)
	open(work + "/received.tmp", "w").write("%d %s\n" % (n, h.hexdigest()))
	os.rename(work + "/received.tmp", work + "/received")
	EOF
	wait_file "$WORK/listening"
}

# The sender: pseudo-random chunks at a steady pace until the swaps are done
# (and at least 8 MiB are out), so every swap happens under traffic; then
# "BYTES SHA256" in $WORK/sent. A reset makes it exit non-zero.
start_sender() {
	nsenter --net="/run/netns/$TOPO_GEN_NS" python3 - "$TOPO_DUT_IP" $PORT "$WORK" <<-'EOF' &
	import hashlib, os, random, socket, sys, time
	ip, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
	rnd = random.Random(0x51ce)
	s = socket.create_connection((ip, port), timeout=30)
	h, n, t0 = hashlib.sha256(), 0, time.time()
	while n < (8 << 20) or not os.path.exists(work + "/swaps-done"):
	    if time.time() - t0 > 60:
	        sys.exit("swaps took over 60 s")
	    b = rnd.randbytes(1 << 16)
	    s.sendall(b)
	    h.update(b)
	    n += len(b)
	    time.sleep(0.005)
	s.shutdown(socket.SHUT_WR)
	s.recv(1)	# the receiver's close: everything was read
	s.close()
	open(work + "/sent", "w").write("%d %s\n" % (n, h.hexdigest()))
	EOF
	echo $! > "$WORK/sender.pid"
}

stage_ver() {
	ctl -j stage list "$TOPO_DUT_IF" | python3 -c '
import json, sys
i = json.load(sys.stdin)["interfaces"][0]
print(i["gen"], " ".join("%s:%d" % (s["name"], s["ver"]) for s in i["stages"]))'
}

@test "a TCP stream stays whole and unreset while stages are swapped and replaced" {
	local rst0 rst1 before after i sender

	rst0=$(resets)
	before=$(stage_ver)
	start_receiver
	start_sender
	sender=$(cat "$WORK/sender.pid")
	sleep 0.3	# the connection is up and data flows
	for ((i = 0; i < SWAPS; i++)); do
		ctl stage swap "$TOPO_DUT_IF" count count
		if ((i < TXNS)); then
			ctl txn "$TOPO_DUT_IF" acl=acl count=count
		fi
	done
	# Still sending: every swap above happened under traffic.
	kill -0 "$sender"
	touch "$WORK/swaps-done"
	wait "$sender"
	wait_file "$WORK/received" 100
	echo "sent:     $(cat "$WORK/sent")"
	echo "received: $(cat "$WORK/received")"
	[ "$(cat "$WORK/sent")" = "$(cat "$WORK/received")" ]

	rst1=$(resets)
	echo "resets: $rst0 -> $rst1"
	[ "$rst1" -eq "$rst0" ]

	after=$(stage_ver)
	echo "gen and versions: $before -> $after"
	# Each txn made a generation; count runs a newer instance than before.
	[ "${after%% *}" -eq $((${before%% *} + TXNS)) ]
	[ "${after##*count:}" -gt "${before##*count:}" ]
}

@test "no packet met an empty slot or ran two generations" {
	local mixed

	# The transfer's packets all passed: missed, mixed and dropped are 0.
	[ "$(pipe_stat missed mixed verdicts.drop)" = "0 0 0" ]
	mixed=$(count_stage_counts | python3 -c 'import json,sys; print(sum(c["mixed"] for c in json.load(sys.stdin).values()))')
	[ "$mixed" -eq 0 ]
}

@test "the ACL rule outlives the transactions and still drops" {
	run ctl rule list "$TOPO_DUT_IF"
	[[ "$output" == *"dport 9999"* ]]
	run nsenter --net="/run/netns/$TOPO_GEN_NS" python3 -c "
import socket
try:
    socket.create_connection(('$TOPO_DUT_IP', 9999), timeout=1)
except socket.timeout:
    print('timeout')
except OSError as e:
    print(e)"
	# Dropped SYNs time out; a refused connect would mean the SYN got through.
	[ "$output" = "timeout" ]
	run ctl -j rule list "$TOPO_DUT_IF"
	[[ "$output" == *'"packets":'[1-9]* || "$output" == *'"packets": '[1-9]* ]]
}

@test "iperf3 runs clean through swaps and a transaction" {
	local client drops

	command -v iperf3 >/dev/null || skip "iperf3 not installed"
	nsenter --net="/run/netns/$TOPO_DUT_NS" iperf3 -s -1 -B "$TOPO_DUT_IP" -p 5201 >/dev/null 2>&1 &
	echo $! > "$WORK/iperf3.pid"
	drops=$(pipe_stat verdicts.drop)
	ip netns exec "$TOPO_GEN_NS" iperf3 -c "$TOPO_DUT_IP" -p 5201 -t 3 -J > "$WORK/iperf3.json" &
	client=$!
	sleep 0.5
	ctl stage swap "$TOPO_DUT_IF" count count
	ctl txn "$TOPO_DUT_IF" acl=acl count=count
	ctl stage swap "$TOPO_DUT_IF" count count
	kill -0 "$client"	# the swaps ran under the transfer
	wait "$client"
	run python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
assert "error" not in r, r["error"]
e = r["end"]
print("%.2f Gbit/s received, %d retransmits" % (e["sum_received"]["bits_per_second"] / 1e9,
      e["sum_sent"]["retransmits"]))' "$WORK/iperf3.json"
	echo "$output"
	[ "$status" -eq 0 ]
	printf '# iperf3 through swaps: %s\n' "$output" >&3
	# Drops are cumulative (the test above dropped its port-9999 SYNs).
	[ "$(pipe_stat missed mixed verdicts.drop)" = "0 0 $drops" ]
}

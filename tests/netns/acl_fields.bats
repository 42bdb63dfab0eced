#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The ACL fields firewall users expect, against real clients: sluiced runs
# [parse, acl, count] on the DUT end; `ping` and `arping` from the generator
# namespace are blocked and let through again by ICMP type, ARP and MAC rules
# added and removed live with `sluicectl rule`, each rule's hit counter
# showing exactly what its client sent, and `rule list` printing each rule
# back as it parses. VLAN-tagged frames (sent raw: this kernel may have no
# 8021q) are counted by vlan rules, with rx VLAN offload on and off.

load ../lib/common
load ../lib/daemon

setup_file() {
	command -v arping >/dev/null || skip "arping not installed (iputils-arping; scripts/deps.sh)"
	daemon_setup aclf
	# Neighbour entries both ways: ping needs no ARP, so ARP frames are
	# arping's alone and the counters see only them.
	static_neigh
	daemon_config_fw <<-EOF
	- { id: 1, action: count, proto: arp, arp_target: $TOPO_DUT_IP }
	EOF
	daemon_start
}

teardown_file() {
	daemon_teardown
}

# Each test removes the rules it added, even when it failed half way.
teardown() {
	local id

	for id in $(ctl_json "' '.join(str(x['id']) for x in r['rules'] if x['id'] != 1)" rule list "$TOPO_DUT_IF" 2>/dev/null); do
		ctl rule del "$TOPO_DUT_IF" "$id" >/dev/null 2>&1
	done
	in_ns "$TOPO_DUT_NS" ethtool -K "$TOPO_DUT_IF" rxvlan off >/dev/null 2>&1
	return 0
}

# hits ID: the packets rule ID has counted.
hits() {
	ctl_json "[x['packets'] for x in r['rules'] if x['id'] == $1][0]" rule list "$TOPO_DUT_IF"
}

# text ID: the rule as `rule list` prints it.
text() {
	ctl_json "[x['text'] for x in r['rules'] if x['id'] == $1][0]" rule list "$TOPO_DUT_IF"
}

# add RULE...: adds a rule, prints its id.
add() {
	ctl rule add "$TOPO_DUT_IF" "$@" | sed -n 's/^rule //p'
}

ping3() {
	ip netns exec "$TOPO_GEN_NS" ping -q -c 3 -i 0.2 -W 1 "$TOPO_DUT_IP"
}

# arping2: 2 broadcast ARP requests for the DUT address, a second apart; 0 when a reply came.
arping2() {
	ip netns exec "$TOPO_GEN_NS" arping -b -c 2 -w 3 -I "$TOPO_GEN_IF" "$TOPO_DUT_IP"
}

@test "ping and arping get through; the configured ARP rule counts arping's requests" {
	local before

	before=$(hits 1)
	run ping3
	echo "$output"
	[ "$status" -eq 0 ]
	run arping2
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(hits 1)" -eq $((before + 2)) ]
	[ "$(text 1)" = "count id 1 proto arp arp_target $TOPO_DUT_IP/32" ]
}

@test "an ICMP type rule added live blocks ping, counts each echo request, and goes" {
	local id

	id=$(add drop proto icmp icmp_type echo-request)
	[ -n "$id" ]
	[ "$(text "$id")" = "drop id $id proto icmp icmp_type echo-request" ]
	run ping3
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(hits "$id")" -eq 3 ]
	# arping is no ICMP: it still gets its replies.
	run arping2
	[ "$status" -eq 0 ]
	run ctl rule del "$TOPO_DUT_IF" "$id"
	[ "$status" -eq 0 ]
	run ping3
	[ "$status" -eq 0 ]
}

@test "an ARP sender rule blocks arping; one inserted before it by target lets it through" {
	local id pass

	id=$(add drop proto arp arp_sender "$TOPO_GEN_IP")
	[ "$(text "$id")" = "drop id $id proto arp arp_sender $TOPO_GEN_IP/32" ]
	run arping2
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$(hits "$id")" -eq 2 ]
	# ping needs no ARP here: untouched.
	run ping3
	[ "$status" -eq 0 ]
	pass=$(add before "$id" pass proto arp arp_target "$TOPO_DUT_IP")
	run arping2
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(hits "$pass")" -eq 2 ]
	[ "$(hits "$id")" -eq 2 ]
	ctl rule del "$TOPO_DUT_IF" "$pass"
	ctl rule del "$TOPO_DUT_IF" "$id"
	run arping2
	[ "$status" -eq 0 ]
	[ "$(hits "$id" 2>/dev/null)" = "" ]
}

@test "a MAC rule blocks ping and arping alike; an ICMP pass before it lets ping through" {
	local id pass before1

	id=$(add drop src_mac "$TOPO_GEN_MAC")
	[ "$(text "$id")" = "drop id $id src_mac $TOPO_GEN_MAC" ]
	before1=$(hits 1)
	run ping3
	[ "$status" -ne 0 ]
	run arping2
	[ "$status" -ne 0 ]
	[ "$(hits "$id")" -eq 5 ]
	# The configured count rule comes first: it still counted the requests.
	[ "$(hits 1)" -eq $((before1 + 2)) ]
	pass=$(add before "$id" pass proto icmp icmp_type echo-request)
	run ping3
	echo "$output"
	[ "$status" -eq 0 ]
	run arping2
	[ "$status" -ne 0 ]
	[ "$(hits "$pass")" -eq 3 ]
	[ "$(hits "$id")" -eq 7 ]
	ctl rule del "$TOPO_DUT_IF" "$id"
	ctl rule del "$TOPO_DUT_IF" "$pass"
	run ping3
	[ "$status" -eq 0 ]
	run arping2
	[ "$status" -eq 0 ]
}

# send_tagged COUNT OUTER [INNER]: raw UDP frames to the DUT with one or two VLAN tags.
send_tagged() {
	ip netns exec "$TOPO_GEN_NS" python3 - "$TOPO_GEN_IF" "$TOPO_DUT_MAC" "$TOPO_GEN_MAC" "$@" <<-'EOF'
	import socket, struct, sys
	ifname, dst, src, n, outer = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
	tags = struct.pack("!HH", 0x8100, outer)
	if len(sys.argv) > 6:
	    tags += struct.pack("!HH", 0x8100, int(sys.argv[6]))
	ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0,
	                 socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
	frame = bytes.fromhex(dst.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + tags + \
	    b"\x08\x00" + ip + struct.pack("!HHHH", 1000, 2000, 8, 0)
	s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
	s.bind((ifname, 0))
	for _ in range(n):
	    s.send(frame.ljust(64, b"\0"))
	EOF
}

@test "vlan rules count tagged frames by outer and inner tag; veth keeps tags with rx VLAN offload on" {
	local outer inner range out

	outer=$(add count vlan 100)
	inner=$(add count vlan any:200)
	range=$(add count vlan 300-309:400-401)
	[ "$(text "$outer")" = "count id $outer vlan 100" ]
	[ "$(text "$inner")" = "count id $inner vlan any:200" ]
	[ "$(text "$range")" = "count id $range vlan 300-309:400-401" ]
	send_tagged 5 100
	send_tagged 4 100 200
	send_tagged 3 7 200
	send_tagged 2 305 401
	send_tagged 2 200
	[ "$(hits "$outer")" -eq 9 ]
	[ "$(hits "$inner")" -eq 7 ]
	[ "$(hits "$range")" -eq 2 ]
	# veth reports rx VLAN offload but hands XDP the frame as sent: no
	# warning, and the tags are still counted.
	in_ns "$TOPO_DUT_NS" ethtool -K "$TOPO_DUT_IF" rxvlan on
	out=$(ctl rule add "$TOPO_DUT_IF" count vlan 101 2>&1)
	echo "$out"
	[[ $out != *warning* ]]
	send_tagged 5 100
	[ "$(hits "$outer")" -eq 14 ]
}

@test "the pipeline missed nothing and mixed nothing" {
	[ "$(pipe_stat missed mixed)" = "0 0" ]
}

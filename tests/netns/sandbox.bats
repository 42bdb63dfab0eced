#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The unit's sandbox against what sluiced really does: the daemon runs under
# strace through a start (with the kernel probe), traffic, a swap and a
# rollback, a transaction, rule edits, reloads, a metrics scrape, capture
# mode's AF_XDP socket, and a restart that adopts the pins. Every system
# call it made must pass the unit's SystemCallFilter, and every socket
# family it opened must be in RestrictAddressFamilies: under systemd a call
# outside them fails with EPERM in production, not in a test.

load ../lib/common
load ../lib/daemon

setup_file() {
	command -v strace >/dev/null || skip "strace not installed"
	command -v systemd-analyze >/dev/null || skip "systemd-analyze not installed"
	daemon_setup sb
	daemon_config <<-EOF
	metrics: { listen: 127.0.0.1:9469 }
	pipelines:
	  - name: capture
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	          - { id: 1, action: xsk, proto: udp, dport: 53 }
	        tests:
	          - { packet: { proto: udp, dport: 53 }, expect: redirect }
	      - { name: xsk, object: xsk }
	      - { name: rl, object: ratelimit }
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: capture }
	xsk:
	  interface: $TOPO_DUT_IF
	  queues: [0]
	  mode: copy
	EOF
}

teardown_file() {
	daemon_teardown
}

# traced_run N: sluiced under strace, exercised, then stopped.
traced_run() {
	local n=$1
	nsenter --net="/run/netns/$TOPO_DUT_NS" strace -f -qq -o "$WORK/trace.$n" \
		"$SLUICED" -c "$CFG" >>"$WORK/log" 2>&1 3>&- &
	for _ in $(seq 100); do
		ctl status >/dev/null 2>&1 && break
		sleep 0.1
	done
	cp "$WORK/state/sluiced.pid" "$WORK/pid"	# teardown's, should a step fail
	ping_dut 3 0.05 >/dev/null
	ctl stage swap "$TOPO_DUT_IF" rl ratelimit param rate_pps=5000 >/dev/null
	ctl stage rollback "$TOPO_DUT_IF" rl >/dev/null
	ctl txn "$TOPO_DUT_IF" rl=ratelimit count=count >/dev/null
	ctl rule add "$TOPO_DUT_IF" drop proto tcp dport 23 >/dev/null
	ctl rule del "$TOPO_DUT_IF" 2
	ctl reload >/dev/null
	kill -HUP "$(cat "$WORK/pid")"
	ctl stats >/dev/null
	ctl history >/dev/null
	ctl xsk stats >/dev/null
	nsenter --net="/run/netns/$TOPO_DUT_NS" \
		python3 -c 'import urllib.request as u; u.urlopen("http://127.0.0.1:9469/metrics").read()'
	kill "$(cat "$WORK/pid")"
	wait
}

# The syscalls a filter line allows, groups expanded (the members of a
# group are its indented lines; the first line is the group's own name).
expand() {
	local w
	for w in "$@"; do
		case $w in
		@*) expand $(systemd-analyze syscall-filter "$w" | sed -n 's/^ \+\([@a-z_0-9-]*\)$/\1/p') ;;
		*) echo "$w" ;;
		esac
	done
}

@test "a traced start, every control operation and an adopting restart" {
	traced_run 1
	traced_run 2
	grep -q "adopt" "$WORK/log"
	[ -s "$WORK/trace.1" ] && [ -s "$WORK/trace.2" ]
}

@test "every system call sluiced made passes the unit's SystemCallFilter" {
	filter=$(sed -n 's/^SystemCallFilter=//p' "$SLUICE_TOP/daemon/sluiced.service.in")
	[ -n "$filter" ]
	[[ "$filter" != *"~"* ]]	# an allow list: a deny line would need its own logic
	expand $filter | sort -u > "$WORK/allowed"
	sed -n 's/^[0-9]* *\([a-z_0-9]*\)(.*/\1/p' "$WORK"/trace.* | sort -u > "$WORK/used"
	[ "$(wc -l < "$WORK/used")" -gt 30 ]
	run comm -23 "$WORK/used" "$WORK/allowed"
	echo "outside the filter: $output"
	[ -z "$output" ]
	# It cannot pass by accident: bpf(2) is the call the filter adds.
	grep -qx bpf "$WORK/used"
}

@test "every socket family sluiced opened is in RestrictAddressFamilies" {
	allowed=$(sed -n 's/^RestrictAddressFamilies=//p' "$SLUICE_TOP/daemon/sluiced.service.in")
	used=$(sed -n 's/^[0-9]* *socket(\(AF_[A-Z0-9]*\),.*/\1/p' "$WORK"/trace.* | sort -u)
	echo "used: $used"
	[[ "$used" == *AF_XDP* && "$used" == *AF_NETLINK* ]]
	for f in $used; do
		[[ " $allowed " == *" $f "* ]] || { echo "$f not allowed"; false; }
	done
}

@test "namespaces: only the probe's network namespace" {
	run grep -ho 'unshare([A-Z_|]*' "$WORK"/trace.*
	echo "$output"
	for u in ${output//unshare(/}; do [ "$u" = CLONE_NEWNET ]; done
	grep -q "^RestrictNamespaces=net$" "$SLUICE_TOP/daemon/sluiced.service.in"
}

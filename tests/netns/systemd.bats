#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# What systemd sees of sluiced (Type=notify), without systemd: the daemon
# runs in a namespace with NOTIFY_SOCKET pointing at a datagram socket of
# the test's own, which records every message. Debian 12's systemd 252 has
# no Type=notify-reload; a Type=notify unit follows RELOADING=1 ... READY=1,
# and `sluicectl reload` (the unit's ExecReload) waits for the result.

load ../lib/common
load ../lib/daemon

setup_file() {
	daemon_setup sd
	python3 - "$WORK/notify.sock" "$WORK/notify.log" <<-'EOF' 3>&- &
	import socket, sys
	s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
	s.bind(sys.argv[1])
	while True:
	    m = s.recv(4096).decode()
	    with open(sys.argv[2], "a") as f:
	        f.write(m.replace("\n", "|") + "\n")
	EOF
	echo $! > "$WORK/listener.pid"
	for _ in $(seq 50); do [ -S "$WORK/notify.sock" ] && break; sleep 0.1; done
	write_config
	NOTIFY_SOCKET=$WORK/notify.sock daemon_start
}

teardown_file() {
	[ -n "${WORK:-}" ] && [ -s "$WORK/listener.pid" ] && kill "$(cat "$WORK/listener.pid")"
	daemon_teardown
}

write_config() {
	daemon_config <<-EOF
	pipelines:
	  - name: obs
	    stages:
	      - { name: parse, object: parse }
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: obs }
	EOF
}

# wait_msgs N: until the listener has recorded N messages.
wait_msgs() {
	for _ in $(seq 50); do
		[ "$(wc -l < "$WORK/notify.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	cat "$WORK/notify.log"
	return 1
}

@test "READY=1 once the pipelines are attached" {
	wait_msgs 1
	[ "$(head -1 "$WORK/notify.log")" = "READY=1" ]
	[ -n "$(xdp_prog_id)" ]
}

@test "sluicectl reload: RELOADING=1 with MONOTONIC_USEC, then READY=1 after the result" {
	n=$(wc -l < "$WORK/notify.log")
	run ctl reload
	[ "$status" -eq 0 ]
	wait_msgs $((n + 2))
	mapfile -t m < <(tail -n +$((n + 1)) "$WORK/notify.log")
	[[ "${m[0]}" == "RELOADING=1|MONOTONIC_USEC="[0-9]*"|STATUS=reloading the configuration" ]]
	[ "${m[1]}" = "READY=1|STATUS=running; configuration reloaded" ]
}

@test "a refused reload fails sluicectl reload visibly and still ends with READY=1" {
	n=$(wc -l < "$WORK/notify.log")
	cp "$CFG" "$WORK/good.yaml"
	printf 'interfaces: [ { name: %s, pipeline: nosuch } ]\n' "$TOPO_DUT_IF" >> "$CFG"
	run ctl reload
	cp "$WORK/good.yaml" "$CFG"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"reload: "*"sluiced.yaml:"* ]]
	wait_msgs $((n + 2))
	mapfile -t m < <(tail -n +$((n + 1)) "$WORK/notify.log")
	[[ "${m[0]}" == "RELOADING=1|MONOTONIC_USEC="* ]]
	[[ "${m[1]}" == "READY=1|STATUS=reload failed, the running configuration stays: "*"sluiced.yaml:"* ]]
	# The pipeline kept running.
	[ -n "$(xdp_prog_id)" ]
	ctl status >/dev/null
}

@test "SIGHUP reloads with the same notifications" {
	n=$(wc -l < "$WORK/notify.log")
	kill -HUP "$(cat "$WORK/pid")"
	wait_msgs $((n + 2))
	mapfile -t m < <(tail -n +$((n + 1)) "$WORK/notify.log")
	[[ "${m[0]}" == "RELOADING=1|MONOTONIC_USEC="* ]]
	[ "${m[1]}" = "READY=1|STATUS=running; configuration reloaded" ]
	# MONOTONIC_USEC moves forward from one reload to the next.
	mapfile -t t < <(grep -o 'MONOTONIC_USEC=[0-9]*' "$WORK/notify.log" | cut -d= -f2)
	for ((i = 1; i < ${#t[@]}; i++)); do [ "${t[i]}" -gt "${t[i - 1]}" ]; done
}

# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Running sluiced in bats tests: `load ../lib/daemon` after `load ../lib/common`.
# The caller's setup_file creates the topology (topo_create), then sets
#   WORK   a private folder for the config, log, socket and state
#   PIN    the pin root, unique to the run (under /sys/fs/bpf)
# and writes $WORK/sluiced.yaml. SOCK is derived from WORK.

SLUICED=$SLUICE_BUILD/daemon/sluiced
SLUICECTL=$SLUICE_BUILD/cli/sluicectl

# daemon_start: starts sluiced in the DUT namespace and waits until it serves.
daemon_start() {
	# nsenter itself, not the in_ns function: $! must be the daemon, not a subshell.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$WORK/sluiced.yaml" >>"$WORK/log" 2>&1 &
	echo $! > "$WORK/pid"
	disown	# its end is the test's business, not a job-control message
	for _ in $(seq 50); do
		[ -S "$WORK/sluiced.sock" ] && ctl status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$WORK/log" >&2
	return 1
}

# daemon_stop: ends the daemon of this run (the pipeline stays pinned).
daemon_stop() {
	[ -f "$WORK/pid" ] && kill "$(cat "$WORK/pid")" 2>/dev/null
	rm -f "$WORK/pid"
}

ctl() {
	"$SLUICECTL" -s "$WORK/sluiced.sock" "$@"
}

# ctl_json EXPR ARGS...: runs `sluicectl -j ARGS` and prints a python expression of its reply `r`.
ctl_json() {
	local expr=$1
	shift
	ctl -j "$@" | python3 -c "import json,sys; r=json.load(sys.stdin); print($expr)"
}

# pinned_packets: packets the pipeline has seen, from the pinned map (no daemon needed).
pinned_packets() {
	bpftool -j map dump pinned "$PIN/$TOPO_DUT_IF/maps/sluice_pipe_stats" |
		python3 -c 'import json,sys
# Raw bytes per CPU: packets is the first little-endian u64 of struct sluice_pipe_stats.
d = json.load(sys.stdin)
print(sum(int.from_bytes(bytes(int(b, 16) for b in v["value"][:8]), "little")
          for e in d for v in e["values"]))'
}

# xdp_prog_id: the id of the XDP program the DUT interface runs, or nothing.
xdp_prog_id() {
	ip -n "$TOPO_DUT_NS" -d -j link show dev "$TOPO_DUT_IF" |
		python3 -c 'import json,sys; x=json.load(sys.stdin)[0].get("xdp",{}); print(x.get("prog",{}).get("id","") or (x.get("attached") or [{}])[0].get("prog",{}).get("id",""))'
}

ping_dut() {
	ip netns exec "$TOPO_GEN_NS" ping -q -c "$1" -i "${2:-0.01}" -W 1 "$TOPO_DUT_IP"
}

# daemon_teardown: kills the daemon, removes pins and the work folder, the topology.
daemon_teardown() {
	pkill -f "sluiced -c $WORK/sluiced.yaml" 2>/dev/null
	rm -rf "$PIN" "$WORK"
	topo_destroy "$TOPO_NAME"
}

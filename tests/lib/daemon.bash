# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# A sluiced of the test's own on the DUT end of a fresh topology, its CLI,
# its counters, and a teardown that ends only what the test started.
# `load ../lib/common` then `load ../lib/daemon` from a tests/netns/*.bats:
#
#	setup_file() {
#		daemon_setup PREFIX
#		daemon_config <<-EOF
#		pipelines: ...
#		interfaces:
#		  - { name: $TOPO_DUT_IF, pipeline: ... }
#		EOF
#		daemon_start
#	}
#	teardown_file() { daemon_teardown; }
#
# daemon_config writes pin_root, state_dir and the control socket itself, so
# nothing is shared with another run or with a production daemon.

SLUICED=$SLUICE_BUILD/daemon/sluiced
SLUICECTL=$SLUICE_BUILD/cli/sluicectl

# daemon_setup PREFIX: topology, work folder, pin root; exports what tests use
# (NAME, WORK, PIN, SOCK, CFG and the TOPO_* variables).
daemon_setup() {
	require_root
	require_file "$SLUICED"
	require_file "$SLUICECTL"
	bpffs_mount
	export SLUICED SLUICECTL NAME WORK
	NAME=$(topo_name "$1")
	WORK=$(mktemp -d "/tmp/sluice-$1.XXXXXX")
	export PIN=/sys/fs/bpf/sluice-test-$NAME SOCK=$WORK/sluiced.sock CFG=$WORK/sluiced.yaml
	topo_create "$NAME" >/dev/null
}

# daemon_config: writes the configuration; the rest of it (metrics,
# pipelines, interfaces, ...) comes from stdin.
daemon_config() {
	{
		printf 'pin_root: %s\nstate_dir: %s/state\ncontrol: { socket: %s }\n' \
			"$PIN" "$WORK" "$SOCK"
		cat
	} > "$CFG"
}

# daemon_config_fw [HEAD]: daemon_config for the firewall pipeline several
# suites share, [parse, acl, count] on the DUT veth with default verdict
# pass; its ACL rules (YAML list items, one a line) come on stdin, HEAD
# (top-level keys) goes first.
daemon_config_fw() {
	local rules
	rules=$(sed 's/^[[:space:]]*/          /')
	daemon_config <<-EOF
	${1:-}
	pipelines:
	  - name: fw
	    default_verdict: pass
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	$rules
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: fw }
	EOF
}

# daemon_start: sluiced in the DUT namespace, back once it answers.
daemon_start() {
	# nsenter itself, not the in_ns function: $! must be the daemon, not a subshell.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$CFG" >>"$WORK/log" 2>&1 &
	echo $! > "$WORK/pid"
	disown	# its end is the test's business, not a job-control message
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && ctl status >/dev/null 2>&1 && return 0
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

# daemon_teardown: the daemon by its pid, anything left in the namespaces
# (topo_destroy), the pins and the work folder.
daemon_teardown() {
	local pid

	if [ -n "${WORK:-}" ] && [ -s "$WORK/pid" ]; then
		pid=$(cat "$WORK/pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	fi
	[ -n "${NAME:-}" ] && topo_destroy "$NAME"
	[ -n "${PIN:-}" ] && rm -rf "$PIN"
	[ -n "${WORK:-}" ] && rm -rf "$WORK"
	return 0
}

ctl() {
	"$SLUICECTL" -s "$SOCK" "$@"
}

# ctl_json EXPR ARGS...: runs `sluicectl -j ARGS` and prints a python expression of its reply `r`.
ctl_json() {
	local expr=$1
	shift
	ctl -j "$@" | python3 -c "import json,sys; r=json.load(sys.stdin); print($expr)"
}

# pipe_stat FIELD...: fields of the pipeline's stats (missed, mixed,
# packets, verdicts.drop, ...), space-separated, from one request.
pipe_stat() {
	ctl -j stats "$TOPO_DUT_IF" | python3 -c '
import json, sys
p = json.load(sys.stdin)["interfaces"][0]["pipeline"]
print(*(p["verdicts"][f[9:]] if f.startswith("verdicts.") else p[f] for f in sys.argv[1:]))' "$@"
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

# count_stage_counts: the count stage's counters as JSON (see replay_oracle.py counts).
count_stage_counts() {
	python3 "$SLUICE_TOP/tests/lib/replay_oracle.py" counts "$PIN/$TOPO_DUT_IF/maps/sluice_counts"
}

# xdp_prog_id: the id of the XDP program the DUT interface runs, or nothing.
xdp_prog_id() {
	ip -n "$TOPO_DUT_NS" -d -j link show dev "$TOPO_DUT_IF" |
		python3 -c 'import json,sys; x=json.load(sys.stdin)[0].get("xdp",{}); print(x.get("prog",{}).get("id","") or (x.get("attached") or [{}])[0].get("prog",{}).get("id",""))'
}

# static_neigh: permanent neighbour entries both ways, so no ARP frame
# crosses the pipeline and counters hold only the test's own traffic.
static_neigh() {
	ip -n "$TOPO_GEN_NS" neigh replace "$TOPO_DUT_IP" lladdr "$TOPO_DUT_MAC" \
		dev "$TOPO_GEN_IF" nud permanent
	ip -n "$TOPO_DUT_NS" neigh replace "$TOPO_GEN_IP" lladdr "$TOPO_GEN_MAC" \
		dev "$TOPO_DUT_IF" nud permanent
}

ping_dut() {
	ip netns exec "$TOPO_GEN_NS" ping -q -c "$1" -i "${2:-0.01}" -W 1 "$TOPO_DUT_IP"
}

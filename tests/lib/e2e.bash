# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Helpers of the end-to-end suites (tests/netns/{acl_e2e,replay,tcp_swap}.bats):
# a sluiced of the test's own on the DUT end of a fresh topology, its CLI, its
# counters, and a teardown that ends only what the test started.
#
#	load ../lib/common
#	load ../lib/e2e
#	setup_file() { e2e_setup NAMEPREFIX; e2e_config <<-EOF ... EOF; e2e_daemon_start; }
#	teardown_file() { e2e_teardown; }
#
# e2e_config reads the pipelines: and interfaces: part of the configuration
# on stdin; pin_root, state_dir and the control socket are filled in so that
# nothing is shared with another run or with a production daemon.

# e2e_setup PREFIX: topology, work folder, pin root; exports what tests use.
e2e_setup() {
	require_root
	export SLUICED=$SLUICE_BUILD/daemon/sluiced SLUICECTL=$SLUICE_BUILD/cli/sluicectl
	require_file "$SLUICED"
	require_file "$SLUICECTL"
	bpffs_mount
	export NAME
	NAME=$(topo_name "$1")
	export WORK
	WORK=$(mktemp -d "/tmp/sluice-$1.XXXXXX")
	export PIN=/sys/fs/bpf/sluice-test-$NAME SOCK=$WORK/sluiced.sock CFG=$WORK/sluiced.yaml
	topo_create "$NAME" >/dev/null
}

# e2e_config: writes the configuration, its pipelines/interfaces from stdin.
e2e_config() {
	{
		printf 'pin_root: %s\nstate_dir: %s/state\ncontrol: { socket: %s }\n' \
			"$PIN" "$WORK" "$SOCK"
		cat
	} > "$CFG"
}

# e2e_daemon_start: sluiced in the DUT namespace, up once it answers.
e2e_daemon_start() {
	# nsenter itself, not the in_ns function: $! must be the daemon.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$CFG" >>"$WORK/log" 2>&1 &
	echo $! > "$WORK/pid"
	for _ in $(seq 50); do
		[ -S "$SOCK" ] && "$SLUICECTL" -s "$SOCK" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$WORK/log" >&2
	return 1
}

# e2e_teardown: the daemon by its pid, then anything left in the namespaces
# (topo_destroy), the pins and the work folder.
e2e_teardown() {
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

# e2e_static_neigh: permanent neighbour entries both ways, so no ARP frame
# crosses the pipeline and counters hold only the test's own traffic.
e2e_static_neigh() {
	ip -n "$TOPO_GEN_NS" neigh replace "$TOPO_DUT_IP" lladdr "$TOPO_DUT_MAC" \
		dev "$TOPO_GEN_IF" nud permanent
	ip -n "$TOPO_DUT_NS" neigh replace "$TOPO_GEN_IP" lladdr "$TOPO_GEN_MAC" \
		dev "$TOPO_DUT_IF" nud permanent
}

# e2e_counts: the count stage's counters as JSON (see replay_oracle.py counts).
e2e_counts() {
	python3 "$SLUICE_TOP/tests/lib/replay_oracle.py" counts \
		"$PIN/$TOPO_DUT_IF/maps/sluice_counts"
}

# e2e_pipe_stat FIELD...: fields of the pipeline's stats (missed, mixed,
# packets, verdicts.drop, ...), space-separated, from one request.
e2e_pipe_stat() {
	ctl -j stats "$TOPO_DUT_IF" | python3 -c '
import json, sys
p = json.load(sys.stdin)["interfaces"][0]["pipeline"]
print(*(p["verdicts"][f[9:]] if f.startswith("verdicts.") else p[f] for f in sys.argv[1:]))' "$@"
}

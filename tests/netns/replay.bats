#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Real captures through the running daemon: every capture of tests/data
# ($SLUICE_PCAPS for another folder) is replayed with tcpreplay from the
# generator into the DUT, whose pipeline is [parse, count, verdict drop]
# (the drop keeps the DUT's stack out of it). After each file the count stage's totals per
# protocol class, and its fragment count, must equal what the tshark oracle
# (oracle/packets/FILE.csv) says of the same frames, with the exceptions
# tests/lib/replay_oracle.py lists and explains: frames the veth cannot carry
# and packets parse files under another class by design. Unit test
# test_pcaps.c makes the per-packet comparison through BPF_PROG_TEST_RUN;
# this one proves the same on the wire, through the daemon's pinned pipeline.

load ../lib/common
load ../lib/daemon

# Bats 1.8 (Debian 12) fails a file whose setup_file skips: the reason is
# kept here and every test skips on it. The captures are part of the
# repository, so their absence is a failure, not a skip.
setup_file() {
	export PCAPS=${SLUICE_PCAPS:-$SLUICE_TOP/tests/data} REPLAY_SKIP=
	[ -d "$PCAPS/oracle/packets" ] || { echo "no captures with an oracle in $PCAPS" >&2; return 1; }
	if ! command -v tcpreplay >/dev/null; then
		REPLAY_SKIP="tcpreplay not installed"
		return 0
	fi
	daemon_setup rp
	# Captured frames reach 1526 bytes (three VLAN tags on a 1500-byte
	# packet): room for them, before XDP is attached.
	ip -n "$TOPO_GEN_NS" link set "$TOPO_GEN_IF" mtu 1600
	ip -n "$TOPO_DUT_NS" link set "$TOPO_DUT_IF" mtu 1600
	daemon_config <<-EOF
	pipelines:
	  - name: replay
	    default_verdict: drop
	    stages:
	      - { name: parse, object: parse }
	      - { name: count, object: count }
	      - { name: sink, object: verdict, params: { verdict: drop } }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: replay }
	EOF
	daemon_start
}

setup() {
	[ -z "$REPLAY_SKIP" ] || skip "$REPLAY_SKIP"
}

teardown_file() {
	daemon_teardown
}

@test "every capture: count-stage totals per class equal the tshark oracle" {
	# The 57 Ethernet captures of tests/data; the raw-IP original has no
	# oracle of its own (its .eth-derived copy is replayed instead).
	run python3 "$SLUICE_TOP/tests/lib/replay_oracle.py" replay "$PCAPS" \
		"$TOPO_GEN_NS" "$TOPO_GEN_IF" "$PIN/$TOPO_DUT_IF/maps" 57
	printf '%s\n' "$output"
	# The totals line shows in the TAP stream even when the test passes.
	printf '%s\n' "${lines[-1]}" >&3
	[ "$status" -eq 0 ]
}

@test "no packet met an empty slot or crossed generations" {
	# And the sink dropped every one: none reached the DUT's stack.
	[ "$(pipe_stat missed mixed verdicts.pass)" = "0 0 0" ]
}

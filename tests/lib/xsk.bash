# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluice-xsk as the receiving end of a netns test. Needs XSK (the binary),
# TOPO_DUT_NS, TOPO_DUT_IF and RX_DIR, where rx.json (the JSON summary) and
# rx.err go.

# rx_start ARGS...: sluice-xsk in the DUT namespace with ARGS; back once it
# says every socket is bound and in its map. Its rings are deeper than any
# burst a test sends, so a receiver descheduled for all of it still loses
# nothing and counts are exact by construction.
rx_start() {
	local i
	# nsenter execs sluice-xsk: $! is the tool itself (not a subshell
	# that would eat SIGINT), and it sees the host's pins.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" -j \
		--rx-ring 32768 --frames 32768 "$@" > "$RX_DIR/rx.json" 2> "$RX_DIR/rx.err" &
	RX_PID=$!
	for ((i = 0; i < 100; i++)); do
		grep -q ' ready$' "$RX_DIR/rx.err" && return 0
		sleep 0.1
	done
	echo "sluice-xsk did not get ready:" >&2
	cat "$RX_DIR/rx.err" >&2
	return 1
}

# rx_wait: the receiver's exit status; its stderr on failure.
rx_wait() {
	local rc=0
	wait "$RX_PID" || rc=$?
	RX_PID=
	[ "$rc" -eq 0 ] || cat "$RX_DIR/rx.err" >&2
	return "$rc"
}

#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The hot-swap figures (docs/swap.md): sluiced runs [parse, a, b, sink] on a
# veth, the sink being examples/seqcheck.bpf.o; sluice-gen sends at >= 1 Mpps
# while bench/swapload
#   1. swaps stage a between pass and count (one prog_array update each),
#   2. commits 4-stage transactions (a generation built in an idle bank,
#      switched in by one store into the switch word),
# timing each command from send to reply, and proving at the end that every
# packet sent was seen once by the sink: 0 lost, 0 mixed, 0 missed. Then,
# the daemon gone, swapload --direct loads the same pipeline itself and
#   3. prepares 4-stage transactions and commits each (pipeline__prepare,
#      pipeline__commit_prepared), timing the commit and its switch.
# One run of each; prints a table, the exact commands, FIGURE lines, and
# draws the latency CDFs into docs/bench/swap.png.
#
# Usage: bench/swap.sh [--quick]     (root; O=build dir, default build/)
#   full:    >= 10,000 swaps, >= 500 transactions, >= 300 prepared commits, 100 s a row
#   --quick: >= 1,000 swaps, >= 100 transactions, >= 50 prepared commits, 15 s a row (CI)
#   ROWS="swap txn txn3 prepared"  the rows to run (default all four)
#   GEN_WRAP="..."        command prefix for the generator (e.g. "taskset -c 0")
#   DAEMON_WRAP="..."     command prefix for sluiced and swapload (e.g. "taskset -c 1")
#   LOAD_ARGS="..."       extra bench/swapload options (e.g. "--gap-ms 20")
#   RATE=PPS              the generator's rate (default 1100000)
#   PLOTS=DIR             where swap.png goes (default docs/bench)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
. "$top/tests/lib/netns.sh"

RATE=${RATE:-1100000}
ROWS=${ROWS:-swap txn txn3 prepared}
PLOTS=${PLOTS:-$top/docs/bench}
read -ra daemon_wrap <<< "${DAEMON_WRAP:-}"
# A prepared commit verifies every stage (prepare builds into a free bank,
# reusing nothing): fewer of them fit in a row's traffic.
swaps=10000 txns=500 preps=300 swap_secs=100 txn_secs=100
if [ "${1:-}" = "--quick" ]; then
	swaps=1000 txns=100 preps=50 swap_secs=15 txn_secs=15
fi
# The sink's bitmap holds 128M seqs: RATE x the longer run must stay below.

for f in "$O/daemon/sluiced" "$O/cli/sluicectl" "$O/bench/swapload" "$O/tools/gen/sluice-gen" "$O/examples/seqcheck.bpf.o"; do
	[ -e "$f" ] || { echo "bench/swap.sh: $f not built (make O=$O)" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "bench/swap.sh: needs root" >&2; exit 1; }
bpffs_mount

name=bsw$$
work=$(mktemp -d /tmp/sluice-swap-bench.XXXXXX)
pin_root=/sys/fs/bpf/sluice-$name
cleanup() {
	[ -f "$work/sluiced.pid" ] && kill "$(cat "$work/sluiced.pid")" 2>/dev/null
	topo_destroy "$name"
	rm -rf "$pin_root" "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
topo_create "$name" || exit 1
iface=$TOPO_DUT_IF

mkdir -p "$work/state"
cat > "$work/sluiced.yaml" <<EOF
pin_root: $pin_root
state_dir: $work/state
log_level: warning
control:
  socket: $work/sock
pipelines:
  - name: proof
    stages:
      - { name: parse, object: parse }
      - { name: a, object: pass }
      - { name: b, object: pass }
      - { name: sink, object: $O/examples/seqcheck.bpf.o }
interfaces:
  - name: $iface
    pipeline: proof
EOF
daemon_up() {
	"${daemon_wrap[@]}" nsenter --net="/run/netns/$TOPO_DUT_NS" "$O/daemon/sluiced" -c "$work/sluiced.yaml" \
		>"$work/sluiced.log" 2>&1 &
	echo $! > "$work/sluiced.pid"
	for _ in $(seq 100); do [ -S "$work/sock" ] && break; sleep 0.1; done
	[ -S "$work/sock" ] || { cat "$work/sluiced.log" >&2; exit 1; }
}

# daemon_down: detach and unpin its pipeline, then end it: the veth is bare.
daemon_down() {
	[ -f "$work/sluiced.pid" ] || return 0
	"$O/cli/sluicectl" -s "$work/sock" down "$iface" > /dev/null || { echo "bench/swap.sh: sluicectl down failed" >&2; exit 1; }
	kill "$(cat "$work/sluiced.pid")"
	while kill -0 "$(cat "$work/sluiced.pid")" 2>/dev/null; do sleep 0.1; done
	rm -f "$work/sluiced.pid" "$work/sock"
}

gen="${GEN_WRAP:-} ip netns exec $TOPO_GEN_NS $O/tools/gen/sluice-gen -i $TOPO_GEN_IF --engine auto --dst-mac $TOPO_DUT_MAC --rate $RATE -q -j"
load="${DAEMON_WRAP:-} $O/bench/swapload ${LOAD_ARGS:-} -s $work/sock -r $pin_root -i $iface -j -u"
swap_cmd="$load -m swap -n $swaps -x a=pass,count -l $work/swap.lat -- $gen --duration $swap_secs"
txn_cmd="$load -m txn -n $txns -x parse=parse -x a=count,pass -x b=count,pass -x sink=$O/examples/seqcheck.bpf.o -l $work/txn.lat -- $gen --duration $txn_secs"
# Three versions in turn (each hands packets on: xsk does when no rule marked
# them): the idle bank never holds the version asked for, so
# every transaction verifies a and b again (parse and the sink are kept).
txn3_cmd="$load -m txn -n $txns -x parse=parse -x a=count,pass,xsk -x b=count,pass,xsk -x sink=$O/examples/seqcheck.bpf.o -l $work/txn3.lat -- $gen --duration $txn_secs"
# No daemon: swapload loads [parse, pass, pass, sink] itself, then prepares
# a new version of a and b and commits it, over and over.
prep_cmd="${DAEMON_WRAP:-} nsenter --net=/run/netns/$TOPO_DUT_NS $O/bench/swapload ${LOAD_ARGS:-} --direct -r $pin_root -i $iface -j -u -m prepared -n $preps -x parse=parse -x a=pass,count,xsk -x b=pass,count,xsk -x sink=$O/examples/seqcheck.bpf.o -l $work/prepared.lat -- $gen --duration $txn_secs"

rc=0
for row in $ROWS; do
	case $row in
	swap) cmd=$swap_cmd ;;
	txn) cmd=$txn_cmd ;;
	txn3) cmd=$txn3_cmd ;;
	prepared) cmd=$prep_cmd ;;
	*) echo "bench/swap.sh: unknown row '$row' (swap, txn, txn3, prepared)" >&2; exit 2 ;;
	esac
	if [ "$row" = prepared ]; then
		daemon_down
	elif [ ! -f "$work/sluiced.pid" ]; then
		daemon_up
	fi
	echo "# $cmd" >&2
	$cmd >"$work/$row.json" || rc=1
done
daemon_down

python3 - "1-stage swap=$work/swap.json" "4-stage txn, A/B versions=$work/txn.json" \
	"4-stage txn, new code in 2 stages=$work/txn3.json" \
	"4-stage prepared commit (libsluice)=$work/prepared.json" <<'PY'
import json, sys
rows = []
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    try:
        r = json.load(open(path))
        r["label"] = label
        r["row"] = path.rsplit("/", 1)[1][:-5]
        rows.append(r)
    except Exception as e:
        pass
# live: send -> the switch packets see (the reply's switch_at_us); reply: send
# -> reply (the way back, and a transaction's grace period, on top); daemon:
# the reply's duration_us.
print("| operation | ops (under traffic) | live p50 / p99 ms | reply p50 / p99 / max ms | daemon p50 / p99 ms | sent | Mpps | lost | dup | mixed | missed | proof |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
def pair(d, direct):
    return "-" if direct else "%.2f / %.2f" % (d["p50"] / 1e3, d["p99"] / 1e3)
for r in rows:
    l, direct = r["lat_us"], r.get("direct")
    print("| %s | %d (%d) | %s | %.2f / %.2f / %.2f | %s | %d | %.2f | %d | %d | %d | %d | %s |" % (
        r["label"], r["ops"], r["ops_under_traffic"], pair(r["live_us"], direct),
        l["p50"] / 1e3, l["p99"] / 1e3, l["max"] / 1e3, pair(r["daemon_us"], direct),
        r["sent"], r["gen_pps"] / 1e6, r["lost"], r["duplicated"],
        r["mixed"] + r["pipeline_mixed"], r["missed"], "ok" if r["ok"] else "FAILED"))
for r in rows:
    if r.get("direct"):
        sw, pr = r["switch_us"], r["prepare_us"]
        print("%s: the switch (recording the candidate, the store) p50 %.3f / p99 %.3f / max %.3f ms; "
              "the commit call (with the grace period after) p50 %.2f / p99 %.2f ms; preparing p50 %.2f / p99 %.2f ms"
              % (r["label"], sw["p50"] / 1e3, sw["p99"] / 1e3, sw["max"] / 1e3, r["lat_us"]["p50"] / 1e3,
                 r["lat_us"]["p99"] / 1e3, pr["p50"] / 1e3, pr["p99"] / 1e3))
# One FIGURE line per figure docs/BENCHMARKS.md names (bench/run.sh --summary).
targets = {"swap": 5.0, "txn3": 50.0}
print()
for r in rows:
    row = r["row"]
    bad = r["lost"] + r["duplicated"] + r["mixed"] + r["pipeline_mixed"] + r["missed"]
    print("FIGURE swap.%s.lost_dup_mixed_missed %d packets <=0 %s" % (row, bad, "met" if bad == 0 and r["ok"] else "missed"))
    print("FIGURE swap.%s.ops %d ops - info" % (row, r["ops_under_traffic"]))
    print("FIGURE swap.%s.gen_mpps %.3f Mpps >=1 %s" % (row, r["gen_pps"] / 1e6, "met" if r["gen_pps"] >= 1e6 else "missed"))
    # The targets are on command to live; through libsluice the switch has its own.
    for p in ("p50", "p99"):
        v = r["live_us"][p] / 1e3
        t = targets.get(row) if p == "p99" else None
        if not r.get("direct"):
            print("FIGURE swap.%s.live_%s %.3f ms %s %s" % (row, p, v, "<=%g" % t if t else "-",
                                                           ("met" if v <= t else "missed") if t else "info"))
    for p in ("p50", "p99"):
        print("FIGURE swap.%s.%s %.3f ms - info" % (row, p, r["lat_us"][p] / 1e3))
    if r.get("direct"):
        for p in ("p50", "p99"):
            v = r["switch_us"][p] / 1e3
            t = 1.0 if p == "p99" else None
            print("FIGURE swap.%s.switch_%s %.3f ms %s %s" % (row, p, v, "<=1" if t else "-",
                                                            ("met" if v <= t else "missed") if t else "info"))
PY

# The CDFs: each row's latencies, and the prepared commits' switch alone.
mkdir -p "$work/cdf"
# cdf_row FILE TITLE: the samples under the title the plot shows.
cdf_row() {
	[ -s "$1" ] || return 0
	{ echo "# $2"; grep -v '^#' "$1"; } > "$work/cdf/$(basename "$1" | tr . -).lat"
}
cdf_row "$work/swap.lat.live" "1-stage swap through sluiced, command to live"
cdf_row "$work/swap.lat" "1-stage swap through sluiced, send to reply"
cdf_row "$work/txn.lat.live" "4-stage txn, A/B versions, command to live"
cdf_row "$work/txn3.lat.live" "4-stage txn, new code in 2 stages, command to live"
cdf_row "$work/txn3.lat" "4-stage txn, new code in 2 stages, send to reply (grace period in)"
cdf_row "$work/prepared.lat" "prepared 4-stage commit (libsluice), the call"
cdf_row "$work/prepared.lat.switch" "prepared 4-stage commit (libsluice), the switch"
bash "$top/bench/plot.sh" swap "$work/cdf" "$PLOTS/swap.png" "bench/swap.sh $* (RATE=$RATE, rows: $ROWS)"
exit $rc

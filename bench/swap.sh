#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The hot-swap figures (docs/swap.md): sluiced runs [parse, a, b, sink] on a
# veth, the sink being examples/seqcheck.bpf.o; sluice-gen's XDP engine
# sends at >= 1 Mpps while bench/swapload
#   1. swaps stage a between pass and count (one prog_array update each),
#   2. commits 4-stage transactions (a new generation behind a link update),
# timing each command from send to reply, and proving at the end that every
# packet sent was seen once by the sink: 0 lost, 0 mixed, 0 missed.
# One run of each; prints a table and the exact commands.
#
# Usage: bench/swap.sh [--quick]     (root; O=build dir, default build/)
#   full:    >= 10,000 swaps and >= 500 transactions
#   --quick: >= 1,000 swaps and >= 100 transactions (CI-sized)
#   ROWS="swap txn txn3"  the rows to run (default all three)
#   GEN_WRAP="..."        command prefix for the generator (e.g. "taskset -c 0")
#   DAEMON_WRAP="..."     command prefix for sluiced and swapload (e.g. "taskset -c 1")
#   LOAD_ARGS="..."       extra bench/swapload options (e.g. "--gap-ms 20")
#   RATE=PPS              the generator's rate (default 1100000)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
. "$top/tests/lib/netns.sh"

RATE=${RATE:-1100000}
ROWS=${ROWS:-swap txn txn3}
read -ra daemon_wrap <<< "${DAEMON_WRAP:-}"
swaps=10000 txns=500 swap_secs=100 txn_secs=100
if [ "${1:-}" = "--quick" ]; then
	swaps=1000 txns=100 swap_secs=30 txn_secs=30
fi
# The sink's bitmap holds 128M seqs: RATE x the longer run must stay below.

for f in "$O/daemon/sluiced" "$O/bench/swapload" "$O/tools/gen/sluice-gen" "$O/examples/seqcheck.bpf.o"; do
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
"${daemon_wrap[@]}" nsenter --net="/run/netns/$TOPO_DUT_NS" "$O/daemon/sluiced" -c "$work/sluiced.yaml" \
	>"$work/sluiced.log" 2>&1 &
echo $! > "$work/sluiced.pid"
for _ in $(seq 100); do [ -S "$work/sock" ] && break; sleep 0.1; done
[ -S "$work/sock" ] || { cat "$work/sluiced.log" >&2; exit 1; }

gen="${GEN_WRAP:-} ip netns exec $TOPO_GEN_NS $O/tools/gen/sluice-gen -i $TOPO_GEN_IF --engine auto --dst-mac $TOPO_DUT_MAC --rate $RATE -q -j"
load="${DAEMON_WRAP:-} $O/bench/swapload ${LOAD_ARGS:-} -s $work/sock -r $pin_root -i $iface -j -u"
swap_cmd="$load -m swap -n $swaps -x a=pass,count -- $gen --duration $swap_secs"
txn_cmd="$load -m txn -n $txns -x parse=parse -x a=count,pass -x b=count,pass -x sink=$O/examples/seqcheck.bpf.o -- $gen --duration $txn_secs"
# Three versions in turn (each hands packets on: xsk does when no rule marked
# them): the idle bank never holds the version asked for, so
# every transaction verifies a and b again (parse and the sink are kept).
txn3_cmd="$load -m txn -n $txns -x parse=parse -x a=count,pass,xsk -x b=count,pass,xsk -x sink=$O/examples/seqcheck.bpf.o -- $gen --duration $txn_secs"

rc=0
for row in $ROWS; do
	case $row in
	swap) cmd=$swap_cmd ;;
	txn) cmd=$txn_cmd ;;
	txn3) cmd=$txn3_cmd ;;
	*) echo "bench/swap.sh: unknown row '$row' (swap, txn, txn3)" >&2; exit 2 ;;
	esac
	echo "# $cmd" >&2
	$cmd >"$work/$row.json" || rc=1
done

python3 - "1-stage swap=$work/swap.json" "4-stage txn, A/B versions=$work/txn.json" \
	"4-stage txn, new code in 2 stages=$work/txn3.json" <<'EOF'
import json, sys
rows = []
for arg in sys.argv[1:]:
    label, path = arg.split("=", 1)
    try:
        r = json.load(open(path))
        r["label"] = label
        rows.append(r)
    except Exception as e:
        print("no result in %s: %s" % (path, e))
print("| operation | ops (under traffic) | p50 ms | p99 ms | max ms | sent | Mpps | lost | dup | mixed | missed | proof |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    name = r["label"]
    l = r["lat_us"]
    print("| %s | %d (%d) | %.2f | %.2f | %.2f | %d | %.2f | %d | %d | %d | %d | %s |" % (
        name, r["ops"], r["ops_under_traffic"], l["p50"] / 1e3, l["p99"] / 1e3, l["max"] / 1e3,
        r["sent"], r["gen_pps"] / 1e6, r["lost"], r["duplicated"],
        r["mixed"] + r["pipeline_mixed"], r["missed"], "ok" if r["ok"] else "FAILED"))
EOF
exit $rc

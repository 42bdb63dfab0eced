#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# AF_XDP rxdrop rate: sluice-xsk against dpdk-testpmd's net_af_xdp vdev in
# rxonly mode, on the same private veth pair, fed by the same sluice-gen
# (XDP live frames) at full rate. One run of each; prints both rates, their
# ratio (target >= 1.0) and the exact commands.
#
# Usage: bench/xsk.sh [--quick] [-d SECONDS]
#   XSK_ARGS="..."  extra sluice-xsk options (e.g. "-p" or "--rx-ring 2048")
#   O=DIR           build folder (default build/)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
XSK=$O/tools/xsk/sluice-xsk
GEN=$O/tools/gen/sluice-gen
TESTPMD=${TESTPMD:-dpdk-testpmd}
secs=5
while [ $# -gt 0 ]; do
	case $1 in
	--quick) secs=2 ;;
	-d) secs=$2; shift ;;
	*) echo "usage: $0 [--quick] [-d SECONDS]" >&2; exit 2 ;;
	esac
	shift
done

. "$top/tests/lib/netns.sh"

for f in "$XSK" "$GEN"; do
	[ -x "$f" ] || { echo "bench/xsk.sh: $f not built (make O=$O)" >&2; exit 1; }
done
command -v "$TESTPMD" >/dev/null || { echo "bench/xsk.sh: $TESTPMD not found" >&2; exit 1; }

name=bx$$
tmp=$(mktemp -d /tmp/bench-xsk.XXXXXX)
gen_pid=
cleanup() {
	[ -n "$gen_pid" ] && kill "$gen_pid" 2>/dev/null
	exec 3>&- 2>/dev/null
	topo_destroy "$name"
	rm -rf "$tmp" "/var/run/dpdk/$name"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bpffs_mount
topo_create "$name" || exit 1

# gen_start SECONDS: the generator at full rate, in the background.
gen_start() {
	ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" -d "$1" -q -j > "$tmp/gen.json" 2>&1 &
	gen_pid=$!
}

gen_stop() {
	kill -INT "$gen_pid" 2>/dev/null
	wait "$gen_pid" 2>/dev/null
	gen_pid=
}

# --- sluice-xsk: the receiver's window (which starts once its sockets are
# bound) lies inside the generator's, as testpmd's does below.
xsk_cmd="$XSK -i $TOPO_DUT_IF --attach --rxdrop -d $secs --quiet -j ${XSK_ARGS:-}"
gen_start $((secs + 10))
sleep 1
${XSK_WRAP:-} nsenter --net="/run/netns/$TOPO_DUT_NS" $xsk_cmd > "$tmp/xsk.json" 2> "$tmp/xsk.err" || {
	cat "$tmp/xsk.err" >&2
	exit 1
}
gen_stop
read -r xsk_mpps xsk_drops xsk_mode < <(python3 - "$tmp/xsk.json" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))["total"]
print(t["rx_mpps"], sum(t["drops"].values()), t["xdp_mode"])
PY
)

# --- dpdk-testpmd: started, then timed from "start" to "stop" at its prompt.
# testpmd forwards only on lcores other than its main one: hence -l 0,1.
pmd_cmd="$TESTPMD -l 0,1 --no-huge -m 256 --no-pci --file-prefix $name --vdev net_af_xdp0,iface=$TOPO_DUT_IF -- -i --forward-mode=rxonly --total-num-mbufs=16384"
mkfifo "$tmp/pmd.in"
ip netns exec "$TOPO_DUT_NS" $pmd_cmd < "$tmp/pmd.in" > "$tmp/pmd.log" 2>&1 &
pmd_pid=$!
exec 3> "$tmp/pmd.in"
for ((i = 0; i < 300; i++)); do
	grep -q 'testpmd>' "$tmp/pmd.log" && break
	kill -0 "$pmd_pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q 'testpmd>' "$tmp/pmd.log"; then
	echo "bench/xsk.sh: testpmd did not start:" >&2
	tail -20 "$tmp/pmd.log" >&2
	exit 1
fi
gen_start $((secs + 10))
sleep 1
echo start >&3
t0=$(date +%s.%N)
sleep "$secs"
echo stop >&3
t1=$(date +%s.%N)
sleep 0.5
echo quit >&3
exec 3>&-
wait "$pmd_pid"
gen_stop
# The accumulated block after "stop" holds the total for all ports.
pmd_pkts=$(awk '/Accumulated forward statistics/ { acc = 1 } acc && /RX-packets:/ { print $2; exit }' "$tmp/pmd.log")
if [ -z "$pmd_pkts" ]; then
	echo "bench/xsk.sh: no RX-packets in testpmd's output:" >&2
	tail -30 "$tmp/pmd.log" >&2
	exit 1
fi
pmd_mpps=$(python3 -c "print(f'{$pmd_pkts / ($t1 - $t0) / 1e6:.3f}')")

echo "# AF_XDP rxdrop on a veth, sluice-gen XDP live frames at full rate, ${secs}s each, $(nproc) CPUs"
printf '%-28s %8s Mpps  (%s mode, %s socket drops)\n' "sluice-xsk rxdrop" "$xsk_mpps" "$xsk_mode" "$xsk_drops"
printf '%-28s %8s Mpps  (%s packets / %.2fs)\n' "dpdk-testpmd af_xdp rxonly" "$pmd_mpps" "$pmd_pkts" \
	"$(python3 -c "print($t1 - $t0)")"
python3 -c "r = $xsk_mpps / $pmd_mpps if $pmd_mpps else float('inf'); print(f'ratio sluice-xsk / testpmd: {r:.2f} (target >= 1.0)')"
echo "# sluice-xsk:   nsenter --net=/run/netns/DUT $xsk_cmd"
echo "# dpdk-testpmd: ip netns exec DUT $pmd_cmd   (start; sleep ${secs}; stop)"
echo "# generator:    ip netns exec GEN $GEN -i $TOPO_GEN_IF -d SECONDS"

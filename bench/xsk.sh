#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# AF_XDP rxdrop rates on one private veth pair, all fed by the same sluice-gen
# (XDP live frames, UDP to dport 5000) at full rate, in one run:
#
#  1. pipeline vs bare: sluice-xsk --xskmap behind sluiced's pipeline
#     [parse, acl with `xsk proto udp dport 5000`, xsk] against sluice-xsk
#     --attach (its own bare bpf_redirect_map program). Rounds alternate
#     between the two; prints the medians and their ratio (target >= 0.85).
#  2. ring sizing: the pipeline again, the generator paced at a share
#     (XSK_LOAD, default 0.9) of the median just measured, an exact count:
#     frames sent, redirected by the xsk stage, received, and the socket's
#     drops (target 0).
#  3. sluice-xsk (bare) against dpdk-testpmd's net_af_xdp vdev in rxonly mode,
#     the medians of as many windows each (ratio target >= 1.0); skipped when
#     dpdk-testpmd is not installed.
#  4. umem sweep: bare and pipeline rxdrop rates against the umem size (rx
#     ring = fill ring = frames), drawn into docs/bench/xsk.png.
#
# Usage: bench/xsk.sh [--quick] [-d SECONDS] [-r ROUNDS] [--rings "N ..."]
#   --quick         1 s windows, 3 rounds (CI); default 3 s, 5 rounds
#   --rings "N ..." only the ring sweep: for each N (rx ring = fill ring =
#                   frames), the bare rxdrop rate, then a count paced at
#                   XSK_LOAD x that rate (what the defaults come from)
#   XSK_ARGS="..."  extra sluice-xsk options (e.g. "-p" or "--rx-ring 2048")
#   XSK_WRAP="..."  command prefix for the receiver (e.g. "taskset -c 1")
#   GEN_WRAP="..."  command prefix for the generator (e.g. "taskset -c 0")
#   XSK_LOAD=F      share of the measured pipeline rate for step 2
#   UMEM="N ..."    step 4's sizes (default 2048 4096 8192 16384 32768 65536;
#                   --quick: 2048 8192 65536, one round each)
#   PLOTS=DIR       where xsk.png goes (default docs/bench)
#   O=DIR           build folder (default build/)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
XSK=$O/tools/xsk/sluice-xsk
GEN=$O/tools/gen/sluice-gen
SLUICED=$O/daemon/sluiced
SLUICECTL=$O/cli/sluicectl
TESTPMD=${TESTPMD:-dpdk-testpmd}
LOAD=${XSK_LOAD:-0.9}
read -ra xsk_args <<< "${XSK_ARGS:-}"
read -ra xsk_wrap <<< "${XSK_WRAP:-}"
read -ra gen_wrap <<< "${GEN_WRAP:-}"
PORT=5000
secs=3
rounds=5
rings=
quick=
umem_sizes=${UMEM:-2048 4096 8192 16384 32768 65536}
umem_rounds=3
PLOTS=${PLOTS:-$top/docs/bench}
args="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) secs=1; rounds=3; quick=1; umem_sizes=${UMEM:-2048 8192 65536}; umem_rounds=1 ;;
	-d) secs=$2; shift ;;
	-r) rounds=$2; shift ;;
	--rings) rings=$2; shift ;;
	*) echo "usage: $0 [--quick] [-d SECONDS] [-r ROUNDS] [--rings \"N ...\"]" >&2; exit 2 ;;
	esac
	shift
done

. "$top/tests/lib/netns.sh"

for f in "$XSK" "$GEN" "$SLUICED" "$SLUICECTL"; do
	[ -x "$f" ] || { echo "bench/xsk.sh: $f not built (make O=$O)" >&2; exit 1; }
done

name=bx$$
tmp=$(mktemp -d /tmp/bench-xsk.XXXXXX)
pin=/sys/fs/bpf/sluice-bench-$name
gen_pid=
rx_pid=
daemon_pid=
cleanup() {
	[ -n "$gen_pid" ] && kill "$gen_pid" 2>/dev/null
	[ -n "$rx_pid" ] && kill "$rx_pid" 2>/dev/null
	[ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null
	exec 3>&- 2>/dev/null
	topo_destroy "$name"
	rm -rf "$tmp" "$pin" "/var/run/dpdk/$name"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
bpffs_mount
topo_create "$name" || exit 1

die() {
	echo "bench/xsk.sh: $*" >&2
	exit 1
}

# gen_start SECONDS [ARGS...]: the generator in the background (full rate
# unless ARGS pace it), summary in $tmp/gen.json.
gen_start() {
	local d=$1
	shift
	"${gen_wrap[@]}" ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto --dport "$PORT" -d "$d" -q -j "$@" \
		> "$tmp/gen.json" 2>&1 &
	gen_pid=$!
}

gen_stop() {
	kill -INT "$gen_pid" 2>/dev/null
	wait "$gen_pid" 2>/dev/null
	gen_pid=
}

ctl() {
	"$SLUICECTL" -s "$tmp/sluiced.sock" "$@"
}

# daemon_up: sluiced with the default capture pipeline on the DUT veth.
daemon_up() {
	rm -rf "$tmp/state"
	cat > "$tmp/sluiced.yaml" <<-EOF
	pin_root: $pin
	state_dir: $tmp/state
	control: { socket: $tmp/sluiced.sock }
	pipelines:
	  - name: capture
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	          - { id: 1, action: xsk, proto: udp, dport: $PORT }
	      - { name: xsk, object: xsk }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: capture }
	EOF
	# nsenter execs the daemon ($! is sluiced) and keeps the host's bpffs.
	nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$tmp/sluiced.yaml" >> "$tmp/sluiced.log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		ctl status > /dev/null 2>&1 && return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	tail -20 "$tmp/sluiced.log" >&2
	die "sluiced did not start"
}

# daemon_down: detach and unpin the pipeline, then end the daemon; the veth
# is bare again for sluice-xsk --attach.
daemon_down() {
	ctl down "$TOPO_DUT_IF" > /dev/null || die "sluicectl down failed"
	kill "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	daemon_pid=
}

# pipe_redirects: XDP_REDIRECT verdicts the pipeline has counted.
pipe_redirects() {
	ctl -j stats "$TOPO_DUT_IF" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["pipeline"]["verdicts"]["redirect"])'
}

# rx_summary FILE: "mpps rx_packets socket_drops rx_ring_full xdp_mode" of a
# sluice-xsk JSON summary. The kernel counts a frame it could not queue in
# rx_dropped and again under its cause (rx_ring_full or
# rx_fill_ring_empty_descs), so the causes are not added to it.
# tx_ring_empty_descs counts transmit kicks that found nothing to send.
rx_summary() {
	python3 - "$1" <<-'PY'
	import json, sys
	t = json.load(open(sys.argv[1]))["total"]
	d = t["drops"]
	lost = max(d["rx_dropped"], d["rx_ring_full"] + d["rx_fill_ring_empty_descs"]) + d["rx_invalid_descs"]
	print(t["rx_mpps"], t["rx_packets"], lost, d["rx_ring_full"], t["xdp_mode"])
	PY
}

# rx_run OUT ARGS...: one receiver window of $secs inside the generator's,
# at full rate; the receiver's window starts once its socket is bound.
rx_run() {
	local out=$1
	shift
	gen_start $((secs + 10))
	sleep 1
	"${xsk_wrap[@]}" nsenter --net="/run/netns/$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --rxdrop -d "$secs" \
		--quiet -j "$@" "${xsk_args[@]}" > "$out" 2> "$out.err" || {
		cat "$out.err" >&2
		die "sluice-xsk $* failed"
	}
	gen_stop
	cp "$tmp/gen.json" "$out.gen"
}

# gen_summary FILE: "mpps veth_drops" of the generator's run around a window
# (errors: frames the veth could not take because its NAPI fell behind).
gen_summary() {
	python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); print(g["mpps"], g["errors"])' "$1"
}

# gen_summary_sent FILE: "frames_sent veth_drops" of an exact-count run.
gen_summary_sent() {
	python3 -c 'import json,sys; g=json.load(open(sys.argv[1])); print(g["sent"], g["errors"])' "$1"
}

median() {
	python3 -c 'import statistics,sys; print(f"{statistics.median(float(x) for x in sys.argv[1:]):.3f}")' "$@"
}

# paced_run OUT RATE ARGS...: an exact count (2 x $secs at RATE pps) into a
# receiver that is up before the first frame and stopped after the last;
# the generator's summary lands in OUT.gen.
paced_run() {
	local out=$1 rate=$2 count
	shift 2
	count=$(python3 -c "print(int($rate * $secs * 2))")
	"${xsk_wrap[@]}" nsenter --net="/run/netns/$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --rxdrop -d $((secs * 2 + 30)) -j \
		"$@" "${xsk_args[@]}" > "$out" 2> "$out.err" &
	rx_pid=$!
	for _ in $(seq 100); do
		grep -q ' ready$' "$out.err" && break
		sleep 0.1
	done
	grep -q ' ready$' "$out.err" || { cat "$out.err" >&2; die "sluice-xsk did not get ready"; }
	"${gen_wrap[@]}" ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto --dport "$PORT" -n "$count" -r "$rate" -q -j \
		> "$out.gen" || die "paced generator failed"
	sleep 0.5
	# A receiver already gone timed out first: the sender was slower than its window.
	paced_short=
	kill -0 "$rx_pid" 2>/dev/null || paced_short=1
	kill -INT "$rx_pid" 2>/dev/null
	wait "$rx_pid" || { cat "$out.err" >&2; die "paced receiver failed"; }
	rx_pid=
}

# ring_sweep SIZES: for each size N (rx ring = fill ring = frames = N), the
# bare redirect's rxdrop rate at full rate (median of $rounds), then an exact
# count paced at LOAD x that rate: what the defaults are chosen from.
ring_sweep() {
	local n r mpps rate sent rx rates
	echo "# ring sweep: sluice-xsk --attach, rx ring = fill ring = frames = N, $(nproc) CPUs, $rounds rounds of ${secs}s, $(uname -r)"
	printf '%8s %9s %10s  %-26s %10s %10s %10s %8s\n' frames "umem MiB" "Mpps" rounds "paced pps" sent received lost
	for n in $1; do
		rates=()
		for ((r = 0; r < rounds; r++)); do
			rx_run "$tmp/ring.$n.$r.json" --attach --frames "$n" --rx-ring "$n"
			read -r mpps _ _ _ _ < <(rx_summary "$tmp/ring.$n.$r.json")
			rates+=("$mpps")
		done
		mpps=$(median "${rates[@]}")
		rate=$(python3 -c "print(max(1000, int($mpps * 1e6 * $LOAD)))")
		paced_run "$tmp/ring.$n.paced.json" "$rate" --attach --frames "$n" --rx-ring "$n"
		read -r _ rx _ _ _ < <(rx_summary "$tmp/ring.$n.paced.json")
		read -r sent _ < <(gen_summary_sent "$tmp/ring.$n.paced.json.gen")
		printf '%8d %9d %10s  %-26s %10d %10d %10d %8d\n' "$n" $((n * 2048 >> 20)) "$mpps" "${rates[*]}" \
			"$rate" "$sent" "$rx" $((sent - rx))
	done
	echo "# paced at $LOAD x each size's median; lost = sent - received (the socket's rx_dropped)"
}

if [ -n "$rings" ]; then
	ring_sweep "$rings"
	exit 0
fi

xskmap=$pin/$TOPO_DUT_IF/maps/sluice_xsks
pipe_cmd="$XSK -i $TOPO_DUT_IF --rxdrop -d $secs --quiet -j --xskmap $xskmap ${XSK_ARGS:-}"
bare_cmd="$XSK -i $TOPO_DUT_IF --rxdrop -d $secs --quiet -j --attach ${XSK_ARGS:-}"

# --- 1. pipeline vs bare redirect, alternating rounds.
pipe_mpps=() bare_mpps=() pipe_gen=() bare_gen=() pipe_drops=0 bare_drops=0 pipe_veth=0 bare_veth=0
for ((r = 0; r < rounds; r++)); do
	daemon_up
	rx_run "$tmp/pipe.$r.json" --xskmap "$xskmap"
	daemon_down
	read -r mpps _ drops _ mode < <(rx_summary "$tmp/pipe.$r.json")
	[ "$mode" = copy ] || [ "$mode" = zerocopy ] || die "pipeline round $r: xdp_mode '$mode'"
	pipe_mpps+=("$mpps")
	pipe_drops=$((pipe_drops + drops))
	read -r mpps drops < <(gen_summary "$tmp/pipe.$r.json.gen")
	pipe_gen+=("$mpps")
	pipe_veth=$((pipe_veth + drops))

	rx_run "$tmp/bare.$r.json" --attach
	read -r mpps _ drops _ _ < <(rx_summary "$tmp/bare.$r.json")
	bare_mpps+=("$mpps")
	bare_drops=$((bare_drops + drops))
	read -r mpps drops < <(gen_summary "$tmp/bare.$r.json.gen")
	bare_gen+=("$mpps")
	bare_veth=$((bare_veth + drops))
done
pipe_med=$(median "${pipe_mpps[@]}")
bare_med=$(median "${bare_mpps[@]}")

# --- 2. ring sizing: an exact count paced at LOAD x the pipeline's median.
daemon_up
rate=$(python3 -c "print(max(1000, int($pipe_med * 1e6 * $LOAD)))")
redir0=$(pipe_redirects)
paced_run "$tmp/paced.json" "$rate" --xskmap "$xskmap"
redirected=$(( $(pipe_redirects) - redir0 ))
daemon_down
read -r _ paced_rx paced_drops paced_full _ < <(rx_summary "$tmp/paced.json")
read -r paced_sent veth_drops < <(gen_summary_sent "$tmp/paced.json.gen")

echo "# AF_XDP rxdrop on a veth, sluice-gen XDP live frames, $(nproc) CPUs, $rounds rounds of ${secs}s, $(uname -r)"
printf '%-34s %8s Mpps  (rounds: %s; %s socket drops)\n' "pipeline parse,acl,xsk (--xskmap)" \
	"$pipe_med" "${pipe_mpps[*]}" "$pipe_drops"
printf '%-34s %8s Mpps  (rounds: %s; %s socket drops)\n' "bare redirect (--attach)" \
	"$bare_med" "${bare_mpps[*]}" "$bare_drops"
python3 -c "r = $pipe_med / $bare_med if $bare_med else float('inf'); print(f'ratio pipeline / bare: {r:.2f} (target >= 0.85)')"
figures=$(python3 -c "
p, b = $pipe_med, $bare_med
r = p / b if b else 0
print(f'FIGURE xsk.pipeline_mpps {p:.3f} Mpps - info')
print(f'FIGURE xsk.bare_mpps {b:.3f} Mpps - info')
print(f'FIGURE xsk.pipeline_over_bare {r:.3f} ratio >=0.85 ' + ('met' if r >= 0.85 else 'missed'))")
# The generator shares the CPUs: if it sent barely more than was received,
# it, not the receive path, set the pace.
printf '# generator sent %s Mpps (pipeline rounds) and %s Mpps (bare rounds), medians; veth drops %d / %d\n' \
	"$(median "${pipe_gen[@]}")" "$(median "${bare_gen[@]}")" "$pipe_veth" "$bare_veth"
echo "# at full rate the generator outruns the receive path: drops above are overload, not ring sizing"
printf 'ring sizing at %d pps (%s x pipeline median): sent %d, veth drops %d, redirected %d, received %d, lost %d, socket drops %d (rx_ring_full %d) (target 0)\n' \
	"$rate" "$LOAD" "$paced_sent" "$veth_drops" "$redirected" "$paced_rx" $((paced_sent - paced_rx)) "$paced_drops" "$paced_full"
echo "# sluiced:     nsenter --net=/run/netns/DUT $SLUICED -c CONFIG   (parse, acl: xsk proto udp dport $PORT, xsk)"
echo "# pipeline:    nsenter --net=/run/netns/DUT $pipe_cmd"
echo "# bare:        nsenter --net=/run/netns/DUT $bare_cmd"
echo "# generator:   ip netns exec GEN $GEN -i $TOPO_GEN_IF --engine auto --dport $PORT -d SECONDS   (paced: -n $((rate * secs * 2)) -r $rate)"
lost=$((paced_sent - paced_rx))
if [ -n "$paced_short" ]; then
	# Frames sent after the receiver's window closed say nothing about its rings.
	echo "# the paced sender ran longer than the receiver's $((secs * 2 + 30)) s window: 'lost' counts frames sent after it closed, not ring sizing"
	figures+=$'\n'"FIGURE xsk.ring_lost $lost frames <=0 info"
else
	figures+=$'\n'"FIGURE xsk.ring_lost $lost frames <=0 $([ "$lost" -le 0 ] && echo met || echo missed)"
fi

# --- 4. umem sweep: bare and through the pipeline, rx ring = fill ring = frames.
echo "# umem sweep: $umem_rounds round(s) of ${secs}s per size and path, medians"
printf '%8s %9s %12s %12s %14s\n' frames "umem MiB" "bare Mpps" "pipeline Mpps" "generator Mpps"
echo "# frames bare-mpps pipeline-mpps generator-mpps (sluice-xsk rxdrop, rx ring = fill ring = frames)" > "$tmp/umem.dat"
for n in $umem_sizes; do
	b=() p=() g=()
	for ((r = 0; r < umem_rounds; r++)); do
		rx_run "$tmp/umem.bare.$n.$r.json" --attach --frames "$n" --rx-ring "$n"
		read -r mpps _ _ _ _ < <(rx_summary "$tmp/umem.bare.$n.$r.json")
		b+=("$mpps")
		read -r mpps _ < <(gen_summary "$tmp/umem.bare.$n.$r.json.gen")
		g+=("$mpps")
		daemon_up
		rx_run "$tmp/umem.pipe.$n.$r.json" --xskmap "$xskmap" --frames "$n" --rx-ring "$n"
		daemon_down
		read -r mpps _ _ _ _ < <(rx_summary "$tmp/umem.pipe.$n.$r.json")
		p+=("$mpps")
		read -r mpps _ < <(gen_summary "$tmp/umem.pipe.$n.$r.json.gen")
		g+=("$mpps")
	done
	bm=$(median "${b[@]}")
	pm=$(median "${p[@]}")
	gm=$(median "${g[@]}")
	printf '%8d %9d %12s %12s %14s\n' "$n" $((n * 2048 >> 20)) "$bm" "$pm" "$gm"
	echo "$n $bm $pm $gm" >> "$tmp/umem.dat"
	figures+=$'\n'"FIGURE xsk.umem_$n.bare_mpps $bm Mpps - info"$'\n'"FIGURE xsk.umem_$n.pipeline_mpps $pm Mpps - info"
done
bash "$top/bench/plot.sh" xsk "$tmp/umem.dat" "$PLOTS/xsk.png" "bench/xsk.sh $args (UMEM=\"$umem_sizes\")"

# --- 3. sluice-xsk vs dpdk-testpmd rxonly.
if ! command -v "$TESTPMD" > /dev/null; then
	echo "# $TESTPMD not found: sluice-xsk vs testpmd skipped"
	printf '\n%s\n' "$figures"
	exit 0
fi
xsk_mpps=$(median "${bare_mpps[@]}")
# pmd_round LOG: one fresh testpmd, like each sluice-xsk round: started,
# then timed from "start" to "stop" at its prompt under the generator;
# sets pmd_rate (Mpps). It forwards only on lcores other than its main one:
# hence -l 0,1. A session of several start/stop windows is not used: its
# later windows ran at half the rate of its first ones here.
pmd_cmd="$TESTPMD -l 0,1 --no-huge -m 256 --no-pci --file-prefix $name --vdev net_af_xdp0,iface=$TOPO_DUT_IF -- -i --forward-mode=rxonly --total-num-mbufs=16384"
pmd_round() {
	local log=$1 pid i t0 t1 pkts

	rm -f "$tmp/pmd.in"
	mkfifo "$tmp/pmd.in"
	# shellcheck disable=SC2086 # a command line, split on purpose
	ip netns exec "$TOPO_DUT_NS" $pmd_cmd < "$tmp/pmd.in" > "$log" 2>&1 &
	pid=$!
	exec 3> "$tmp/pmd.in"
	for ((i = 0; i < 300; i++)); do
		grep -q 'testpmd>' "$log" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if ! grep -q 'testpmd>' "$log"; then
		tail -20 "$log" >&2
		die "testpmd did not start"
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
	wait "$pid"
	gen_stop
	# The accumulated block after "stop" holds the total for all ports.
	pkts=$(awk '/Accumulated forward statistics/ { acc = 1 } acc && /RX-packets:/ { print $2; exit }' "$log")
	if [ -z "$pkts" ]; then
		tail -30 "$log" >&2
		die "no RX-packets in testpmd's output"
	fi
	pmd_rate=$(python3 -c "print(f'{$pkts / ($t1 - $t0) / 1e6:.3f}')")
}

pmd_rates=()
for ((r = 0; r < rounds; r++)); do
	pmd_round "$tmp/pmd.$r.log"
	pmd_rates+=("$pmd_rate")
done
pmd_mpps=$(median "${pmd_rates[@]}")
printf '%-34s %8s Mpps  (median of the bare rounds above)\n' "sluice-xsk rxdrop" "$xsk_mpps"
printf '%-34s %8s Mpps  (rounds: %s)\n' "dpdk-testpmd af_xdp rxonly" "$pmd_mpps" "${pmd_rates[*]}"
python3 -c "r = $xsk_mpps / $pmd_mpps if $pmd_mpps else float('inf'); print(f'ratio sluice-xsk / testpmd: {r:.2f} (target >= 1.0)')"
echo "# dpdk-testpmd: ip netns exec DUT $pmd_cmd   (start; sleep ${secs}; stop; one process a round)"
figures+=$'\n'$(python3 -c "
x, t = $xsk_mpps, $pmd_mpps
r = x / t if t else 0
print(f'FIGURE xsk.testpmd_mpps {t:.3f} Mpps - info')
print(f'FIGURE xsk.sluice_xsk_over_testpmd {r:.3f} ratio >=1.0 ' + ('met' if r >= 1.0 else 'missed'))")
printf '\n%s\n' "$figures"

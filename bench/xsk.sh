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
#  5. queues: a second veth pair with 2 rx/tx queues, sluice-xsk --attach on
#     queue 0 and on queues 0,1: total and per-queue Mpps. The generators are
#     XDP live frames, one per queue pinned to the CPU of that number (a veth
#     puts an XDP_TX frame on the peer's queue of the sending CPU); where the
#     kernel refuses live frames, one sluice-gen --engine xsk --queues N.
#  6. latency: sluice-gen --engine xsk --stamp paced at SWAP_RATE into the
#     pipeline (--xskmap, sluice-xsk --latency): p50/p99 generator to socket.
#  7. around a swap: the same with a pass stage in the pipeline that
#     `sluicectl stage swap` replaces (count, pass, ...) every SWAP_GAP s;
#     sluice-xsk -I 10 gives 10 ms windows, lined up with each swap's
#     wall-clock span: the rate dip (lowest window around a swap against the
#     median window away from swaps) and the p99 around a swap (highest
#     window p99 around it) against away; drawn into docs/bench/xskswap.png.
#
# Usage: bench/xsk.sh [--quick] [-d SECONDS] [-r ROUNDS] [--rings "N ..."] [--queues-swap]
#   --quick         1 s windows, 3 rounds (CI); default 3 s, 5 rounds
#   --queues-swap   only steps 5-7
#   SWAP_RATE=PPS   steps 6-7's paced rate (default 200000)
#   SWAPS=N         step 7's swaps (default 30; --quick 8)
#   SWAP_GAP=S      seconds between swaps (default 0.4)
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
queues_swap=
SWAP_RATE=${SWAP_RATE:-200000}
SWAP_GAP=${SWAP_GAP:-0.4}
swaps=${SWAPS:-30}
umem_sizes=${UMEM:-2048 4096 8192 16384 32768 65536}
umem_rounds=3
PLOTS=${PLOTS:-$top/docs/bench}
args="$*"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) secs=1; rounds=3; quick=1; umem_sizes=${UMEM:-2048 8192 65536}; umem_rounds=1; swaps=${SWAPS:-8} ;;
	--queues-swap) queues_swap=1 ;;
	-d) secs=$2; shift ;;
	-r) rounds=$2; shift ;;
	--rings) rings=$2; shift ;;
	*) echo "usage: $0 [--quick] [-d SECONDS] [-r ROUNDS] [--rings \"N ...\"] [--queues-swap]" >&2; exit 2 ;;
	esac
	shift
done

. "$top/tests/lib/netns.sh"

for f in "$XSK" "$GEN" "$SLUICED" "$SLUICECTL"; do
	[ -x "$f" ] || { echo "bench/xsk.sh: $f not built (make O=$O)" >&2; exit 1; }
done

name=bx$$
mq_name=bq$$
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
	topo_destroy "$mq_name"
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
	$([ -n "${SWAP_STAGE:-}" ] && echo "      - { name: a, object: pass }")
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

# --- 5-7: queues, latency, around a swap (docs/afxdp.md "Several queues,
# latency and swaps"). Each prints its table and adds FIGURE lines to
# $figures.

# mq_round N OUT: sluice-xsk --attach on queues 0..N-1 of the 2-queue pair
# for $secs inside the generators' run; their summaries in OUT.gen.*.
mq_round() {
	local n=$1 out=$2 i pids=()
	if [ "$mq_engine" = xdp ]; then
		for ((i = 0; i < n; i++)); do
			"${gen_wrap[@]}" taskset -c "$i" ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine xdp \
				--dport "$PORT" -d $((secs + 10)) -q -j > "$out.gen.$i" 2>&1 &
			pids+=($!)
		done
	else
		"${gen_wrap[@]}" ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine xsk --queues "$n" \
			--sport 1000-1003 --dport "$PORT" -d $((secs + 10)) -q -j > "$out.gen.0" 2>&1 &
		pids+=($!)
	fi
	sleep 1
	"${xsk_wrap[@]}" nsenter --net="/run/netns/$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --attach -q "0-$((n - 1))" \
		--rxdrop -d "$secs" --quiet -j "${xsk_args[@]}" > "$out" 2> "$out.err" || {
		cat "$out.err" >&2
		kill -INT "${pids[@]}" 2>/dev/null
		die "sluice-xsk on $n queues failed"
	}
	kill -INT "${pids[@]}" 2>/dev/null
	wait "${pids[@]}" 2>/dev/null
}

# queues_step: step 5, in a subshell of its own: the 2-queue topology
# replaces the TOPO_* names of the main one there only.
queues_step() {
	(
		TOPO_QUEUES=2 topo_create "$mq_name" > /dev/null || die "2-queue veth pair"
		mq_engine=xsk
		command -v taskset > /dev/null && [ "$(nproc)" -ge 2 ] && "$SLUICECTL" probe -j 2>/dev/null |
			python3 -c 'import json,sys; f={x["name"]: x["ok"] for x in json.load(sys.stdin)["features"]}; sys.exit(0 if f.get("xdp_live_frames") else 1)' &&
			mq_engine=xdp
		for n in 1 2; do
			for ((r = 0; r < rounds; r++)); do
				mq_round "$n" "$tmp/mq.$n.$r.json"
			done
		done
		python3 - "$tmp" "$rounds" "$mq_engine" <<-'PY'
		import json, statistics, sys, glob
		tmp, rounds, engine = sys.argv[1], int(sys.argv[2]), sys.argv[3]
		med = lambda xs: statistics.median(xs) if xs else 0.0
		figs = []
		print(f"# queues: 2-queue veth pair, sluice-xsk --attach rxdrop, {rounds} rounds, medians; generator: "
		      + ("XDP live frames, one per queue, pinned to CPU = queue" if engine == "xdp"
		         else "sluice-gen --engine xsk --queues N, 4 flows (live frames refused here)"))
		print("%7s %12s %-30s %14s" % ("queues", "total Mpps", "per queue Mpps", "generator Mpps"))
		for n in (1, 2):
		    tot, perq, gen = [], [[] for _ in range(n)], []
		    for r in range(rounds):
		        d = json.load(open(f"{tmp}/mq.{n}.{r}.json"))
		        tot.append(float(d["total"]["rx_mpps"]))
		        for i, q in enumerate(d["queues"]):
		            perq[i].append(float(q["rx_mpps"]))
		        g = 0.0
		        for f in glob.glob(f"{tmp}/mq.{n}.{r}.json.gen.*"):
		            try:
		                g += float(json.loads(open(f).read().strip().splitlines()[-1])["mpps"])
		            except (ValueError, KeyError, IndexError):
		                pass
		        gen.append(g)
		    pq = [med(x) for x in perq]
		    print("%7d %12.3f %-30s %14.3f" % (n, med(tot), " ".join("q%d %.3f" % (i, v) for i, v in enumerate(pq)), med(gen)))
		    figs.append(f"FIGURE xsk.queues_{n}.total_mpps {med(tot):.3f} Mpps - info")
		    for i, v in enumerate(pq):
		        figs.append(f"FIGURE xsk.queues_{n}.q{i}_mpps {v:.3f} Mpps - info")
		open(f"{tmp}/mq.figures", "w").write("\n".join(figs) + "\n")
		PY
		topo_destroy "$mq_name"
	) || die "queues step failed"
	figures+=$'\n'$(cat "$tmp/mq.figures")
}

# lat_run OUT SECONDS [--swaps]: sluice-gen --engine xsk --stamp paced at
# SWAP_RATE into the pipeline, sluice-xsk --xskmap --latency -I 10 for the
# whole run; with --swaps, stage a alternates between count and pass every
# SWAP_GAP s from the second second on, each swap's wall-clock span
# ("t0 t1" ns) in OUT.swaps.
lat_run() {
	local out=$1 d=$2 with_swaps=${3:-} i obj t0 t1 gpid
	"${xsk_wrap[@]}" nsenter --net="/run/netns/$TOPO_DUT_NS" "$XSK" -i "$TOPO_DUT_IF" --rxdrop --xskmap "$xskmap" \
		--latency -I 10 --interval-file "$out.iv" -d $((d + 30)) -j "${xsk_args[@]}" > "$out" 2> "$out.err" &
	rx_pid=$!
	for _ in $(seq 100); do
		grep -q ' ready$' "$out.err" && break
		sleep 0.1
	done
	grep -q ' ready$' "$out.err" || { cat "$out.err" >&2; die "sluice-xsk did not get ready"; }
	"${gen_wrap[@]}" ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine xsk --stamp --dport "$PORT" \
		-r "$SWAP_RATE" -d "$d" -q -j > "$out.gen" 2>&1 &
	gpid=$!
	: > "$out.swaps"
	if [ -n "$with_swaps" ]; then
		sleep 1
		for ((i = 0; i < swaps; i++)); do
			obj=count
			[ $((i % 2)) -eq 1 ] && obj=pass
			t0=$(date +%s%N)
			ctl stage swap "$TOPO_DUT_IF" a "$obj" > /dev/null || die "sluicectl stage swap failed"
			t1=$(date +%s%N)
			echo "$t0 $t1" >> "$out.swaps"
			sleep "$SWAP_GAP"
		done
	fi
	wait "$gpid" || { cat "$out.gen" >&2; die "paced generator failed"; }
	sleep 0.3
	kill -INT "$rx_pid" 2>/dev/null
	wait "$rx_pid" || { cat "$out.err" >&2; die "latency receiver failed"; }
	rx_pid=
}

# latency_swap_step: steps 6 and 7.
latency_swap_step() {
	local d
	SWAP_STAGE=1 daemon_up
	lat_run "$tmp/lat.json" $((secs * 2))
	d=$(python3 -c "import math; print(math.ceil(2 + $swaps * ($SWAP_GAP + 0.05)))")
	lat_run "$tmp/swap.json" "$d" --swaps
	daemon_down
	python3 - "$tmp" "$SWAP_RATE" "$SWAP_GAP" <<-'PY'
	import json, statistics, sys
	tmp, rate, gap = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
	med = lambda xs: statistics.median(xs) if xs else 0.0
	figs = []
	lat = json.load(open(f"{tmp}/lat.json"))["total"]["latency"]
	g = json.loads(open(f"{tmp}/lat.json.gen").read().strip().splitlines()[-1])
	print(f"# latency: sluice-gen --engine xsk --stamp paced at {rate} pps into the pipeline "
	      f"(parse, acl, pass, xsk), sluice-xsk --xskmap --latency; generator sent {g['sent']} "
	      f"({g['mpps']} Mpps), receiver measured {lat['samples']}")
	print("%10s %10s %10s %10s %10s" % ("p50 us", "p90 us", "p99 us", "max us", "mean us"))
	print("%10.1f %10.1f %10.1f %10.1f %10.1f" % tuple(lat[k] / 1e3 for k in ("p50_ns", "p90_ns", "p99_ns", "max_ns", "mean_ns")))
	figs.append(f"FIGURE xsk.latency_p50_us {lat['p50_ns'] / 1e3:.1f} us - info")
	figs.append(f"FIGURE xsk.latency_p99_us {lat['p99_ns'] / 1e3:.1f} us - info")

	# Windows: [real_ns - dt_ns, real_ns], their rate and p99.
	wins = []
	for l in open(f"{tmp}/swap.json.iv"):
	    w = json.loads(l)
	    if w.get("last") or not w["dt_ns"]:
	        continue
	    wins.append((w["real_ns"] - w["dt_ns"], w["real_ns"], w["rx"] / w["dt_ns"] * 1e9,
	                 w["latency"]["p99_ns"] if w["latency"]["samples"] else None))
	swaps = [tuple(map(int, l.split())) for l in open(f"{tmp}/swap.json.swaps")]
	if not swaps or not wins:
	    sys.exit("no swaps or no windows")
	lo, hi = swaps[0][0] - 700_000_000, swaps[-1][1] + int(gap * 1e9) - 100_000_000
	steady = [w for w in wins if w[0] >= lo and w[1] <= hi]
	near = lambda w, m: any(w[1] > t0 - m and w[0] < t1 + m for t0, t1 in swaps)
	away = [w for w in steady if not near(w, 100_000_000)]
	rate_away = med([w[2] for w in away])
	p99_away = med([w[3] for w in away if w[3] is not None])
	dips, p99s, plot = [], [], []
	for t0, t1 in swaps:
	    around = [w for w in wins if w[1] > t0 and w[0] < t1 + 20_000_000]
	    if not around:
	        continue
	    dips.append(max(0.0, 1 - min(w[2] for w in around) / rate_away) if rate_away else 0.0)
	    ps = [w[3] for w in around if w[3] is not None]
	    if ps:
	        p99s.append(max(ps))
	    for w in wins:
	        x = ((w[0] + w[1]) / 2 - t0) / 1e6
	        if -100 <= x <= 250:
	            plot.append("%.1f %.1f %s" % (x, w[2] / 1e3, "%.1f" % (w[3] / 1e3) if w[3] is not None else "?"))
	spans = [(t1 - t0) / 1e6 for t0, t1 in swaps]
	sg = json.loads(open(f"{tmp}/swap.json.gen").read().strip().splitlines()[-1])
	sr = json.load(open(f"{tmp}/swap.json"))["total"]
	print(f"# swap run: generator sent {sg['sent']} (veth drops {sg['errors']}), socket received {sr['rx_packets']}")
	figs.append(f"FIGURE xsk.swap_lost {sg['sent'] - sr['rx_packets']} frames - info")
	print(f"# around a swap: {len(swaps)} swaps of stage a (count <-> pass) every {gap} s, sluiced under "
	      f"{rate} pps; 10 ms windows; a swap's span is sluicectl's wall-clock run (process start included), "
	      f"median {med(spans):.1f} ms")
	print("%-34s %12s %12s" % ("", "kpps", "p99 us"))
	print("%-34s %12.1f %12.1f" % (f"away from swaps ({len(away)} windows)", rate_away / 1e3, p99_away / 1e3))
	print("%-34s %12.1f %12.1f" % ("around a swap, median of swaps", rate_away * (1 - med(dips)) / 1e3, med(p99s) / 1e3))
	print("%-34s %12.1f %12.1f" % ("around a swap, worst swap", rate_away * (1 - max(dips)) / 1e3, max(p99s) / 1e3))
	print(f"# rate dip = 1 - lowest window around a swap / median window away: median {med(dips) * 100:.1f}%, "
	      f"worst {max(dips) * 100:.1f}%; p99 around a swap = highest window p99 within the swap's span + 20 ms")
	figs.append(f"FIGURE xsk.swap_rate_dip_pct {med(dips) * 100:.1f} % - info")
	figs.append(f"FIGURE xsk.swap_rate_dip_worst_pct {max(dips) * 100:.1f} % - info")
	figs.append(f"FIGURE xsk.swap_p99_us {med(p99s) / 1e3:.1f} us - info")
	figs.append(f"FIGURE xsk.swap_p99_away_us {p99_away / 1e3:.1f} us - info")
	open(f"{tmp}/swap.figures", "w").write("\n".join(figs) + "\n")
	open(f"{tmp}/swap.dat", "w").write("# ms-from-swap-start kpps p99-us\n" + "\n".join(plot) + "\n")
	PY
	[ -s "$tmp/swap.figures" ] || die "latency/swap analysis failed"
	figures+=$'\n'$(cat "$tmp/swap.figures")
	bash "$top/bench/plot.sh" xskswap "$tmp/swap.dat" "$PLOTS/xskswap.png" \
		"bench/xsk.sh $args (SWAP_RATE=$SWAP_RATE SWAPS=$swaps SWAP_GAP=$SWAP_GAP)"
}

xskmap=$pin/$TOPO_DUT_IF/maps/sluice_xsks
if [ -n "$queues_swap" ]; then
	figures=
	queues_step
	latency_swap_step
	printf '\n%s\n' "${figures#$'\n'}"
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

# --- 5-7. queues, latency, around a swap.
queues_step
latency_swap_step

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

#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Draws one benchmark plot with gnuplot (Debian's gnuplot-nox) from the data a
# bench script wrote. Every plot carries the machine, kernel, mitigations and
# date it was measured on, and the command that made it.
#
# Usage: bench/plot.sh KIND DATA OUT.png COMMAND
#   KIND     stages | kernel | acl | swap | xsk | xskswap
#   DATA     the data file (stages, acl, xsk, xskswap) or folder (kernel: tcchain.dat
#            and flow.dat; swap: one <row>.lat file of microseconds per row)
#   COMMAND  the command line that produced DATA, printed under the plot
set -u

kind=${1:?usage: bench/plot.sh KIND DATA OUT.png COMMAND}
data=${2:?}
out=${3:?}
cmd=${4:?}

if ! command -v gnuplot > /dev/null; then
	echo "bench/plot.sh: gnuplot not found (scripts/deps.sh installs gnuplot-nox): $out not drawn" >&2
	exit 0
fi

# What the figures depend on: the CPU, the kernel, the mitigations that tax
# returns and indirect jumps (every tail-call design differs in those), the date.
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
vuln=/sys/devices/system/cpu/vulnerabilities
srso=$(cat "$vuln/spec_rstack_overflow" 2>/dev/null || echo "?")
v2=$(cut -d';' -f1 "$vuln/spectre_v2" 2>/dev/null || echo "?")
load=$(cut -d' ' -f1-3 /proc/loadavg)
machine="$cpu, $(nproc) CPUs, Linux $(uname -r); SRSO: $srso; Spectre v2: $v2"
stamp="$(date -u '+%Y-%m-%d %H:%M UTC'), load average $load"
# gnuplot strings are double-quoted: no quotes or backslashes inside.
clean() { tr -d '"\\' <<< "$1"; }
machine=$(clean "$machine")
stamp=$(clean "$stamp")
cmd=$(clean "$cmd")

mkdir -p "$(dirname "$out")"
common="set terminal pngcairo size 1100,680 font 'DejaVu Sans,10'
set output '$out'
set grid
set key top left Left reverse opaque box
set datafile missing '?'
set bmargin 7
set label 1 \"$machine\" at screen 0.01,0.055 font ',8' noenhanced
set label 2 \"$stamp\" at screen 0.01,0.032 font ',8' noenhanced
set label 3 \"$cmd\" at screen 0.01,0.009 font 'DejaVu Sans Mono,8' noenhanced"

case $kind in
stages)
	gnuplot <<-EOF
	$common
	set title 'Entry + N pass-through stages: ns per packet by how stages dispatch (BPF\_PROG\_TEST\_RUN, front subtracted)'
	set xlabel 'pass-through stages'
	set ylabel 'ns per packet'
	set logscale x 2
	set xrange [0.8:20]
	set xtics (1, 2, 4, 8, 16)
	plot '$data' using 1:2 with linespoints lw 2 pt 7 title 'sluice (metadata carrier)', \
	     '' using 1:3 with linespoints lw 2 pt 5 title 'sluice (per-CPU carrier)', \
	     '' using 1:4 with linespoints pt 9 title 'tail calls from main programs only (no verdict back)', \
	     '' using 1:5 with linespoints pt 11 title 'tail calls from nested subprograms', \
	     '' using 1:6 with linespoints pt 13 title 'variable-index tail calls', \
	     '' using 1:7 with linespoints lw 2 pt 3 title 'everything inlined', \
	     '' using 1:8 with linespoints dt 2 pt 1 title 'stages that only tail-call'
	EOF
	;;
kernel)
	gnuplot <<-EOF
	$common
	set multiplot layout 1,2 title 'The workloads tail calls from subprograms were measured on, in spirit (BPF\_PROG\_TEST\_RUN, front subtracted)'
	set title 'a chain of N tail calls, programs that only tail-call'
	set xlabel 'tail calls per packet'
	set ylabel 'ns per packet'
	set logscale x 2
	set xrange [0.8:40]
	set xtics (1, 2, 4, 8, 16, 32)
	plot '$data/tcchain.dat' using 1:2 with linespoints lw 2 pt 7 title 'from main programs', \
	     '' using 1:3 with linespoints lw 2 pt 5 title 'from subprograms (frames nest)'
	unset logscale x
	set xrange [*:*]
	set xtics auto
	set title 'flow-dissector-shaped parser: one program per protocol through a prog\_array'
	set xlabel 'frame'
	set style data histograms
	set style histogram clustered gap 1
	set style fill solid 0.7 border -1
	set boxwidth 0.9
	set yrange [0:*]
	set offsets 0, 0, graph 0.3, 0
	set xtics rotate by -15
	plot '$data/flow.dat' using 2:xtic(1) title 'dispatch in main programs', \
	     '' using 3 title 'from a subprogram (verdict back to the entry)'
	unset multiplot
	EOF
	;;
acl)
	gnuplot <<-EOF
	$common
	set title 'Entry + parse + acl: ns per packet against the rule set size (/32 prefixes, BPF\_PROG\_TEST\_RUN, front subtracted)'
	set xlabel 'source prefixes in the rule set (up to 1,000 rules)'
	set ylabel 'ns per packet'
	set logscale x 10
	set yrange [0:*]
	plot '$data' using 1:2 with linespoints lw 2 pt 7 title 'the frame matches the first rule', \
	     '' using 1:3 with linespoints lw 2 pt 5 title 'the frame matches only the last rule', \
	     '' using 1:4 with lines dt 2 title 'entry + parse alone'
	EOF
	;;
swap)
	# One CDF per <row>.lat (one latency in microseconds per line); the
	# row's title is the first line if it starts with '#'.
	plots=
	for f in "$data"/*.lat; do
		[ -s "$f" ] || continue
		title=$(head -1 "$f" | sed -n 's/^# *//p')
		[ -n "$title" ] || title=$(basename "$f" .lat)
		sorted="$f.cdf"
		grep -v '^#' "$f" | sort -n | awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i] / 1000, i / NR }' > "$sorted"
		plots+="${plots:+, }'$sorted' using 1:2 with steps lw 2 title '$(clean "$title") ($(grep -vc '^#' "$f"))'"
	done
	[ -n "$plots" ] || { echo "bench/plot.sh: no latencies in $data" >&2; exit 1; }
	gnuplot <<-EOF
	$common
	set title 'Changing a live pipeline under traffic: latency CDFs'
	set xlabel 'ms (log scale)'
	set ylabel 'fraction of operations'
	set logscale x 10
	set key bottom right
	set yrange [0:1]
	plot $plots
	EOF
	;;
xsk)
	gnuplot <<-EOF
	$common
	set title 'AF\_XDP rxdrop on a veth against umem size (rx ring = fill ring = frames; median of rounds)'
	set xlabel 'umem frames of 2 KiB'
	set ylabel 'Mpps received'
	set logscale x 2
	set yrange [0:*]
	plot '$data' using 1:2 with linespoints lw 2 pt 7 title 'bare redirect (sluice-xsk --attach)', \
	     '' using 1:3 with linespoints lw 2 pt 5 title 'through the pipeline (parse, acl, xsk)', \
	     '' using 1:4 with linespoints dt 2 pt 1 title 'what the generator sent (its median over the windows)'
	EOF
	;;
xskswap)
	# DATA: "ms-from-swap-start kpps p99-us" per 10 ms window, every swap overlaid.
	gnuplot <<-EOF
	$common
	set title 'AF\_XDP consumer behind the pipeline around live stage swaps: each window of every swap, aligned on the swap'
	set xlabel 'ms from the start of sluicectl stage swap (its process start included)'
	set ylabel 'kpps received in the window'
	set y2label 'p99 latency in the window, us (generator stamp to socket)'
	set ytics nomirror
	set y2tics
	set yrange [0:*]
	set y2range [0:*]
	plot '$data' using 1:2 axes x1y1 with points pt 7 ps 0.6 title 'rate (kpps)', \
	     '' using 1:3 axes x1y2 with points pt 2 ps 0.6 title 'p99 latency (us)'
	EOF
	;;
*)
	echo "bench/plot.sh: unknown kind '$kind'" >&2
	exit 2
	;;
esac
echo "# plot: $out"

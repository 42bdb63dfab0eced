#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The live demo behind `make demo`: sluiced runs a four-stage XDP pipeline on
# a veth inside namespaces this script creates, sluice-gen pushes traffic
# through it, and while packets flow one stage is replaced, two stages are
# replaced as one transaction and an ACL rule comes and goes. At the end it
# prints what the counters prove (nothing lost, no packet saw a mix of
# versions, no tail call missed, how long each change took) and removes
# everything it created, also on failure or Ctrl-C.
#
# Usage: tools/demo.sh [--quick] [--name NAME]
#   --quick      a few seconds instead of about a minute (for tests)
#   --name NAME  namespaces NAME-gen/NAME-dut, veth NAME-g0/NAME-d0 and, for
#                a NAME other than "sluice", pin root and state directory
#                suffixed with -NAME (default: sluice)
# Environment: O=build folder (default: build/ of this tree).
# Exit status: 0 when the evidence holds, 1 on any failure, 130 on Ctrl-C.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
. "$top/tests/lib/netns.sh"

quick=0
name=sluice
while [ $# -gt 0 ]; do
	case "$1" in
	--quick) quick=1 ;;
	--name) name=${2:-}; shift ;;
	-h|--help) sed -n '3,18s/^# \{0,1\}//p' "$0"; exit 0 ;;
	*) echo "demo: unknown argument '$1' (try --help)" >&2; exit 1 ;;
	esac
	shift
done

SLUICED=$O/daemon/sluiced
SLUICECTL=$O/cli/sluicectl
GEN=$O/tools/gen/sluice-gen

# Paths of this demo only: a real installation uses /sys/fs/bpf/sluice and
# /run/sluice, and a second demo with another --name uses its own.
suffix=
[ "$name" = sluice ] || suffix=-$name
pin_root=/sys/fs/bpf/sluice-demo$suffix
state_dir=/run/sluice-demo$suffix
sock=$state_dir/sluiced.sock

# Pacing. The generator's rate stays well below what a 2-vCPU machine
# sustains with the daemon loading programs beside it: the demo is about
# correctness under traffic, bench/ is about speed.
# The generator runs for a fixed time that covers every change with room to
# spare, and stops on its own: a signal would cut a send call short and its
# count with it. What is left of the run after the changes is watched.
if [ "$quick" = 1 ]; then
	rate=100000 tick=0.5 ticks=2 traffic_s=10
else
	rate=200000 tick=2 ticks=3 traffic_s=40
fi
# The swapped-in rate limit is a quarter of what actually arrives (measured
# before the swap: a loaded machine sends less than asked), so the new
# code's effect shows in the counters at once.

# ---- output ---------------------------------------------------------------

if [ -t 1 ]; then
	B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
	B='' D='' G='' R='' N=''
fi
step=0
nsteps=8

heading() {
	step=$((step + 1))
	printf '\n%s== %d/%d  %s ==%s\n' "$B" "$step" "$nsteps" "$1" "$N"
	shift
	local l
	for l in "$@"; do
		printf '   %s%s%s\n' "$D" "$l" "$N"
	done
}

# Indented, so commands and their output stand apart from the narration.
indent() {
	sed 's/^/     /'
}

die() {
	printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	exit 1
}

# ctl ARGS...: shows the sluicectl command, then runs it.
ctl() {
	printf '   %s$ sluicectl %s%s\n' "$B" "$*" "$N"
	"$SLUICECTL" -s "$sock" "$@" 2>&1 | indent
	return "${PIPESTATUS[0]}"
}

# ctl_json ARGS...: the daemon's JSON reply, nothing printed.
ctl_json() {
	"$SLUICECTL" -s "$sock" -j "$@"
}

# under_traffic WHAT: a change counts only if packets flow while it happens.
under_traffic() {
	kill -0 "$gen_pid" 2>/dev/null ||
		die "traffic ended before $1: this machine is slower than the demo plans for"
}

# ---- teardown -------------------------------------------------------------

tmp=
daemon_pid=
gen_pid=
topo_made=0
cleaned=0

cleanup() {
	local rc=$?

	[ "$cleaned" = 1 ] && return
	cleaned=1
	trap '' INT TERM
	[ "$rc" = 0 ] || printf '\n%s== tearing down after a failure or interrupt ==%s\n' "$B" "$N"
	if [ -n "$gen_pid" ] && kill -0 "$gen_pid" 2>/dev/null; then
		kill -TERM "$gen_pid" 2>/dev/null
		wait "$gen_pid" 2>/dev/null
	fi
	# Detach and unpin through the daemon while it runs: its own way out.
	if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
		"$SLUICECTL" -s "$sock" -t 5 down "$TOPO_DUT_IF" >/dev/null 2>&1
		# SIGTERM leaves pipelines pinned (by design): they are gone already.
		kill -TERM "$daemon_pid" 2>/dev/null
		for _ in $(seq 50); do
			kill -0 "$daemon_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$daemon_pid" 2>/dev/null && kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
	fi
	# Whatever `down` did not remove (a daemon that died, an interrupt
	# during start-up). This folder belongs to the demo alone.
	[ -d "$pin_root" ] && rm -rf "$pin_root"
	[ -d "$state_dir" ] && rm -rf "$state_dir"
	[ "$topo_made" = 1 ] && topo_destroy "$name"
	[ -n "$tmp" ] && rm -rf "$tmp"

	if [ "$rc" != 0 ]; then
		echo "   removed: generator, daemon, pins under $pin_root, $state_dir, namespaces $name-gen/$name-dut"
	fi
	exit "$rc"
}

on_signal() {
	printf '\n%sdemo: interrupted%s\n' "$R" "$N" >&2
	exit 130
}

# ---- checks before touching anything ---------------------------------------

[ "$(id -u)" = 0 ] || die "needs root (namespaces, XDP, bpffs)"
for b in "$SLUICED" "$SLUICECTL" "$GEN"; do
	[ -x "$b" ] || die "$b is not built: run 'make' (or make O=$O) first"
done
for c in jq ip nsenter ethtool; do
	command -v "$c" >/dev/null || die "'$c' is missing: run scripts/deps.sh"
done
if topo_exists "$name"; then
	die "namespaces $name-gen/$name-dut exist: another demo is running, or one was killed." \
	    "If none runs: ip netns del $name-gen; ip netns del $name-dut"
fi

trap cleanup EXIT
trap on_signal INT TERM

bpffs_mount || die "cannot mount bpffs on /sys/fs/bpf"
# Left by a demo that was killed before it could clean up: the pins of a
# veth that no longer exists, in the demo's own folder.
[ -e "$pin_root" ] && rm -rf "$pin_root"
[ -e "$state_dir" ] && rm -rf "$state_dir"
tmp=$(mktemp -d /tmp/sluice-demo.XXXXXX) || die "mktemp failed"

printf '%ssluice demo%s: an XDP pipeline whose stages are replaced while packets flow.\n' "$B" "$N"
printf 'Everything runs in two network namespaces made for this demo and is removed at the end.\n'

# ---- 1. topology ----------------------------------------------------------

heading "Two namespaces joined by a veth pair" \
	"The generator sends from $name-gen; the pipeline runs in $name-dut. No host" \
	"interface is touched: deleting the two namespaces removes all of it."
topo_made=1
topo_create "$name" || die "could not create the namespaces"
printf '     %s [%s %s] <--veth--> [%s %s] %s\n' "$TOPO_GEN_NS" "$TOPO_GEN_IF" "$TOPO_GEN_IP" \
	"$TOPO_DUT_IF" "$TOPO_DUT_IP" "$TOPO_DUT_NS"

# ---- 2. daemon ------------------------------------------------------------

heading "sluiced loads the pipeline and attaches it" \
	"parse -> acl -> ratelimit -> count, each stage a program in a prog_array slot," \
	"entered by tail calls from one XDP entry held by a pinned bpf_link."
# config/demo.yaml with this run's veth and paths in place of its own.
sed -e "s|sluice-dut0|$TOPO_DUT_IF|" \
    -e "s|/sys/fs/bpf/sluice-demo|$pin_root|" \
    -e "s|/run/sluice-demo|$state_dir|" \
    "$top/config/demo.yaml" > "$tmp/demo.yaml"
grep -q "name: $TOPO_DUT_IF\$" "$tmp/demo.yaml" || die "config/demo.yaml does not name sluice-dut0"
# In the DUT namespace, where its interface is.
nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -n -c "$tmp/demo.yaml" 2>&1 | indent
[ "${PIPESTATUS[0]}" = 0 ] || die "the configuration does not check"

# The daemon must see the host's bpffs (pins) and the DUT's veth: enter
# only the network namespace. This is in_ns spelled out: a shell function
# run with & leaves a subshell between $! and the daemon, and then the
# daemon could not be stopped by its pid.
nsenter --net="/run/netns/$TOPO_DUT_NS" "$SLUICED" -c "$tmp/demo.yaml" 2> "$tmp/sluiced.log" &
daemon_pid=$!
for _ in $(seq 100); do
	"$SLUICECTL" -s "$sock" -t 1 status >/dev/null 2>&1 && break
	kill -0 "$daemon_pid" 2>/dev/null || break
	sleep 0.1
done
if ! "$SLUICECTL" -s "$sock" -t 1 status >/dev/null 2>&1; then
	indent < "$tmp/sluiced.log"
	die "sluiced did not come up"
fi
indent < "$tmp/sluiced.log"
ctl status || die "status failed"

# ---- 3. traffic -----------------------------------------------------------

heading "Traffic: $rate packets/s of UDP for $traffic_s s" \
	"Two flows (dport 2000 and 2001) from one source. Every stage counts what it" \
	"sees, so a packet that went missing would show as a gap between counters."
# ip netns exec: the generator reads the namespace's /sys/class/net.
ip netns exec "$TOPO_GEN_NS" "$GEN" -i "$TOPO_GEN_IF" --engine auto --dst-mac "$TOPO_DUT_MAC" \
	--src "$TOPO_GEN_IP" --dst 10.0.0.2 --sport 1000 --dport 2000-2001 \
	-r "$rate" -d "$traffic_s" -q -j > "$tmp/gen.json" 2> "$tmp/gen.log" &
gen_pid=$!
sleep "$tick"
kill -0 "$gen_pid" 2>/dev/null || { indent < "$tmp/gen.log"; die "sluice-gen stopped"; }
echo "   Rates per second over $tick s, $ticks times:"
ctl stats "$TOPO_DUT_IF" -w "$tick" -n "$ticks" || die "stats failed"

# ---- 4. one stage swap ----------------------------------------------------

p0=$(ctl_json stats "$TOPO_DUT_IF" | jq -er '.interfaces[0].pipeline.packets') || die "stats failed"
sleep 1
p1=$(ctl_json stats "$TOPO_DUT_IF" | jq -er '.interfaces[0].pipeline.packets') || die "stats failed"
strict_pps=$(((p1 - p0) / 4))
[ "$strict_pps" -ge 50 ] || strict_pps=50
heading "Swap one stage under traffic" \
	"The ratelimit slot gets a new program limiting each source to $strict_pps packets/s." \
	"Loading and verifying the new program is most of the time printed; the switch" \
	"itself is one prog_array slot update, and the next packet runs the new code."
under_traffic "the stage swap"
ctl stage swap "$TOPO_DUT_IF" ratelimit ratelimit \
	param rate_pps="$strict_pps" param burst=1000 || die "stage swap refused"
ctl stats "$TOPO_DUT_IF" -w "$tick" -n "$ticks" || die "stats failed"
echo "   ratelimit now drops about three packets in four: the new code is live."

# ---- 5. a transaction -----------------------------------------------------

heading "A transaction: two stages replaced as one" \
	"parse and ratelimit (back to the configured rate) are loaded as a new generation" \
	"in an idle bank of the prog_array, switched with one store into the switch word the" \
	"entry reads once per packet. A packet runs entirely in the old generation or" \
	"entirely in the new one: 'mixed' counts any that did not."
under_traffic "the transaction"
ctl txn "$TOPO_DUT_IF" parse=parse ratelimit=ratelimit \
	param rate_pps=100000000 param burst=100000000 || die "transaction refused"
ctl stats "$TOPO_DUT_IF" -w "$tick" -n "$ticks" || die "stats failed"

# ---- 6. an ACL rule -------------------------------------------------------

heading "An ACL rule added and removed live" \
	"Drop the dport 2001 flow (half the traffic), watch the rule's hit counter move," \
	"then delete it: rules change in place, with no program reload."
under_traffic "the rule change"
printf '   %s$ sluicectl rule add %s before 3 drop proto udp dport 2001%s\n' "$B" "$TOPO_DUT_IF" "$N"
rule_id=$(ctl_json rule add "$TOPO_DUT_IF" before 3 drop proto udp dport 2001 | jq -er '.id') ||
	die "rule add refused"
echo "     rule $rule_id"
hits() {
	ctl_json rule list "$TOPO_DUT_IF" | jq -r --argjson id "$1" '.rules[] | select(.id == $id) | .packets'
}
sleep "$tick"
ctl rule list "$TOPO_DUT_IF" || die "rule list failed"
h1=$(hits "$rule_id")
sleep "$tick"
h2=$(hits "$rule_id")
echo "   rule $rule_id hits: $h1, then $h2 after $tick s"
[ -n "$h1" ] && [ -n "$h2" ] && [ "$h2" -gt "$h1" ] || die "the rule's hit counter did not move"
ctl rule del "$TOPO_DUT_IF" "$rule_id" || die "rule del refused"
acl_drops() {
	ctl_json stats "$TOPO_DUT_IF" |
		jq -r '.interfaces[0].stages[] | select(.name == "acl") | .verdicts.drop'
}
d1=$(acl_drops)
sleep "$tick"
d2=$(acl_drops)
echo "   acl drops after the delete: $d1, then $d2 after $tick s (the rule is gone)"
[ "$d1" = "$d2" ] || die "acl still drops after the rule was deleted"

echo "   Until the generator's $traffic_s s are over:"
t0=$(date +%s%N)
while kill -0 "$gen_pid" 2>/dev/null; do
	line=$(ctl_json stats "$TOPO_DUT_IF" | jq -r '.interfaces[0].pipeline |
		"packets \(.packets)  drop \(.verdicts.drop)  missed \(.missed)  mixed \(.mixed)"')
	ms=$((($(date +%s%N) - t0) / 1000000))
	printf '     +%d.%ds  %s\n' $((ms / 1000)) $((ms % 1000 / 100)) "$line"
	sleep "$tick"
done
wait "$gen_pid"
gen_rc=$?
gen_pid=
[ "$gen_rc" = 0 ] || { indent < "$tmp/gen.log"; die "sluice-gen failed ($gen_rc)"; }

# ---- 7. evidence ----------------------------------------------------------

heading "Evidence" \
	"Traffic is over: every packet the generator sent must be in the pipeline's counters."
# Frames still crossing the veth when the generator returned.
sleep 0.2

ctl_json stats "$TOPO_DUT_IF" > "$tmp/stats.json" || die "stats failed"
ctl_json history > "$tmp/history.json" || die "history failed"
sent=$(jq -er '.sent' "$tmp/gen.json") || die "no summary from sluice-gen"
gen_err=$(jq -r '.errors' "$tmp/gen.json")
p='.interfaces[0].pipeline'
seen=$(jq -r "$p.packets" "$tmp/stats.json")
mixed=$(jq -r "$p.mixed" "$tmp/stats.json")
missed_entry=$(jq -r "$p.missed" "$tmp/stats.json")
missed_stages=$(jq -r '[.interfaces[0].stages[].missed] | add' "$tmp/stats.json")
bad=$(jq -r "$p.bad_verdict + $p.verdicts.aborted" "$tmp/stats.json")
lost=$((sent - seen))
missed=$((missed_entry + missed_stages))

row() {
	printf '     %-38s %s\n' "$1" "$2"
}
row "packets sent (sluice-gen summary)" "$sent ($gen_err send errors)"
row "packets seen by the pipeline" "$seen"
row "lost (sent - seen)" "$lost"
row "mixed-generation packets" "$mixed"
row "missed tail calls (entry + stages)" "$missed ($missed_entry + $missed_stages)"
row "aborted or invalid verdicts" "$bad"
row "verdicts" "$(jq -r "$p.verdicts | \"pass \\(.pass), drop \\(.drop)\"" "$tmp/stats.json")"
row "  drops by stage" "$(jq -r '[.interfaces[0].stages[] | select(.verdicts.drop > 0) |
	"\(.name) \(.verdicts.drop)"] | join(", ")' "$tmp/stats.json")"
echo
echo "   Changes made under traffic (sluicectl history; the daemon's time for each, a transaction's grace period in):"
jq -r '.entries[] | (.duration_us | if . >= 10000 then "\(. / 100 | floor / 10) ms" else "\(.) us" end) as $d |
	"     \(.op | . + " " * (12 - length)) \(.stages | join(" + ") | .[0:40] | . + " " * (40 - length)) \(" " * (10 - ($d | length)))\($d)  \(.result)"' \
	"$tmp/history.json"
swap_us=$(jq -r '[.entries[] | select(.op == "stage.swap")][0].duration_us' "$tmp/history.json")
txn_us=$(jq -r '[.entries[] | select(.op == "txn")][0].duration_us' "$tmp/history.json")

ok=1
[ "$sent" -gt 0 ] || ok=0
[ "$lost" = 0 ] && [ "$mixed" = 0 ] && [ "$missed" = 0 ] && [ "$bad" = 0 ] || ok=0
# One line for scripts (tests/netns/demo.bats reads it).
echo
echo "evidence: sent=$sent seen=$seen lost=$lost mixed=$mixed missed=$missed bad=$bad swap_us=$swap_us txn_us=$txn_us rule_hits=$h2"
if [ "$ok" = 1 ]; then
	printf '   %sPASS%s: %s packets, a stage swap, a transaction and two rule changes;\n' "$G" "$N" "$sent"
	echo "   not one packet lost, mixed across generations or sent into an empty slot."
else
	printf '   %sFAIL%s: the counters above do not add up\n' "$R" "$N"
fi

# ---- 8. teardown ----------------------------------------------------------

heading "Teardown" \
	"sluicectl down detaches and unpins; the daemon stops; the namespaces go."
ctl down "$TOPO_DUT_IF" || die "down failed"
ctl status || die "status failed"
kill -TERM "$daemon_pid"
wait "$daemon_pid"
daemon_rc=$?
daemon_pid=
[ "$daemon_rc" = 0 ] || { indent < "$tmp/sluiced.log"; die "sluiced exited with $daemon_rc"; }
left=$(find "$pin_root" -mindepth 1 2>/dev/null | wc -l)
[ "$left" = 0 ] || die "$left pins left under $pin_root after down"
rmdir "$pin_root" 2>/dev/null
rm -rf "$state_dir"
topo_destroy "$name"
topo_made=0
topo_exists "$name" && die "namespaces $name-gen/$name-dut are still there"
echo "     daemon stopped, $pin_root and $state_dir removed, namespaces deleted"

[ "$ok" = 1 ] || exit 1
exit 0

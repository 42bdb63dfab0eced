#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# What the acl stage costs per packet and per rule change, and xdp-tools'
# xdp-filter beside it (bench/acl.c). xdp-filter is loaded, with
# `port 10000` and `ip 10.9.9.9 -m src`, on a veth in a namespace this
# script creates and deletes; its program is then timed by test run like
# sluice's pipelines, on the same frame. Without xdp-filter (Debian's
# xdp-tools) or when it cannot load here, the rest still runs and says so.
#
# Usage: bench/acl.sh [--quick]     (root; O=build dir, default build/)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
BIN=$O/bench/acl

case ${1:-} in
--quick | "") ;;
*) echo "usage: $0 [--quick]" >&2; exit 2 ;;
esac
[ -x "$BIN" ] || { echo "bench/acl.sh: $BIN not built (make O=$O)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench/acl.sh: needs root (BPF)" >&2; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf

ns=slacl$$
peer_args=()
cleanup() {
	if [ -e "/run/netns/$ns" ]; then
		nsenter --net="/run/netns/$ns" xdp-filter unload xf0 >/dev/null 2>&1
		ip netns del "$ns" 2>/dev/null
	fi
}
trap cleanup EXIT INT TERM

# xdp-filter keeps its maps pinned under /sys/fs/bpf/xdp-filter and a lock in
# /run: nsenter (not `ip netns exec`, which remounts /sys) keeps the host's bpffs.
if ! command -v xdp-filter >/dev/null; then
	echo "# xdp-filter not installed (Debian package xdp-tools): no peer figure"
elif ! { ip netns add "$ns" &&
	 # No IPv6: no DAD or router solicitation through xdp-filter's counters.
	 nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 &&
	 nsenter --net="/run/netns/$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 &&
	 ip -n "$ns" link add xf0 type veth peer name xf1 &&
	 ip -n "$ns" link set xf0 up && ip -n "$ns" link set xf1 up; }; then
	echo "# could not create the namespace for xdp-filter: no peer figure"
else
	if out=$(nsenter --net="/run/netns/$ns" xdp-filter load xf0 -m native 2>&1) &&
	   nsenter --net="/run/netns/$ns" xdp-filter port 10000 >/dev/null 2>&1 &&
	   nsenter --net="/run/netns/$ns" xdp-filter ip 10.9.9.9 -m src >/dev/null 2>&1; then
		id=$(ip -n "$ns" -d -j link show dev xf0 | python3 -c 'import json,sys
x = json.load(sys.stdin)[0].get("xdp", {})
print(x.get("prog", {}).get("id", "") or (x.get("attached") or [{}])[0].get("prog", {}).get("id", ""))')
		name=$(bpftool prog show id "$id" 2>/dev/null | sed -n 's/^[0-9]*: xdp *name \([^ ]*\).*/\1/p')
		echo "# xdp-filter $(dpkg-query -W -f='${Version}' xdp-tools 2>/dev/null) loaded on a veth: program $id ($name)"
		[ -n "$id" ] && peer_args=(--xdp-filter-id "$id")
	else
		echo "# xdp-filter did not load here: ${out##*$'\n'}"
	fi
fi

echo "# $BIN ${1:-} ${peer_args[*]}"
"$BIN" ${1:+"$1"} "${peer_args[@]}"

#!/bin/sh
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The container's entrypoint: one configuration for a whole fleet, each node
# running it on its own interface. Picks the interface, renders the
# ConfigMap's template (@INTERFACE@ and @NODE@ replaced) and execs sluiced.
#
# The interface, first that applies:
#   SLUICE_INTERFACE          a name; it must exist
#   SLUICE_INTERFACE_PATTERN  shell patterns separated by '|' ("ens*|eth*"):
#                             the first matching interface, by name, not lo
#   (neither)                 the interface of the IPv4 default route with the
#                             lowest metric, else of the IPv6 default route
#
#   entrypoint [SLUICED ARGS]   render, then exec sluiced --config SLUICE_CONFIG
#   entrypoint --resolve        print the interface and exit
#   entrypoint --render         render SLUICE_CONFIG, print its path and exit
set -eu

SYS_NET=${SLUICE_SYS_NET:-/sys/class/net}
TEMPLATE=${SLUICE_TEMPLATE:-/etc/sluice/template/sluiced.yaml}
CONFIG=${SLUICE_CONFIG:-/run/sluice/sluiced.yaml}
SLUICED=${SLUICED:-/usr/sbin/sluiced}

die() {
	echo "sluice entrypoint: $*" >&2
	exit 1
}

by_pattern() {
	oldifs=$IFS
	IFS='|'
	set -f
	for pat in $1; do
		IFS=$oldifs
		for dev in $(ls "$SYS_NET"); do
			[ "$dev" = lo ] && continue
			# shellcheck disable=SC2254
			case $dev in $pat) echo "$dev"; set +f; return 0 ;; esac
		done
	done
	set +f
	IFS=$oldifs
	return 1
}

# /proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...
by_default_route() {
	awk 'NR > 1 && $2 == "00000000" && $8 == "00000000" {
		if (best == "" || $7 + 0 < metric) { best = $1; metric = $7 + 0 } }
		END { if (best != "") print best; else exit 1 }' /proc/net/route 2>/dev/null && return 0
	# /proc/net/ipv6_route: dest, dest len, ..., metric (6th, 8 hex digits:
	# compared as strings, which orders them), ..., device (10th)
	awk '$1 == "00000000000000000000000000000000" && $2 == "00" && $10 != "lo" {
		m = $6 ""; if (best == "" || m < metric) { best = $10; metric = m } }
		END { if (best != "") print best; else exit 1 }' /proc/net/ipv6_route 2>/dev/null
}

resolve() {
	if [ -n "${SLUICE_INTERFACE:-}" ]; then
		[ -e "$SYS_NET/$SLUICE_INTERFACE" ] ||
			die "SLUICE_INTERFACE=$SLUICE_INTERFACE: no such interface on ${NODE_NAME:-this node}"
		echo "$SLUICE_INTERFACE"
	elif [ -n "${SLUICE_INTERFACE_PATTERN:-}" ]; then
		by_pattern "$SLUICE_INTERFACE_PATTERN" ||
			die "SLUICE_INTERFACE_PATTERN=$SLUICE_INTERFACE_PATTERN: no interface matches on ${NODE_NAME:-this node} (there are: $(ls "$SYS_NET" | tr '\n' ' '))"
	else
		by_default_route ||
			die "no default route to take the interface from; set SLUICE_INTERFACE or SLUICE_INTERFACE_PATTERN"
	fi
}

render() {
	iface=$(resolve)
	[ -r "$TEMPLATE" ] || die "$TEMPLATE: no configuration template (the ConfigMap's sluiced.yaml)"
	mkdir -p "$(dirname "$CONFIG")"
	sed -e "s|@INTERFACE@|$iface|g" -e "s|@NODE@|${NODE_NAME:-}|g" "$TEMPLATE" > "$CONFIG.tmp"
	mv "$CONFIG.tmp" "$CONFIG"
	echo "sluice entrypoint: interface $iface on ${NODE_NAME:-this node}, configuration $CONFIG" >&2
}

case ${1:-} in
--resolve)
	resolve
	;;
--render)
	render
	echo "$CONFIG"
	;;
*)
	render
	"$SLUICED" --check --config "$CONFIG" >&2
	exec "$SLUICED" --config "$CONFIG" "$@"
	;;
esac

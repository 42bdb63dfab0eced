# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Network-namespace topology shared by tests, benchmarks and the demo.
# Source it from bash:
#
#	. tests/lib/netns.sh
#	name=sl$$
#	trap 'topo_destroy $name' EXIT INT TERM
#	topo_create $name
#	ip netns exec $TOPO_GEN_NS sluice-gen -i $TOPO_GEN_IF --count 1000
#
# topo_create NAME builds two namespaces joined by one veth pair:
#
#	NAME-gen [NAME-g0 10.199.X.1/24] <---veth---> [NAME-d0 10.199.X.2/24] NAME-dut
#
# Everything lives inside namespaces this file created: the veth pair is
# created directly inside them, so no interface of the host is ever touched,
# and deleting the two namespaces removes all of it.
#
# `ip netns exec` unshares the mount namespace and remounts /sys for the
# target namespace, which hides the host's bpffs and so every pin under
# /sys/fs/bpf. Commands that need pins (the daemon, the CLI, bpftool on a
# pinned map) must enter only the network namespace: use `in_ns NS cmd...`.
# Commands that read /sys/class/net of the namespace (DPDK, sluice-gen's
# counters) want `ip netns exec`, which gives them that view.

# in_ns NS CMD...: runs CMD in namespace NS's network stack, keeping the
# host's mounts (bpffs pins stay visible).
in_ns() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$@"
}

# bpffs_mount: makes sure /sys/fs/bpf is a bpffs, for pins.
bpffs_mount() {
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# topo_subnet NAME: the X of 10.199.X.0/24, stable for a name. Addresses are
# private to the namespaces, so two runs picking the same X do not collide.
topo_subnet() {
	local sum
	sum=$(printf '%s' "$1" | cksum)
	echo $(( ${sum%% *} % 250 + 1 ))
}

# topo_create NAME: builds the topology and exports
#   TOPO_NAME TOPO_GEN_NS TOPO_DUT_NS TOPO_GEN_IF TOPO_DUT_IF
#   TOPO_GEN_IFINDEX TOPO_DUT_IFINDEX TOPO_GEN_MAC TOPO_DUT_MAC
#   TOPO_GEN_IP TOPO_DUT_IP (without prefix length)
# Returns non-zero (after undoing what it did) when a step fails.
topo_create() {
	local name=$1 x

	if [ -z "$name" ] || [ ${#name} -gt 12 ]; then
		echo "topo_create: name '$name' must be 1..12 chars (interface names <= 15)" >&2
		return 1
	fi
	if [ -e "/run/netns/$name-gen" ] || [ -e "/run/netns/$name-dut" ]; then
		echo "topo_create: namespaces for '$name' already exist" >&2
		return 1
	fi
	x=$(topo_subnet "$name")

	export TOPO_NAME=$name
	export TOPO_GEN_NS=$name-gen TOPO_DUT_NS=$name-dut
	export TOPO_GEN_IF=$name-g0 TOPO_DUT_IF=$name-d0
	export TOPO_GEN_IP=10.199.$x.1 TOPO_DUT_IP=10.199.$x.2

	if ! _topo_build; then
		echo "topo_create: building '$name' failed, removing it" >&2
		topo_destroy "$name"
		return 1
	fi

	TOPO_DUT_IFINDEX=$(ip -n "$TOPO_DUT_NS" -o link show dev "$TOPO_DUT_IF" | cut -d: -f1)
	TOPO_GEN_IFINDEX=$(ip -n "$TOPO_GEN_NS" -o link show dev "$TOPO_GEN_IF" | cut -d: -f1)
	TOPO_GEN_MAC=$(ip -n "$TOPO_GEN_NS" -br link show dev "$TOPO_GEN_IF" | awk '{print $3}')
	TOPO_DUT_MAC=$(ip -n "$TOPO_DUT_NS" -br link show dev "$TOPO_DUT_IF" | awk '{print $3}')
	export TOPO_GEN_IFINDEX TOPO_DUT_IFINDEX TOPO_GEN_MAC TOPO_DUT_MAC
}

_topo_build() {
	local ns

	ip netns add "$TOPO_GEN_NS" || return 1
	ip netns add "$TOPO_DUT_NS" || return 1
	for ns in "$TOPO_GEN_NS" "$TOPO_DUT_NS"; do
		# Before the veth exists, so it is born without IPv6: no ND or
		# DAD frames to show up in packet counters.
		in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 || return 1
		in_ns "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 || return 1
		ip -n "$ns" link set lo up || return 1
	done
	# TOPO_QUEUES=N: N rx and tx queues on both ends (AF_XDP on several queues).
	# shellcheck disable=SC2086 # empty, or words on purpose
	ip link add "$TOPO_GEN_IF" netns "$TOPO_GEN_NS" ${TOPO_QUEUES:+numtxqueues $TOPO_QUEUES numrxqueues $TOPO_QUEUES} type veth \
		peer name "$TOPO_DUT_IF" netns "$TOPO_DUT_NS" ${TOPO_QUEUES:+numtxqueues $TOPO_QUEUES numrxqueues $TOPO_QUEUES} || return 1

	# VLAN tags (802.1Q and 802.1ad) must stay in the frame where XDP sees them.
	in_ns "$TOPO_GEN_NS" ethtool -K "$TOPO_GEN_IF" rxvlan off txvlan off rx-vlan-stag-hw-parse off tx-vlan-stag-hw-insert off >/dev/null 2>&1 || return 1
	in_ns "$TOPO_DUT_NS" ethtool -K "$TOPO_DUT_IF" rxvlan off txvlan off rx-vlan-stag-hw-parse off tx-vlan-stag-hw-insert off >/dev/null 2>&1 || return 1
	# A veth accepts XDP_TX/redirected frames only when the peer runs XDP
	# or has GRO on: GRO keeps the receiving end able to take them even
	# before a program is attached.
	in_ns "$TOPO_DUT_NS" ethtool -K "$TOPO_DUT_IF" gro on >/dev/null 2>&1 || return 1

	ip -n "$TOPO_GEN_NS" addr add "$TOPO_GEN_IP/24" dev "$TOPO_GEN_IF" || return 1
	ip -n "$TOPO_DUT_NS" addr add "$TOPO_DUT_IP/24" dev "$TOPO_DUT_IF" || return 1
	ip -n "$TOPO_GEN_NS" link set "$TOPO_GEN_IF" up || return 1
	ip -n "$TOPO_DUT_NS" link set "$TOPO_DUT_IF" up || return 1
}

# topo_destroy NAME: removes both namespaces (and so the veth pair and any
# program attached to it). Processes still running inside them were started
# by this run: they are ended by pid first, or the namespace would live on.
# Idempotent: safe from traps and from a second call.
topo_destroy() {
	local name=$1 ns pids

	[ -n "$name" ] || return 0
	for ns in "$name-gen" "$name-dut"; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		if [ -n "$pids" ]; then
			kill $pids 2>/dev/null
			sleep 0.2
			pids=$(ip netns pids "$ns" 2>/dev/null)
			[ -n "$pids" ] && kill -9 $pids 2>/dev/null
		fi
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# topo_exists NAME: true while either namespace of NAME is still there.
topo_exists() {
	[ -e "/run/netns/$1-gen" ] || [ -e "/run/netns/$1-dut" ]
}

# netdev_stat NS IF STAT: one counter of /sys/class/net/IF/statistics. The
# host's /sys shows the host's interfaces only, hence `ip netns exec` here.
netdev_stat() {
	ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"
}

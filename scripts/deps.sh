#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Installs the Debian packages sluice builds, tests and demos with. Idempotent:
# a machine that has them all is not touched, so `make test` may call it.
set -euo pipefail

PKGS=(
	make gcc pkg-config
	clang llvm			# BPF objects (clang -target bpf)
	bpftool				# skeletons (.bpf.o -> .skel.h)
	libbpf-dev libelf-dev zlib1g-dev	# loading, maps, links
	libxdp-dev			# AF_XDP sockets (xsk API), optional libxdp attach
	libyaml-dev			# sluiced's configuration
	libjson-c-dev			# -j output and the control protocol
	libmicrohttpd-dev		# the Prometheus metrics endpoint
	libsystemd-dev			# sd_notify readiness
	libcmocka-dev bats		# unit and netns test frameworks
	libpcap-dev			# reading the reference captures in tests
	nettle-dev			# SHA-256 of stage objects the configuration pins (lib/trust.c)
	libcap-dev			# sluiced drops the capabilities it does not need after setup
	dpdk dpdk-dev			# the packet generator's DPDK engine, testpmd baseline
	iproute2 ethtool iputils-ping	# namespaces, veth and a real client in tests
	iputils-arping			# a real ARP client for the ACL's ARP and MAC rules (tests/netns/acl_fields.bats)
	xdp-tools			# xdp-filter, the peer bench/acl.sh measures the ACL against
	tcpreplay tshark iperf3		# capture replay and real clients in tests
	jq python3			# reading JSON in the demo and in bats tests
	curl util-linux procps		# a real HTTP client for /metrics; nsenter, setpriv; pgrep
	binutils			# objdump for tools/jit-dump.sh (bpftool has no disassembler here)
	debhelper dpkg-dev		# make deb (dpkg-buildpackage, dh)
	systemd				# systemd-analyze: the unit is verified and its sandbox scored in tests
	strace				# tests/netns/sandbox.bats: sluiced's system calls against the unit's filter
	man-db				# the man pages are rendered with warnings on in tests
	python3-yaml			# tests/netns/deploy.bats reads the Kubernetes manifests
	prometheus			# promtool checks the metrics and alert rules; tests scrape with a real server
	qemu-system-x86			# the kernel matrix boots Debian's 5.10/6.1/6.12 kernels (tests/kernels)
	busybox-static kmod cpio	# its initramfs (busybox), modules of the unpacked kernel (depmod, modprobe -d)
	gnuplot-nox			# the benchmark plots in docs/bench (bench/plot.sh)
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]} (run as root to install them)" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# tshark asks whether non-root users may capture; the answer does not matter here.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The package enables a server on :9090; the tests start their own on loopback.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
	systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi

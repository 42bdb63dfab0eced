#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Runs inside a kernel matrix guest as PID 1 (from tests/kernels/init, on
# the host's root mounted read-only), or on the host itself with
# SLUICE_OUT set (the matrix's "host" kernel). Reads SLUICE_OUT/env, runs
# the unit binaries and bats tests it names, one TAP file per suite in
# SLUICE_OUT, then writes SLUICE_OUT/done and powers the guest off.
set -u
OUT=${SLUICE_OUT:-/run/sluice-out}
. "$OUT/env"
guest=0
[ $$ -eq 1 ] && guest=1

log() {
	echo "sluice-guest: $*" > /dev/console 2>/dev/null || echo "sluice-guest: $*" >&2
}

if [ $guest -eq 1 ]; then
	export PATH=$SLUICE_PATH HOME=/root TERM=dumb LANG=C.UTF-8
	# The tree and the build may live under the host's /tmp (a CI clone, a
	# worktree): the guest's own /tmp would hide them, so they are bound
	# back over it.
	keep=()
	for d in "$SLUICE_TOP" "$SLUICE_BUILD"; do
		case $d in /tmp/*) keep+=("$d") ;; esac
	done
	for i in "${!keep[@]}"; do
		mkdir -p "/run/keep$i" && mount --bind "${keep[$i]}" "/run/keep$i"
	done
	mount -t tmpfs -o mode=1777 tmpfs /tmp
	for i in "${!keep[@]}"; do
		mkdir -p "${keep[$i]}" && mount --bind "/run/keep$i" "${keep[$i]}"
	done
	mkdir -p /dev/shm /dev/pts /run/netns /run/lock
	mount -t tmpfs -o mode=1777 tmpfs /dev/shm
	mount -t devpts devpts /dev/pts
	# devtmpfs has no /dev/fd: bash's <(...) and bats need it.
	ln -sf /proc/self/fd /dev/fd
	ln -sf /proc/self/fd/0 /dev/stdin
	ln -sf /proc/self/fd/1 /dev/stdout
	ln -sf /proc/self/fd/2 /dev/stderr
	mount -t bpf bpf /sys/fs/bpf
	mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
	mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
	hostname sluice-"$(uname -r | cut -d- -f1)"
	ip link set lo up
	# Modules (veth, sch_ingress, ...) come from the unpacked package:
	# the kernel's own module requests go through this wrapper.
	cat > /run/sluice-modprobe <<-EOF
	#!/bin/sh
	exec /usr/sbin/modprobe -d "$SLUICE_KDIR" "\$@"
	EOF
	chmod 755 /run/sluice-modprobe
	echo /run/sluice-modprobe > /proc/sys/kernel/modprobe
	# Loaded up front too: bats suites check features before they ask.
	for m in $SLUICE_MODULES; do
		/run/sluice-modprobe "$m" 2>/dev/null || log "no module $m"
	done
	ulimit -l unlimited 2>/dev/null
fi

export SLUICE_TOP SLUICE_BUILD
cd "$SLUICE_TOP" || exit 1
uname -r > "$OUT/uname"
if [ -n "${SLUICE_EXEC:-}" ]; then
	log "exec $SLUICE_EXEC"
	timeout -k 5 "$SLUICE_SUITE_TIMEOUT" bash -c "$SLUICE_EXEC" > "$OUT/exec.log" 2>&1
fi
n=0
# Unit binaries: whichever of the named ones this build has.
for u in $SLUICE_UNIT; do
	t=$SLUICE_BUILD/tests/unit/$u
	[ -x "$t" ] || continue
	n=$((n + 1))
	log "unit $u"
	{
		echo "# unit: $u"
		t0=$SECONDS
		CMOCKA_MESSAGE_OUTPUT=TAP timeout -k 5 "$SLUICE_SUITE_TIMEOUT" "$t" 2>&1
		rc=$?
		[ $rc -eq 124 ] && echo "# $u: timed out after $SLUICE_SUITE_TIMEOUT s"
		echo "# $u: $((SECONDS - t0)) s"
	} > "$OUT/$(printf '%02d' $n)-$u.tap"
done
# bats suites: FILE[:FILTER] (FILTER a regex of test names, '_' for ' ').
for b in $SLUICE_BATS; do
	file=${b%%:*}
	filt=
	[ "$file" != "$b" ] && filt=${b#*:}
	t=$SLUICE_TOP/tests/netns/$file
	[ -f "$t" ] || continue
	n=$((n + 1))
	log "bats $b"
	{
		echo "# netns: $b"
		t0=$SECONDS
		if [ -n "$filt" ]; then
			timeout -k 5 "$SLUICE_SUITE_TIMEOUT" bats --tap --filter "${filt//_/ }" "$t" 2>&1
		else
			timeout -k 5 "$SLUICE_SUITE_TIMEOUT" bats --tap "$t" 2>&1
		fi
		rc=$?
		[ $rc -eq 124 ] && echo "# $file: timed out after $SLUICE_SUITE_TIMEOUT s"
		echo "# $file: $((SECONDS - t0)) s"
	} > "$OUT/$(printf '%02d' $n)-${file%.bats}.tap"
done
touch "$OUT/done"
if [ $guest -eq 1 ]; then
	dmesg > "$OUT/dmesg" 2>/dev/null
	sync
	log "done"
	echo o > /proc/sysrq-trigger
	sleep 30
fi
exit 0

# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The kernel matrix's host side, sourced by tests/kernels/matrix.sh:
#
#	kernel_fetch SERIES	Debian's kernel package for SERIES (5.10, 6.1,
#				6.12), unpacked and cached; sets KDIR, KVER
#	kernel_initramfs	a busybox initramfs for KDIR/KVER (cached)
#	kernel_boot OUT		boots it, runs tests/kernels/guest.sh, TAP in OUT
#
# Nothing here touches the machine's own apt sources, /boot or /lib/modules:
# packages come through a private APT_CONFIG per suite, are unpacked with
# dpkg -x under SLUICE_KCACHE, and the guest reaches them over virtio-9p.

SLUICE_KCACHE=${SLUICE_KCACHE:-/var/cache/sluice-kernels}
KMIRROR=${SLUICE_KMIRROR:-http://deb.debian.org/debian}
KMIRROR_SEC=${SLUICE_KMIRROR_SEC:-http://deb.debian.org/debian-security}
KKEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

klog() {
	echo "# kernels: $*" >&2
}

# kseries_suites SERIES: the Debian suites that carry that kernel series.
kseries_suites() {
	case "$1" in
	5.10) echo "$KMIRROR bullseye main" "|$KMIRROR_SEC bullseye-security main" ;;
	6.1) echo "$KMIRROR bookworm main" "|$KMIRROR bookworm-updates main" "|$KMIRROR_SEC bookworm-security main" ;;
	6.12) echo "$KMIRROR bookworm-backports main" ;;
	# The host's series, from Debian: a check on the harness itself
	# (does a kernel that passes on the host pass under emulation?).
	6.18) echo "$KMIRROR trixie-backports main" ;;
	*) return 1 ;;
	esac
}

# kapt_setup SERIES: a private apt tree for SERIES' suites, lists fresh
# for a day. Prints the APT_CONFIG file's path.
kapt_setup() {
	local series=$1 dir=$SLUICE_KCACHE/apt/$1 line
	mkdir -p "$dir/sources.list.d" "$dir/preferences.d" "$dir/state/lists/partial" \
		"$dir/cache/archives/partial" || return 1
	: > "$dir/status"
	{
		IFS='|' read -ra lines <<< "$(kseries_suites "$series" | tr -d '\n')"
		for line in "${lines[@]}"; do
			line=$(echo $line)
			[ -n "$line" ] && echo "deb [arch=amd64 signed-by=$KKEYRING] $line"
		done
	} > "$dir/sources.list"
	cat > "$dir/apt.conf" <<-EOF
	Dir::Etc::SourceList "$dir/sources.list";
	Dir::Etc::SourceParts "$dir/sources.list.d";
	Dir::Etc::Preferences "$dir/preferences";
	Dir::Etc::PreferencesParts "$dir/preferences.d";
	Dir::State "$dir/state";
	Dir::State::status "$dir/status";
	Dir::Cache "$dir/cache";
	APT::Architecture "amd64";
	APT::Architectures { "amd64"; };
	Acquire::Languages "none";
	Acquire::Retries "2";
	Acquire::http::Timeout "30";
	// The download lands in a root-only temporary directory.
	APT::Sandbox::User "root";
	EOF
	if [ -z "$(find "$dir/state/lists" -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
		APT_CONFIG=$dir/apt.conf apt-get -qq update >&2 || return 1
	fi
	echo "$dir/apt.conf"
}

# kernel_fetch SERIES: sets KVER (e.g. 6.1.0-57-amd64), KPKG and KDIR
# (the unpacked package: KDIR/boot, KDIR/lib/modules/KVER), downloading and
# unpacking only what the cache does not hold. SLUICE_KPKG_<series> (dots as
# underscores) names a package instead of the suite's newest.
kernel_fetch() {
	local series=$1 conf var pkg deb tmp
	var=SLUICE_KPKG_${series//./_}
	pkg=${!var:-}
	conf=$(kapt_setup "$series") || { klog "$series: apt update failed"; return 1; }
	if [ -z "$pkg" ]; then
		# The suite's newest image of the series (not -cloud, -rt, -dbg).
		pkg=$(APT_CONFIG=$conf apt-cache search --names-only "^linux-image-${series//./\\.}[.-]" 2>/dev/null |
			awk '{ print $1 }' | grep -E -- '-amd64$' | grep -vE -- '-(cloud|rt)-amd64$' |
			sort -V | tail -1)
	fi
	[ -n "$pkg" ] || { klog "$series: no linux-image package found in $(grep -o ' [a-z-]* main' "${conf%/*}/sources.list" | tr -d '\n')"; return 1; }
	KPKG=$pkg
	KVER=${pkg#linux-image-}
	KVER=${KVER%-unsigned}
	KDIR=$SLUICE_KCACHE/$KVER
	if [ ! -e "$KDIR/.unpacked" ]; then
		klog "$series: downloading $pkg"
		tmp=$(mktemp -d "$SLUICE_KCACHE/dl.XXXXXX") || return 1
		if ! (cd "$tmp" && APT_CONFIG=$conf apt-get -qq download "$pkg" >&2); then
			rm -rf "$tmp"
			klog "$series: apt-get download $pkg failed"
			return 1
		fi
		deb=$(ls "$tmp"/*.deb | head -1)
		rm -rf "$KDIR"
		mkdir -p "$KDIR"
		if ! dpkg -x "$deb" "$KDIR"; then
			rm -rf "$tmp" "$KDIR"
			return 1
		fi
		rm -rf "$tmp"
		# trixie's packages are merged-/usr: modprobe -d wants lib/modules.
		[ -d "$KDIR/lib/modules" ] || ln -s usr/lib "$KDIR/lib"
		# busybox insmod reads plain .ko only (6.12 ships .ko.xz).
		find "$KDIR/lib/modules/" -name '*.ko.xz' -exec xz -d {} + || return 1
		depmod -b "$KDIR" "$KVER" || return 1
		kernel_vmlinux "$KDIR/boot/vmlinuz-$KVER" "$KDIR/vmlinux" ||
			klog "$series: no ELF vmlinux extracted, booting the bzImage"
		touch "$KDIR/.unpacked"
	fi
	return 0
}

# kernel_vmlinux BZIMAGE OUT: the ELF vmlinux inside a bzImage (xz up to
# 6.1, zstd since). qemu boots it through its PVH note, which skips the
# decompressor (3-4 s instead of 8-9 s under TCG).
kernel_vmlinux() {
	python3 - "$1" "$2" <<-'EOF'
	import lzma, subprocess, sys
	data = open(sys.argv[1], "rb").read()

	def unxz(blob):
	    return lzma.LZMADecompressor().decompress(blob)

	def unzstd(blob):
	    # zstd complains about the bytes after the frame; its output stands.
	    return subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True).stdout

	for magic, unpack in ((b"\xfd7zXZ\x00", unxz), (b"\x28\xb5\x2f\xfd", unzstd)):
	    at = data.find(magic)
	    while at >= 0:
	        try:
	            out = unpack(data[at:])
	            if out[:4] == b"\x7fELF":
	                open(sys.argv[2], "wb").write(out)
	                sys.exit(0)
	        except lzma.LZMAError:
	            pass
	        at = data.find(magic, at + 1)
	sys.exit(1)
	EOF
}

# kernel_initramfs: KDIR/initramfs.cpio, busybox-static and the modules the
# init needs for virtio-9p (built in on some kernels, modules on others),
# in the order modprobe would load them.
kernel_initramfs() {
	local root out=$KDIR/initramfs.cpio line ko
	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	[ -s "$out" ] && [ "$out" -nt "$here/init" ] && return 0
	[ -x /bin/busybox ] && file_is_static /bin/busybox ||
		{ klog "busybox-static is not installed"; return 1; }
	root=$(mktemp -d) || return 1
	mkdir -p "$root/bin" "$root/lib" "$root/dev" "$root/proc" "$root/sys" "$root/newroot"
	cp /bin/busybox "$root/bin/busybox"
	install -m 755 "$here/init" "$root/init"
	: > "$root/modules"
	modprobe -d "$KDIR" -S "$KVER" --show-depends -a virtio_pci 9pnet_virtio 9p 2>/dev/null |
	while read -r line; do
		case "$line" in insmod*) ;; *) continue ;; esac
		ko=${line#insmod }
		ko=${ko%% *}
		grep -qxF "$(basename "$ko")" "$root/modules" && continue
		cp "$ko" "$root/lib/" && basename "$ko" >> "$root/modules"
	done
	(cd "$root" && find . | cpio -o -H newc --quiet) > "$out.tmp" && mv "$out.tmp" "$out"
	local rc=$?
	rm -rf "$root"
	return $rc
}

file_is_static() {
	! LC_ALL=C readelf -l "$1" 2>/dev/null | grep -q 'INTERP'
}

# kernel_accel: qemu's -accel options: KVM when it can really be used
# (/dev/kvm exists on machines whose CPU has no virtualisation), TCG else.
kernel_accel() {
	if [ -w /dev/kvm ] && grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
		echo "-accel kvm -cpu host"
	else
		# One host thread for all vCPUs: with thread=multi a 6.18.15
		# guest once oopsed on an int3 in bpf_dispatcher_xdp_func, the
		# kernel patching the XDP dispatcher (a link update) while a
		# live-frames test run went through it on the other vCPU.
		echo "-accel tcg,thread=${SLUICE_KTCG_THREAD:-single} -cpu ${SLUICE_KCPU:-max}"
	fi
}

# kernel_boot OUT TIMEOUT: boots KDIR/KVER with OUT/env prepared by the
# caller, waits at most TIMEOUT seconds, leaves the serial console in
# OUT/console.log. Returns qemu's status (124: timed out, then killed).
kernel_boot() {
	local out=$1 limit=$2 image=$KDIR/vmlinux rc
	[ -s "$image" ] || image=$KDIR/boot/vmlinuz-$KVER
	# shellcheck disable=SC2046
	timeout -k 10 "$limit" qemu-system-x86_64 \
		-nodefaults -no-user-config -machine q35 $(kernel_accel) \
		-smp "${SLUICE_KSMP:-2}" -m "${SLUICE_KMEM:-2G}" \
		-display none -monitor none -serial "file:$out/console.log" -no-reboot \
		-kernel "$image" -initrd "$KDIR/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 oops=panic quiet loglevel=4 rdinit=/init" \
		-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
		-virtfs "local,path=$out,mount_tag=out,security_model=none" \
		</dev/null >"$out/qemu.log" 2>&1
	rc=$?
	return $rc
}

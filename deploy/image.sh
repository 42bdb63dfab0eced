#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Runs deploy/Containerfile's steps where no container engine runs, into a
# folder, and runs the result the way the DaemonSet runs the image.
#
#   image.sh build [--base DIR] [--deb FILE] OUT
#       FROM is DIR (default /, this Debian 12 machine, standing in for
#       debian:12-slim; a debootstrap'ed bookworm works too), seen through an
#       overlay so it is never written: OUT/layer receives what the steps
#       change, as an image layer would. COPY takes files from deploy/ (the
#       build context; --deb puts the package there), RUN runs in a chroot,
#       ENV and ENTRYPOINT are recorded in OUT/config.
#   image.sh run OUT [--bind HOST:CTR]... [--env K=V]... [--exec] [-- ARGS]
#       The image's ENTRYPOINT with ARGS (with --exec, ARGS is the command, as
#       a probe's exec runs), its ENV then --env, in a chroot of OUT over its
#       base, with host paths bound in as the pod's volumes are. The calling
#       process's network namespace is the container's.
# Mounts live in a private mount namespace: nothing is left mounted.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

die() {
	echo "image.sh: $*" >&2
	exit 1
}

# mount_root OUT: OUT/rootfs = OUT/layer over the base, with /proc and /dev.
mount_root() {
	local out=$1 base
	base=$(cat "$out/base")
	mkdir -p "$out/layer" "$out/work" "$out/rootfs"
	mount -t overlay overlay -o "lowerdir=$base,upperdir=$out/layer,workdir=$out/work" "$out/rootfs"
	mount -t proc proc "$out/rootfs/proc"
	mount --rbind /dev "$out/rootfs/dev"
	# A sysfs of the caller's network namespace, as a runtime mounts one.
	mount -t sysfs sysfs "$out/rootfs/sys"
	mount -t tmpfs tmpfs "$out/rootfs/run"
}

build_inner() {
	local out=$1 ctx=$2 line op arg
	mount_root "$out"
	: > "$out/config"
	# One instruction a line (the Containerfile has no continuations).
	while IFS= read -r line; do
		case $line in ''|'#'*) continue ;; esac
		op=${line%% *}
		arg=${line#* }
		case $op in
		FROM)
			echo "FROM $arg: the base is $(cat "$out/base")" ;;
		COPY)
			local src=${arg% *} dst=${arg##* }
			echo "COPY $src $dst"
			# shellcheck disable=SC2086
			(cd "$ctx" && cp $src "$out/rootfs$dst") ;;
		RUN)
			echo "RUN $arg"
			chroot "$out/rootfs" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
				DEBIAN_FRONTEND=noninteractive /bin/sh -ec "$arg" ;;
		ENV|ENTRYPOINT|CMD)
			echo "$op $arg" >> "$out/config" ;;
		*)
			die "Containerfile: $op is not handled here" ;;
		esac
	done < "$here/Containerfile"
}

run_inner() {
	local out=$1
	shift
	local binds=() envs=() kv exec=
	while [ $# -gt 0 ]; do
		case $1 in
		--bind) binds+=("$2"); shift 2 ;;
		--env) envs+=("$2"); shift 2 ;;
		--exec) exec=1; shift ;;
		--) shift; break ;;
		*) break ;;
		esac
	done
	mount_root "$out"
	for b in ${binds[@]+"${binds[@]}"}; do
		mkdir -p "$out/rootfs${b#*:}"
		mount --bind "${b%%:*}" "$out/rootfs${b#*:}"
	done
	# ENV lines: K=V words; ENTRYPOINT: a JSON list.
	local env=(PATH=/usr/sbin:/usr/bin:/sbin:/bin)
	while read -r kv; do env+=($kv); done < <(sed -n 's/^ENV //p' "$out/config")
	env+=(${envs[@]+"${envs[@]}"})
	mapfile -t entry < <(sed -n 's/^ENTRYPOINT //p' "$out/config" |
		python3 -c 'import json,sys; print("\n".join(json.loads(sys.stdin.read())))')
	[ -z "$exec" ] || entry=()
	exec chroot "$out/rootfs" /usr/bin/env -i "${env[@]}" "${entry[@]}" "$@"
}

cmd=${1:-}
shift || true
case $cmd in
build)
	base=/ deb=
	while [ $# -gt 1 ]; do
		case $1 in
		--base) base=$2; shift 2 ;;
		--deb) deb=$2; shift 2 ;;
		*) die "build: unknown option $1" ;;
		esac
	done
	[ $# -eq 1 ] || die "usage: image.sh build [--base DIR] [--deb FILE] OUT"
	out=$(realpath -m "$1")
	rm -rf "$out"
	mkdir -p "$out/ctx"
	realpath "$base" > "$out/base"
	# The build context: deploy/ and the package.
	cp "$here"/Containerfile "$here"/entrypoint.sh "$out/ctx/"
	if [ -n "$deb" ]; then cp "$deb" "$out/ctx/"; else cp "$here"/sluice_*.deb "$out/ctx/"; fi
	unshare -m --propagation private "$0" build-inner "$out" "$out/ctx"
	rm -rf "$out/work"
	echo "image.sh: built $out (layer: $(du -sh "$out/layer" | cut -f1))"
	;;
build-inner) build_inner "$@" ;;
run)
	[ $# -ge 1 ] || die "usage: image.sh run OUT [--bind HOST:CTR]... [--env K=V]... [-- ARGS]"
	out=$(realpath "$1")
	shift
	exec unshare -m --propagation private "$0" run-inner "$out" "$@"
	;;
run-inner) run_inner "$@" ;;
*)
	die "usage: image.sh build|run ..."
	;;
esac

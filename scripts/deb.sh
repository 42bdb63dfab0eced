#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# make deb: builds the Debian package from a copy of the tree in $O/deb/, so
# debhelper's files never land in the source tree and the package's parent
# folder (where dpkg-buildpackage writes) is ours. Prints the .deb's path.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
out=$O/deb
version=$(dpkg-parsechangelog -l "$top/debian/changelog" -S Version)
src=$out/sluice-$version

for tool in dpkg-buildpackage dh; do
	command -v $tool >/dev/null || {
		echo "deb: $tool missing: apt-get install debhelper dpkg-dev (scripts/deps.sh does)" >&2
		exit 1
	}
done
# Build-Depends that are missing, named, before a long build fails late.
if ! dpkg-checkbuilddeps "$top/debian/control" 2>/tmp/sluice-deb-deps.$$; then
	cat /tmp/sluice-deb-deps.$$ >&2
	rm -f /tmp/sluice-deb-deps.$$
	exit 1
fi
rm -f /tmp/sluice-deb-deps.$$

rm -rf "$out"
mkdir -p "$src"
# The tree without VCS data or build output (O may be inside it).
excl=(--exclude-vcs --exclude=./build)
case $O/ in "$top"/*) excl+=(--exclude="./${O#"$top"/}") ;; esac
tar -C "$top" "${excl[@]}" -cf - . | tar -C "$src" -xf -

(cd "$src" && dpkg-buildpackage -b -us -uc -j"$(nproc)") >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
	exit 1
}
rm -rf "$src"
ls "$out"/sluice_*.deb

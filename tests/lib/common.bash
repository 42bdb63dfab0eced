# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# bats helpers: `load ../lib/common` from a tests/netns/*.bats file.
# Gives the topology functions of netns.sh plus where the build lives.

SLUICE_TOP=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
SLUICE_BUILD=${SLUICE_BUILD:-${O:-$SLUICE_TOP/build}}
export SLUICE_TOP SLUICE_BUILD

. "$SLUICE_TOP/tests/lib/netns.sh"

# A topology name unique to this run of this file: <= 12 chars.
topo_name() {
	printf '%s%s' "${1:-sl}" "$$" | cut -c1-12
}

# require_root: skip unless we may create namespaces and load BPF.
require_root() {
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# require_file PATH: skip when a build product is missing.
require_file() {
	[ -e "$1" ] || skip "$1 not built (make O=$SLUICE_BUILD)"
}

# wait_file PATH [TENTHS]: waits until PATH exists and is not empty.
wait_file() {
	local i
	for ((i = 0; i < ${2:-50}; i++)); do
		[ -s "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# json_get FILE KEY: a number or string at the top level of a JSON object.
json_get() {
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

# probe_ok FEATURE: true when `sluicectl probe` finds FEATURE here (it honours
# SLUICE_DENY_FEATURES, so a suite acting as a kernel without it skips too).
probe_ok() {
	"$SLUICE_BUILD/cli/sluicectl" probe -j 2>/dev/null | python3 -c '
import json, sys
f = {x["name"]: x["ok"] for x in json.load(sys.stdin)["features"]}
sys.exit(0 if f.get(sys.argv[1]) else 1)' "$1"
}

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The repository carries its own test data: every capture in tests/data is
# listed in its MANIFEST.md with the right sha256 and a licence that may
# travel with the project, each has its oracle, and no test reads captures
# from outside the repository.

setup() {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	data=$top/tests/data
}

@test "every capture is in MANIFEST.md with its sha256, and every listed file is here" {
	run python3 - "$data" <<-'EOF'
	import glob, hashlib, os, sys
	d = sys.argv[1]
	rows = {}
	for line in open(os.path.join(d, "MANIFEST.md")):
	    cols = [c.strip() for c in line.split("|")]
	    if len(cols) > 11 and cols[1].endswith((".pcap", ".pcapng")):
	        rows[cols[1]] = cols
	files = sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "*.pcap*")))
	bad = [f for f in files if f not in rows] + [f for f in rows if f not in files]
	for f in files:
	    if f in rows:
	        h = hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest()[:16]
	        if rows[f][10] != h:
	            bad.append("%s: sha256 %s, MANIFEST says %s" % (f, h, rows[f][10]))
	        if not rows[f][3].startswith(("BSD-3-Clause", "MIT")):
	            bad.append("%s: licence %s" % (f, rows[f][3]))
	print("%d files, %d rows" % (len(files), len(rows)))
	print("\n".join(bad))
	sys.exit(1 if bad or not files else 0)
	EOF
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "no LGPL capture is in the repository" {
	run bash -c "ls '$data' | grep -i ndpi"
	[ "$status" -ne 0 ]
}

@test "every Ethernet capture has its oracle" {
	for f in "$data"/*.pcap "$data"/*.pcapng; do
		case $f in *.raw.pcap) continue ;; esac
		[ -s "$data/oracle/packets/$(basename "$f").csv" ] || { echo "no oracle: $f"; false; }
	done
}

@test "no test reads test data from outside the repository" {
	run grep -rn --include='*.c' --include='*.bats' --include='*.bash' --include='*.sh' \
		--include='*.py' --exclude=data.bats -e 'shared/pcaps' -e 'TOP/\.\./' \
		"$top/tests" "$top/bench" "$top/tools"
	echo "$output"
	[ "$status" -eq 1 ]
}

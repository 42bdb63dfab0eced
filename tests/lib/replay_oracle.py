#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The count stage's counters, and what the tshark oracle says they must be.

  replay_oracle.py counts MAP
      MAP is a pinned sluice_counts map. Prints {class: {packets, bytes,
      frags, mixed}} summed over CPUs and over the verdict so far, as JSON.

  replay_oracle.py check PCAPS FILE BEFORE AFTER
      BEFORE and AFTER are outputs of `counts` around a replay of FILE.
      Compares their difference with the counts the oracle
      (PCAPS/oracle/packets/FILE.csv) predicts, after the exceptions below.
      Prints one line per class; exit status 1 on any difference, or when an
      exception no longer changes anything (a stale entry must go).

Classes are those of enum sluice_proto_class (include/sluice/abi.h); the
oracle's outer l3/l4 columns map onto them the way bpf/count.h classifies
parse's metadata.
"""
import csv
import json
import os
import subprocess
import sys

# enum sluice_proto_class, in order.
CLASSES = ["other", "arp", "ipv4_tcp", "ipv4_udp", "ipv4_icmp", "ipv4_other",
           "ipv6_tcp", "ipv6_udp", "ipv6_icmp", "ipv6_other", "malformed"]
NR_VERDICTS = 5			# SLUICE_NR_VERDICTS
FIELDS = ["packets", "bytes", "frags", "mixed"]	# struct sluice_count, u64 each

# Frames the veth cannot carry or the pipeline is not asked to count: they
# never reach XDP, so they are removed from the expectation.
NOT_SENT = {
    ("zeek__trunc-trunc-hdr.pcap", 1):
        "8-byte frame: shorter than an Ethernet header, AF_PACKET refuses it on a veth",
}

# Packets parse (and so count) classifies differently from tshark's outer
# view: (file, first, last) -> (class, reason). Same cases as the exceptions
# of tests/unit/test_pcaps.c, seen here through the class they land in, plus
# frames whose headers run past the end: parse marks them TRUNC or
# MALFORMED and count files them under "malformed".
EXCEPTIONS = [
]


def u64s(raw, n):
    b = bytes(int(x, 16) for x in raw)
    return [int.from_bytes(b[8 * i:8 * i + 8], "little") for i in range(n)]


def counts(path):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", path],
                         check=True, capture_output=True, text=True).stdout
    res = {c: dict.fromkeys(FIELDS, 0) for c in CLASSES}
    for e in json.loads(out):
        key = u64s(e["key"] + ["0x00"] * 4, 1)[0]	# u32 key, padded to u64
        cls = CLASSES[key // NR_VERDICTS]
        for v in e["values"]:
            for f, x in zip(FIELDS, u64s(v["value"], len(FIELDS))):
                res[cls][f] += x
    return res


def oracle_class(row):
    l3, l4 = row["l3"], row["l4"]
    if l3 == "arp":
        return "arp"
    if l3 not in ("ipv4", "ipv6"):
        return "other"
    fam = "ipv4" if l3 == "ipv4" else "ipv6"
    l4 = {"icmpv6": "icmp"}.get(l4, l4)
    if l4 not in ("tcp", "udp", "icmp"):
        l4 = "other"
    return fam + "_" + l4


def is_frag(row):
    return row["ipv4_frag"] == "1" if row["l3"] == "ipv4" else row["ipv6_frag"] == "1"


def expect(pcaps, name):
    """Predicted {class: {packets, frags}} and the notes that shaped it."""
    exp = {c: {"packets": 0, "frags": 0} for c in CLASSES}
    notes, used = [], set()
    with open(os.path.join(pcaps, "oracle", "packets", name + ".csv")) as f:
        for row in csv.DictReader(f):
            n = int(row["frame"])
            if (name, n) in NOT_SENT:
                notes.append("#%d not sent: %s" % (n, NOT_SENT[(name, n)]))
                continue
            cls, frag = oracle_class(row), is_frag(row) and row["l3"] in ("ipv4", "ipv6")
            for i, (file, first, last, to, why) in enumerate(EXCEPTIONS):
                if file == name and first <= n <= last:
                    if to == cls:
                        notes.append("#%d: exception '%s' is stale, the oracle says %s too"
                                     % (n, why, cls))
                        used.add(("stale", i))
                    cls = to
                    used.add(i)
                    break
            exp[cls]["packets"] += 1
            exp[cls]["frags"] += frag
    for i, (file, first, last, to, why) in enumerate(EXCEPTIONS):
        if file == name and i in used:
            notes.append("#%d-%d counted as %s: %s" % (first, last, to, why))
    stale = any(isinstance(u, tuple) for u in used)
    return exp, notes, stale


def check(pcaps, name, before, after):
    with open(before) as f:
        b = json.load(f)
    with open(after) as f:
        a = json.load(f)
    exp, notes, stale = expect(pcaps, name)
    bad = stale
    for n in notes:
        print("# %s %s" % (name, n))
    for c in CLASSES:
        got = {k: a[c][k] - b[c][k] for k in ("packets", "frags", "mixed")}
        want = dict(exp[c], mixed=0)
        if got != want:
            bad = True
            print("# %s %s: want %s, got %s" % (name, c, want, got))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 3 and argv[1] == "counts":
        json.dump(counts(argv[2]), sys.stdout)
        print()
        return 0
    if len(argv) == 6 and argv[1] == "check":
        return check(*argv[2:])
    if len(argv) == 4 and argv[1] == "expect":
        exp, notes, _ = expect(argv[2], argv[3])
        print(json.dumps(exp))
        for n in notes:
            print("# " + n)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

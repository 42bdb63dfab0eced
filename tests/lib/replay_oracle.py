#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""The count stage's counters, and what the tshark oracle says they must be.

  replay_oracle.py counts MAP
      MAP is a pinned sluice_counts map. Prints {class: {packets, bytes,
      frags, mixed}} summed over CPUs and over the verdict so far, as JSON.

  replay_oracle.py expect PCAPS FILE
      What the count stage must show after a replay of FILE, from the oracle
      (PCAPS/oracle/packets/FILE.csv) and the tables below, as JSON.

  replay_oracle.py replay PCAPS NETNS IFACE MAPS MIN_FILES
      Replays every capture that has an oracle with tcpreplay on IFACE in
      network namespace NETNS, one at a time, and compares the change of the
      count stage's counters (MAPS/sluice_counts) with the expectation, and
      the entry's packet count (MAPS/sluice_pipe_stats) with what tcpreplay
      sent. Prints a "# " line per disagreement; exit status 1 on any, when
      an exception no longer changes anything (a stale entry must go), or
      when fewer than MIN_FILES captures were found.

Classes are those of enum sluice_proto_class (include/sluice/abi.h); the
oracle's outer l3/l4 columns map onto them the way bpf/count.h classifies
parse's metadata.
"""
import csv
import json
import os
import subprocess
import sys
import time

# enum sluice_proto_class, in order.
CLASSES = ["other", "arp", "ipv4_tcp", "ipv4_udp", "ipv4_icmp", "ipv4_other",
           "ipv6_tcp", "ipv6_udp", "ipv6_icmp", "ipv6_other", "malformed"]
NR_VERDICTS = 5			# SLUICE_NR_VERDICTS
# Replay rate: well under what the veth ring (256 frames) absorbs in a burst.
PPS = "20000"
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
    # parse stops by design where tshark reads on.
    ("zeek__vlan-qinqinq.pcap", 1, 14, "other",
     "3 VLAN tags: parse reads 2 (SLUICE_PKT_VLAN_LIMIT), so no L3; tshark reads on to IPv4/TCP"),
    ("suricata-verify__eve-flow-vlan-02.pcap", 3, 3, "other",
     "3 VLAN tags: parse reads 2 (SLUICE_PKT_VLAN_LIMIT); tshark reads on to IPv4/ICMP"),
    ("suricata-verify__detect-arp-03-vlan.pcap", 3, 3, "other",
     "3 VLAN tags: parse reads 2 (SLUICE_PKT_VLAN_LIMIT); tshark reads on to ARP"),
    ("libpcap__ipv6_ext_headers.pcap", 1, 1, "ipv6_other",
     "~100 IPv6 extension headers: parse walks 8 (SLUICE_PKT_EXT_LIMIT); tshark reaches UDP"),
    # parse skips what it does not interpret; tshark stops at it.
    ("suricata-verify__tcp-session-decode-malformed-ipv4.pcap", 8, 8, "ipv4_tcp",
     "IPv4 option with an impossible length: parse skips options by IHL and reads TCP behind"),
    ("zeek__ipv6-mobility-dst-opts.pcap", 1, 1, "ipv6_udp",
     "Destination Options with a malformed option TLV: parse skips it by its length, reads UDP"),
    # Headers that run past the datagram or the frame: TRUNC, counted as malformed.
    ("zeek__ipv6-mobility-dst-opts.pcap", 2, 2, "malformed",
     "Destination Options of 40 bytes in a 36-byte payload: TRUNC"),
    ("suricata-verify__decode-too-small.pcap", 1, 3, "malformed",
     "IPv4 naming TCP/UDP with no or half an L4 header: TRUNC"),
    ("suricata-verify__decode-too-small.pcap", 5, 7, "malformed",
     "IPv6 naming TCP/UDP with no or half an L4 header: TRUNC"),
    ("suricata-verify__frag-eth-vlan-ip-tcp-syn.pcap", 1, 1, "malformed",
     "first fragment with 8 of 20 TCP header bytes: TRUNC"),
    ("zeek__ipv4-fragmented-syn.pcap", 1, 1, "malformed",
     "first fragment holds the fixed TCP header, its options are in the next one: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 1, 1, "malformed",
     "snaplen cut: IP total length runs past the captured bytes: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 4, 4, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 6, 6, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 8, 9, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 11, 12, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 14, 15, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 17, 17, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 19, 19, "malformed", "snaplen cut: TRUNC"),
    ("zeek__tcp-truncated-header.pcap", 21, 21, "malformed", "snaplen cut: TRUNC"),
    ("tcpdump__ipv4_invalid_total_length.pcap", 1, 1, "malformed",
     "IPv4 total length 85 with 84 bytes present: TRUNC"),
    ("tcpdump__ipv6_invalid_length.pcap", 1, 1, "malformed",
     "IPv6 payload length 64 with 39 bytes present: TRUNC"),
    ("zeek__trunc-icmp-header-trunc.pcap", 1, 2, "malformed",
     "IPv4 total length 84 with 26 bytes present: TRUNC"),
    ("zeek__trunc-ip4-trunc.pcap", 1, 1, "malformed", "6 bytes of IPv4 header: TRUNC"),
    ("zeek__trunc-ip6-trunc.pcap", 1, 1, "malformed", "34 bytes of IPv6 header: TRUNC"),
    ("zeek__trunc-ip6-ext-trunc.pcap", 1, 1, "malformed",
     "IPv6 names a Hop-by-Hop header the frame does not hold: TRUNC"),
    ("zeek__trunc-ipv4-internally-truncated-header.pcap", 1, 1, "malformed",
     "IHL of 60 bytes in a 20-byte packet: options missing, TRUNC"),
    # Fields that cannot be right: MALFORMED.
    ("tcpdump__ipv4_invalid_hdr_length.pcap", 1, 1, "malformed", "IPv4 IHL 16 < 20: MALFORMED"),
    ("zeek__trunc-ipv4-truncated-broken-header.pcap", 1, 1, "malformed",
     "IPv4 total length 20 < IHL 60: MALFORMED"),
    ("tcpdump__ipv6-bad-version.pcap", 2, 2, "malformed",
     "ethertype 0x86dd, IP version not 6: MALFORMED (tshark: data, l3 other)"),
    ("tcpdump__ipv6-bad-version.pcap", 4, 4, "malformed", "IP version not 6: MALFORMED"),
]


def u64s(raw, n):
    b = bytes(int(x, 16) for x in raw)
    return [int.from_bytes(b[8 * i:8 * i + 8], "little") for i in range(n)]


def dump(path):
    out = subprocess.run(["bpftool", "-j", "map", "dump", "pinned", path],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def counts(path):
    """{class: {packets, bytes, frags, mixed}} of a pinned sluice_counts."""
    res = {c: dict.fromkeys(FIELDS, 0) for c in CLASSES}
    for e in dump(path):
        key = int.from_bytes(bytes(int(x, 16) for x in e["key"]), "little")
        cls = CLASSES[key // NR_VERDICTS]
        for v in e["values"]:
            for f, x in zip(FIELDS, u64s(v["value"], len(FIELDS))):
                res[cls][f] += x
    return res


def pipe_packets(path):
    """Packets the entry counted: first u64 of struct sluice_pipe_stats, all CPUs."""
    return sum(u64s(v["value"], 1)[0] for e in dump(path) for v in e["values"])


def oracle_class(row):
    l3, l4 = row["l3"], row["l4"]
    if l3 == "arp":
        return "arp"
    if l3 not in ("ipv4", "ipv6"):
        return "other"
    l4 = {"icmpv6": "icmp"}.get(l4, l4)
    if l4 not in ("tcp", "udp", "icmp"):
        l4 = "other"
    return l3 + "_" + l4


def is_frag(row):
    return ((row["l3"] == "ipv4" and row["ipv4_frag"] == "1") or
            (row["l3"] == "ipv6" and row["ipv6_frag"] == "1"))


def expect(pcaps, name):
    """Predicted {class: {packets, frags}}, frames left unsent, and errors."""
    exp = {c: {"packets": 0, "frags": 0} for c in CLASSES}
    errors, unsent = [], 0
    with open(os.path.join(pcaps, "oracle", "packets", name + ".csv")) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        n = int(row["frame"])
        if (name, n) in NOT_SENT:
            unsent += 1
            continue
        cls = oracle_class(row)
        for file, first, last, to, why in EXCEPTIONS:
            if file == name and first <= n <= last:
                if to == cls:
                    errors.append("#%d: stale exception (%s): the oracle says %s too"
                                  % (n, why, cls))
                cls = to
                break
        exp[cls]["packets"] += 1
        exp[cls]["frags"] += is_frag(row)
    for file, first, last, to, why in EXCEPTIONS:
        if file == name and last > len(rows):
            errors.append("exception #%d-%d beyond the %d frames" % (first, last, len(rows)))
    return exp, unsent, errors


def tcpreplay(netns, iface, path):
    """Replays path; returns (sent, failed) as tcpreplay counted them."""
    out = subprocess.run(["nsenter", "--net=/run/netns/" + netns, "tcpreplay", "-i", iface,
                          "--pps=" + PPS, path], capture_output=True, text=True)
    sent = failed = None
    for line in out.stdout.splitlines():
        w = line.split()
        if line.strip().startswith("Successful packets:"):
            sent = int(w[2])
        elif line.strip().startswith("Failed packets:"):
            failed = int(w[2])
    if sent is None and failed is None and "Unable to send packet" in out.stderr + out.stdout:
        # tcpreplay prints no totals when its only frame could not be sent.
        sent, failed = 0, (out.stderr + out.stdout).count("Unable to send packet")
    if sent is None or failed is None:
        raise RuntimeError("tcpreplay %s: %s%s" % (path, out.stdout, out.stderr))
    return sent, failed


def replay(pcaps, netns, iface, maps):
    """Every capture with an oracle, one by one; returns the number of failures."""
    cmap, pmap = os.path.join(maps, "sluice_counts"), os.path.join(maps, "sluice_pipe_stats")
    names = sorted(n for n in os.listdir(pcaps)
                   if os.path.isfile(os.path.join(pcaps, "oracle", "packets", n + ".csv")))
    bad, total = 0, 0
    before, p0 = counts(cmap), pipe_packets(pmap)
    for name in names:
        exp, unsent, errors = expect(pcaps, name)
        sent, failed = tcpreplay(netns, iface, os.path.join(pcaps, name))
        if failed != unsent:
            errors.append("tcpreplay failed to send %d frames, %d expected" % (failed, unsent))
        # The veth hands frames to XDP from NAPI, maybe after tcpreplay returned.
        for _ in range(100):
            p1 = pipe_packets(pmap)
            if p1 - p0 >= sent:
                break
            time.sleep(0.02)
        if p1 - p0 != sent:
            errors.append("tcpreplay sent %d frames, the pipeline saw %d" % (sent, p1 - p0))
        after = counts(cmap)
        for c in CLASSES:
            got = {k: after[c][k] - before[c][k] for k in ("packets", "frags", "mixed")}
            want = dict(exp[c], mixed=0)
            if got != want:
                errors.append("%s: want %s, got %s" % (c, want, got))
        for e in errors:
            print("# %s %s" % (name, e))
        bad += bool(errors)
        total += sent
        before, p0 = after, p1
    print("# %d captures, %d frames replayed, %d captures disagree" % (len(names), total, bad))
    return len(names), bad


def main(argv):
    if len(argv) == 3 and argv[1] == "counts":
        json.dump(counts(argv[2]), sys.stdout)
        print()
        return 0
    if len(argv) == 4 and argv[1] == "expect":
        exp, unsent, errors = expect(argv[2], argv[3])
        print(json.dumps({"expect": exp, "unsent": unsent, "errors": errors}))
        return 0
    if len(argv) == 7 and argv[1] == "replay":
        n, bad = replay(*argv[2:6])
        return 1 if bad or n < int(argv[6]) else 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

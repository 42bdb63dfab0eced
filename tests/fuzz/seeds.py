#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""Writes the seed corpora of the fuzz targets under tests/fuzz/corpus/.

The seeds are what the parsers see in normal use (every example config and
test config, each control op with its fields, rule texts, small captures of
the formats libpcap reads), so the fuzzer starts from valid input and
mutates it. Run it again after adding an op or a config example.
"""
import json, os, shutil, struct, sys

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
out = os.path.join(top, "tests", "fuzz", "corpus")

def put(kind, name, data):
    d = os.path.join(out, kind)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())

# --- config: the shipped examples and the unit tests' configs
for sub in ("config", os.path.join("tests", "unit", "configs")):
    for f in sorted(os.listdir(os.path.join(top, sub))):
        if f.endswith(".yaml"):
            put("config", f.replace("-", "_"), open(os.path.join(top, sub, f), "rb").read())
put("config", "inline_everything.yaml", """pin_root: /sys/fs/bpf/x
state_dir: /run/x
log_level: debug
control: { socket: /run/x/s, mode: 0660, group: nogroup, read_group: users, idle_timeout_ms: 500 }
metrics: { listen: ":9469" }
trust: { owner: 0 }
pipelines:
  - name: fw
    default_verdict: drop
    stages:
      - { name: parse, object: parse, params: { drop_malformed: true } }
      - name: acl
        object: acl
        params: { default_action: pass }
        rules:
          - { id: 1, action: drop, proto: tcp, src: [10.0.0.0/8, "2001:db8::/32"], dport: 22-23, tcp_flags: "syn/syn,ack" }
          - { id: 2, action: xsk, proto: udp, dst: &d 192.168.0.0/16, sport: any, family: 4 }
          - { id: 3, action: count, dst: *d }
        tests:
          - { packet: { proto: tcp, src: 10.1.1.1, dport: 22, tcp_flags: syn, vlan: [1, 2], len: 128, ttl: 3 }, expect: drop }
        auto_rollback: { window_ms: 100, max_aborted: 1, max_missed: 2, max_drop_ratio: 0.5 }
      - { name: rl, object: ratelimit, params: { rate_pps: 10, burst: 5, over_action: drop } }
      - { name: x, object: xsk, params: { all: 1, fallback: pass } }
      - { name: count, object: count, tail_calls: 2 }
interfaces:
  - { name: veth0, pipeline: fw, mode: native, attach: link, shared_maps: [sluice_counts] }
xsk: { interface: veth0, queues: [0, 1], rx_ring: 2048, fill_ring: 2048, frame_size: 4096, frames: 4096, mode: copy }
""")

# --- ctl: a role byte (0 admin, 1 read), then frames as a client writes them
def frame(body, typ=1, magic=0x534c4354, ver=1):
    b = json.dumps(body, separators=(",", ":")).encode() if not isinstance(body, bytes) else body
    return struct.pack("!IHHI", magic, ver, typ, len(b)) + b

reqs = {
    "status": {"op": "status"},
    "stage_list": {"op": "stage.list", "iface": "fz0"},
    "stage_show": {"op": "stage.show", "iface": "fz0", "stage": "acl"},
    "stage_swap": {"op": "stage.swap", "iface": "fz0", "stage": "count", "object": "pass",
                   "params": {}, "force": True},
    "stage_swap_file": {"op": "stage.swap", "iface": "fz0", "stage": "acl", "object": "/tmp/x.bpf.o",
                        "program": "p", "pcap": "/tmp/x.pcap", "expect": "drop"},
    "stage_swap_params": {"op": "stage.swap", "iface": "fz0", "stage": "count", "object": "ratelimit",
                          "params": {"rate_pps": 4294967296, "burst": -1}},
    "stage_prepare": {"op": "stage.prepare", "iface": "fz0", "stage": "count", "object": "verdict",
                      "params": {"verdict": 1}},
    "stage_rollback": {"op": "stage.rollback", "iface": "fz0", "stage": "acl"},
    "txn": {"op": "txn", "iface": "fz0", "stages": [{"stage": "parse", "object": "parse"},
                                                     {"stage": "count", "object": "pass"}]},
    "txn_parts": {"op": "txn", "prepare": True, "parts": [{"iface": "fz0", "stages": [
        {"stage": "acl", "object": "acl", "params": {"default_action": 1}}]}]},
    "commit": {"op": "commit", "iface": "fz0", "candidate": 1},
    "commit_parts": {"op": "commit", "parts": [{"iface": "fz0", "candidate": 2}]},
    "candidate_drop": {"op": "candidate.drop", "iface": "fz0"},
    "txn_rollback": {"op": "txn.rollback", "iface": "fz0"},
    "canary_start": {"op": "canary.start", "iface": "fz0", "share": 12.5, "window_ms": 2000, "auto": True,
                     "max_drop_ratio": 0.1, "stages": [{"stage": "count", "object": "count"}]},
    "canary_status": {"op": "canary.status", "iface": "fz0"},
    "canary_promote": {"op": "canary.promote", "iface": "fz0"},
    "canary_abort": {"op": "canary.abort", "iface": "fz0"},
    "repair": {"op": "repair", "iface": "fz0"},
    "stage_diff": {"op": "stage.diff", "iface": "fz0", "stage": "acl", "object": "acl", "samples": 10,
                   "seconds": 1},
    "diff_status": {"op": "diff.status", "id": 1},
    "rule_add": {"op": "rule.add", "iface": "fz0", "rule": "drop id 7 proto tcp src 10.0.0.0/8 dport 22",
                 "before": 1},
    "rule_del": {"op": "rule.del", "iface": "fz0", "id": 1},
    "rule_list": {"op": "rule.list", "iface": "fz0"},
    "stats": {"op": "stats", "iface": "fz0"},
    "history": {"op": "history", "limit": 10},
    "reload": {"op": "reload"},
    "down": {"op": "down", "iface": "fz0"},
    "xsk_stats": {"op": "xsk.stats"},
    "coerce_id": {"op": "rule.del", "iface": "fz0", "id": True},
    "coerce_force": {"op": "stage.swap", "iface": "fz0", "stage": "acl", "object": "acl", "force": "false"},
}
for name, body in reqs.items():
    put("ctl", name, b"\x00" + frame(body))
    put("ctl", name + "_read", b"\x01" + frame(body))
put("ctl", "pipelined", b"\x00" + frame(reqs["status"]) + frame(reqs["rule_list"]) + frame(reqs["stats"]))
put("ctl", "bad_magic", b"\x00" + frame(reqs["status"], magic=0x48545450))
put("ctl", "reply_type", b"\x00" + frame(reqs["status"], typ=2))
put("ctl", "not_object", b"\x00" + frame(b"[1,2,3]"))
put("ctl", "trailing", b"\x00" + frame(b'{"op":"status"} x'))
put("ctl", "truncated", b"\x00" + frame(reqs["status"])[:20])
put("ctl", "huge_len", b"\x00" + struct.pack("!IHHI", 0x534c4354, 1, 1, 0x7fffffff))

# --- acl: rule texts as `sluicectl rule add` sends them
rules = [
    "drop proto tcp src 10.0.0.0/8,192.168.0.0/16 dport 22-23 flags syn/syn,ack",
    "id 7 pass dst 2001:db8::/32 family 6",
    "xsk id 3 proto udp sport 53 src 10.0.0.1",
    "count id 9",
    "drop id 1 proto 47",
    "drop id 2 proto tcp flags none/rst",
    "pass id 4294967295 proto icmpv6 family inet6",
    "drop src any dst any sport any dport any",
    "drop id 5 proto sctp sport 1-65535 dport 0",
    "drop " + "src " + ",".join("10.0.%d.%d" % (i // 10, 100 + i) for i in range(80)) + " dport 22",
]
for i, r in enumerate(rules):
    put("acl", "rule%02d" % i, r)

# --- pcap: small captures in the formats libpcap reads
def eth_ipv4_udp(payload=b"hello"):
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 8 + len(payload), 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    udp = struct.pack("!HHHH", 1000, 2000, 8 + len(payload), 0)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + ip + udp + payload

def eth_ipv6_tcp():
    tcp = struct.pack("!HHIIBBHHH", 1, 22, 0, 0, 0x50, 0x02, 1024, 0, 0)
    ip6 = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 6, 64, b"\x20\x01\x0d\xb8" + b"\0" * 11 + b"\1",
                      b"\x20\x01\x0d\xb8" + b"\0" * 11 + b"\2")
    return b"\x02" * 6 + b"\x04" * 6 + b"\x86\xdd" + ip6 + tcp

def pcap(frames, magic=0xa1b2c3d4, endian="<", linktype=1, snap=65535, caplen_delta=0):
    h = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snap, linktype)
    for i, fr in enumerate(frames):
        h += struct.pack(endian + "IIII", 1, i, len(fr) + caplen_delta, len(fr)) + fr
    return h

vlan = b"\x02" * 6 + b"\x04" * 6 + b"\x81\x00\x00\x05" + eth_ipv4_udp()[12:]
put("pcap", "udp.pcap", pcap([eth_ipv4_udp(), eth_ipv4_udp(b"x" * 200)]))
put("pcap", "ipv6_tcp.pcap", pcap([eth_ipv6_tcp()]))
put("pcap", "vlan.pcap", pcap([vlan]))
put("pcap", "nsec_be.pcap", pcap([eth_ipv4_udp()], magic=0xa1b23c4d, endian=">"))
put("pcap", "short_frames.pcap", pcap([b"\x01" * 10, eth_ipv4_udp()]))
put("pcap", "not_ethernet.pcap", pcap([eth_ipv4_udp()[14:]], linktype=101))
put("pcap", "truncated.pcap", pcap([eth_ipv4_udp()])[:-7])
print("seeds written under", out)

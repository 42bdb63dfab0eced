#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The hardening figures (issue #11, docs/BENCHMARKS.md "Hardening"):
#
#   1. executions of every fuzz target in a bounded run, and its crashes;
#   2. the distinct bad inputs thrown at a live daemon on a veth of its own,
#      with traffic: configurations (reloaded), control requests (raw frames
#      and fields), stage objects (swapped in), packets (tests/unit/test_packets),
#      and crash points (kill -9 during rule edits and reloads, then a
#      restart). After every one: the daemon answers, and the live pipeline
#      (link, generation, programs, default verdict, rules) is exactly what it
#      was, or, after a crash, what was last acknowledged.
#
# Usage: bench/hardening.sh [--quick]   (root; O=build dir, default build/)
#        FUZZ_SECONDS (30; --quick 5), CRASHES (20; --quick 6)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
O=${O:-$top/build}
quick=0
[ "${1:-}" = --quick ] && quick=1
FUZZ_SECONDS=${FUZZ_SECONDS:-$([ $quick -eq 1 ] && echo 5 || echo 30)}
CRASHES=${CRASHES:-$([ $quick -eq 1 ] && echo 6 || echo 20)}
SLUICED=$O/daemon/sluiced
CTL=$O/cli/sluicectl
. "$top/tests/lib/netns.sh"

[ "$(id -u)" -eq 0 ] || { echo "hardening: needs root" >&2; exit 1; }
for f in "$SLUICED" "$CTL" "$O/tests/unit/test_packets"; do
	[ -x "$f" ] || { echo "hardening: $f not built (make)" >&2; exit 1; }
done
bpffs_mount

NAME=hb$$
WORK=$(mktemp -d /tmp/sluice-hardening.XXXXXX)
PIN=/sys/fs/bpf/sluice-hardening-$NAME
SOCK=$WORK/sock
CFG=$WORK/sluiced.yaml
daemon_pid=
cleanup() {
	[ -n "$daemon_pid" ] && kill -9 "$daemon_pid" 2>/dev/null
	topo_destroy "$NAME" >/dev/null 2>&1
	rm -rf "$PIN" "$WORK"
}
trap cleanup EXIT INT TERM

echo "== fuzz: each target $FUZZ_SECONDS s from its seed corpus"
make -s -C "$top/tests/fuzz" all >/dev/null 2>&1
fuzz_out=$(O=$O bash "$top/tests/fuzz/run.sh" "$FUZZ_SECONDS")
echo "$fuzz_out"
fuzz_crashes=$(echo "$fuzz_out" | awk '{s += $5} END {print s + 0}')

topo_create "$NAME" >/dev/null
IF=$NAME-d0
write_cfg() {	# write_cfg RULE_PORT
	cat > "$CFG" <<-EOF
	pin_root: $PIN
	state_dir: $WORK/state
	control: { socket: $SOCK }
	pipelines:
	  - name: fw
	    default_verdict: pass
	    stages:
	      - { name: parse, object: parse }
	      - name: acl
	        object: acl
	        rules:
	          - { id: 10, action: drop, proto: udp, dport: ${1:-9} }
	      - { name: count, object: count }
	interfaces:
	  - { name: $IF, pipeline: fw }
	EOF
}
start() {
	nsenter --net="/run/netns/$NAME-dut" "$SLUICED" -c "$CFG" >>"$WORK/log" 2>&1 &
	daemon_pid=$!
	for _ in $(seq 100); do
		"$CTL" -s "$SOCK" status >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	cat "$WORK/log" >&2
	return 1
}
ctl() { "$CTL" -s "$SOCK" "$@"; }
# The live pipeline, canonically: link, generation, default verdict, program ids, rules.
fingerprint() {
	{ ctl -j status; ctl -j rule list "$IF"; } | python3 -c '
import json, sys
d = json.JSONDecoder(); s = sys.stdin.read(); out = []; i = 0
while i < len(s):
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    o, i = d.raw_decode(s, i); out.append(o)
st, rl = out
f = st["interfaces"][0]
print(f["link_id"], f["gen"], f["default_verdict"], [s["prog_id"] for s in f["stages"]],
      [r["text"] for r in rl["rules"]])'
}
alive() { kill -0 "$daemon_pid" 2>/dev/null && ctl status >/dev/null 2>&1; }

write_cfg 9
mkdir -p "$WORK/state"
start || exit 1
# Traffic through it all along: the pipeline must keep taking it.
ip netns exec "$TOPO_GEN_NS" ping -q -i 0.05 -W 1 "$TOPO_DUT_IP" >"$WORK/ping" 2>&1 &
ping_pid=$!
base=$(fingerprint)
changed=0 daemon_crashes=0
check() {	# check WHAT: the daemon lives and nothing changed
	if ! alive; then
		echo "hardening: the daemon died after $1" >&2
		daemon_crashes=$((daemon_crashes + 1))
		start || exit 1
	fi
	if [ "$(fingerprint)" != "$base" ]; then
		echo "hardening: the live pipeline changed after $1" >&2
		changed=$((changed + 1))
		base=$(fingerprint)
	fi
}

echo "== configurations: reloaded, each refused"
mkdir -p "$WORK/bad"
cp "$CFG" "$WORK/good.yaml"
python3 - "$WORK/good.yaml" "$WORK/bad" "$top" <<-'EOF'
import hashlib, os, shutil, sys
good, out, top = sys.argv[1], sys.argv[2], sys.argv[3]
lines = open(good).read().split("\n")
seen = set()
def put(text):
    h = hashlib.sha1(text.encode("utf-8", "surrogateescape")).hexdigest()
    if h in seen: return
    seen.add(h)
    open(os.path.join(out, h + ".yaml"), "w", errors="surrogateescape").write(text)
# every line removed; every value replaced by values of the wrong kind
garbage = ["", "-1", "4294967296", "true", "[ ]", "{ }", "~", "'x'", "!!binary AAAA", "*nope", "&a [*a]",
           "0x1p3", "\"\\u0000\"", "[[[[[[", "9999999999999999999999", "/etc/shadow", "../../x"]
for i, l in enumerate(lines):
    put("\n".join(lines[:i] + lines[i + 1:]))
    if ":" in l:
        k = l[:l.index(":") + 1]
        for g in garbage:
            put("\n".join(lines[:i] + [k + " " + g] + lines[i + 1:]))
    put("\n".join(lines[:i] + ["\t" + l] + lines[i + 1:]))
# the unit tests' and the fuzz corpus's configurations
for d in ("tests/unit/configs", "tests/fuzz/corpus/config"):
    for f in sorted(os.listdir(os.path.join(top, d))):
        put(open(os.path.join(top, d, f), errors="surrogateescape").read())
EOF
nconf=0
for f in "$WORK"/bad/*.yaml; do
	# Only what the checker refuses: a valid file would rightly change the pipeline.
	nsenter --net="/run/netns/$NAME-dut" "$SLUICED" -n -c "$f" >/dev/null 2>&1 && continue
	cp "$f" "$CFG"
	if ctl reload >/dev/null 2>&1; then
		echo "hardening: a refused configuration reloaded: $f" >&2
		changed=$((changed + 1))
	fi
	nconf=$((nconf + 1))
	cp "$WORK/good.yaml" "$CFG"
	# A SIGHUP of one in ten: the same path, from the signal.
	[ $((nconf % 10)) -eq 0 ] && { cp "$f" "$CFG"; kill -HUP "$daemon_pid"; sleep 0.2; cp "$WORK/good.yaml" "$CFG"; }
	check "config $f"
done
echo "bad configurations: $nconf"

echo "== control requests: raw frames and fields"
nreq=$(python3 - "$SOCK" "$IF" <<-'EOF'
import json, socket, struct, sys
sock, iface = sys.argv[1], sys.argv[2]
def send(raw, expect_reply=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock)
    try:
        s.sendall(raw)
        s.shutdown(socket.SHUT_WR)
        data = b""
        while True:
            b = s.recv(65536)
            if not b: break
            data += b
    except OSError:
        data = b""
    s.close()
    if len(data) >= 12:
        n = struct.unpack("!IHHI", data[:12])[3]
        r = json.loads(data[12:12 + n])
        if r.get("ok"):
            raise SystemExit("accepted: %r -> %r" % (raw[:200], r))
def frame(body, magic=0x534c4354, ver=1, typ=1, n=None):
    b = body if isinstance(body, bytes) else json.dumps(body).encode()
    return struct.pack("!IHHI", magic, ver, typ, len(b) if n is None else n) + b
# Each op's fields: (type, a good value, required). Requests below are all
# invalid by construction: a required field missing, a field of another JSON
# type or out of range, a value that names nothing, an unknown field.
S, B, U, I, N, L, P = "str", "bool", "u32", "id", "num", "list", "params"
st = [{"stage": "count", "object": "count"}]
ops = {
    "status": {}, "xsk.stats": {}, "reload": {},
    "stage.list": {"iface": (S, iface, False)},
    "stats": {"iface": (S, iface, False)},
    "history": {"limit": ("count", 5, False)},
    "stage.show": {"iface": (S, iface, True), "stage": (S, "count", True)},
    "rule.list": {"iface": (S, iface, True)},
    "canary.status": {"iface": (S, iface, True)},
    "stage.swap": {"iface": (S, iface, True), "stage": (S, "count", True), "object": (S, "count", True),
                   "program": (S, "sluice_count", False), "params": (P, {}, False), "pcap": (S, "/x.pcap", False),
                   "expect": (S, "pass", False), "force": (B, True, False)},
    "stage.prepare": {"iface": (S, iface, True), "stage": (S, "count", True), "object": (S, "count", True),
                      "force": (B, True, False)},
    "stage.rollback": {"iface": (S, iface, True), "stage": (S, "count", True)},
    "txn": {"iface": (S, iface, True), "stages": (L, st, True), "prepare": (B, False, False), "force": (B, True, False)},
    "commit": {"iface": (S, iface, True), "candidate": (I, 1, False)},
    "candidate.drop": {"iface": (S, iface, True), "candidate": (I, 1, False)},
    "txn.rollback": {"iface": (S, iface, True)}, "repair": {"iface": (S, iface, True)},
    "canary.promote": {"iface": (S, iface, True)}, "canary.abort": {"iface": (S, iface, True)},
    "canary.start": {"iface": (S, iface, True), "stages": (L, st, True), "share": (N, 10, True),
                     "window_ms": (N, 1000, False), "auto": (B, False, False)},
    "stage.diff": {"iface": (S, iface, True), "stage": (S, "count", True), "object": (S, "count", True),
                   "samples": ("count", 10, False), "seconds": ("count", 1, False)},
    "diff.status": {"id": (I, 1, True)},
    "rule.add": {"iface": (S, iface, True), "rule": (S, "drop proto tcp dport 7", True), "before": (U, 10, False)},
    "rule.del": {"iface": (S, iface, True), "id": (U, 10, True)},
    "down": {"iface": (S, iface, True)},
}
wrong = {
    S: [True, 0, None, [], {}, 1.5, "", "x\u0000y"],
    B: ["false", "true", 0, 1, None, [], {}],
    U: [True, -1, 4294967296, 4294967298, 1.5, "1", None, 99999999999999999999],
    I: [0, True, -1, 4294967296, 1.5, "1", None],
    "count": [0, -1, 1000001, True, 1.5, "5", None],
    N: ["10", True, None, [], {}],
    L: [[], {}, "x", [1], [{}], [{"stage": "count"}], [{"stage": "count", "object": "count", "x": 1}]],
    P: [[], "x", {"a": True}, {"a": 1.5}, {"a": "1"}, {"": 1}, {"a": 99999999999999999999}],
}
# Values of the right type that name nothing, or that the trust policy refuses.
names_nothing = {
    "iface": ["nope0", "../" + iface, iface + "\n"], "stage": ["nope", "COUNT"],
    "object": ["relative.bpf.o", "/nonexistent.bpf.o", "/dev/zero", "/dev/null", "-", "/etc/../etc/passwd",
               "/proc/self/environ", "/tmp", "/etc/shadow"],
    "rule": ["drop bogus 1", "pass src 10.0.0.1/8", "drop dport 5-4", "drop proto icmp dport 22", "nothing"],
}
sent = set()
def go(body):
    k = json.dumps(body, sort_keys=True)
    if k in sent: return
    sent.add(k)
    send(frame(body))
for op, fields in ops.items():
    good = {f: v[1] for f, v in fields.items() if v[2]}
    for f, (t, v, req) in fields.items():
        if req:
            missing = dict(good); del missing[f]
            go(dict(missing, op=op))
        for w in wrong[t]:
            go(dict(good, op=op, **{f: w}))
        for w in names_nothing.get(f, []):
            go(dict(good, op=op, **{f: w}))
    go(dict(good, op=op, bogus=1))
for w in [True, None, 5, "", "no.such", "STATUS", "status\u0000"]:
    go({"op": w})
go({})
# frames that are not requests
raws = [b"GET / HTTP/1.0\r\n\r\n", frame({"op": "status"}, magic=0xdeadbeef), frame({"op": "status"}, ver=2),
        frame({"op": "status"}, typ=2), frame({"op": "status"}, typ=0), frame(b"[1,2]"), frame(b"{"),
        frame(b'{"op":"status"} x'), frame(b"\xff\xfe{}"), frame(b"", n=0), frame(b"{}", n=1 << 30),
        frame(b'{"op":"status"}', n=100), frame(b'{"op":"status","op":"down","iface":"%s"}' % iface.encode()),
        b"SLCT", b"\x00" * 12, frame(b'{"op":"rule.del","iface":"%s","id":1e1}' % iface.encode())]
for r in raws:
    send(r)
    sent.add(r.hex())
print(len(sent))
EOF
) || { echo "hardening: $nreq" >&2; changed=$((changed + 1)); nreq=0; }
check "requests"
echo "bad requests: $nreq"

echo "== stage objects: swapped in, each refused"
mkdir -p "$WORK/obj" "$WORK/obj/dir"
good=$O/bpf/count.bpf.o
mkfifo "$WORK/obj/fifo.bpf.o"
ln -s "$good" "$WORK/obj/link.bpf.o"
install -m 0644 -o 1000 "$good" "$WORK/obj/owner.bpf.o"
install -m 0664 "$good" "$WORK/obj/group.bpf.o"
install -m 0666 "$good" "$WORK/obj/world.bpf.o"
install -m 0644 /bin/true "$WORK/obj/notbpf.bpf.o"
head -c 4096 /dev/urandom > "$WORK/obj/random.bpf.o"
: > "$WORK/obj/empty.bpf.o"
truncate -s 65M "$WORK/obj/huge.bpf.o"
sz=$(stat -c %s "$good")
for cut in 16 64 256 1024 $((sz / 2)) $((sz - 8)); do
	head -c "$cut" "$good" > "$WORK/obj/cut$cut.bpf.o"
done
for b in 3 100 777 1500; do
	cp "$good" "$WORK/obj/flip$b.bpf.o"
	printf '\xff\xff\xff\xff' | dd of="$WORK/obj/flip$b.bpf.o" bs=1 seek=$((b * sz / 2000)) conv=notrunc 2>/dev/null
done
objs=("$WORK"/obj/*.bpf.o "$WORK/obj/dir" "$WORK/obj/missing.bpf.o" /dev/null /dev/zero /proc/self/environ
      "$O/bpf/testdata/oob.bpf.o" "$O/bpf/testdata/bigstack.bpf.o" "$O/bpf/entry.bpf.o")
nobj=0
for o in "${objs[@]}"; do
	if timeout 30 "$CTL" -s "$SOCK" -t 20 stage swap "$IF" count "$o" >/dev/null 2>&1; then
		# A bit flip may leave a loadable object: it is no bad input then; put count back.
		ctl stage swap "$IF" count count >/dev/null 2>&1
		base=$(fingerprint)
		continue
	fi
	nobj=$((nobj + 1))
	check "object $o"
done
# The same through raw requests, which sluicectl would have resolved: a relative path, "..", a link.
for o in "obj/link.bpf.o" "$WORK/obj/../obj/fifo.bpf.o" "$WORK/obj/link.bpf.o" "$WORK//obj/fifo.bpf.o"; do
	python3 - "$SOCK" "$IF" "$o" <<-'EOF' >/dev/null
	import json, socket, struct, sys
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
	b = json.dumps({"op": "stage.swap", "iface": sys.argv[2], "stage": "count", "object": sys.argv[3]}).encode()
	s.sendall(struct.pack("!IHHI", 0x534c4354, 1, 1, len(b)) + b)
	h = s.recv(12); n = struct.unpack("!IHHI", h)[3]; r = json.loads(s.recv(n))
	assert not r["ok"], r
	EOF
	nobj=$((nobj + 1))
	check "object $o"
done
echo "bad objects: $nobj"

echo "== packets: random and mutated frames through every stage (tests/unit/test_packets)"
pk=$(cd "$top" && SLUICE_TOP=$top SLUICE_BUILD=$O CMOCKA_MESSAGE_OUTPUT=TAP "$O/tests/unit/test_packets" 2>&1)
echo "$pk" | grep "^#" | grep -v "^# ok"
npkt=$(echo "$pk" | sed -n 's/^# figures: packets=//p')
echo "$pk" | grep -q "^not ok" && { echo "hardening: test_packets failed" >&2; changed=$((changed + 1)); }

echo "== crash points: kill -9 during rule edits and reloads, then a restart"
link_id() { ctl -j status | python3 -c 'import json,sys; print(json.load(sys.stdin)["interfaces"][0]["link_id"])'; }
rules_now() { ctl -j rule list "$IF" | python3 -c 'import json,sys; print("; ".join(r["text"] for r in json.load(sys.stdin)["rules"]))'; }
link=$(link_id)
ncrash=0 detached=0 lost=0
for i in $(seq "$CRASHES"); do
	rm -f "$WORK/acked"
	if [ $((i % 2)) -eq 1 ]; then
		kind=rules
		# Rule edits: each acknowledged one is recorded before the next starts.
		( for k in $(seq 1 200); do
			ctl rule add "$IF" id $((1000 + k)) drop proto tcp dport $((1000 + k)) >/dev/null 2>&1 &&
				echo "drop id $((1000 + k)) proto tcp dport $((1000 + k))" >> "$WORK/acked"
		  done ) &
	else
		kind=reload
		# Reloads between two files whose rules differ.
		( for k in $(seq 1 50); do
			write_cfg $((k % 2 ? 19 : 9)); ctl reload >/dev/null 2>&1
		  done ) &
	fi
	loop=$!
	sleep "0.$((RANDOM % 9 + 1))"
	kill -9 "$daemon_pid"
	wait "$daemon_pid" 2>/dev/null
	kill "$loop" 2>/dev/null
	wait "$loop" 2>/dev/null
	ncrash=$((ncrash + 1))
	# Traffic never stopped: the link is pinned and attached without the daemon.
	ip -n "$TOPO_DUT_NS" -d link show dev "$IF" | grep -q "prog/xdp" || detached=$((detached + 1))
	start || exit 1
	[ "$(link_id)" = "$link" ] || detached=$((detached + 1))
	live=$(rules_now)
	if [ $kind = rules ]; then
		# What was last acknowledged, or that and the one in flight.
		want="drop id 10 proto udp dport 9"
		[ -f "$WORK/acked" ] && while read -r r; do want="$want; $r"; done < "$WORK/acked"
		ok=0
		[ "$live" = "$want" ] && ok=1
		[ "${live%; *}" = "$want" ] && [[ "$live" == *"$want; drop id"* ]] && ok=1
	else
		# The file on disk is what a restart applies: its rule, whatever was in flight.
		want="drop id 10 proto udp dport $(sed -n 's/.*dport: \([0-9]*\) }/\1/p' "$CFG")"
		ok=0
		[ "$live" = "$want" ] && ok=1
	fi
	if [ $ok -eq 0 ]; then
		echo "hardening: after crash $i ($kind) rules are [$live], acknowledged [$want]" >&2
		lost=$((lost + 1))
	fi
	# Back to the start: the file's rule only.
	write_cfg 9
	ctl reload >/dev/null 2>&1
	for id in $(ctl -j rule list "$IF" | python3 -c 'import json,sys; print(" ".join(str(r["id"]) for r in json.load(sys.stdin)["rules"] if r["id"] != 10))'); do
		ctl rule del "$IF" "$id" >/dev/null
	done
done
echo "crash points: $ncrash, detached $detached, rules other than acknowledged $lost"
kill -INT "$ping_pid" 2>/dev/null; wait "$ping_pid" 2>/dev/null
grep -E "packets transmitted" "$WORK/ping" | sed 's/^/ping through it all: /'

echo
echo "$fuzz_out" | sed 's/^/hardening: /'
echo "hardening: bad inputs: $nconf configurations, $nreq requests, $nobj objects, ${npkt:-0} packets, $ncrash crash points"
echo "hardening: $fuzz_crashes fuzz crashes, $daemon_crashes daemon crashes, $changed changes to the live pipeline, $detached detaches, $lost rule sets other than acknowledged"
# The machine-readable lines bench/run.sh --summary collects.
echo "FIGURE hardening.fuzz_crashes $fuzz_crashes crashes 0 $([ "$fuzz_crashes" -eq 0 ] && echo met || echo missed)"
echo "FIGURE hardening.daemon_crashes $daemon_crashes crashes 0 $([ "$daemon_crashes" -eq 0 ] && echo met || echo missed)"
echo "FIGURE hardening.changes $changed changes 0 $([ "$changed" -eq 0 ] && echo met || echo missed)"
echo "FIGURE hardening.bad_inputs $((nconf + nreq + nobj + ${npkt:-0} + ncrash)) inputs - info"
[ "$fuzz_crashes" -eq 0 ] && [ "$daemon_crashes" -eq 0 ] && [ "$changed" -eq 0 ] && [ "$detached" -eq 0 ] && [ "$lost" -eq 0 ]

#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# sluicectl against a stub daemon: a small python3 server that speaks the
# framing of lib/ctl.h, logs every request it gets and answers from a table.
# Asserts exit codes, prefix matching (through the op the stub received),
# valid JSON output, and that relative paths arrive absolute.
# No network namespace is needed: only a Unix socket in a private folder.

setup_file() {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	export SLUICECTL=${SLUICE_BUILD:-$top/build}/cli/sluicectl
	[ -x "$SLUICECTL" ] || skip "sluicectl not built"
	export STUB_DIR=$(mktemp -d /tmp/sluicectl-bats.XXXXXX)
	export SOCK=$STUB_DIR/sock
	cat > "$STUB_DIR/stub.py" <<'EOF'
import json, os, socket, struct, sys
d = sys.argv[1]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(d + "/sock")
srv.listen(8)
n = 0
def recv_exact(c, k):
    b = b""
    while len(b) < k:
        x = c.recv(k - len(b))
        if not x:
            raise EOFError
        b += x
    return b
while True:
    c, _ = srv.accept()
    try:
        magic, ver, typ, ln = struct.unpack("!IHHI", recv_exact(c, 12))
        assert magic == 0x534c4354 and ver == 1 and typ == 1
        req = json.loads(recv_exact(c, ln))
    except Exception as e:
        c.close()
        continue
    n += 1
    with open(d + "/requests", "a") as f:
        f.write(json.dumps(req) + "\n")
    try:
        with open(d + "/replies") as f:
            table = json.load(f)
    except FileNotFoundError:
        table = {}
    rep = table.get(req["op"], {"ok": True})
    if rep == "BADMAGIC":
        c.sendall(struct.pack("!IHHI", 0xdeadbeef, 1, 2, 2) + b"{}")
        c.close()
        continue
    if req["op"] == "stats" and "interfaces" not in rep:
        # Counters that grow with every request, for the watch mode.
        rep = {"ok": True, "interfaces": [{"name": "v0",
               "pipeline": {"packets": 1000 * n, "bytes": 64000 * n, "missed": 0,
                            "mixed": 0, "bad_verdict": 0,
                            "verdicts": {"aborted": 0, "drop": 10 * n, "pass": 990 * n,
                                         "tx": 0, "redirect": 0}},
               "stages": [{"slot": 0, "name": "parse", "packets": 1000 * n,
                           "bytes": 64000 * n, "missed": 0,
                           "verdicts": {"aborted": 0, "drop": 0, "pass": 0, "tx": 0,
                                        "redirect": 0}}]}]}
    body = json.dumps(rep).encode()
    c.sendall(struct.pack("!IHHI", 0x534c4354, 1, 2, len(body)) + body)
    c.close()
EOF
	python3 "$STUB_DIR/stub.py" "$STUB_DIR" 3>&- &
	echo $! > "$STUB_DIR/pid"
	for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.1; done
	[ -S "$SOCK" ]
}

teardown_file() {
	[ -f "$STUB_DIR/pid" ] && kill "$(cat "$STUB_DIR/pid")" 2>/dev/null
	rm -rf "$STUB_DIR"
}

setup() {
	rm -f "$STUB_DIR/requests" "$STUB_DIR/replies"
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
}

ctl() {
	"$SLUICECTL" -s "$SOCK" "$@"
}

# last_req EXPR: a python expression over the last request r.
last_req() {
	python3 -c "import json,sys; r=json.loads(open(sys.argv[1]).readlines()[-1]); print($1)" \
		"$STUB_DIR/requests"
}

replies() {
	printf '%s\n' "$1" > "$STUB_DIR/replies"
}

@test "no arguments is a usage error (2)" {
	run "$SLUICECTL"
	[ "$status" -eq 2 ]
	[[ "$output" == *"Usage: sluicectl"* ]]
}

@test "help and -h print usage and succeed" {
	run "$SLUICECTL" help
	[ "$status" -eq 0 ]
	[[ "$output" == *"stage swap IFACE STAGE OBJECT"* ]]
	run "$SLUICECTL" -h
	[ "$status" -eq 0 ]
}

@test "unknown object, verb or option: usage error (2), nothing sent" {
	run ctl frobnicate
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown object 'frobnicate'"* ]]
	run ctl stage frob eth0
	[ "$status" -eq 2 ]
	[[ "$output" == *"unknown verb 'frob'"* ]]
	run ctl -Z status
	[ "$status" -eq 2 ]
	run ctl -t abc status
	[ "$status" -eq 2 ]
	[ ! -f "$STUB_DIR/requests" ]
}

@test "ambiguous prefixes are refused and name the candidates" {
	run ctl st
	[ "$status" -eq 2 ]
	[[ "$output" == *"ambiguous object 'st': status, stage, stats"* ]]
	run ctl stat
	[ "$status" -eq 2 ]
	run ctl h
	[ "$status" -eq 2 ]
	[[ "$output" == *"history, help"* ]]
	run ctl stage s v0 acl
	[ "$status" -eq 2 ]
	[[ "$output" == *"show, swap"* ]]
	run ctl stage swap v0 acl acl p x
	[ "$status" -eq 2 ]
	[[ "$output" == *"program, param, pcap"* ]]
	[ ! -f "$STUB_DIR/requests" ]
}

@test "unique prefixes reach the right op" {
	ctl stat v0 >/dev/null 2>&1 || true	# ambiguous: not sent
	ctl stats >/dev/null
	[ "$(last_req 'r["op"]')" = stats ]
	ctl statu >/dev/null
	[ "$(last_req 'r["op"]')" = status ]
	ctl st sw v0 acl acl >/dev/null
	[ "$(last_req 'r["op"]')" = stage.swap ]
	ctl sta sh v0 acl >/dev/null
	[ "$(last_req 'r["op"]')" = stage.show ]
	ctl st ro v0 acl >/dev/null
	[ "$(last_req 'r["op"]')" = stage.rollback ]
	ctl ru l v0 >/dev/null
	[ "$(last_req 'r["op"]+" "+r["iface"]')" = "rule.list v0" ]
	ctl hi 5 >/dev/null
	[ "$(last_req 'r["op"]+" "+str(r["limit"])')" = "history 5" ]
	ctl rel >/dev/null
	[ "$(last_req 'r["op"]')" = reload ]
	ctl down v0 >/dev/null
	[ "$(last_req 'r["op"]+" "+r["iface"]')" = "down v0" ]
	ctl stage >/dev/null
	[ "$(last_req 'r["op"]')" = stage.list ]
}

# Every object, and every verb of those that have verbs.
all_commands() {
	printf '%s\n' status txn stats history probe reload down version \
		"stage list" "stage show" "stage swap" "stage rollback" \
		"rule list" "rule add" "rule del" "config check" "xsk stats"
}

@test "OBJECT help, OBJECT VERB help and --help print usage and send nothing" {
	local c
	while read -r c; do
		for h in help --help -h; do
			run ctl $c $h
			[ "$status" -eq 0 ] || { echo "$c $h: exit $status: $output"; false; }
			[[ "$output" == "usage: sluicectl $c"* ]] || { echo "$c $h: $output"; false; }
		done
	done < <(all_commands)
	# With arguments before it too: --help wins, anywhere after the words.
	run ctl stats v0 --help
	[ "$status" -eq 0 ]
	run ctl stage swap v0 acl ./x.o --help
	[[ "$output" == "usage: sluicectl stage swap IFACE STAGE OBJECT"* ]]
	for o in stage rule config xsk; do
		run ctl $o help
		[ "$status" -eq 0 ]
		[[ "$output" == "sluicectl $o: "* ]]
	done
	run ctl help stats
	[[ "$output" == "usage: sluicectl stats [IFACE]"* ]]
	run ctl help st sw
	[[ "$output" == "usage: sluicectl stage swap"* ]]
	[ ! -f "$STUB_DIR/requests" ]
}

@test "stats help asks for no interface \"help\"; down help takes nothing down" {
	run ctl stats help
	[ "$status" -eq 0 ]
	run ctl down help
	[ "$status" -eq 0 ]
	[[ "$output" == *"never abbreviated"* ]]
	[ ! -f "$STUB_DIR/requests" ]
	# The real thing still goes through, typed in full.
	ctl down v0
	[ "$(last_req 'r["op"]+" "+r["iface"]')" = "down v0" ]
}

@test "destructive verbs are never taken from a prefix" {
	for w in d do dow; do
		run ctl $w eth0
		[ "$status" -eq 2 ]
		[[ "$output" == *"'$w' is short for 'down', which is never abbreviated: type it in full"* ]]
	done
	run ctl rule d v0 7
	[ "$status" -eq 2 ]
	[[ "$output" == *"'d' is short for 'del'"* ]]
	run ctl ru de v0 7
	[ "$status" -eq 2 ]
	[ ! -f "$STUB_DIR/requests" ]
	ctl rule del v0 7
	[ "$(last_req 'r["op"]')" = rule.del ]
}

@test "errors name what was typed" {
	run ctl status now
	[ "$status" -eq 2 ]
	[[ "$output" == *"status: unexpected argument 'now'"* ]]
	run ctl stage show v0
	[[ "$output" == *"stage show: missing STAGE"* ]]
	run ctl stage swap v0
	[[ "$output" == *"stage swap: missing STAGE"* ]]
	run ctl down
	[[ "$output" == *"down: missing IFACE"* ]]
	run ctl down v0 v1
	[[ "$output" == *"down: unexpected argument 'v1'"* ]]
	run ctl stats v0 v1
	[[ "$output" == *"unexpected argument 'v1' after IFACE 'v0'"* ]]
	run ctl stats -x
	[[ "$output" == *"unknown option '-x'"* ]]
	run ctl history lots
	[[ "$output" == *"bad LIMIT 'lots'"* ]]
	run ctl stage swap v0 acl acl pro
	[[ "$output" == *"'pro' needs a value"* ]]
	run ctl rule add v0
	[[ "$output" == *"rule add: missing RULE"* ]]
	run ctl stage frob
	[[ "$output" == *"stage: unknown verb 'frob'"* ]]
	[[ "$output" == *"Try 'sluicectl stage help'"* ]]
	[ ! -f "$STUB_DIR/requests" ]
}

@test "-j: errors are JSON on stdout too (daemon down, usage, refused)" {
	run bash -c "'$SLUICECTL' -s '$STUB_DIR/none.sock' -j status 2>/dev/null"
	[ "$status" -eq 3 ]
	echo "$output" | jq -e '.ok == false and .exit_status == 3'
	[[ "$(echo "$output" | jq -r .error)" == "cannot reach sluiced at $STUB_DIR/none.sock: "* ]]
	run bash -c "'$SLUICECTL' -s '$STUB_DIR/none.sock' stats -j v0 2>/dev/null"
	[ "$status" -eq 3 ]
	echo "$output" | jq -e '.exit_status == 3'
	run bash -c "'$SLUICECTL' -j stage frob 2>/dev/null"
	[ "$status" -eq 2 ]
	echo "$output" | jq -e '.ok == false and .exit_status == 2 and (.error | test("frob"))'
	# Without -j, stdout stays empty: the message is on stderr.
	run bash -c "'$SLUICECTL' -s '$STUB_DIR/none.sock' status 2>/dev/null"
	[ -z "$output" ]
	# version is quiet about a missing daemon, in JSON as in text.
	run bash -c "'$SLUICECTL' -s '$STUB_DIR/none.sock' -j version 2>/dev/null"
	[ "$status" -eq 0 ]
	echo "$output" | jq -e '.sluicectl and (has("sluiced") | not)'
}

@test "config check prints what the docs say" {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	run "$SLUICECTL" config check "$top/config/firewall.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "configuration OK" ]
	tr '\n' ' ' < "$top/docs/config.md" | grep -q 'print `configuration OK`' 
	printf 'pipelines: []\n' > "$STUB_DIR/bad.yaml"
	run "$SLUICECTL" config check "$STUB_DIR/bad.yaml"
	[ "$status" -eq 1 ]
	[[ "$output" == *"bad.yaml:"* ]]
}

@test "probe names this kernel and the oldest the matrix proves, as the README does" {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	run "$SLUICECTL" probe
	[[ "$output" == *"kernel $(uname -r); the oldest the kernel matrix proves is "* ]]
	oldest=${output##*the kernel matrix proves is }
	oldest=${oldest%% *}
	run "$SLUICECTL" -j probe
	echo "$output" | jq -e --arg k "$(uname -r)" --arg o "$oldest" \
		'.kernel == $k and .oldest_proven_kernel == $o'
	grep -q "Linux $oldest or later" "$top/README.md"
	grep -q "oldest kernel the matrix proves is $oldest" "$top/docs/kernels.md"
}

@test "every package scripts/deps.sh installs has its reason in the README's table" {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	python3 - "$top/scripts/deps.sh" "$top/README.md" <<-'PY'
	import re, sys
	deps = open(sys.argv[1]).read()
	pkgs = re.search(r"PKGS=\(\n(.*?)\n\)", deps, re.S).group(1)
	names = {w for line in pkgs.splitlines() for w in line.split("#")[0].split()}
	readme = open(sys.argv[2]).read()
	table = readme[readme.index("## Dependencies"):]
	table = table[:table.index("\n\n", table.index("| package |"))]
	named = {p.strip() for row in table.splitlines()[2:] for p in row.split("|")[1].split(",")}
	# The toolchain needs no reason.
	missing = sorted(names - named - {"make", "gcc", "pkg-config"})
	if missing:
	    sys.exit("not in the README's dependency table: " + " ".join(missing))
	PY
}

@test "--version and --help on every binary" {
	local b
	for b in cli/sluicectl daemon/sluiced tools/xsk/sluice-xsk; do
		bin=${SLUICE_BUILD:-$top/build}/$b
		[ -x "$bin" ] || continue
		run "$bin" --version
		[ "$status" -eq 0 ]
		[[ "$output" == "$(basename "$b") "[0-9]* ]] || { echo "$b: $output"; false; }
		run "$bin" -V
		[ "$status" -eq 0 ]
		run "$bin" --help
		[ "$status" -eq 0 ]
		[[ "${output,,}" == *"usage: "* ]]
	done
}

@test "sluice-xsk and sluiced: long options; errors name the option as typed" {
	local xsk=${SLUICE_BUILD:-$top/build}/tools/xsk/sluice-xsk d=${SLUICE_BUILD:-$top/build}/daemon/sluiced
	[ -x "$xsk" ] || skip "sluice-xsk not built"
	for opt in "-b 7x" "-b7x" "--batch 7x" "--batch=7x" "--bat 7x"; do
		run "$xsk" -i lo $opt
		[ "$status" -eq 2 ]
		want=${opt%% *}; want=${want%%=*}; [ "$want" = -b7x ] && want=-b
		[[ "$output" == *"bad $want '7x'"* ]] || { echo "$opt: $output"; false; }
	done
	run "$d" --check --config "$top/config/minimal.yaml"
	[ "$status" -eq 0 ]
	# Last: a warning about an interface not on this host may come first (stderr).
	[ "${lines[${#lines[@]}-1]}" = "configuration OK" ]
	run "$d" stray
	[ "$status" -eq 2 ]
	[[ "$output" == *"unexpected argument 'stray'"* ]]
}

@test "man pages for every installed binary exist and render" {
	for m in daemon/sluiced.8 cli/sluicectl.8 tools/xsk/sluice-xsk.1; do
		[ -f "$top/$m" ]
		# groff's warnings go to stderr; the page itself may say "warning".
		run bash -c "man --warnings -l '$top/$m' 2>&1 >/dev/null"
		[ "$status" -eq 0 ]
		[ -z "$output" ] || { echo "$m: $output"; false; }
	done
	# Every long option sluiced and sluice-xsk take is in their page.
	for o in config check debug version help; do
		sed 's/\\-/-/g' "$top/daemon/sluiced.8" | grep -q -- "--$o" || { echo "sluiced.8: --$o"; false; }
	done
	for o in $(grep -o '{ "[a-z-]*",' "$top/tools/xsk/opts.c" | cut -d'"' -f2); do
		sed 's/\\-/-/g' "$top/tools/xsk/sluice-xsk.1" | grep -q -- "--$o" ||
			{ echo "sluice-xsk.1: --$o"; false; }
	done
}

@test "no daemon: exit 3 naming the socket" {
	run "$SLUICECTL" -s "$STUB_DIR/none.sock" status
	[ "$status" -eq 3 ]
	[[ "$output" == *"cannot reach sluiced at $STUB_DIR/none.sock"* ]]
	SLUICE_SOCKET=$STUB_DIR/env.sock run "$SLUICECTL" status
	[ "$status" -eq 3 ]
	[[ "$output" == *"$STUB_DIR/env.sock"* ]]
}

@test "SLUICE_SOCKET is used, -s wins over it" {
	SLUICE_SOCKET=$SOCK run "$SLUICECTL" status
	[ "$status" -eq 0 ]
	SLUICE_SOCKET=$STUB_DIR/none.sock run "$SLUICECTL" -s "$SOCK" status
	[ "$status" -eq 0 ]
}

@test "a reply with a bad header: exit 3" {
	replies '{"status": "BADMAGIC"}'
	run ctl status
	[ "$status" -eq 3 ]
	[[ "$output" == *"bad reply from sluiced"* ]]
}

@test "refused: exit 1, the error and the verifier log tail on stderr" {
	log=$(python3 -c 'print("".join("insn %d\\n" % i for i in range(100)) + "R1 invalid mem access")')
	replies "$(python3 -c 'import json,sys; print(json.dumps({"stage.swap": {"ok": False, "error": "verifier rejected acl", "verifier_log": sys.argv[1]}}))' "$log")"
	run ctl stage swap v0 acl acl
	[ "$status" -eq 1 ]
	[[ "$output" == *"stage.swap: verifier rejected acl"* ]]
	[[ "$output" == *"R1 invalid mem access"* ]]
	[[ "$output" == *"insn 99"* ]]
	[[ "$output" != *"insn 10"$'\n'* ]]
	# -j still prints the reply on stdout, for scripts.
	run bash -c "'$SLUICECTL' -s '$SOCK' -j stage swap v0 acl acl 2>/dev/null | jq -e '.ok == false'"
	[ "$status" -eq 0 ]
}

@test "-j and -p print the reply as valid JSON" {
	replies '{"status": {"ok": true, "version": "1.0", "pid": 42, "uptime_s": 3700, "config": "/etc/sluice/sluice.yaml", "interfaces": [{"name": "v0", "ifindex": 7, "pipeline": "edge", "mode": "native", "attach": "link", "link_id": 3, "gen": 2, "entry_prog_id": 10, "default_verdict": "pass", "stages": [{"slot": 0, "name": "parse", "object": "parse", "program": "sluice_parse", "prog_id": 11, "tag": "0011223344556677", "ver": 1, "prev_prog_id": 0}]}]}}'
	run ctl -j status
	[ "$status" -eq 0 ]
	echo "$output" | python3 -m json.tool >/dev/null
	[ "$(echo "$output" | jq -r '.interfaces[0].stages[0].name')" = parse ]
	[ "$(echo "$output" | wc -l)" -eq 1 ]
	run ctl -p status
	[ "$status" -eq 0 ]
	echo "$output" | python3 -m json.tool >/dev/null
	[ "$(echo "$output" | wc -l)" -gt 5 ]
	run ctl -j stats
	echo "$output" | jq -e '.interfaces[0].pipeline.packets > 0'
	run ctl -j version
	[ "$(echo "$output" | jq -r .sluiced)" = 1.0 ]
}

@test "text output is formatted from the same reply" {
	replies '{"status": {"ok": true, "version": "1.0", "pid": 42, "uptime_s": 3700, "config": "/etc/sluice/sluice.yaml", "interfaces": [{"name": "v0", "ifindex": 7, "pipeline": "edge", "stages": [{"slot": 0, "name": "parse", "object": "parse", "prog_id": 11, "tag": "0011223344556677", "ver": 1}]}]}}'
	run ctl status
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "sluiced 1.0 pid 42 up 1h01m40s config /etc/sluice/sluice.yaml" ]]
	[[ "$output" == *"v0: ifindex 7 pipeline edge"* ]]
	[[ "$output" == *"0011223344556677"* ]]
}

@test "relative object and pcap paths arrive absolute; built-in names stay" {
	cd "$STUB_DIR"
	mkdir -p objs && touch objs/acl2.bpf.o local.bpf.o
	ctl stage swap v0 acl ./objs/acl2.bpf.o pcap t.pcap expect dr >/dev/null
	[ "$(last_req 'r["object"]')" = "$STUB_DIR/objs/acl2.bpf.o" ]
	[ "$(last_req 'r["pcap"]')" = "$STUB_DIR/t.pcap" ]
	[ "$(last_req 'r["expect"]')" = drop ]
	ctl stage swap v0 acl local.bpf.o >/dev/null
	[ "$(last_req 'r["object"]')" = "$STUB_DIR/local.bpf.o" ]
	ctl stage swap v0 acl ../$(basename "$STUB_DIR")/objs/../local.bpf.o >/dev/null
	[ "$(last_req 'r["object"]')" = "$STUB_DIR/local.bpf.o" ]
	# Not there (yet): folded without touching the file system.
	ctl stage swap v0 acl ./nope/../missing.o >/dev/null
	[ "$(last_req 'r["object"]')" = "$STUB_DIR/missing.o" ]
	ctl stage swap v0 acl acl >/dev/null
	[ "$(last_req 'r["object"]')" = acl ]
	ctl stage swap v0 acl /abs/x.o >/dev/null
	[ "$(last_req 'r["object"]')" = /abs/x.o ]
}

@test "swap arguments: program, params, force" {
	ctl stage swap v0 rl ratelimit prog rl_main param rate=1000 param burst=0x10 force >/dev/null
	[ "$(last_req 'r["program"]')" = rl_main ]
	[ "$(last_req 'r["params"]["rate"] + r["params"]["burst"]')" = 1016 ]
	[ "$(last_req 'r["force"]')" = True ]
	run ctl stage swap v0 rl ratelimit param rate
	[ "$status" -eq 2 ]
	run ctl stage swap v0 rl ratelimit param rate=fast
	[ "$status" -eq 2 ]
	run ctl stage swap v0 rl ratelimit expect pass
	[ "$status" -eq 2 ]
	run ctl stage swap v0 rl ratelimit pcap x.pcap expect maybe
	[ "$status" -eq 2 ]
	run ctl stage swap v0 rl
	[ "$status" -eq 2 ]
}

@test "txn: STAGE=OBJECT[:PROGRAM] with params, paths made absolute" {
	cd "$STUB_DIR"
	ctl txn v0 acl=./a.o:acl_main rl=ratelimit param rate=5 count=count >/dev/null
	[ "$(last_req 'r["op"]')" = txn ]
	[ "$(last_req 'len(r["stages"])')" = 3 ]
	[ "$(last_req 'r["stages"][0]["object"]')" = "$STUB_DIR/a.o" ]
	[ "$(last_req 'r["stages"][0]["program"]')" = acl_main ]
	[ "$(last_req 'r["stages"][1]["params"]["rate"]')" = 5 ]
	[ "$(last_req '"params" in r["stages"][2]')" = False ]
	run ctl txn v0 param rate=5
	[ "$status" -eq 2 ]
	run ctl txn v0 acl=
	[ "$status" -eq 2 ]
	run ctl txn v0
	[ "$status" -eq 2 ]
}

@test "rule add joins the words; before and del take ids" {
	ctl rule add v0 drop proto tcp dport 22 >/dev/null
	[ "$(last_req 'r["rule"]')" = "drop proto tcp dport 22" ]
	[ "$(last_req '"before" in r')" = False ]
	ctl rule add v0 before 3 'pass src 10.0.0.0/8' >/dev/null
	[ "$(last_req 'r["before"]')" = 3 ]
	[ "$(last_req 'r["rule"]')" = "pass src 10.0.0.0/8" ]
	ctl rule del v0 7 >/dev/null
	[ "$(last_req 'r["op"] + str(r["id"])')" = rule.del7 ]
	run ctl rule del v0 seven
	[ "$status" -eq 2 ]
	run ctl rule add v0
	[ "$status" -eq 2 ]
}

@test "stats -w: rates per second, one JSON object per interval" {
	run ctl -j stats v0 -w 0.2 -n 2
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 2 ]
	for l in "${lines[@]}"; do
		echo "$l" | jq -e '.interval_s > 0.15 and .interfaces[0].name == "v0"'
		# 1000 packets more per request, so about 5000/s; slot stays a slot.
		echo "$l" | jq -e '.interfaces[0].pipeline.packets > 1000 and .interfaces[0].pipeline.packets < 6000'
		echo "$l" | jq -e '.interfaces[0].stages[0].slot == 0'
	done
	run ctl stats -w 0.2 -n 1
	[ "$status" -eq 0 ]
	[[ "$output" == *"rates per second"* ]]
	run ctl stats -n 2
	[ "$status" -eq 2 ]
	run ctl stats -w 0
	[ "$status" -eq 2 ]
}

# complete WORD...: what the bash completion offers for the last word.
complete_words() {
	bash -c '
		source "$1"; shift
		sluicectl() { "$SLUICECTL" "$@"; }
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_sluicectl; echo "${COMPREPLY[*]}"' _ "$top/cli/sluicectl.bash-completion" "$@"
}

@test "bash completion: objects, verbs, and interfaces and stages from the daemon" {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	replies '{"stage.list": {"ok": true, "interfaces": [{"name": "v0", "ifindex": 7, "stages": [{"slot": 0, "name": "parse"}, {"slot": 1, "name": "acl"}]}]}}'
	[ "$(complete_words sluicectl st)" = "status stage stats" ]
	[ "$(complete_words sluicectl stage r)" = "rollback" ]
	[ "$(complete_words sluicectl -s "$SOCK" stage show '')" = v0 ]
	[ "$(complete_words sluicectl -s "$SOCK" st sh v0 '')" = "parse acl" ]
	[ "$(complete_words sluicectl stage swap v0 acl x.o e)" = expect ]
	[ "$(complete_words sluicectl stage swap v0 acl x.o expect '')" = "aborted drop pass tx redirect" ]
}

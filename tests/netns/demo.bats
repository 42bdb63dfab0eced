#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# tools/demo.sh --quick end to end: the evidence it prints must add up (every
# packet sent is seen, none mixed or missed, each change has a duration, the
# ACL rule was hit), and whatever way it ends (success, Ctrl-C, a refusal)
# it leaves no namespace, pin, state folder or process behind. Each test
# runs the demo under its own --name, so it never meets a real demo's pins.

setup_file() {
	top=${SLUICE_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
	export TOP=$top
	export O=${SLUICE_BUILD:-$top/build}
}

setup() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	for b in daemon/sluiced cli/sluicectl tools/gen/sluice-gen; do
		[ -x "$O/$b" ] || skip "$b not built"
	done
	command -v jq >/dev/null || skip "jq missing"
	NAME=dm$BATS_TEST_NUMBER$$
	NAME=${NAME:0:12}
	OUT=$(mktemp /tmp/sluice-demo-bats.XXXXXX)
}

teardown() {
	# Only if the demo under test failed to: its own namespaces and paths.
	[ -n "${DEMO_PID:-}" ] && kill -KILL "$DEMO_PID" 2>/dev/null
	ip netns del "$NAME-gen" 2>/dev/null || true
	ip netns del "$NAME-dut" 2>/dev/null || true
	rm -rf "/sys/fs/bpf/sluice-demo-$NAME" "/run/sluice-demo-$NAME" "$OUT"
}

demo() {
	bash "$TOP/tools/demo.sh" --quick --name "$NAME" "$@"
}

# evidence KEY: a value of the "evidence:" line in $output.
evidence() {
	printf '%s\n' "$output" | sed -n "s/^evidence: .*\b$1=\([0-9]*\).*/\1/p"
}

# left_behind OUTPUT: fails, naming it, if anything of the demo is still there.
left_behind() {
	local out=$1 pid tmpdir p

	if [ -e "/run/netns/$NAME-gen" ] || [ -e "/run/netns/$NAME-dut" ]; then
		echo "namespaces of $NAME still exist"; return 1
	fi
	[ ! -e "/sys/fs/bpf/sluice-demo-$NAME" ] || { echo "pin root left"; return 1; }
	[ ! -e "/run/sluice-demo-$NAME" ] || { echo "state dir left"; return 1; }
	# The daemon's pid and config folder, as its status printed them.
	pid=$(sed -n 's/^ *sluiced [^ ]* pid \([0-9]*\) .*/\1/p' <<<"$out" | head -1)
	tmpdir=$(sed -n 's|.* config \(/tmp/sluice-demo\.[A-Za-z0-9]*\)/demo.yaml.*|\1|p' <<<"$out" | head -1)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
		echo "sluiced $pid still runs"; return 1
	fi
	if [ -n "$tmpdir" ] && [ -e "$tmpdir" ]; then
		echo "$tmpdir left"; return 1
	fi
	# The generator names the demo's veth on its command line.
	for p in /proc/[0-9]*; do
		if tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -q -- "-i $NAME-g0 "; then
			echo "process ${p#/proc/} still runs: $(tr '\0' ' ' < "$p/cmdline")"; return 1
		fi
	done
	return 0
}

@test "quick demo: evidence adds up and nothing is left behind" {
	run timeout 120 bash "$TOP/tools/demo.sh" --quick --name "$NAME"
	printf '%s\n' "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"PASS"* ]]
	[[ "$output" == *"== 8/8  Teardown =="* ]]

	sent=$(evidence sent)
	seen=$(evidence seen)
	[ -n "$sent" ] && [ "$sent" -gt 10000 ]
	[ "$seen" = "$sent" ]
	[ "$(evidence lost)" = 0 ]
	[ "$(evidence mixed)" = 0 ]
	[ "$(evidence missed)" = 0 ]
	[ "$(evidence bad)" = 0 ]
	[ "$(evidence swap_us)" -gt 0 ]
	[ "$(evidence txn_us)" -gt 0 ]
	[ "$(evidence rule_hits)" -gt 0 ]
	# The swapped-in rate limit dropped, then the transaction lifted it.
	[[ "$output" =~ drops\ by\ stage\ +acl\ [1-9][0-9]*,\ ratelimit\ [1-9] ]]
	[[ "$output" == *"stage.swap   ratelimit"*" ok"* ]]
	[[ "$output" == *"txn          parse + ratelimit"*" ok"* ]]
	left_behind "$output"
}

@test "Ctrl-C during the swap phase tears everything down and exits 130" {
	# A job started with & ignores SIGINT and bash cannot trap a signal
	# ignored at entry: give the demo the default back, as a terminal would.
	env --default-signal=INT bash "$TOP/tools/demo.sh" --quick --name "$NAME" > "$OUT" 2>&1 &
	DEMO_PID=$!
	for _ in $(seq 300); do
		grep -q "== 4/8" "$OUT" && break
		kill -0 "$DEMO_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q "== 4/8" "$OUT"
	kill -INT "$DEMO_PID"
	rc=0
	wait "$DEMO_PID" || rc=$?
	DEMO_PID=
	cat "$OUT"
	[ "$rc" -eq 130 ]
	grep -q "demo: interrupted" "$OUT"
	[ -z "$(grep "^evidence:" "$OUT")" ]
	left_behind "$(cat "$OUT")"
}

@test "refuses to run over namespaces it did not create, and leaves them alone" {
	ip netns add "$NAME-gen"
	run demo
	[ "$status" -eq 1 ]
	[[ "$output" == *"namespaces $NAME-gen/$NAME-dut exist"* ]]
	[ -e "/run/netns/$NAME-gen" ]
	[ ! -e "/run/netns/$NAME-dut" ]
	[ ! -e "/sys/fs/bpf/sluice-demo-$NAME" ]
}

@test "a build without the binaries fails before creating anything" {
	O=/nonexistent run demo
	[ "$status" -eq 1 ]
	[[ "$output" == *"/nonexistent/daemon/sluiced is not built"* ]]
	[ ! -e "/run/netns/$NAME-gen" ]
	[ ! -e "/run/netns/$NAME-dut" ]
}

@test "an unknown option is refused" {
	run demo --frobnicate
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown argument '--frobnicate'"* ]]
}

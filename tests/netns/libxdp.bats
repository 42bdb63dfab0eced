#!/usr/bin/env bats
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The libxdp attach path (`attach: libxdp`). On this kernel libxdp's
# dispatcher is refused (freplace under lockdown) and libxdp falls back to a
# single-program netlink attach: there is no bpf_link, so transactions switch
# with an atomic XDP_FLAGS_REPLACE and a restarted daemon recognises its
# pipeline by the program the interface runs.

load ../lib/common
load ../lib/daemon

setup_file() {
	daemon_setup lx
	daemon_config <<-EOF
	pipelines:
	  - name: fw
	    stages:
	      - { name: parse, object: parse }
	      - { name: mark, object: pass }
	      - { name: count, object: count }
	interfaces:
	  - { name: $TOPO_DUT_IF, pipeline: fw, attach: libxdp }
	EOF
	daemon_start
}

teardown_file() {
	daemon_teardown
}

@test "libxdp attaches the entry and traffic flows" {
	[ "$(ctl_json 'r["interfaces"][0]["attach"]' status)" = libxdp ]
	[ "$(xdp_prog_id)" = "$(ctl_json 'r["interfaces"][0]["entry_prog_id"]' status)" ]
	[ ! -e "$PIN/$TOPO_DUT_IF/link" ]
	run ping_dut 10
	[[ "$output" == *" 0% packet loss"* ]]
}

@test "a stage swap and a transaction work without a bpf_link" {
	local entry gen
	entry=$(xdp_prog_id)
	gen=$(ctl_json 'r["interfaces"][0]["gen"]' status)
	run ctl stage swap "$TOPO_DUT_IF" mark verdict param verdict=2
	[ "$status" -eq 0 ]
	[ "$(xdp_prog_id)" = "$entry" ]		# a slot update leaves the entry alone
	run ctl txn "$TOPO_DUT_IF" mark=pass count=count
	[ "$status" -eq 0 ]
	# The switch word moved; the one entry of every bank stays attached.
	[ "$(xdp_prog_id)" = "$entry" ]
	[ "$(ctl_json 'r["interfaces"][0]["gen"]' status)" -gt "$gen" ]
	[ "$(ctl_json 'r["interfaces"][0]["bank"]' status)" -ne 0 ]
	run ping_dut 10
	[[ "$output" == *" 0% packet loss"* ]]
	[ "$(ctl_json 'r["interfaces"][0]["pipeline"]["missed"]' stats)" -eq 0 ]
}

@test "a restarted daemon adopts the libxdp-attached pipeline without a detach" {
	local prog
	prog=$(xdp_prog_id)
	kill -9 "$(cat "$WORK/pid")"
	daemon_start
	grep -q "adopted pipeline 'fw'" "$WORK/log"
	[ "$(xdp_prog_id)" = "$prog" ]
	[ "$(ctl_json 'r["interfaces"][0]["attach"]' status)" = libxdp ]
}

@test "down detaches the libxdp-attached program" {
	run ctl down "$TOPO_DUT_IF"
	[ "$status" -eq 0 ]
	[ -z "$(xdp_prog_id)" ]
	[ ! -e "$PIN/$TOPO_DUT_IF" ]
}

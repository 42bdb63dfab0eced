// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The configuration parser: every shipped example loads with the values it
 * says and the documented defaults, and every class of mistake is reported
 * with the exact line and column of the node at fault, all of them at once.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/bpf.h>
#include <sys/stat.h>
#include "harness.h"
#include "config.h"
#include "acl.h"

#define NAME "t.yaml"

/* Parses text that must fail; returns the errors (caller frees). */
static struct config_errors parse_bad(const char *text)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = (void *)1;

	assert_int_equal(config__parse_string(text, NAME, &cfg, &errs), -EINVAL);
	assert_null(cfg);
	assert_true(errs.n > 0);
	return errs;
}

static void dump(const struct config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		print_message("#   %s\n", errs->v[i].msg);
}

/*
 * The one error of text is at line:col and reads "NAME:line:col: path: ..."
 * containing what.
 */
static void expect_one(const char *text, int line, int col, const char *path, const char *what)
{
	struct config_errors errs = parse_bad(text);
	char prefix[256];

	if (errs.n != 1)
		dump(&errs);
	assert_int_equal(errs.n, 1);
	snprintf(prefix, sizeof(prefix), "%s:%d:%d: %s%s", NAME, line, col, path, *path ? ": " : "");
	if (strncmp(errs.v[0].msg, prefix, strlen(prefix)) || !strstr(errs.v[0].msg, what)) {
		print_message("# got:  %s\n# want: %s... %s\n", errs.v[0].msg, prefix, what);
		fail();
	}
	assert_int_equal(errs.v[0].line, line);
	assert_int_equal(errs.v[0].col, col);
	config_errors__free(&errs);
}

/* A valid configuration; tests splice one mistake into a copy of it. */
#define PIPE_HEAD \
	"pipelines:\n"				/* 1 */ \
	"  - name: fw\n"			/* 2 */ \
	"    stages:\n"				/* 3 */ \
	"      - name: parse\n"			/* 4 */ \
	"        object: parse\n"		/* 5 */
#define IFACES \
	"interfaces:\n" \
	"  - name: veth0\n" \
	"    pipeline: fw\n"

static void test_valid_inline(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg;

	assert_int_equal(config__parse_string(PIPE_HEAD IFACES, NAME, &cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(cfg->nr_pipelines, 1);
	assert_ptr_equal(cfg->ifaces[0].pipe, &cfg->pipelines[0]);
	assert_ptr_equal(config__pipeline(cfg, "fw"), &cfg->pipelines[0]);
	assert_null(config__pipeline(cfg, "nope"));
	/* Every default docs/config.md promises. */
	assert_string_equal(cfg->pin_root, SLUICE_PIN_ROOT);
	assert_string_equal(cfg->state_dir, "/var/lib/sluice");
	assert_string_equal(cfg->control.socket, "/run/sluice/sluiced.sock");
	assert_int_equal(cfg->control.mode, 0600);
	assert_null(cfg->control.group);
	assert_null(cfg->metrics.listen);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_int_equal(cfg->pipelines[0].default_verdict, XDP_PASS);
	assert_true(cfg->pipelines[0].stages[0].builtin);
	assert_null(cfg->pipelines[0].stages[0].program);
	assert_int_equal(cfg->pipelines[0].stages[0].tail_calls, 0);
	assert_false(cfg->pipelines[0].stages[0].auto_rollback.enabled);
	assert_int_equal(cfg->ifaces[0].mode, CFG_XDP_AUTO);
	assert_int_equal(cfg->ifaces[0].attach, CFG_ATTACH_LINK);
	assert_false(cfg->xsk.enabled);
	config__free(cfg);
	config_errors__free(&errs);
}

static struct sluice_config *load_example(const char *file)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;
	int err = config__load(file, &cfg, &errs);

	dump(&errs);
	assert_int_equal(err, 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	config_errors__free(&errs);
	return cfg;
}

static const struct cfg_stage *stage(const struct sluice_config *cfg, const char *pipe, const char *name)
{
	const struct cfg_pipeline *pl = config__pipeline(cfg, pipe);
	size_t i;

	assert_non_null(pl);
	for (i = 0; i < pl->nr_stages; i++)
		if (!strcmp(pl->stages[i].name, name))
			return &pl->stages[i];
	fail_msg("no stage %s in %s", name, pipe);
	return NULL;
}

static int64_t param(const struct cfg_stage *st, const char *name)
{
	size_t i;

	for (i = 0; i < st->nr_params; i++)
		if (!strcmp(st->params[i].name, name))
			return st->params[i].value;
	fail_msg("no param %s", name);
	return -1;
}

static void test_example_minimal(void **state)
{
	struct sluice_config *cfg = load_example("config/minimal.yaml");

	assert_int_equal(cfg->nr_pipelines, 1);
	assert_int_equal(cfg->pipelines[0].nr_stages, 2);
	assert_string_equal(cfg->pipelines[0].stages[0].object, "parse");
	assert_string_equal(cfg->pipelines[0].stages[1].object, "count");
	assert_int_equal(cfg->pipelines[0].stages[1].line, 10);
	assert_int_equal(cfg->pipelines[0].stages[1].col, 9);
	assert_int_equal(cfg->nr_ifaces, 1);
	assert_string_equal(cfg->ifaces[0].name, "veth0");
	assert_ptr_equal(cfg->ifaces[0].pipe, &cfg->pipelines[0]);
	config__free(cfg);
}

static void test_example_firewall(void **state)
{
	struct sluice_config *cfg = load_example("config/firewall.yaml");
	const struct cfg_stage *acl = stage(cfg, "firewall", "acl"), *rl = stage(cfg, "firewall", "ratelimit");
	const struct acl_rule_spec *r;
	const struct sockaddr_in *sin = (const void *)&cfg->metrics.addr;
	uint8_t net10[4] = { 10, 0, 0, 0 };

	assert_int_equal(cfg->pipelines[0].default_verdict, XDP_DROP);
	assert_int_equal(cfg->pipelines[0].nr_stages, 4);
	assert_int_equal(cfg->control.mode, 0660);
	assert_string_equal(cfg->control.group, "sluice");
	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(ntohs(sin->sin_port), 9469);
	assert_int_equal(cfg->metrics.addrlen, sizeof(*sin));
	assert_int_equal(param(stage(cfg, "firewall", "parse"), "drop_malformed"), 1);

	assert_int_equal(acl->nr_rules, 6);
	r = &acl->rules[0];
	assert_int_equal(r->id, 10);
	assert_int_equal(r->action, SLUICE_ACL_PASS);
	assert_int_equal(r->proto, IPPROTO_TCP);
	assert_int_equal(r->nr_src, 1);
	assert_int_equal(r->src[0].family, AF_INET);
	assert_int_equal(r->src[0].len, 8);
	assert_memory_equal(r->src[0].addr, net10, 4);
	assert_int_equal(r->nr_dst, 0);
	assert_int_equal(r->dport_lo, 22);
	assert_int_equal(r->dport_hi, 22);
	assert_int_equal(r->sport_lo, 0);
	assert_int_equal(r->sport_hi, 65535);
	r = &acl->rules[2];
	assert_int_equal(r->nr_dst, 2);
	assert_int_equal(r->dst[1].family, AF_INET6);
	assert_int_equal(r->dst[1].len, 128);
	assert_int_equal(r->dport_lo, 80);
	assert_int_equal(r->dport_hi, 443);
	r = &acl->rules[3];
	assert_int_equal(r->tcp_flags_value, 0x02);	/* SYN set ... */
	assert_int_equal(r->tcp_flags_mask, 0x12);	/* ... ACK clear */
	assert_int_equal(r->family, AF_INET);
	r = &acl->rules[4];
	assert_int_equal(r->nr_src, 2);
	assert_int_equal(r->src[1].len, 32);		/* a bare address is a host */
	assert_int_equal(acl->rules[5].action, SLUICE_ACL_COUNT);

	assert_int_equal(acl->nr_tests, 2);
	assert_int_equal(acl->tests[0].expect, XDP_DROP);
	assert_int_equal(acl->tests[0].pkt.proto, IPPROTO_TCP);
	assert_int_equal(acl->tests[0].pkt.dport, 22);
	assert_int_equal(acl->tests[0].pkt.tcp_flags, 0x02);
	assert_int_equal(acl->tests[0].pkt.family, AF_INET);
	assert_int_equal(acl->tests[0].pkt.src4.s_addr, inet_addr("203.0.113.7"));
	assert_int_equal(acl->tests[1].expect, XDP_PASS);
	assert_true(acl->auto_rollback.enabled);
	assert_int_equal(acl->auto_rollback.window_ms, 2000);
	assert_true(acl->auto_rollback.max_drop_ratio == 0.5);

	assert_int_equal(param(rl, "rate_pps"), 10000);
	assert_int_equal(param(rl, "burst"), 20000);
	assert_int_equal(param(rl, "over_action"), XDP_DROP);	/* verdict names become XDP_* */
	config__free(cfg);
}

static void test_example_xsk_capture(void **state)
{
	struct sluice_config *cfg = load_example("config/xsk-capture.yaml");
	const struct cfg_stage *acl = stage(cfg, "capture", "acl"), *xsk = stage(cfg, "capture", "xsk");

	assert_int_equal(acl->rules[0].action, SLUICE_ACL_XSK);
	assert_int_equal(xsk->tests[0].expect, XDP_REDIRECT);
	assert_int_equal(cfg->ifaces[0].mode, CFG_XDP_NATIVE);
	assert_true(cfg->xsk.enabled);
	assert_string_equal(cfg->xsk.interface, "veth0");
	assert_int_equal(cfg->xsk.nr_queues, 1);
	assert_int_equal(cfg->xsk.queues[0], 0);
	assert_int_equal(cfg->xsk.rx_ring, 8192);
	assert_int_equal(cfg->xsk.fill_ring, 8192);
	assert_int_equal(cfg->xsk.frame_size, 2048);
	assert_int_equal(cfg->xsk.frames, 8192);
	assert_int_equal(cfg->xsk.mode, CFG_XSK_COPY);
	config__free(cfg);
}

static void test_example_demo(void **state)
{
	struct sluice_config *cfg = load_example("config/demo.yaml");
	const struct cfg_stage *rl = stage(cfg, "demo", "ratelimit");

	assert_string_equal(cfg->ifaces[0].name, "sluice-dut0");
	assert_string_equal(cfg->control.socket, "/run/sluice-demo/sluiced.sock");
	assert_string_equal(cfg->state_dir, "/run/sluice-demo");
	assert_true(param(rl, "rate_pps") >= 10000000);
	assert_non_null(stage(cfg, "demo", "parse"));
	assert_non_null(stage(cfg, "demo", "acl"));
	assert_non_null(stage(cfg, "demo", "count"));
	config__free(cfg);
}

/* ---- one test per error class, each with its exact position ---- */

static void test_err_syntax(void **state)
{
	/* A block entry inside the flow sequence opened on line 3. */
	expect_one("pipelines:\n"
		   "  - name: a\n"
		   "    stages: [ { name: x, object: parse },\n"
		   "  - oops\n",
		   4, 3, "", "YAML syntax error: did not find expected node content");
	/* A key indented out of its block. */
	expect_one("pipelines:\n"
		   "  - name: a\n"
		   "   stages: []\n",
		   3, 4, "", "YAML syntax error");
}

static void test_err_unknown_key(void **state)
{
	expect_one(PIPE_HEAD
		   "        prams: { a: 1 }\n"
		   IFACES,
		   6, 9, "pipelines[0].stages[0].prams",
		   "unknown key; allowed: name, object, program, tail_calls, params, rules, tests, auto_rollback");
	expect_one("log_lvl: debug\n" PIPE_HEAD IFACES, 1, 1, "log_lvl", "unknown key; allowed: pin_root,");
	/* The schema's own flow-style trap: an unquoted comma ends the value. */
	expect_one(PIPE_HEAD
		   "      - name: acl\n"
		   "        object: acl\n"
		   "        rules: [ { id: 1, action: drop, proto: tcp, tcp_flags: syn/syn,ack } ]\n"
		   IFACES,
		   8, 72, "pipelines[0].stages[1].rules[0].ack", "quote values that contain commas");
}

static void test_err_duplicate_key(void **state)
{
	expect_one(PIPE_HEAD
		   "        object: count\n"
		   IFACES,
		   6, 9, "pipelines[0].stages[0].object", "duplicate key (first at line 5)");
}

static void test_err_wrong_type(void **state)
{
	expect_one(PIPE_HEAD
		   "      - name: rl\n"
		   "        object: ratelimit\n"
		   "        params: { burst: 10, rate_pps: fast }\n"
		   IFACES,
		   8, 40, "pipelines[0].stages[1].params.rate_pps", "expected an integer, got \"fast\"");
	expect_one(PIPE_HEAD
		   "        tail_calls: [1]\n"
		   IFACES,
		   6, 21, "pipelines[0].stages[0].tail_calls", "expected an integer, got a list");
	expect_one("pipelines: {}\n" IFACES, 1, 12, "pipelines", "expected a list of pipelines, got a mapping");
	/* Quoted numbers are strings, as YAML says. */
	expect_one(PIPE_HEAD
		   "        tail_calls: \"1\"\n"
		   IFACES,
		   6, 21, "pipelines[0].stages[0].tail_calls", "expected an integer, got \"1\"");
}

static void test_err_missing_key(void **state)
{
	expect_one(PIPE_HEAD
		   "      - name: count\n"
		   IFACES,
		   6, 9, "pipelines[0].stages[1]", "missing required key \"object\"");
	expect_one(PIPE_HEAD, 1, 1, "", "missing required key \"interfaces\"");
	expect_one(PIPE_HEAD
		   "control:\n"
		   "  mode: 0660\n"
		   IFACES,
		   7, 9, "control.mode", "mode 0660 needs control.group");
}

static void test_err_second_document(void **state)
{
	expect_one(PIPE_HEAD IFACES
		   "---\n"
		   "log_level: debug\n",
		   10, 1, "", "a second YAML document");
}

static void test_err_required_null(void **state)
{
	expect_one(PIPE_HEAD
		   "      - name: count\n"
		   "        object: ~\n"
		   IFACES,
		   7, 17, "pipelines[0].stages[1].object", "required key has no value");
}

static void test_err_duplicate_stage(void **state)
{
	expect_one(PIPE_HEAD
		   "      - name: count\n"
		   "        object: count\n"
		   "      - name: parse\n"
		   "        object: pass\n"
		   IFACES,
		   8, 15, "pipelines[0].stages[2].name",
		   "duplicate stage name \"parse\" in pipeline \"fw\" (first at line 4)");
}

static void test_err_duplicate_iface(void **state)
{
	expect_one(PIPE_HEAD IFACES
		   "  - name: veth1\n"
		   "    pipeline: fw\n"
		   "  - name: veth0\n"
		   "    pipeline: fw\n",
		   11, 11, "interfaces[2].name", "duplicate interface \"veth0\" (first at line 7)");
}

static void test_err_unknown_pipeline(void **state)
{
	expect_one(PIPE_HEAD
		   "interfaces:\n"
		   "  - name: veth0\n"
		   "    pipeline: firewall\n",
		   8, 15, "interfaces[0].pipeline", "unknown pipeline \"firewall\"; defined: fw");
}

static void test_err_object_missing(void **state)
{
	expect_one(PIPE_HEAD
		   "      - name: mine\n"
		   "        object: stages/mine.bpf.o\n"
		   IFACES,
		   7, 17, "pipelines[0].stages[1].object",
		   "object \"stages/mine.bpf.o\" is not a built-in stage (parse acl ratelimit xsk count pass verdict)");
	/* A misspelt built-in is a path that does not exist either. */
	expect_one(PIPE_HEAD
		   "      - name: c\n"
		   "        object: cuont\n"
		   IFACES,
		   7, 17, "pipelines[0].stages[1].object", "does not exist");
}

static void test_err_bad_verdict(void **state)
{
	expect_one("pipelines:\n"
		   "  - name: fw\n"
		   "    default_verdict: dorp\n"
		   "    stages: [ { name: p, object: parse } ]\n"
		   IFACES,
		   3, 22, "pipelines[0].default_verdict",
		   "unknown verdict \"dorp\"; allowed: pass, drop, aborted, tx");
	/* redirect is what a stage may return, not what an empty slot may. */
	expect_one("pipelines:\n"
		   "  - name: fw\n"
		   "    default_verdict: redirect\n"
		   "    stages: [ { name: p, object: parse } ]\n"
		   IFACES,
		   3, 22, "pipelines[0].default_verdict", "unknown verdict \"redirect\"");
	expect_one(PIPE_HEAD
		   "        tests: [ { packet: { proto: udp }, expect: passs } ]\n"
		   IFACES,
		   6, 52, "pipelines[0].stages[0].tests[0].expect", "unknown verdict \"passs\"");
}

#define ACL_HEAD PIPE_HEAD \
	"      - name: acl\n"		/* 6 */ \
	"        object: acl\n"		/* 7 */ \
	"        rules:\n"		/* 8 */

/*
 * The fields added for firewall users, in YAML, give the very rules
 * `sluicectl rule add` gives for the same text (the config reads their
 * values with the text parser), ICMP names resolving in the rule's proto.
 */
static void test_acl_fields(void **state)
{
	static const char *const want[] = {
		"drop id 1 src_mac 02:aa:00:00:00:01 dst_mac 33:33:00:00:00:00/ff:ff:00:00:00:00",
		"drop id 2 vlan 100-199",
		"drop id 3 vlan any:200",
		"drop id 4 proto arp arp_sender 192.0.2.0/24 arp_target 198.51.100.7/32,198.51.100.9/32",
		"drop id 5 proto icmp icmp_type echo-request",
		"drop id 6 proto icmpv6 icmp_type echo-request",
		"drop id 7 proto icmp icmp_type destination-unreachable icmp_code port-unreachable",
		"drop id 8 proto icmpv6 nd_target 2001:db8::/64",
		"drop id 9 src ::ffff:10.0.0.0/104",
	};
	const char *text = ACL_HEAD
		"          - { id: 1, action: drop, src_mac: 02:aa:00:00:00:01, dst_mac: 33:33:0:0:0:0/16 }\n"
		"          - { id: 2, action: drop, vlan: 100-199 }\n"
		"          - { id: 3, action: drop, vlan: \"any:200\" }\n"
		"          - { id: 4, action: drop, proto: arp, arp_sender: 192.0.2.0/24,\n"
		"              arp_target: [198.51.100.7, 198.51.100.9] }\n"
		"          - { id: 5, action: drop, proto: icmp, icmp_type: echo-request }\n"
		"          - { id: 6, action: drop, proto: icmpv6, icmp_type: echo-request }\n"
		"          - { id: 7, action: drop, proto: icmp, icmp_type: 3, icmp_code: port-unreachable }\n"
		"          - { id: 8, action: drop, proto: icmpv6, nd_target: \"2001:db8::/64\" }\n"
		"          - { id: 9, action: drop, src: \"::ffff:10.0.0.0/104\" }\n"
		IFACES;
	struct config_errors errs = {};
	struct sluice_config *cfg;
	const struct cfg_stage *acl;
	char buf[256], err[128];

	if (config__parse_string(text, NAME, &cfg, &errs))
		dump(&errs);
	assert_int_equal(errs.n, 0);
	acl = stage(cfg, "fw", "acl");
	assert_int_equal(acl->nr_rules, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < acl->nr_rules; i++) {
		struct acl_rule_spec r;

		assert_true(acl_rule_format(&acl->rules[i], buf, sizeof(buf)) > 0);
		assert_string_equal(buf, want[i]);
		/* And the text parses back to the same rule. */
		assert_int_equal(acl_rule_parse(buf, &r, err, sizeof(err)), 0);
		assert_true(acl_rule_format(&r, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, want[i]);
		acl_rule_spec_free(&r);
	}
	assert_int_equal(acl->rules[5].icmp_type, 128);
	assert_int_equal(acl->rules[4].icmp_type, 8);
	config__free(cfg);
}

static void test_err_acl_fields(void **state)
{
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, src_mac: 02:aa:00:00:00 }\n"
		   IFACES,
		   9, 45, "pipelines[0].stages[1].rules[0].src_mac", "bad MAC address");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, dst_mac: 02:aa:00:00:00:01/ff:00:00:00:00:00 }\n"
		   IFACES,
		   9, 45, "pipelines[0].stages[1].rules[0].dst_mac", "bits set outside its mask");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, vlan: 4096 }\n"
		   IFACES,
		   9, 42, "pipelines[0].stages[1].rules[0].vlan", "bad vlan \"4096\"");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, arp_sender: 10.0.0.1 }\n"
		   IFACES,
		   9, 48, "pipelines[0].stages[1].rules[0].arp_sender", "arp_sender needs proto arp");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: arp, arp_target: \"2001:db8::1\" }\n"
		   IFACES,
		   9, 60, "pipelines[0].stages[1].rules[0].arp_target", "takes IPv4 prefixes");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: arp, src: 10.0.0.1 }\n"
		   IFACES,
		   9, 53, "pipelines[0].stages[1].rules[0].src", "proto arp matches addresses with");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: udp, icmp_type: 8 }\n"
		   IFACES,
		   9, 59, "pipelines[0].stages[1].rules[0].icmp_type", "icmp_type needs proto icmp or icmpv6");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: icmp, icmp_type: nd-neighbor-solicit }\n"
		   IFACES,
		   9, 60, "pipelines[0].stages[1].rules[0].icmp_type", "unknown ICMP type \"nd-neighbor-solicit\"");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: icmpv6, icmp_code: frag-needed }\n"
		   IFACES,
		   9, 62, "pipelines[0].stages[1].rules[0].icmp_code", "unknown ICMPv6 code \"frag-needed\"");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, nd_target: \"2001:db8::1\" }\n"
		   IFACES,
		   9, 47, "pipelines[0].stages[1].rules[0].nd_target", "nd_target needs proto icmpv6");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: icmpv6, icmp_type: 128, nd_target: \"::1\" }\n"
		   IFACES,
		   9, 62, "pipelines[0].stages[1].rules[0].icmp_type", "nd_target matches only");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: icmpv6, nd_target: [\"::1\", 10.0.0.1] }\n"
		   IFACES,
		   9, 62, "pipelines[0].stages[1].rules[0].nd_target", "nd_target takes IPv6 prefixes");
}

static void test_err_acl_rules(void **state)
{
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, src: 10.0.0.256/8 }\n"
		   IFACES,
		   9, 41, "pipelines[0].stages[1].rules[0].src", "bad prefix \"10.0.0.256/8\"");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, dst: [192.0.2.0/24, 10.0.0.1/8] }\n"
		   IFACES,
		   9, 56, "pipelines[0].stages[1].rules[0].dst[1]", "host bits set beyond /8");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, dst: 2001:db8::/129 }\n"
		   IFACES,
		   9, 41, "pipelines[0].stages[1].rules[0].dst", "prefix length must be 0..128");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: tcp, dport: 443-80 }\n"
		   IFACES,
		   9, 55, "pipelines[0].stages[1].rules[0].dport", "bad port range \"443-80\"");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: tcp, sport: 70000 }\n"
		   IFACES,
		   9, 55, "pipelines[0].stages[1].rules[0].sport", "ports are 0..65535");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: tpc }\n"
		   IFACES,
		   9, 43, "pipelines[0].stages[1].rules[0].proto", "unknown protocol \"tpc\"");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: reject }\n"
		   IFACES,
		   9, 30, "pipelines[0].stages[1].rules[0].action",
		   "unknown action \"reject\"; allowed: pass, drop, xsk, count");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, proto: udp, tcp_flags: syn }\n"
		   IFACES,
		   9, 59, "pipelines[0].stages[1].rules[0].tcp_flags", "tcp_flags needs proto: tcp");
	expect_one(ACL_HEAD
		   "          - { id: 1, action: drop, src: 10.0.0.0/8, dst: \"2001:db8::/32\" }\n"
		   IFACES,
		   9, 13, "pipelines[0].stages[1].rules[0]", "rule 1 can never match");
	expect_one(ACL_HEAD
		   "          - { action: drop }\n"
		   IFACES,
		   9, 13, "pipelines[0].stages[1].rules[0]", "missing required key \"id\"");
}

static void test_err_duplicate_rule_id(void **state)
{
	/* Unique across the pipeline, not just the stage. */
	expect_one(ACL_HEAD
		   "          - { id: 7, action: pass, proto: tcp, dport: 22 }\n"
		   "      - name: acl2\n"
		   "        object: acl\n"
		   "        rules:\n"
		   "          - { id: 8, action: drop }\n"
		   "          - { id: 7, action: drop }\n"
		   IFACES,
		   14, 19, "pipelines[0].stages[2].rules[1].id",
		   "duplicate rule id 7 in pipeline \"fw\" (first at line 9)");
}

static void test_err_too_many_stages(void **state)
{
	char text[4096];
	int off, i;

	off = snprintf(text, sizeof(text), "pipelines:\n  - name: big\n    stages:\n");
	for (i = 0; i <= SLUICE_MAX_STAGES; i++)
		off += snprintf(text + off, sizeof(text) - off, "      - { name: s%d, object: pass }\n", i);
	snprintf(text + off, sizeof(text) - off, "interfaces: [ { name: v, pipeline: big } ]\n");
	expect_one(text, 4, 7, "pipelines[0].stages",
		   "pipeline \"big\" has 17 stages, more than the limit of 16 (SLUICE_MAX_STAGES)");
}

static void test_err_too_many_tail_calls(void **state)
{
	/* 3 stages of 1 + 10, one of 1: 34 > 33. */
	expect_one("pipelines:\n"
		   "  - name: deep\n"
		   "    stages:\n"
		   "      - { name: a, object: pass, tail_calls: 10 }\n"
		   "      - { name: b, object: pass, tail_calls: 10 }\n"
		   "      - { name: c, object: pass, tail_calls: 10 }\n"
		   "      - { name: d, object: pass }\n"
		   "interfaces: [ { name: v, pipeline: deep } ]\n",
		   4, 7, "pipelines[0].stages",
		   "a packet of pipeline \"deep\" may take 34 tail calls, more than the kernel's limit of 33 (MAX_TAIL_CALL_CNT)");
}

static void test_tail_calls_at_limit(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg;

	/* 1 + 10, 1 + 10, 1 + 10: exactly 33 is allowed. */
	assert_int_equal(config__parse_string("pipelines:\n"
					      "  - name: deep\n"
					      "    stages:\n"
					      "      - { name: a, object: pass, tail_calls: 10 }\n"
					      "      - { name: b, object: pass, tail_calls: 10 }\n"
					      "      - { name: c, object: pass, tail_calls: 10 }\n"
					      "interfaces: [ { name: v, pipeline: deep } ]\n",
					      NAME, &cfg, &errs), 0);
	config__free(cfg);
	config_errors__free(&errs);
}

/* ---- the whole file at once ---- */

static void test_all_errors_in_file_order(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg;
	static const int want[][2] = { { 2, 12 }, { 7, 15 }, { 10, 22 }, { 14, 21 } };
	size_t i;

	/* Interfaces come first in the file but are checked after pipelines. */
	assert_int_equal(config__load("tests/unit/configs/many-errors.yaml", &cfg, &errs), -EINVAL);
	assert_null(cfg);
	if (errs.n != 4)
		dump(&errs);
	assert_int_equal(errs.n, 4);
	for (i = 0; i < 4; i++) {
		char prefix[128];

		snprintf(prefix, sizeof(prefix), "tests/unit/configs/many-errors.yaml:%d:%d: ", want[i][0],
			 want[i][1]);
		assert_true(!strncmp(errs.v[i].msg, prefix, strlen(prefix)));
	}
	assert_non_null(strstr(errs.v[0].msg, "log_level: unknown log level \"loud\""));
	assert_non_null(strstr(errs.v[1].msg, "interfaces[1].pipeline: unknown pipeline \"nope\""));
	assert_non_null(strstr(errs.v[2].msg, "pipelines[0].default_verdict: unknown verdict"));
	assert_non_null(strstr(errs.v[3].msg, "pipelines[0].stages[0].tail_calls: 99 is out of range"));
	config_errors__free(&errs);
}

static void test_syntax_fixture(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg;

	assert_int_equal(config__load("tests/unit/configs/syntax.yaml", &cfg, &errs), -EINVAL);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.v[0].msg,
			    "tests/unit/configs/syntax.yaml:8:30: YAML syntax error: "
			    "mapping values are not allowed in this context");
	config_errors__free(&errs);
}

static void test_missing_file(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg;

	assert_int_equal(config__load("tests/unit/configs/no-such.yaml", &cfg, &errs), -ENOENT);
	assert_null(cfg);
	assert_int_equal(errs.n, 1);
	assert_non_null(strstr(errs.v[0].msg, "no-such.yaml: cannot open"));
	config_errors__free(&errs);
	/* errs is optional. */
	assert_int_equal(config__load("tests/unit/configs/syntax.yaml", &cfg, NULL), -EINVAL);
}

/* A relative object path is anchored at the config file's directory, not the cwd. */
static void test_object_path_relative_to_config(void **state)
{
	char dir[] = "/tmp/sluice-test-config.XXXXXX", path[256], obj[256], *real;
	struct config_errors errs = {};
	struct sluice_config *cfg;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(obj, sizeof(obj), "%s/mine.bpf.o", dir);
	f = fopen(obj, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(path, sizeof(path), "%s/sluiced.yaml", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(PIPE_HEAD
	      "      - name: mine\n"
	      "        object: ./mine.bpf.o\n"
	      "        program: my_prog\n"
	      "        tail_calls: 2\n"
	      "        rules: [ { id: 1, action: drop } ]\n"
	      IFACES, f);
	fclose(f);

	assert_int_equal(config__load(path, &cfg, &errs), 0);
	real = realpath(obj, NULL);
	assert_false(cfg->pipelines[0].stages[1].builtin);
	assert_string_equal(cfg->pipelines[0].stages[1].object, real);
	assert_string_equal(cfg->pipelines[0].stages[1].program, "my_prog");
	assert_int_equal(cfg->pipelines[0].stages[1].tail_calls, 2);
	assert_int_equal(cfg->pipelines[0].stages[1].nr_rules, 1);
	free(real);
	config__free(cfg);
	config_errors__free(&errs);
	unlink(obj);
	unlink(path);
	rmdir(dir);
}

static struct sluice_config *parse_ok(const char *text)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;

	if (config__parse_string(text, NAME, &cfg, &errs))
		dump(&errs);
	assert_non_null(cfg);
	config_errors__free(&errs);
	return cfg;
}

/* The umem sizes a capture gets when it names none (docs/afxdp.md "Defaults and why"). */
static void test_xsk_defaults(void **state)
{
	struct sluice_config *cfg = parse_ok(PIPE_HEAD IFACES "xsk: { interface: veth0 }\n");

	assert_true(cfg->xsk.enabled);
	assert_int_equal(cfg->xsk.rx_ring, 8192);
	assert_int_equal(cfg->xsk.fill_ring, 8192);
	assert_int_equal(cfg->xsk.frames, 8192);
	assert_int_equal(cfg->xsk.frame_size, 2048);
	config__free(cfg);
}

static void test_stage_equal(void **state)
{
#define ONE(stage) "pipelines: [ { name: p, stages: [ " stage " ] } ]\ninterfaces: [ { name: v, pipeline: p } ]\n"
	struct sluice_config *a = parse_ok(ONE("{ name: r, object: ratelimit, params: { over_action: drop, burst: 9 } }"));
	struct sluice_config *same = parse_ok(ONE("{ name: x, object: ratelimit, params: { burst: 9, over_action: drop } }"));
	struct sluice_config *val = parse_ok(ONE("{ name: r, object: ratelimit, params: { over_action: pass, burst: 9 } }"));
	struct sluice_config *fewer = parse_ok(ONE("{ name: r, object: ratelimit, params: { over_action: drop } }"));
	struct sluice_config *prog = parse_ok(ONE("{ name: r, object: ratelimit, program: other, "
						  "params: { over_action: drop, burst: 9 } }"));
	struct sluice_config *obj = parse_ok(ONE("{ name: r, object: acl, params: { default_action: drop } }"));
	struct sluice_config *rules = parse_ok(ONE("{ name: q, object: acl, params: { default_action: drop }, "
						   "rules: [ { id: 1, action: drop } ] }"));
	const struct cfg_stage *s = &a->pipelines[0].stages[0];

	assert_int_equal(config__stage_equal(s, s), 1);
	/* Order of params and the stage name are not code, nor are rules. */
	assert_int_equal(config__stage_equal(s, &same->pipelines[0].stages[0]), 1);
	assert_int_equal(config__stage_equal(&obj->pipelines[0].stages[0], &rules->pipelines[0].stages[0]), 1);
	assert_int_equal(config__stage_equal(s, &val->pipelines[0].stages[0]), 0);
	assert_int_equal(config__stage_equal(s, &fewer->pipelines[0].stages[0]), 0);
	assert_int_equal(config__stage_equal(s, &prog->pipelines[0].stages[0]), 0);
	assert_int_equal(config__stage_equal(s, &obj->pipelines[0].stages[0]), 0);
	config__free(a);
	config__free(same);
	config__free(val);
	config__free(fewer);
	config__free(prog);
	config__free(obj);
	config__free(rules);
#undef ONE
}

static void test_control_mode_octal_as_written(void **state)
{
	struct sluice_config *cfg = parse_ok(PIPE_HEAD IFACES "control: { mode: 660, group: wheel }\n");

	assert_int_equal(cfg->control.mode, 0660);
	config__free(cfg);
	expect_one(PIPE_HEAD IFACES "control: { mode: 0644 }\n", 9, 18, "control.mode",
		   "mode 0644 is not allowed; use 0600 or 0660");
}

/* Loads a file of tests/unit/configs that must fail; returns its errors. */
static struct config_errors load_bad(const char *file, int want)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;

	assert_int_equal(config__load(file, &cfg, &errs), want);
	assert_null(cfg);
	dump(&errs);
	return errs;
}

static void expect_msg(const struct config_errors *errs, size_t i, const char *prefix, const char *what)
{
	assert_true(i < errs->n);
	if (strncmp(errs->v[i].msg, prefix, strlen(prefix)) || !strstr(errs->v[i].msg, what))
		fail_msg("error %zu: got \"%s\", want \"%s...%s\"", i, errs->v[i].msg, prefix, what);
}

/* Issue #12: the checker catches a built-in's misspelt or out-of-range parameter. */
static void test_builtin_params(void **state)
{
	struct config_errors errs = load_bad("tests/unit/configs/builtin-params.yaml", -EINVAL);
	char err[256];

	assert_int_equal(errs.n, 5);
	expect_msg(&errs, 0, "tests/unit/configs/builtin-params.yaml:9:65: pipelines[0].stages[0].params.drop_malformed: ",
		   "2 is no boolean");
	expect_msg(&errs, 1, "tests/unit/configs/builtin-params.yaml:13:11: pipelines[0].stages[1].params.rate: ",
		   "built-in stage \"ratelimit\" has no parameter \"rate\"; its parameters: rate_pps, burst, over_action");
	expect_msg(&errs, 2, "tests/unit/configs/builtin-params.yaml:14:21: pipelines[0].stages[1].params.rate_pps: ",
		   "4294967296 is out of range [0, 4294967295]");
	expect_msg(&errs, 3, "tests/unit/configs/builtin-params.yaml:15:18: pipelines[0].stages[1].params.burst: ",
		   "-1 is out of range [0, 4294967295]");
	expect_msg(&errs, 4, "tests/unit/configs/builtin-params.yaml:16:24: pipelines[0].stages[1].params.over_action: ",
		   "4 is no verdict over_action takes; use aborted, drop, pass, tx");
	config_errors__free(&errs);
	/* The same table serves a swap's parameters from the control socket. */
	assert_int_equal(config__builtin_param_check("ratelimit", "rate_pps", 4294967295LL, err, sizeof(err)), 0);
	assert_int_equal(config__builtin_param_check("ratelimit", "rate_pps", 4294967296LL, err, sizeof(err)), -ERANGE);
	assert_int_equal(config__builtin_param_check("count", "x", 1, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "it takes none"));
	assert_int_equal(config__builtin_param_check("/my/stage.bpf.o", "anything", -5, err, sizeof(err)), 0);
}

/* Issue #12: what parses but would not start here. */
static void test_check_env(void **state)
{
	struct config_errors errs = {}, warns = {};
	struct sluice_config *cfg = NULL;
	const char *f = "tests/unit/configs/env-errors.yaml";

	assert_int_equal(config__load(f, &cfg, &errs), 0);
	assert_int_equal(config__check_env(cfg, &errs, &warns), -EINVAL);
	dump(&errs);
	dump(&warns);
	assert_int_equal(errs.n, 3);
	expect_msg(&errs, 0, "tests/unit/configs/env-errors.yaml:5:11: pin_root: ",
		   "/tmp/sluice-not-a-bpffs/pins is not on a bpffs");
	expect_msg(&errs, 1, "tests/unit/configs/env-errors.yaml:8:10: control.group: ",
		   "no group \"sluice-no-such-group\" on this host");
	expect_msg(&errs, 2, "tests/unit/configs/env-errors.yaml:9:15: control.read_group: ",
		   "no group \"sluice-no-such-readers\" on this host");
	assert_int_equal(warns.n, 1);
	expect_msg(&warns, 0, "tests/unit/configs/env-errors.yaml:14:5: interfaces: ",
		   "warning: no interface \"sluice-none0\" here (yet)");
	config_errors__free(&errs);
	config_errors__free(&warns);
	config__free(cfg);

	/* The defaults pass where bpffs is, with groups that exist. */
	cfg = parse_ok(PIPE_HEAD IFACES "control: { mode: 0660, group: nogroup }\n");
	assert_int_equal(config__check_env(cfg, &errs, NULL), 0);
	assert_int_equal(errs.n, 0);
	config__free(cfg);
}

static void test_metrics_every_address(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;
	struct sockaddr_in6 *sin6;

	assert_int_equal(config__load("tests/unit/configs/metrics-all.yaml", &cfg, &errs), 0);
	sin6 = (struct sockaddr_in6 *)&cfg->metrics.addr;
	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(sin6->sin6_port), 9469);
	assert_memory_equal(&sin6->sin6_addr, &in6addr_any, sizeof(in6addr_any));
	config__free(cfg);
	expect_one(PIPE_HEAD IFACES "metrics: { listen: \":\" }\n", 9, 20, "metrics.listen", "ADDRESS:PORT");
}

/* Issue #11 defect 8: an alias bomb of 17 KB is refused before it is walked. */
static void test_alias_bomb(void **state)
{
	struct config_errors errs = load_bad("tests/unit/configs/alias-bomb.yaml", -EINVAL);

	assert_int_equal(errs.n, 1);
	expect_msg(&errs, 0, "tests/unit/configs/alias-bomb.yaml:1:1: ",
		   "with its aliases expanded, the configuration has more than 1000000 nodes");
	config_errors__free(&errs);
}

/* The limits leave room: 100,000 prefixes in 100 rules, some shared through an alias. */
static void test_100k_prefixes_fit(void **state)
{
	size_t cap = 4 << 20, off = 0;
	char *text = malloc(cap);
	struct sluice_config *cfg;
	size_t total = 0;

	assert_non_null(text);
	off += (size_t)snprintf(text + off, cap - off, PIPE_HEAD "      - name: acl\n        object: acl\n        rules:\n");
	for (int r = 0; r < 100; r++) {
		off += (size_t)snprintf(text + off, cap - off, "          - id: %d\n            action: drop\n"
					"            src: %s", r + 1, r == 0 ? "&shared [" : r % 2 ? "*shared\n" : "[");
		if (r % 2 && r)
			continue;
		for (int i = 0; i < 1000; i++)
			off += (size_t)snprintf(text + off, cap - off, "%s10.%d.%d.0/24", i ? ", " : "", r, i % 250 + (i / 250) * 0);
		off += (size_t)snprintf(text + off, cap - off, "]\n");
	}
	off += (size_t)snprintf(text + off, cap - off, IFACES);
	assert_true(off < cap);
	cfg = parse_ok(text);
	for (size_t i = 0; i < cfg->pipelines[0].stages[1].nr_rules; i++)
		total += cfg->pipelines[0].stages[1].rules[i].nr_src;
	assert_int_equal(total, 100000);
	config__free(cfg);
	free(text);
}

static void test_size_and_depth_limits(void **state)
{
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;
	char path[] = "/tmp/sluice-big-XXXXXX", *deep;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)CONFIG_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(config__load(path, &cfg, &errs), -EFBIG);
	assert_non_null(strstr(errs.v[0].msg, "more than the 16777216 a configuration may have"));
	config_errors__free(&errs);
	unlink(path);
	/* A FIFO is no configuration, and opening it does not block. */
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(config__load(path, &cfg, &errs), -EINVAL);
	assert_non_null(strstr(errs.v[0].msg, "not a regular file"));
	config_errors__free(&errs);
	unlink(path);
	/* 65 nested lists: libyaml's scanner is quadratic in the depth. */
	deep = calloc(1, 256);
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	assert_int_equal(config__parse_string(deep, NAME, &cfg, &errs), -EINVAL);
	expect_msg(&errs, 0, NAME ":1:65: ", "[ and { nest more than 64 deep");
	config_errors__free(&errs);
	free(deep);
	/* Quoted and commented brackets do not count. */
	cfg = parse_ok("# [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n"
		       "state_dir: \"/run/[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"\n"
		       PIPE_HEAD IFACES);
	config__free(cfg);
}

static void test_too_many_tests(void **state)
{
	char *text = malloc(64 << 10);
	size_t off = 0;
	struct config_errors errs;

	off += (size_t)sprintf(text, PIPE_HEAD "        tests:\n");
	for (int i = 0; i < 257; i++)
		off += (size_t)sprintf(text + off, "          - { packet: {}, expect: pass }\n");
	sprintf(text + off, IFACES);
	errs = parse_bad(text);
	expect_msg(&errs, 0, NAME ":7:11: pipelines[0].stages[0].tests: ", "257 pre-flight tests, more than 256");
	config_errors__free(&errs);
	free(text);
}

/* The trust policy applies to the configuration's objects, with the rule named. */
static void test_trust(void **state)
{
	char dir[] = "/tmp/sluice-cfgtrust-XXXXXX", obj[128], link[128], text[2048], cmd[160];
	struct sluice_config *cfg;
	struct config_errors errs;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	chmod(dir, 0755);
	snprintf(obj, sizeof(obj), "%s/s.bpf.o", dir);
	f = fopen(obj, "w");
	assert_non_null(f);
	fputs("hello", f);
	fclose(f);
	chmod(obj, 0644);
	snprintf(link, sizeof(link), "%s/l.bpf.o", dir);
	assert_int_equal(symlink(obj, link), 0);

#define STAGE(extra) PIPE_HEAD "      - { name: s, object: %s" extra " }\n" IFACES
	/* sha256("hello") */
	snprintf(text, sizeof(text), STAGE(", sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"), obj);
	cfg = parse_ok(text);
	assert_true(cfg->pipelines[0].stages[1].has_sha256);
	config__free(cfg);
	snprintf(text, sizeof(text), STAGE(", sha256: 0000000000000000000000000000000000000000000000000000000000000000"), obj);
	errs = parse_bad(text);
	expect_msg(&errs, 0, NAME ":6:28: pipelines[0].stages[1].object: ", "(sha256): content is 2cf24dba");
	config_errors__free(&errs);
	snprintf(text, sizeof(text), STAGE(""), link);
	errs = parse_bad(text);
	expect_msg(&errs, 0, NAME ":6:28: pipelines[0].stages[1].object: ", "(no-symlinks)");
	config_errors__free(&errs);
	snprintf(text, sizeof(text), "trust: { stage_dir: /usr/lib }\n" STAGE(""), obj);
	errs = parse_bad(text);
	expect_msg(&errs, 0, NAME ":7:28: pipelines[0].stages[1].object: ", "(stage-dir): stage objects must lie under /usr/lib");
	config_errors__free(&errs);
	snprintf(text, sizeof(text), "trust: { stage_dir: %s }\n" STAGE(""), dir, obj);
	cfg = parse_ok(text);
	assert_string_equal(cfg->trust.stage_dir, dir);
	config__free(cfg);
	expect_one("trust: { owner: sluice-no-such-user }\n" PIPE_HEAD IFACES, 1, 17, "trust.owner",
		   "no user \"sluice-no-such-user\"");
	expect_one(PIPE_HEAD "        sha256: 2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n" IFACES,
		   6, 17, "pipelines[0].stages[0].sha256", "built-in stage \"parse\" is part of sluiced");
	chown(obj, 1000, 1000);
	snprintf(text, sizeof(text), STAGE(""), obj);
	errs = parse_bad(text);
	expect_msg(&errs, 0, NAME ":6:28: pipelines[0].stages[1].object: ", "(owner): belongs to uid 1000");
	config_errors__free(&errs);
	snprintf(text, sizeof(text), "trust: { owner: 1000 }\n" STAGE(""), obj);
	cfg = parse_ok(text);
	config__free(cfg);
#undef STAGE
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* 152 errors (150 objects, too many stages, too many tail calls): the first 100, then a count. */
static void test_error_cap(void **state)
{
	char *text = malloc(64 << 10);
	size_t off = 0;
	struct config_errors errs;

	off += (size_t)sprintf(text, PIPE_HEAD);
	for (int i = 0; i < 150; i++)
		off += (size_t)sprintf(text + off, "      - { name: s%d, object: nope%d }\n", i, i);
	sprintf(text + off, IFACES);
	errs = parse_bad(text);
	assert_int_equal(errs.n, CONFIG_MAX_ERRORS + 1 + 0);
	assert_string_equal(errs.v[errs.n - 1].msg, NAME ": and 52 more errors");
	config_errors__free(&errs);
	free(text);
}

/* observe: off by default; record, keep and a power-of-two time sample, each checked. */
static void test_observe(void **state)
{
	struct sluice_config *cfg = parse_ok(PIPE_HEAD IFACES);

	assert_false(cfg->ifaces[0].observe.record);
	assert_int_equal(cfg->ifaces[0].observe.keep, CONFIG_OBSERVE_KEEP);
	assert_int_equal(cfg->ifaces[0].observe.time_sample, 0);
	config__free(cfg);
	cfg = parse_ok(PIPE_HEAD IFACES "    observe: { record: on, keep: 10, time_sample: 64 }\n");
	assert_true(cfg->ifaces[0].observe.record);
	assert_int_equal(cfg->ifaces[0].observe.keep, 10);
	assert_int_equal(cfg->ifaces[0].observe.time_sample, 64);
	config__free(cfg);
	expect_one(PIPE_HEAD IFACES "    observe: { time_sample: 48 }\n", 9, 29,
		   "interfaces[0].observe.time_sample", "power of two");
	expect_one(PIPE_HEAD IFACES "    observe: { time_sample: 1 }\n", 9, 29,
		   "interfaces[0].observe.time_sample", "power of two");
	expect_one(PIPE_HEAD IFACES "    observe: { keep: 0 }\n", 9, 22, "interfaces[0].observe.keep",
		   "out of range");
	expect_one(PIPE_HEAD IFACES "    observe: { record: 2 }\n", 9, 24, "interfaces[0].observe.record",
		   "true or false");
	expect_one(PIPE_HEAD IFACES "    observe: { recrd: on }\n", 9, 16, "interfaces[0].observe.recrd",
		   "allowed: record, keep, time_sample");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_inline),
		cmocka_unit_test(test_example_minimal),
		cmocka_unit_test(test_example_firewall),
		cmocka_unit_test(test_example_xsk_capture),
		cmocka_unit_test(test_example_demo),
		cmocka_unit_test(test_err_syntax),
		cmocka_unit_test(test_err_unknown_key),
		cmocka_unit_test(test_err_duplicate_key),
		cmocka_unit_test(test_err_wrong_type),
		cmocka_unit_test(test_err_missing_key),
		cmocka_unit_test(test_err_second_document),
		cmocka_unit_test(test_err_required_null),
		cmocka_unit_test(test_err_duplicate_stage),
		cmocka_unit_test(test_err_duplicate_iface),
		cmocka_unit_test(test_err_unknown_pipeline),
		cmocka_unit_test(test_err_object_missing),
		cmocka_unit_test(test_err_bad_verdict),
		cmocka_unit_test(test_err_acl_rules),
		cmocka_unit_test(test_acl_fields),
		cmocka_unit_test(test_err_acl_fields),
		cmocka_unit_test(test_err_duplicate_rule_id),
		cmocka_unit_test(test_err_too_many_stages),
		cmocka_unit_test(test_err_too_many_tail_calls),
		cmocka_unit_test(test_tail_calls_at_limit),
		cmocka_unit_test(test_all_errors_in_file_order),
		cmocka_unit_test(test_syntax_fixture),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_object_path_relative_to_config),
		cmocka_unit_test(test_xsk_defaults),
		cmocka_unit_test(test_stage_equal),
		cmocka_unit_test(test_control_mode_octal_as_written),
		cmocka_unit_test(test_builtin_params),
		cmocka_unit_test(test_check_env),
		cmocka_unit_test(test_metrics_every_address),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_100k_prefixes_fit),
		cmocka_unit_test(test_size_and_depth_limits),
		cmocka_unit_test(test_too_many_tests),
		cmocka_unit_test(test_trust),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_observe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

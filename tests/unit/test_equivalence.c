// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The composed pipeline (entry, subprogram dispatch, tail calls between
 * stages) must decide exactly what the same stage code decides when built as
 * one program with everything inlined (bpf/bench/inlined.bpf.c): the same
 * verdict and the same metadata, for a table of built frames and for every
 * frame of several real captures. Losing a stage's verdict on the way back to
 * the entry (the clang 14 fold) or a stage skipped by a wrong slot fails it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "acl.h"
#include "harness.h"
#include "pkt.h"
#include "pipeline.h"
#include "stage_load.h"

#define RATE_UNLIMITED	1000000000

struct fixture {
	struct pipeline pl;
	struct bpf_object *inl;
	int inl_fd;
	size_t compared;
};

static const char *const rules_text[] = {
	"drop proto udp dport 53",
	"count proto tcp",
	"drop proto tcp src 10.0.0.0/8 dport 22",
	"drop src fd00::/16 proto icmpv6",
	"pass proto tcp flags syn/syn,ack",
	"drop proto tcp dport 80-81",
};

static void src_set(struct stage_src *s, const char *name)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->object, sizeof(s->object), "%s", name);
}

/* The inlined program's entry part must look for the context where the pipeline puts it. */
static int set_entry_carrier(struct bpf_object *obj, enum sluice_carrier c)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj) {
		size_t sz;
		char *data;
		const char *name = bpf_map__name(map);

		if (!bpf_map__is_internal(map) || !strstr(name, ".rodata"))
			continue;
		data = (char *)bpf_map__initial_value(map, &sz);
		/* sluice_entry is the object's only struct sluice_entry_cfg; find it through BTF. */
		{
			struct btf *btf = bpf_object__btf(obj);
			int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
			const struct btf_type *sec = btf__type_by_id(btf, id);
			const struct btf_var_secinfo *vs = btf_var_secinfos(sec);

			for (int i = 0; i < btf_vlen(sec); i++, vs++) {
				const struct btf_type *t = btf__type_by_id(btf, vs->type);

				if (!strcmp(btf__name_by_offset(btf, t->name_off), "sluice_entry")) {
					((struct sluice_entry_cfg *)(data + vs->offset))->carrier = (__u8)c;
					return 0;
				}
			}
		}
	}
	return -ENOENT;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct acl_rule_spec rules[sizeof(rules_text) / sizeof(rules_text[0])];
	size_t nr = sizeof(rules) / sizeof(rules[0]);
	struct stage_src src[4];
	struct pipeline_err err = {};
	struct acl_maps maps;
	struct bpf_map *map;
	char path[PATH_MAX], msg[256];
	const char *build = getenv("SLUICE_BUILD") ? getenv("SLUICE_BUILD") : "build";

	if (!f || geteuid() != 0 || !test_pin_root())
		return -1;
	src_set(&src[0], "parse");
	src_set(&src[1], "acl");
	src_set(&src[2], "ratelimit");
	stage_src__set_param(&src[2], "rate_pps", RATE_UNLIMITED);
	stage_src__set_param(&src[2], "burst", RATE_UNLIMITED);
	src_set(&src[3], "count");
	if (pipeline__init(&f->pl, test_pin_root(), "equiv"))
		return -1;
	pipeline__set_carrier(&f->pl, test_carrier(), 0);
	if (pipeline__load(&f->pl, src, 4, XDP_PASS, &err)) {
		fprintf(stderr, "pipeline: %s\n", err.msg);
		return -1;
	}

	/* The same rules for both: the inlined program uses the pipeline's maps. */
	for (size_t i = 0; i < nr; i++) {
		memset(&rules[i], 0, sizeof(rules[i]));
		if (acl_rule_parse(rules_text[i], &rules[i], msg, sizeof(msg))) {
			fprintf(stderr, "rule '%s': %s\n", rules_text[i], msg);
			return -1;
		}
		rules[i].id = (uint32_t)i + 1;
	}
	snprintf(path, sizeof(path), "%s/%s", f->pl.dir, SLUICE_PIN_MAPS);
	if (acl_maps__open_pinned(path, &maps) || acl__apply(&maps, rules, nr))
		return -1;
	acl_maps__close(&maps);
	for (size_t i = 0; i < nr; i++)
		acl_rule_spec_free(&rules[i]);

	snprintf(path, sizeof(path), "%s/bench/bpf/%s.bpf.o", build,
		 test_carrier() == SLUICE_CARRIER_PERCPU ? "inlined_percpu" : "inlined");
	f->inl = bpf_object__open_file(path, NULL);
	if (!f->inl) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	bpf_object__for_each_map(map, f->inl) {
		const char *name = bpf_map__name(map);
		int fd;

		/* The same rules, and the same switch word: generation 1 in bank 0. */
		if (bpf_map__is_internal(map) ||
		    (strncmp(name, "sluice_acl_", 11) && strcmp(name, SLUICE_MAP_SWITCH)))
			continue;
		fd = pipeline__map_fd(&f->pl, name);
		if (fd < 0 || bpf_map__reuse_fd(map, fd))
			return -1;
		close(fd);
	}
	if (set_entry_carrier(f->inl, test_carrier()) ||
	    stage__set_rodata(f->inl, "rate_pps", RATE_UNLIMITED) ||
	    stage__set_rodata(f->inl, "burst", RATE_UNLIMITED) || bpf_object__load(f->inl))
		return -1;
	f->inl_fd = bpf_program__fd(bpf_object__find_program_by_name(f->inl, "sluice_inlined"));
	*state = f;
	return f->inl_fd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	bpf_object__close(f->inl);
	pipeline__destroy(&f->pl);
	pipeline__close(&f->pl);
	free(f);
	return 0;
}

/* Runs one frame through both and compares everything but the generation stamp. */
static void compare(struct fixture *f, const void *frame, size_t len, const char *what)
{
	struct xdp_run a, b;

	if (len < 14 || len > 2048)
		return;
	assert_int_equal(xdp_run(f->pl.entry.fd, frame, len, &a), 0);
	assert_int_equal(xdp_run(f->inl_fd, frame, len, &b), 0);
	assert_int_equal(a.meta.gen, f->pl.gen);
	a.meta.gen = b.meta.gen = 0;
	if (a.retval != b.retval || memcmp(&a.meta, &b.meta, sizeof(a.meta)))
		fail_msg("%s: pipeline verdict %u flags %#x path %#x rule %u, inlined verdict %u "
			 "flags %#x path %#x rule %u", what, a.retval, a.meta.flags, a.meta.path,
			 a.meta.rule, b.retval, b.meta.flags, b.meta.path, b.meta.rule);
	f->compared++;
}

static void test_built_frames(void **state)
{
	struct fixture *f = *state;
	struct pkt_spec s;
	uint8_t buf[2048];
	int len, drops = 0;
	struct {
		const char *name;
		int family, vlans;
		uint8_t proto, flags;
		uint16_t sport, dport;
		const char *src;
	} rows[] = {
		{ "udp dns (drop rule)", AF_INET, 0, IPPROTO_UDP, 0, 1000, 53, "192.0.2.1" },
		{ "udp other", AF_INET, 0, IPPROTO_UDP, 0, 1000, 2000, "192.0.2.1" },
		{ "tcp ssh from 10/8 (drop)", AF_INET, 0, IPPROTO_TCP, 0x10, 4000, 22, "10.1.2.3" },
		{ "tcp ssh elsewhere", AF_INET, 0, IPPROTO_TCP, 0x10, 4000, 22, "192.0.2.9" },
		{ "tcp syn", AF_INET, 1, IPPROTO_TCP, 0x02, 4000, 443, "192.0.2.9" },
		{ "tcp http (drop)", AF_INET, 2, IPPROTO_TCP, 0x18, 4000, 81, "192.0.2.9" },
		{ "icmp echo", AF_INET, 0, IPPROTO_ICMP, 0, 8, 0, "192.0.2.9" },
		{ "icmpv6 from fd00::/16 (drop)", AF_INET6, 0, IPPROTO_ICMPV6, 0, 128, 0, NULL },
		{ "udp6 dns (drop)", AF_INET6, 1, IPPROTO_UDP, 0, 1000, 53, NULL },
		{ "tcp6", AF_INET6, 0, IPPROTO_TCP, 0x10, 1000, 8080, NULL },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		pkt_spec_default(&s);
		s.family = rows[i].family;
		s.vlans = rows[i].vlans;
		s.vlan_id[0] = 10;
		s.vlan_id[1] = 20;
		s.proto = rows[i].proto;
		s.tcp_flags = rows[i].flags;
		s.sport = rows[i].sport;
		s.dport = rows[i].dport;
		s.with_payload = true;
		s.frame_len = 128;
		if (rows[i].src)
			inet_pton(AF_INET, rows[i].src, &s.src4);
		len = pkt_build(&s, buf, sizeof(buf));
		assert_true(len > 0);
		compare(f, buf, (size_t)len, rows[i].name);
		{
			struct xdp_run r;

			assert_int_equal(xdp_run(f->pl.entry.fd, buf, (size_t)len, &r), 0);
			drops += r.retval == XDP_DROP;
		}
	}
	/* The table must exercise stage verdicts, not only pass-through. */
	assert_int_equal(drops, 5);

	/* Truncated frames: every prefix of a VLAN-tagged TCP frame. */
	pkt_spec_default(&s);
	s.vlans = 1;
	s.proto = IPPROTO_TCP;
	s.dport = 22;
	inet_pton(AF_INET, "10.9.9.9", &s.src4);
	len = pkt_build(&s, buf, sizeof(buf));
	for (int cut = 14; cut <= len; cut++) {
		char what[64];

		snprintf(what, sizeof(what), "tcp frame cut at %d bytes", cut);
		compare(f, buf, (size_t)cut, what);
	}
}

static void test_real_captures(void **state)
{
	static const char *const files[] = {
		"zeek__wikipedia.pcap", "zeek__vlan-collisions.pcap", "zeek__mixed-vlan-mpls.pcap",
		"suricata-verify__decode-too-small.pcap", "zeek__ipv6-http-atomic-frag.pcap",
		"zeek__communityid-icmp6.pcap", "tcpdump__802.1ad_QinQ.pcap", "zeek__dns53.pcap",
	};
	const char *env = getenv("SLUICE_PCAPS"), *top = getenv("SLUICE_TOP");
	struct fixture *f = *state;
	size_t before = f->compared;
	char dir[PATH_MAX];

	/* The repository's own captures (tests/data) unless SLUICE_PCAPS names others. */
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else
		snprintf(dir, sizeof(dir), "%s/tests/data", top && *top ? top : ".");

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[PATH_MAX], ebuf[PCAP_ERRBUF_SIZE], what[PATH_MAX + 32];
		struct pcap_pkthdr *h;
		const u_char *data;
		pcap_t *p;
		int n = 0;

		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		p = pcap_open_offline(path, ebuf);
		if (!p)
			fail_msg("%s", ebuf);
		while (pcap_next_ex(p, &h, &data) == 1) {
			snprintf(what, sizeof(what), "%s packet %d", files[i], ++n);
			compare(f, data, h->caplen, what);
		}
		pcap_close(p);
	}
	assert_true(f->compared - before > 300);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_built_frames),
		cmocka_unit_test(test_real_captures),
	};

	libbpf_set_print(NULL);
	if (geteuid() != 0) {
		printf("1..0 # skip: needs root\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Random and mutated packets through every built-in stage by
 * BPF_PROG_TEST_RUN (issue #11): frames of the repository's captures
 * (tests/data, or $SLUICE_PCAPS) and of
 * the packet builder, each mutated (bits flipped, cut short, grown, fields
 * of every header layer set to edge values, VLAN tags inserted), and frames
 * of random bytes. Whatever comes in:
 *
 *   - no stage returns XDP_ABORTED (none is configured to, by design);
 *   - what parse records lies within the packet: an offset is at most the
 *     frame's length, and one a header starts at leaves room for that
 *     header unless parse flagged the frame truncated;
 *   - through a whole pipeline of them, no tail call finds an empty slot,
 *     no verdict is unknown and no packet mixes generations.
 *
 * The seed is printed; SLUICE_PACKET_SEED repeats a run, SLUICE_PACKET_ROUNDS
 * makes it longer. Stages are run through the harness (xdp_run_meta), the
 * pipeline through pipeline__test_run, whichever context carrier is in use.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>
#include "harness.h"
#include "acl.h"
#include "pipeline.h"
#include "pkt.h"
#include "parse.skel.h"
#include "acl.skel.h"
#include "ratelimit.skel.h"
#include "count.skel.h"
#include "xsk.skel.h"
#include "pass.skel.h"
#include "verdict.skel.h"

#define FRAME_MAX	2048
#define MAX_BASES	4000
#define MUTANTS		8
#define RANDOMS		1000

struct frame {
	uint16_t len;
	uint8_t b[FRAME_MAX];
};

static struct frame *frames;
static size_t nr_frames, nr_captured, nr_built, nr_files;
static uint64_t rng;

static uint64_t rnd(void)
{
	/* xorshift64*: reproducible from the printed seed. */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static void add(const uint8_t *b, size_t len)
{
	if (nr_frames == MAX_BASES * (MUTANTS + 1) + RANDOMS || len < ETH_HLEN)
		return;
	if (len > FRAME_MAX)
		len = FRAME_MAX;
	frames[nr_frames].len = (uint16_t)len;
	memcpy(frames[nr_frames].b, b, len);
	nr_frames++;
}

static const char *captures_dir(void)
{
	static char buf[PATH_MAX];
	const char *d = getenv("SLUICE_PCAPS"), *top = getenv("SLUICE_TOP");

	if (d && *d)
		return d;
	snprintf(buf, sizeof(buf), "%s/tests/data", top && *top ? top : ".");
	return buf;
}

/* Ethernet frames of every capture (pcap or pcapng), up to a share of MAX_BASES each. */
static void load_captures(void)
{
	const char *dir = captures_dir();
	struct dirent *de;
	DIR *dh = opendir(dir);

	if (!dh)
		return;
	while ((de = readdir(dh)) && nr_captured < MAX_BASES / 2) {
		char path[PATH_MAX], ebuf[PCAP_ERRBUF_SIZE];
		struct pcap_pkthdr *h;
		const u_char *data;
		size_t taken = 0;
		pcap_t *p;

		if (!strstr(de->d_name, ".pcap"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		p = pcap_open_offline(path, ebuf);
		if (!p)
			continue;
		if (pcap_datalink(p) == DLT_EN10MB) {
			nr_files++;
			while (taken < 200 && pcap_next_ex(p, &h, &data) == 1) {
				add(data, h->caplen);
				taken++;
			}
			nr_captured += taken;
		}
		pcap_close(p);
	}
	closedir(dh);
}

/* Frames of every kind the builder makes: families, protocols, VLAN tags, lengths. */
static void load_built(void)
{
	static const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_TCP, IPPROTO_ICMP, IPPROTO_ICMPV6,
					  IPPROTO_SCTP, IPPROTO_GRE, 0 };
	uint8_t b[FRAME_MAX];

	for (int fam = 0; fam < 2; fam++) {
		for (size_t p = 0; p < sizeof(protos); p++) {
			for (int vlans = 0; vlans <= 2; vlans++) {
				struct pkt_spec s;
				int len;

				pkt_spec_default(&s);
				s.family = fam ? AF_INET6 : AF_INET;
				s.proto = protos[p];
				s.vlans = vlans;
				s.tcp_flags = 0x02;
				s.frame_len = 64 + 97 * (unsigned int)(p + vlans);
				len = pkt_build(&s, b, sizeof(b));
				if (len > 0) {
					add(b, (size_t)len);
					nr_built++;
				}
			}
		}
	}
}

/* Offsets where a header field sits, for targeted edits: L2/L3/L4 of common layouts. */
static const uint16_t hot[] = {
	12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27,	/* ethertype, VLAN, IPv4 */
	30, 33, 34, 35, 36, 37, 38, 39, 40, 41, 46, 47,			/* IPv4 ports, IHL+options */
	54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 66, 67, 74, 75,		/* IPv6 next header, L4 */
};

static void mutate(struct frame *f)
{
	int edits = 1 + (int)(rnd() % 4);

	for (int e = 0; e < edits; e++) {
		size_t at;

		switch (rnd() % 7) {
		case 0:		/* a bit */
			at = rnd() % f->len;
			f->b[at] ^= (uint8_t)(1u << (rnd() % 8));
			break;
		case 1:		/* a header field to an edge value */
			at = hot[rnd() % (sizeof(hot) / sizeof(hot[0]))];
			if (at < f->len)
				f->b[at] = (uint8_t[]){ 0x00, 0xff, 0x7f, 0x80, 0x01, 0x0f, 0xf0, 0x45 }[rnd() % 8];
			break;
		case 2:		/* cut short */
			f->len = (uint16_t)(ETH_HLEN + rnd() % (f->len - ETH_HLEN + 1));
			break;
		case 3:		/* grown with garbage */
			while (f->len < FRAME_MAX && rnd() % 8)
				f->b[f->len++] = (uint8_t)rnd();
			break;
		case 4:		/* a VLAN tag inserted after the MACs */
			if (f->len + 4 <= FRAME_MAX) {
				memmove(f->b + 16, f->b + 12, f->len - 12);
				f->b[12] = rnd() % 2 ? 0x81 : 0x88;
				f->b[13] = rnd() % 2 ? 0x00 : 0xa8;
				f->b[14] = (uint8_t)rnd();
				f->b[15] = (uint8_t)rnd();
				f->len += 4;
			}
			break;
		case 5:		/* an ethertype of another family */
			f->b[12] = rnd() % 2 ? 0x86 : 0x08;
			f->b[13] = (uint8_t[]){ 0xdd, 0x00, 0x06, 0x35 }[rnd() % 4];
			break;
		default:	/* a run of random bytes */
			at = rnd() % f->len;
			for (size_t n = rnd() % 16; n-- && at < f->len; at++)
				f->b[at] = (uint8_t)rnd();
			break;
		}
	}
}

static int setup(void **state)
{
	const char *seed = getenv("SLUICE_PACKET_SEED");
	size_t bases;

	frames = calloc(MAX_BASES * (MUTANTS + 1) + RANDOMS, sizeof(*frames));
	if (!frames)
		return -1;
	rng = seed && *seed ? strtoull(seed, NULL, 0) : (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
	if (!rng)
		rng = 1;
	print_message("# seed %#llx (SLUICE_PACKET_SEED repeats this run)\n", (unsigned long long)rng);
	load_captures();
	load_built();
	bases = nr_frames;
	for (size_t i = 0; i < bases; i++) {
		for (int m = 0; m < MUTANTS; m++) {
			struct frame f = frames[i];

			mutate(&f);
			add(f.b, f.len);
		}
	}
	for (int i = 0; i < RANDOMS; i++) {
		uint8_t b[FRAME_MAX];
		size_t len = ETH_HLEN + rnd() % (FRAME_MAX - ETH_HLEN);

		for (size_t j = 0; j < len; j++)
			b[j] = (uint8_t)rnd();
		add(b, len);
	}
	print_message("# %zu frames: %zu from %zu captures (%s), %zu built, %zu mutants, %d random\n",
		      nr_frames, nr_captured, nr_files, captures_dir(), nr_built,
		      nr_frames - bases - RANDOMS, RANDOMS);
	return 0;
}

static int teardown(void **state)
{
	free(frames);
	return 0;
}

/* The smallest header an L4 offset must leave room for, unless flagged truncated. */
static unsigned int l4_min(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return 20;
	case IPPROTO_UDP:
		return 8;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return 4;
	default:
		return 0;
	}
}

/* What parse wrote lies within the frame. */
static void check_meta(const struct sluice_meta *m, unsigned int len, size_t i)
{
	bool trunc = m->flags & SLUICE_PKT_TRUNC;

	if (m->l3_off > len || m->l4_off > len)
		fail_msg("frame %zu (%u bytes): offsets l3 %u l4 %u beyond it", i, len, m->l3_off, m->l4_off);
	if (m->l4_off && m->l4_off < m->l3_off)
		fail_msg("frame %zu: l4 %u before l3 %u", i, m->l4_off, m->l3_off);
	if (!trunc && m->l3_off && m->l3_off >= len)
		fail_msg("frame %zu (%u bytes): l3 at %u, not flagged truncated", i, len, m->l3_off);
	if (!trunc && m->l4_off && m->l4_off + l4_min(m->l4_proto) > len)
		fail_msg("frame %zu (%u bytes): l4 (proto %u) at %u has no room, not flagged truncated", i,
			 len, m->l4_proto, m->l4_off);
}

struct stage {
	const char *name;
	int fd;
	void (*destroy)(void *);
	void *skel;
};

#define LOAD(type, skel_name, field, setup_fn)						\
	do {										\
		struct type##_bpf *s_ = type##_bpf__open();				\
		assert_non_null(s_);							\
		s_->rodata->sluice_cfg.next = SLUICE_SLOT_END;				\
		s_->rodata->sluice_cfg.carrier = (__u8)test_carrier();			\
		setup_fn;								\
		assert_int_equal(type##_bpf__load(s_), 0);				\
		st[n].name = skel_name;							\
		st[n].fd = bpf_program__fd(s_->progs.field);				\
		st[n].destroy = (void (*)(void *))type##_bpf__destroy;			\
		st[n].skel = s_;							\
		n++;									\
	} while (0)

static const char *const rule_texts[] = {
	"drop id 1 proto tcp dport 23",
	"pass id 2 src 10.0.0.0/8,192.168.0.0/16",
	"xsk id 3 proto udp dport 53",
	"count id 4 dst 2001:db8::/32",
	"drop id 5 proto tcp flags syn/syn,ack sport 1-1023",
	"drop id 6 family 6 proto icmpv6",
};

static void test_every_stage(void **state)
{
	struct stage st[8];
	struct acl_maps maps;
	struct acl_rule_spec rules[6];
	char err[128];
	size_t runs = 0, aborted = 0;
	int n = 0;

	require_bpf();
	LOAD(parse, "parse", sluice_parse, s_->rodata->drop_malformed = 1);
	LOAD(acl, "acl", sluice_acl, (void)0);
	LOAD(ratelimit, "ratelimit", sluice_ratelimit, s_->rodata->rate_pps = 1000);
	LOAD(count, "count", sluice_count, (void)0);
	LOAD(xsk, "xsk", sluice_xsk, s_->rodata->fallback = XDP_PASS);
	LOAD(pass, "pass", sluice_pass, (void)0);
	LOAD(verdict, "verdict", sluice_verdict_stage, s_->rodata->verdict = XDP_DROP);
	/* The acl stage with rules of every kind, so packets match and miss them. */
	for (size_t r = 0; r < 6; r++)
		assert_int_equal(acl_rule_parse(rule_texts[r], &rules[r], err, sizeof(err)), 0);
	assert_int_equal(acl_maps__from_object(((struct acl_bpf *)st[1].skel)->obj, &maps), 0);
	assert_int_equal(acl__apply(&maps, rules, 6), 0);

	for (size_t i = 0; i < nr_frames; i++) {
		struct sluice_meta m;
		struct xdp_run r;

		meta_init(&m, 0);
		assert_int_equal(xdp_run_meta(st[0].fd, frames[i].b, frames[i].len, &m, &r), 0);
		runs++;
		if (r.retval == XDP_ABORTED)
			fail_msg("parse aborted frame %zu (%u bytes)", i, frames[i].len);
		check_meta(&r.meta, frames[i].len, i);
		/* Every other stage, as it would meet the frame after parse. */
		for (int s = 1; s < n; s++) {
			struct xdp_run r2;

			assert_int_equal(xdp_run_meta(st[s].fd, frames[i].b, frames[i].len, &r.meta, &r2), 0);
			runs++;
			if (r2.retval == XDP_ABORTED) {
				aborted++;
				fail_msg("stage %s aborted frame %zu (%u bytes)", st[s].name, i, frames[i].len);
			}
		}
	}
	print_message("# %zu stage runs over %zu frames, %zu aborted\n", runs, nr_frames, aborted);
	for (size_t r = 0; r < 6; r++)
		acl_rule_spec_free(&rules[r]);
	for (int s = 0; s < n; s++)
		st[s].destroy(st[s].skel);
}

/* The same frames through a whole pipeline of them: nothing missed, unknown or mixed. */
static void test_whole_pipeline(void **state)
{
	static const char *const objs[] = { "parse", "acl", "ratelimit", "xsk", "count" };
	struct sluice_slot_stats slots[SLUICE_MAX_STAGES];
	struct stage_src src[5] = {};
	struct pipeline_err perr = {};
	struct sluice_pipe_stats ps;
	struct pipeline pl;

	require_bpf();
	assert_non_null(test_pin_root());
	assert_int_equal(pipeline__init(&pl, test_pin_root(), "pktfuzz"), 0);
	pipeline__set_carrier(&pl, test_carrier(), 0);
	for (int i = 0; i < 5; i++) {
		snprintf(src[i].name, sizeof(src[i].name), "%s", objs[i]);
		snprintf(src[i].object, sizeof(src[i].object), "%s", objs[i]);
	}
	if (pipeline__load(&pl, src, 5, XDP_DROP, &perr))
		fail_msg("load: %s", perr.msg);
	for (size_t i = 0; i < nr_frames; i++) {
		uint32_t v = 0xdead;
		struct sluice_meta m;

		assert_int_equal(pipeline__test_run(&pl, frames[i].b, frames[i].len, &v, &m), 0);
		if (v == XDP_ABORTED || v > XDP_REDIRECT)
			fail_msg("frame %zu (%u bytes): verdict %u", i, frames[i].len, v);
	}
	assert_int_equal(pipeline__stats(&pl, &ps, slots), 0);
	print_message("# pipeline: %llu packets, %llu missed tail calls, %llu unknown verdicts, "
		      "%llu mixed, %llu aborted\n", (unsigned long long)ps.packets,
		      (unsigned long long)ps.missed, (unsigned long long)ps.bad_verdict,
		      (unsigned long long)ps.mixed, (unsigned long long)ps.verdict[XDP_ABORTED]);
	print_message("# figures: packets=%zu\n", nr_frames);
	assert_int_equal(ps.packets, nr_frames);
	assert_int_equal(ps.missed, 0);
	assert_int_equal(ps.bad_verdict, 0);
	assert_int_equal(ps.mixed, 0);
	assert_int_equal(ps.verdict[XDP_ABORTED], 0);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_stage),
		cmocka_unit_test(test_whole_pipeline),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, setup, teardown);
}

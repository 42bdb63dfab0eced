// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The parse stage against real captures: every packet of every capture in
 * tests/data ($SLUICE_PCAPS elsewhere) runs through the loaded stage, and
 * what parse says is compared, packet by packet, with the tshark oracle in
 * oracle/packets/<file>.csv: VLAN tags and outer id, ethertype, L3, L4,
 * ports, ICMP type, fragment and IPv4 option flags. One test per capture.
 *
 * Where parse stops by design, or reads a field tshark refuses to read, the
 * packet is listed in exceptions[] with the reason. An exception must still
 * disagree with the oracle: one that agrees is stale and fails the test, so
 * the list cannot hide a change in behaviour.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* pcap/bpf.h (classic BPF) clashes with linux/bpf.h; only the DLTs are needed. */
#define PCAP_DONT_INCLUDE_PCAP_BPF_H
#include <pcap/pcap.h>
#include <pcap/dlt.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "parse.skel.h"

#define FRAME_MAX	4000

/* LINKTYPE_IPV4: raw IPv4, no link header (libpcap may lack the name). */
#ifndef DLT_IPV4
#define DLT_IPV4	228
#endif

struct exception {
	const char *file;
	unsigned int first, last;	/* packet numbers, from 1, inclusive */
	const char *reason;
};

static const struct exception exceptions[] = {
	{ "zeek__trunc-trunc-hdr.pcap", 1, 1,
	  "8-byte frame: BPF_PROG_TEST_RUN refuses XDP frames shorter than an Ethernet header" },
	{ "suricata-verify__eve-flow-vlan-02.pcap", 3, 3,
	  "3 VLAN tags: parse reads 2 (SLUICE_PKT_VLAN_LIMIT), tshark reads on to IPv4/ICMP" },
	{ "suricata-verify__detect-arp-03-vlan.pcap", 3, 3,
	  "3 VLAN tags: parse reads 2 (SLUICE_PKT_VLAN_LIMIT), tshark reads on to ARP" },
	{ "zeek__vlan-qinqinq.pcap", 1, 14,
	  "3 VLAN tags: parse reads 2 (SLUICE_PKT_VLAN_LIMIT), tshark reads on to IPv4/TCP" },
	{ "libpcap__ipv6_ext_headers.pcap", 1, 1,
	  "~100 IPv6 extension headers: parse walks 8 (SLUICE_PKT_EXT_LIMIT), tshark reaches UDP" },
	{ "suricata-verify__decode-too-small.pcap", 1, 2,
	  "IPv4 datagram of 20 bytes naming TCP/UDP: parse reports the protocol with no header "
	  "(TRUNC); tshark names no L4 over IPv4, though it does over IPv6 (packets 5, 6)" },
	{ "suricata-verify__decode-too-small.pcap", 3, 3,
	  "4 of 8 UDP header bytes: tshark shows the ports, parse fills ports only from a whole "
	  "header (TRUNC)" },
	{ "suricata-verify__decode-too-small.pcap", 7, 7,
	  "4 of 8 UDP header bytes: tshark shows the ports, parse fills ports only from a whole "
	  "header (TRUNC)" },
	{ "suricata-verify__tcp-session-decode-malformed-ipv4.pcap", 8, 8,
	  "IPv4 option with an impossible length: tshark stops at IP; parse skips options by IHL "
	  "without interpreting them and reads the TCP header behind" },
	{ "zeek__ipv6-mobility-dst-opts.pcap", 1, 1,
	  "Destination Options with a malformed option TLV: tshark stops there; parse skips the "
	  "header by its length without interpreting options and reads the UDP header behind" },
#define TINY_FRAGMENT								\
	"first IPv4 fragment with part of the TCP header only (RFC 1858 tiny fragment): "	\
	"tshark shows ports from the partial header; parse fills ports only from a whole "	\
	"header and sets TRUNC"
	{ "suricata-verify__frag-eth-vlan-ip-tcp-syn.pcap", 1, 1, TINY_FRAGMENT " (8 of 20 bytes)" },
#undef TINY_FRAGMENT
};

/*
 * Captures the oracle covers under another name: the raw-IP original is
 * compared with its Ethernet copy, whose IP bytes are the same.
 */
static const struct {
	const char *file, *oracle;
} oracle_alias[] = {
	{ "suricata-verify__detect-ipopts.raw.pcap", "suricata-verify__detect-ipopts.eth-derived.pcap" },
};

/* One oracle row: the columns compared, as tshark wrote them. */
struct oracle_row {
	unsigned int frame;
	int vlan_tags;
	char vlan_ids[32];
	char l2_ethertype[16];
	char l3[8];
	char l4[8];
	char sport[8], dport[8], icmp_type[8];
	int ipv4_frag;
	long ipv4_frag_offset;
	int ipv4_options;
	int ipv6_frag;
	long ipv6_frag_offset;
};

struct oracle {
	struct oracle_row *rows;
	size_t n;
};

struct capture {
	char name[256];
	char path[512];
};

/* The repository's own captures unless SLUICE_PCAPS names others. */
static const char *pcaps_dir(void)
{
	static char buf[PATH_MAX];
	const char *d = getenv("SLUICE_PCAPS"), *top = getenv("SLUICE_TOP");

	if (d && *d)
		return d;
	snprintf(buf, sizeof(buf), "%s/tests/data", top && *top ? top : ".");
	return buf;
}

static int col_index(char **cols, int ncols, const char *name)
{
	int i;

	for (i = 0; i < ncols; i++)
		if (!strcmp(cols[i], name))
			return i;
	return -1;
}

/* Splits line in place at commas (the oracle quotes nothing). */
static int split(char *line, char **cols, int max)
{
	int n = 0;
	char *p = line;

	line[strcspn(line, "\r\n")] = '\0';
	cols[n++] = p;
	while ((p = strchr(p, ',')) && n < max) {
		*p++ = '\0';
		cols[n++] = p;
	}
	return n;
}

static void copy_field(char *dst, size_t size, const char *src)
{
	snprintf(dst, size, "%s", src);
}

static int oracle_load(const char *file, struct oracle *o)
{
	static const char *names[] = {
		"frame", "vlan_tags", "vlan_ids", "l2_ethertype", "l3", "l4", "sport", "dport",
		"icmp_type", "ipv4_frag", "ipv4_frag_offset", "ipv4_options", "ipv6_frag",
		"ipv6_frag_offset",
	};
	enum { NCOL = sizeof(names) / sizeof(names[0]) };
	char path[1024], line[8192], *cols[64];
	int idx[NCOL], ncols, i;
	size_t cap = 0;
	FILE *f;

	memset(o, 0, sizeof(*o));
	snprintf(path, sizeof(path), "%s/oracle/packets/%s.csv", pcaps_dir(), file);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	if (!fgets(line, sizeof(line), f))
		goto bad;
	ncols = split(line, cols, 64);
	for (i = 0; i < NCOL; i++) {
		idx[i] = col_index(cols, ncols, names[i]);
		if (idx[i] < 0)
			goto bad;
	}
	while (fgets(line, sizeof(line), f)) {
		struct oracle_row *r;

		if (split(line, cols, 64) != ncols)
			goto bad;
		if (o->n == cap) {
			cap = cap ? cap * 2 : 64;
			r = realloc(o->rows, cap * sizeof(*r));
			if (!r)
				goto bad;
			o->rows = r;
		}
		r = &o->rows[o->n++];
		r->frame = strtoul(cols[idx[0]], NULL, 10);
		r->vlan_tags = atoi(cols[idx[1]]);
		copy_field(r->vlan_ids, sizeof(r->vlan_ids), cols[idx[2]]);
		copy_field(r->l2_ethertype, sizeof(r->l2_ethertype), cols[idx[3]]);
		copy_field(r->l3, sizeof(r->l3), cols[idx[4]]);
		copy_field(r->l4, sizeof(r->l4), cols[idx[5]]);
		copy_field(r->sport, sizeof(r->sport), cols[idx[6]]);
		copy_field(r->dport, sizeof(r->dport), cols[idx[7]]);
		copy_field(r->icmp_type, sizeof(r->icmp_type), cols[idx[8]]);
		r->ipv4_frag = atoi(cols[idx[9]]);
		r->ipv4_frag_offset = atol(cols[idx[10]]);
		r->ipv4_options = atoi(cols[idx[11]]);
		r->ipv6_frag = atoi(cols[idx[12]]);
		r->ipv6_frag_offset = atol(cols[idx[13]]);
	}
	fclose(f);
	return 0;
bad:
	fclose(f);
	free(o->rows);
	o->rows = NULL;
	return -EBADMSG;
}

/* parse's view of L3 and L4 in the oracle's words. */
static const char *our_l3(const struct sluice_meta *m)
{
	if (m->flags & SLUICE_PKT_ARP)
		return "arp";
	if (m->l3_off && m->l3_proto == ETH_P_IP)
		return "ipv4";
	if (m->l3_off && m->l3_proto == ETH_P_IPV6)
		return "ipv6";
	return "other";
}

static const char *our_l4(const struct sluice_meta *m)
{
	switch (m->l4_proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return "other";
	}
}

/*
 * Compares one packet. Writes the first disagreement into why and returns
 * nonzero, or returns 0 when parse and the oracle agree on every column.
 */
static int compare(const struct oracle_row *o, const struct sluice_meta *m, char *why, size_t size)
{
	const char *l3 = our_l3(m);
	unsigned int ethertype, id;
	int frag = !!(m->flags & SLUICE_PKT_FRAG);
	int later = !!(m->flags & SLUICE_PKT_FRAG_LATER);

#define DIFF(...) do { snprintf(why, size, __VA_ARGS__); return 1; } while (0)
	if (m->vlans != o->vlan_tags || (m->flags & SLUICE_PKT_VLAN_LIMIT))
		DIFF("vlan tags: expected %d, got %u%s", o->vlan_tags, m->vlans,
		     m->flags & SLUICE_PKT_VLAN_LIMIT ? " (VLAN_LIMIT)" : "");
	if (o->vlan_tags) {
		const char *s = o->vlan_ids;

		if (!strncmp(s, "ad", 2))
			s += 2;
		id = strtoul(s, NULL, 10);
		if (m->vlan_id != id)
			DIFF("vlan id: expected %u, got %u", id, m->vlan_id);
	}
	ethertype = o->l2_ethertype[0] ? strtoul(o->l2_ethertype, NULL, 16) : 0;
	if (m->l3_proto != ethertype)
		DIFF("ethertype: expected %#x, got %#x", ethertype, m->l3_proto);
	if (strcmp(l3, o->l3))
		DIFF("l3: expected %s, got %s", o->l3, l3);
	if (strcmp(l3, "ipv4") && strcmp(l3, "ipv6")) {
		if (m->l4_proto || m->l4_off)
			DIFF("l4: expected none behind %s, got proto %u", l3, m->l4_proto);
		return 0;
	}
	if (strcmp(our_l4(m), o->l4))
		DIFF("l4: expected %s, got %s (proto %u)", o->l4, our_l4(m), m->l4_proto);
	if (o->sport[0] || o->dport[0]) {
		if (!m->l4_off || m->sport != atoi(o->sport) || m->dport != atoi(o->dport))
			DIFF("ports: expected %s -> %s, got %u -> %u (l4_off %u)", o->sport,
			     o->dport, m->sport, m->dport, m->l4_off);
	} else if ((m->l4_proto == IPPROTO_TCP || m->l4_proto == IPPROTO_UDP) &&
		   (m->l4_off || m->sport || m->dport)) {
		DIFF("ports: expected none (header cut), got %u -> %u", m->sport, m->dport);
	}
	if (o->icmp_type[0] && (!m->l4_off || m->dport >> 8 != atoi(o->icmp_type)))
		DIFF("icmp type: expected %s, got %u", o->icmp_type, m->dport >> 8);
	if (!strcmp(l3, "ipv4")) {
		if (frag != o->ipv4_frag || later != (o->ipv4_frag_offset > 0))
			DIFF("ipv4 fragment: expected frag %d offset %ld, got FRAG %d FRAG_LATER %d",
			     o->ipv4_frag, o->ipv4_frag_offset, frag, later);
		if (!!(m->flags & SLUICE_PKT_IPOPT) != o->ipv4_options)
			DIFF("ipv4 options: expected %d, got %d", o->ipv4_options,
			     !!(m->flags & SLUICE_PKT_IPOPT));
	} else {
		if (frag != o->ipv6_frag || later != (o->ipv6_frag_offset > 0))
			DIFF("ipv6 fragment: expected frag %d offset %ld, got FRAG %d FRAG_LATER %d",
			     o->ipv6_frag, o->ipv6_frag_offset, frag, later);
	}
	return 0;
#undef DIFF
}

static const struct exception *find_exception(const char *file, unsigned int frame)
{
	size_t i;

	for (i = 0; i < sizeof(exceptions) / sizeof(exceptions[0]); i++)
		if (!strcmp(exceptions[i].file, file) && frame >= exceptions[i].first &&
		    frame <= exceptions[i].last)
			return &exceptions[i];
	return NULL;
}

static const char *oracle_name(const char *file)
{
	size_t i;

	for (i = 0; i < sizeof(oracle_alias) / sizeof(oracle_alias[0]); i++)
		if (!strcmp(oracle_alias[i].file, file))
			return oracle_alias[i].oracle;
	return file;
}

static struct parse_bpf *skel;

static int group_setup(void **state)
{
	if (geteuid() != 0)
		return 0;	/* each test skips */
	skel = parse_bpf__open();
	if (!skel)
		return -1;
	skel->rodata->sluice_cfg.next = SLUICE_SLOT_END;
	if (parse_bpf__load(skel)) {
		parse_bpf__destroy(skel);
		skel = NULL;
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	parse_bpf__destroy(skel);
	return 0;
}

static void test_capture(void **state)
{
	const struct capture *c = *state;
	char errbuf[PCAP_ERRBUF_SIZE], why[256];
	unsigned int n = 0, agree = 0, excepted = 0, bad = 0;
	unsigned int l3[4] = {}, frags = 0;
	int prog, link, err;
	struct pcap_pkthdr *h;
	const u_char *bytes;
	struct oracle o = {};
	pcap_t *p;

	require_bpf();
	prog = bpf_program__fd(skel->progs.sluice_parse);
	err = oracle_load(oracle_name(c->name), &o);
	if (err)
		fail_msg("%s: no usable oracle (%s)", c->name, strerror(-err));
	p = pcap_open_offline(c->path, errbuf);
	if (!p)
		fail_msg("%s: %s", c->name, errbuf);
	link = pcap_datalink(p);
	if (link != DLT_EN10MB && link != DLT_IPV4 && link != DLT_RAW)
		fail_msg("%s: link type %d not handled", c->name, link);

	while (pcap_next_ex(p, &h, &bytes) == 1) {
		const struct exception *ex;
		uint8_t frame[FRAME_MAX];
		size_t len = 0, caplen = h->caplen;
		struct xdp_run r;
		int ret;

		n++;
		if (link != DLT_EN10MB) {
			/* Raw IP: an Ethernet header in front, as tools/rawip_to_eth.py does. */
			static const uint8_t eth[12] = { 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1 };

			memcpy(frame, eth, sizeof(eth));
			frame[12] = caplen && bytes[0] >> 4 == 6 ? 0x86 : 0x08;
			frame[13] = caplen && bytes[0] >> 4 == 6 ? 0xdd : 0x00;
			len = ETH_HLEN;
		}
		if (len + caplen > sizeof(frame)) {
			print_error("%s #%u: %zu bytes, larger than the test buffer\n", c->name, n,
				    len + caplen);
			bad++;
			continue;
		}
		memcpy(frame + len, bytes, caplen);
		len += caplen;
		if (n > o.n || o.rows[n - 1].frame != n) {
			print_error("%s #%u: not in the oracle\n", c->name, n);
			bad++;
			continue;
		}
		ex = find_exception(c->name, n);
		ret = xdp_run_meta(prog, frame, len, NULL, &r);
		if (ret) {
			if (ex && len < ETH_HLEN && ret == -EINVAL) {
				excepted++;
				continue;
			}
			print_error("%s #%u: test run failed: %s\n", c->name, n, strerror(-ret));
			bad++;
			continue;
		}
		if (r.retval != XDP_PASS || !(r.meta.flags & SLUICE_PKT_PARSED)) {
			print_error("%s #%u: verdict %u flags %#x, want PASS and PARSED\n", c->name, n,
				    r.retval, r.meta.flags);
			bad++;
			continue;
		}
		if (!strcmp(our_l3(&r.meta), "ipv4"))
			l3[0]++;
		else if (!strcmp(our_l3(&r.meta), "ipv6"))
			l3[1]++;
		else if (!strcmp(our_l3(&r.meta), "arp"))
			l3[2]++;
		else
			l3[3]++;
		frags += !!(r.meta.flags & SLUICE_PKT_FRAG);
		if (compare(&o.rows[n - 1], &r.meta, why, sizeof(why))) {
			if (ex) {
				excepted++;
				continue;
			}
			print_error("%s #%u: %s (flags %#x)\n", c->name, n, why, r.meta.flags);
			bad++;
		} else if (ex) {
			print_error("%s #%u: listed as an exception (%s) but agrees with the oracle\n",
				    c->name, n, ex->reason);
			bad++;
		} else {
			agree++;
		}
	}
	pcap_close(p);
	if (n != o.n) {
		print_error("%s: %u packets read, the oracle has %zu\n", c->name, n, o.n);
		bad++;
	}
	free(o.rows);
	print_message("# %s: %u packets, %u agree, %u listed exceptions; "
		      "l3 ipv4 %u ipv6 %u arp %u other %u, fragments %u\n",
		      c->name, n, agree, excepted, l3[0], l3[1], l3[2], l3[3], frags);
	assert_int_equal(bad, 0);
}

static int capture_cmp(const void *a, const void *b)
{
	return strcmp(((const struct capture *)a)->name, ((const struct capture *)b)->name);
}

static int is_capture(const char *name)
{
	size_t n = strlen(name);

	return (n > 5 && !strcmp(name + n - 5, ".pcap")) ||
	       (n > 7 && !strcmp(name + n - 7, ".pcapng"));
}

/* Every capture in the folder, sorted by name. */
static int captures_list(struct capture **out, size_t *count)
{
	struct capture *caps = NULL, *tmp;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(pcaps_dir());
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!is_capture(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			tmp = realloc(caps, cap * sizeof(*caps));
			if (!tmp) {
				closedir(d);
				free(caps);
				return -ENOMEM;
			}
			caps = tmp;
		}
		snprintf(caps[n].name, sizeof(caps[n].name), "%s", de->d_name);
		snprintf(caps[n].path, sizeof(caps[n].path), "%s/%s", pcaps_dir(), de->d_name);
		n++;
	}
	closedir(d);
	if (!n) {
		free(caps);
		return -ENOENT;
	}
	qsort(caps, n, sizeof(*caps), capture_cmp);
	*out = caps;
	*count = n;
	return 0;
}

int main(void)
{
	struct CMUnitTest *tests;
	struct capture *caps = NULL;
	size_t n = 0, i;
	int err, ret;

	libbpf_set_print(NULL);
	/* The captures are part of the repository: none is a failure, not a skip. */
	err = captures_list(&caps, &n);
	if (err) {
		fprintf(stderr, "no captures in %s: %s\n", pcaps_dir(), strerror(-err));
		printf("1..1\nnot ok 1 - captures in %s\n", pcaps_dir());
		return 1;
	}
	tests = calloc(n, sizeof(*tests));
	if (!tests)
		return 1;
	for (i = 0; i < n; i++) {
		tests[i].name = caps[i].name;
		tests[i].test_func = test_capture;
		tests[i].initial_state = &caps[i];
	}
	ret = _cmocka_run_group_tests("pcaps", tests, n, group_setup, group_teardown);
	free(tests);
	free(caps);
	return ret;
}

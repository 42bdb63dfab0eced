// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ACL rules: text syntax, and the compiler that keeps the acl stage's maps
 * (bpf/acl.h) equal to an ordered rule list.
 *
 * What packets read. Rule i sits at a position, positions increase with i.
 * Each of the five LPM tries (IPv4 and IPv6 source and destination, IPv6 ND
 * target; ARP sender and target share the IPv4 ones) maps every prefix some
 * rule names to the bitmap of the positions whose prefix contains it: the
 * rules naming it and those naming an enclosing prefix, so one longest-
 * prefix lookup yields every rule that matches the address. A summary, one
 * of SLUICE_ACL_SLOTS selected by sluice_acl_ctl.sel, holds what a lookup
 * cannot: the live positions, per trie the rules naming no prefix there,
 * which tries are worth a lookup, and, for rule sets of at most
 * SLUICE_ACL_SMALL_MAX entries, the whole rule set as a table the stage scans
 * without any lookup.
 *
 * Updating under traffic. A position is either live (in the live summary),
 * free, or retired (the live summary stopped naming it less than
 * ACL_QUIESCE_NS ago). Trie bits of positions the live summary does not name
 * are ignored by packets, so an update:
 *   1. writes the rules that are new, changed or must move at free positions
 *      (rules, hit counters, their bits in the tries; new trie keys carry the
 *      bits of their enclosing prefixes, so a lookup that now finds them
 *      finds the same live rules as before);
 *   2. switches: fills an idle summary slot and stores its index in
 *      sluice_acl_ctl.sel, one atomic store through mmap;
 *   3. when the old set had positions the new one lacks, waits
 *      ACL_QUIESCE_NS, long enough for any packet that read the old summary
 *      to be done (XDP runs with bottom halves off; the longest scan takes a
 *      few us), then clears their bits, deletes trie keys no rule names any
 *      more, and adds a moved rule's last hits to its new position.
 * A packet reads the summary once, so it is judged by the old set or the new
 * one, whole; only a count rule's hit may land on either side of a move.
 * Rules that stay where they are cost nothing, so adding or removing one rule
 * costs that rule's writes. To keep insertions cheap, positions are handed
 * out with gaps; a rule inserted where no gap is left moves neighbours out
 * of the way, the moves being part of the same switch. When the old and new
 * sets cannot sit side by side (positions or a trie's capacity), the update
 * switches to an empty summary first: while it runs, packets match no rule
 * and get default_action.
 *
 * The mirror. The process keeps, per set of maps (by map ids), the rules it
 * wrote and every trie key with the positions naming it, and
 * sluice_acl_ctl.gen counts updates: when the maps' generation is not the
 * mirror's (another process wrote them, or none was ever made here), the
 * mirror is read back from the maps before anything is written.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "acl.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- text syntax ---- */

static const struct {
	const char *name;
	enum sluice_acl_action action;
} acl_actions[] = {
	{ "pass", SLUICE_ACL_PASS }, { "drop", SLUICE_ACL_DROP },
	{ "xsk", SLUICE_ACL_XSK }, { "count", SLUICE_ACL_COUNT },
};

static const struct {
	const char *name;
	uint8_t proto;
} acl_protos[] = {
	{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "icmp", IPPROTO_ICMP },
	{ "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP }, { "gre", IPPROTO_GRE },
	{ "esp", IPPROTO_ESP },
};

static const char *const acl_flag_names[8] = { "fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr" };

struct icmp_name {
	const char *name;
	uint8_t val;
};

/* nftables' names (icmp type, icmpv6 type, icmp code, icmpv6 code). */
static const struct icmp_name icmp4_types[] = {
	{ "echo-reply", 0 }, { "destination-unreachable", 3 }, { "source-quench", 4 },
	{ "redirect", 5 }, { "echo-request", 8 }, { "router-advertisement", 9 },
	{ "router-solicitation", 10 }, { "time-exceeded", 11 }, { "parameter-problem", 12 },
	{ "timestamp-request", 13 }, { "timestamp-reply", 14 }, { "info-request", 15 },
	{ "info-reply", 16 }, { "address-mask-request", 17 }, { "address-mask-reply", 18 },
};

static const struct icmp_name icmp6_types[] = {
	{ "destination-unreachable", 1 }, { "packet-too-big", 2 }, { "time-exceeded", 3 },
	{ "parameter-problem", 4 }, { "echo-request", 128 }, { "echo-reply", 129 },
	{ "mld-listener-query", 130 }, { "mld-listener-report", 131 }, { "mld-listener-done", 132 },
	{ "nd-router-solicit", 133 }, { "nd-router-advert", 134 }, { "nd-neighbor-solicit", 135 },
	{ "nd-neighbor-advert", 136 }, { "nd-redirect", 137 }, { "router-renumbering", 138 },
	{ "ind-neighbor-solicit", 141 }, { "ind-neighbor-advert", 142 },
	{ "mld2-listener-report", 143 },
};

/* Codes of destination-unreachable, the type whose codes have names. */
static const struct icmp_name icmp4_codes[] = {
	{ "net-unreachable", 0 }, { "host-unreachable", 1 }, { "prot-unreachable", 2 },
	{ "port-unreachable", 3 }, { "frag-needed", 4 }, { "net-prohibited", 9 },
	{ "host-prohibited", 10 }, { "admin-prohibited", 13 },
};

static const struct icmp_name icmp6_codes[] = {
	{ "no-route", 0 }, { "admin-prohibited", 1 }, { "addr-unreachable", 3 },
	{ "port-unreachable", 4 }, { "policy-fail", 5 }, { "reject-route", 6 },
};

#define ICMP4_UNREACH	3
#define ICMP6_UNREACH	1
#define ICMP6_NS	135
#define ICMP6_NA	136

static const char *icmp_name_of(const struct icmp_name *t, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].val == v)
			return t[i].name;
	return NULL;
}

int acl_prefix_parse(const char *text, struct acl_prefix *p)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	int max, i;
	long len;
	char *end;

	memset(p, 0, sizeof(*p));
	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, text, alen);
	addr[alen] = 0;
	if (inet_pton(AF_INET, addr, p->addr) == 1) {
		p->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, addr, p->addr) == 1) {
		p->family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	len = max;
	if (slash) {
		errno = 0;
		len = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || len < 0 || len > max)
			return -EINVAL;
	}
	p->len = (uint8_t)len;
	/* Host bits set are almost always a typo for another prefix. */
	for (i = len; i < max; i++)
		if (p->addr[i / 8] & (0x80 >> (i % 8)))
			return -EINVAL;
	return 0;
}

void acl_rule_spec_free(struct acl_rule_spec *rule)
{
	free(rule->src);
	free(rule->dst);
	free(rule->arp_sender);
	free(rule->arp_target);
	free(rule->nd_target);
	rule->src = rule->dst = rule->arp_sender = rule->arp_target = rule->nd_target = NULL;
	rule->nr_src = rule->nr_dst = rule->nr_arp_sender = rule->nr_arp_target = rule->nr_nd_target = 0;
}

static int prefixes_dup(struct acl_prefix **dst, const struct acl_prefix *src, size_t n)
{
	*dst = NULL;
	if (!n)
		return 0;
	*dst = malloc(n * sizeof(*src));
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, n * sizeof(*src));
	return 0;
}

int acl_rule_spec_copy(struct acl_rule_spec *dst, const struct acl_rule_spec *src)
{
	*dst = *src;
	dst->src = dst->dst = dst->arp_sender = dst->arp_target = dst->nd_target = NULL;
	if (prefixes_dup(&dst->src, src->src, src->nr_src) ||
	    prefixes_dup(&dst->dst, src->dst, src->nr_dst) ||
	    prefixes_dup(&dst->arp_sender, src->arp_sender, src->nr_arp_sender) ||
	    prefixes_dup(&dst->arp_target, src->arp_target, src->nr_arp_target) ||
	    prefixes_dup(&dst->nd_target, src->nd_target, src->nr_nd_target)) {
		acl_rule_spec_free(dst);
		return -ENOMEM;
	}
	return 0;
}

static int parse_prefixes(const char *text, struct acl_prefix **out, size_t *nr, char *err,
			  size_t errlen)
{
	char *list, *save, *tok;
	size_t cnt = 1, i = 0;
	const char *c;

	if (*out) {
		snprintf(err, errlen, "prefixes given twice");
		return -EINVAL;
	}
	if (!strcasecmp(text, "any"))
		return 0;
	for (c = text; *c; c++)
		cnt += *c == ',';
	list = strdup(text);
	*out = calloc(cnt, sizeof(**out));
	if (!list || !*out) {
		free(list);
		return -ENOMEM;
	}
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (acl_prefix_parse(tok, &(*out)[i])) {
			snprintf(err, errlen, "bad prefix \"%s\"", tok);
			free(list);
			return -EINVAL;
		}
		i++;
	}
	free(list);
	*nr = i;
	if (!i) {
		snprintf(err, errlen, "bad prefix list \"%s\"", text);
		return -EINVAL;
	}
	return 0;
}

/* "N", "LO-HI" or "any", each at most max. */
static int parse_range(const char *s, unsigned long max, uint16_t *lo, uint16_t *hi)
{
	unsigned long a, b;
	char *end;

	if (!strcasecmp(s, "any")) {
		*lo = 0;
		*hi = (uint16_t)max;
		return 0;
	}
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	a = strtoul(s, &end, 10);
	b = a;
	if (end == s || errno)
		return -EINVAL;
	if (*end == '-') {
		s = end + 1;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		b = strtoul(s, &end, 10);
		if (end == s || errno)
			return -EINVAL;
	}
	if (*end || a > b || b > max)
		return -EINVAL;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

static int parse_flag_list(char *s, uint8_t *out)
{
	char *save, *tok;
	size_t i;

	*out = 0;
	if (!strcasecmp(s, "none"))
		return 0;
	for (tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		for (i = 0; i < ARRAY_SIZE(acl_flag_names); i++)
			if (!strcasecmp(tok, acl_flag_names[i]))
				break;
		if (i == ARRAY_SIZE(acl_flag_names))
			return -EINVAL;
		*out |= 1u << i;
	}
	return 0;
}

/* "VALUE/MASK": "syn/syn,ack" is SYN set and ACK clear; "syn" alone is "syn/syn". */
static int parse_flags(const char *text, uint8_t *value, uint8_t *mask)
{
	char s[64], *slash;

	if (strlen(text) >= sizeof(s))
		return -EINVAL;
	strcpy(s, text);
	slash = strchr(s, '/');
	if (slash)
		*slash = 0;
	if (parse_flag_list(s, value))
		return -EINVAL;
	*mask = *value;
	if (slash && parse_flag_list(slash + 1, mask))
		return -EINVAL;
	if (!*mask || (*value & ~*mask))
		return -EINVAL;
	return 0;
}

static int parse_proto(const char *s, uint8_t *proto, bool *arp)
{
	unsigned long v;
	char *end;
	size_t i;

	*arp = false;
	if (!strcasecmp(s, "any")) {
		*proto = 0;
		return 0;
	}
	if (!strcasecmp(s, "arp")) {
		*proto = 0;
		*arp = true;
		return 0;
	}
	for (i = 0; i < ARRAY_SIZE(acl_protos); i++) {
		if (!strcasecmp(s, acl_protos[i].name)) {
			*proto = acl_protos[i].proto;
			return 0;
		}
	}
	errno = 0;
	v = strtoul(s, &end, 10);
	if (end == s || *end || errno || v > 255)
		return -EINVAL;
	*proto = (uint8_t)v;
	return 0;
}

/* "aa:bb:cc:dd:ee:ff": six groups of one or two hex digits. */
static int parse_mac6(const char *s, uint8_t mac[6], const char **end)
{
	for (int i = 0; i < 6; i++) {
		unsigned int v = 0;
		int d = 0;

		while (d < 2 && ((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
				 (*s >= 'A' && *s <= 'F'))) {
			v = v * 16 + (*s <= '9' ? *s - '0' : (*s | 0x20) - 'a' + 10);
			s++;
			d++;
		}
		if (!d || (i < 5 && *s++ != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)v;
	}
	*end = s;
	return 0;
}

/* "MAC", "MAC/MASK" (MASK as a MAC) or "MAC/BITS" (the first BITS bits). */
static int parse_mac(const char *s, uint8_t mac[6], uint8_t mask[6], char *err, size_t errlen)
{
	const char *end;
	char *nend;
	long bits;

	memset(mask, 0xff, 6);
	if (parse_mac6(s, mac, &end))
		goto bad;
	if (*end == '/') {
		s = end + 1;
		if (!parse_mac6(s, mask, &end)) {
			if (*end)
				goto bad;
		} else {
			errno = 0;
			bits = strtol(s, &nend, 10);
			if (nend == s || *nend || errno || bits < 0 || bits > 48)
				goto bad;
			memset(mask, 0, 6);
			for (int i = 0; i < bits; i++)
				mask[i / 8] |= 0x80 >> (i % 8);
		}
	} else if (*end) {
		goto bad;
	}
	for (int i = 0; i < 6; i++) {
		if (mac[i] & ~mask[i]) {
			snprintf(err, errlen, "MAC address \"%s\" has bits set outside its mask", s);
			return -EINVAL;
		}
	}
	if (!(mask[0] | mask[1] | mask[2] | mask[3] | mask[4] | mask[5])) {
		snprintf(err, errlen, "a MAC mask of zero matches every address: leave the field out");
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(err, errlen, "bad MAC address (aa:bb:cc:dd:ee:ff, optionally /MASK or /BITS)");
	return -EINVAL;
}

/* "OUTER[:INNER]", each "ID", "LO-HI" or "any". */
static int parse_vlan(const char *text, struct acl_rule_spec *r)
{
	char s[32], *colon;

	if (strlen(text) >= sizeof(s))
		return -EINVAL;
	strcpy(s, text);
	colon = strchr(s, ':');
	if (colon)
		*colon = 0;
	if (parse_range(s, ACL_VLAN_MAX, &r->vlan_lo, &r->vlan_hi))
		return -EINVAL;
	r->has |= ACL_HAS_VLAN;
	r->has &= ~ACL_HAS_VLAN_INNER;
	if (colon) {
		if (parse_range(colon + 1, ACL_VLAN_MAX, &r->ivlan_lo, &r->ivlan_hi))
			return -EINVAL;
		r->has |= ACL_HAS_VLAN_INNER;
	}
	return 0;
}

/* Names resolve in the family of the rule's proto: echo-request is 8 in ICMP, 128 in ICMPv6. */
static int parse_icmp(const struct acl_rule_spec *r, const char *s, bool code, uint8_t *out,
		      char *err, size_t errlen)
{
	const struct icmp_name *t;
	unsigned long v;
	size_t n;
	char *end;

	if (*s >= '0' && *s <= '9') {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (*end || errno || v > 255) {
			snprintf(err, errlen, "bad ICMP %s \"%s\" (0..255 or a name)", code ? "code" : "type", s);
			return -EINVAL;
		}
		*out = (uint8_t)v;
		return 0;
	}
	if (r->proto == IPPROTO_ICMP) {
		t = code ? icmp4_codes : icmp4_types;
		n = code ? ARRAY_SIZE(icmp4_codes) : ARRAY_SIZE(icmp4_types);
	} else if (r->proto == IPPROTO_ICMPV6) {
		t = code ? icmp6_codes : icmp6_types;
		n = code ? ARRAY_SIZE(icmp6_codes) : ARRAY_SIZE(icmp6_types);
	} else {
		snprintf(err, errlen, "ICMP %s names need proto icmp or icmpv6", code ? "code" : "type");
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!strcasecmp(s, t[i].name)) {
			*out = t[i].val;
			return 0;
		}
	}
	snprintf(err, errlen, "unknown %s %s \"%s\"", r->proto == IPPROTO_ICMP ? "ICMP" : "ICMPv6",
		 code ? "code" : "type", s);
	return -EINVAL;
}

int acl_rule_set(struct acl_rule_spec *rule, const char *key, const char *arg, char *err,
		 size_t errlen)
{
	unsigned long v;
	char *end;
	int ret;

	if (!strcasecmp(key, "id")) {
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (end == arg || *end || errno || v > UINT32_MAX || *arg == '-') {
			snprintf(err, errlen, "bad rule id \"%s\"", arg);
			return -EINVAL;
		}
		rule->id = (uint32_t)v;
	} else if (!strcasecmp(key, "family")) {
		if (!strcmp(arg, "4") || !strcasecmp(arg, "inet") || !strcasecmp(arg, "ipv4")) {
			rule->family = AF_INET;
		} else if (!strcmp(arg, "6") || !strcasecmp(arg, "inet6") || !strcasecmp(arg, "ipv6")) {
			rule->family = AF_INET6;
		} else if (!strcasecmp(arg, "any")) {
			rule->family = 0;
		} else {
			snprintf(err, errlen, "bad family \"%s\" (4, 6 or any)", arg);
			return -EINVAL;
		}
	} else if (!strcasecmp(key, "proto")) {
		if (parse_proto(arg, &rule->proto, &rule->arp)) {
			snprintf(err, errlen, "bad protocol \"%s\"", arg);
			return -EINVAL;
		}
	} else if (!strcasecmp(key, "src") || !strcasecmp(key, "dst") ||
		   !strcasecmp(key, "arp_sender") || !strcasecmp(key, "arp_target") ||
		   !strcasecmp(key, "nd_target")) {
		struct acl_prefix **list;
		size_t *nr;

		if (!strcasecmp(key, "src")) {
			list = &rule->src;
			nr = &rule->nr_src;
		} else if (!strcasecmp(key, "dst")) {
			list = &rule->dst;
			nr = &rule->nr_dst;
		} else if (!strcasecmp(key, "arp_sender")) {
			list = &rule->arp_sender;
			nr = &rule->nr_arp_sender;
		} else if (!strcasecmp(key, "arp_target")) {
			list = &rule->arp_target;
			nr = &rule->nr_arp_target;
		} else {
			list = &rule->nd_target;
			nr = &rule->nr_nd_target;
		}
		ret = parse_prefixes(arg, list, nr, err, errlen);
		if (ret)
			return ret;
	} else if (!strcasecmp(key, "sport") || !strcasecmp(key, "dport")) {
		bool s = !strcasecmp(key, "sport");

		if (parse_range(arg, 65535, s ? &rule->sport_lo : &rule->dport_lo,
				s ? &rule->sport_hi : &rule->dport_hi)) {
			snprintf(err, errlen, "bad port range \"%s\" (PORT, LO-HI or any)", arg);
			return -EINVAL;
		}
	} else if (!strcasecmp(key, "flags") || !strcasecmp(key, "tcp_flags")) {
		if (parse_flags(arg, &rule->tcp_flags_value, &rule->tcp_flags_mask)) {
			snprintf(err, errlen, "bad tcp flags (VALUE/MASK such as syn/syn,ack)");
			return -EINVAL;
		}
	} else if (!strcasecmp(key, "src_mac") || !strcasecmp(key, "dst_mac")) {
		bool s = !strcasecmp(key, "src_mac");

		ret = parse_mac(arg, s ? rule->src_mac : rule->dst_mac,
				s ? rule->src_mac_mask : rule->dst_mac_mask, err, errlen);
		if (ret)
			return ret;
		rule->has |= s ? ACL_HAS_SRC_MAC : ACL_HAS_DST_MAC;
	} else if (!strcasecmp(key, "vlan")) {
		if (parse_vlan(arg, rule)) {
			snprintf(err, errlen, "bad vlan \"%s\" (OUTER[:INNER], each an id 0..%d, LO-HI or any)",
				 arg, ACL_VLAN_MAX);
			return -EINVAL;
		}
	} else if (!strcasecmp(key, "icmp_type") || !strcasecmp(key, "icmp_code")) {
		bool code = !strcasecmp(key, "icmp_code");

		ret = parse_icmp(rule, arg, code, code ? &rule->icmp_code : &rule->icmp_type, err, errlen);
		if (ret)
			return ret;
		rule->has |= code ? ACL_HAS_ICMP_CODE : ACL_HAS_ICMP_TYPE;
	} else {
		snprintf(err, errlen, "unknown word \"%s\"", key);
		return -EINVAL;
	}
	return 0;
}

static bool prefixes_have(const struct acl_prefix *v, size_t n, int family)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].family == family)
			return true;
	return false;
}

static bool ports_restricted(const struct acl_rule_spec *r)
{
	return r->sport_lo || r->sport_hi != 65535 || r->dport_lo || r->dport_hi != 65535;
}

/* Does rule r take part in matching IP packets of this family? */
static bool rule_in_family(const struct acl_rule_spec *r, int family)
{
	if (r->arp)
		return false;
	if (r->family && r->family != family)
		return false;
	if ((r->proto == IPPROTO_ICMP && family == AF_INET6) ||
	    (r->proto == IPPROTO_ICMPV6 && family == AF_INET) ||
	    (r->nr_nd_target && family == AF_INET))
		return false;
	return (!r->nr_src || prefixes_have(r->src, r->nr_src, family)) &&
	       (!r->nr_dst || prefixes_have(r->dst, r->nr_dst, family));
}

#define FAIL(k, ...)						\
	do {							\
		snprintf(err, errlen, __VA_ARGS__);		\
		if (key)					\
			*key = (k);				\
		return -EINVAL;					\
	} while (0)

int acl_rule_check_key(const struct acl_rule_spec *r, char *err, size_t errlen, const char **key)
{
	size_t i;

	if (key)
		*key = NULL;
	if ((unsigned int)r->action > SLUICE_ACL_COUNT)
		FAIL("action", "rule %u: unknown action %d", r->id, (int)r->action);
	if (r->family && r->family != AF_INET && r->family != AF_INET6)
		FAIL("family", "rule %u: family must be 4, 6 or any", r->id);
	if (r->sport_lo > r->sport_hi)
		FAIL("sport", "rule %u: empty port range", r->id);
	if (r->dport_lo > r->dport_hi)
		FAIL("dport", "rule %u: empty port range", r->id);
	if (r->arp) {
		if (r->family)
			FAIL("family", "rule %u: proto arp takes no family", r->id);
		if (r->nr_src || r->nr_dst)
			FAIL(r->nr_src ? "src" : "dst",
			     "rule %u: proto arp matches addresses with arp_sender and arp_target, not %s",
			     r->id, r->nr_src ? "src" : "dst");
		if (ports_restricted(r))
			FAIL(r->sport_lo || r->sport_hi != 65535 ? "sport" : "dport",
			     "rule %u: ARP has no ports", r->id);
		if (r->tcp_flags_mask)
			FAIL("tcp_flags", "rule %u: ARP has no tcp flags", r->id);
		if (r->has & (ACL_HAS_ICMP_TYPE | ACL_HAS_ICMP_CODE))
			FAIL(r->has & ACL_HAS_ICMP_TYPE ? "icmp_type" : "icmp_code",
			     "rule %u: ARP has no ICMP type or code", r->id);
		if (r->nr_nd_target)
			FAIL("nd_target", "rule %u: nd_target needs proto icmpv6", r->id);
	}
	if ((r->nr_arp_sender || r->nr_arp_target) && !r->arp)
		FAIL(r->nr_arp_sender ? "arp_sender" : "arp_target", "rule %u: %s needs proto arp", r->id,
		     r->nr_arp_sender ? "arp_sender" : "arp_target");
	for (i = 0; i < r->nr_arp_sender; i++)
		if (r->arp_sender[i].family != AF_INET)
			FAIL("arp_sender", "rule %u: arp_sender takes IPv4 prefixes", r->id);
	for (i = 0; i < r->nr_arp_target; i++)
		if (r->arp_target[i].family != AF_INET)
			FAIL("arp_target", "rule %u: arp_target takes IPv4 prefixes", r->id);
	if (ports_restricted(r) && r->proto && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP &&
	    r->proto != IPPROTO_SCTP)
		FAIL("proto", "rule %u: ports need proto tcp, udp or sctp", r->id);
	if (r->tcp_flags_mask && r->proto != IPPROTO_TCP)
		FAIL("tcp_flags", "rule %u: tcp flags need proto tcp", r->id);
	if (r->tcp_flags_value & ~r->tcp_flags_mask)
		FAIL("tcp_flags", "rule %u: tcp flags value outside its mask", r->id);
	if ((r->proto == IPPROTO_ICMP && r->family == AF_INET6) ||
	    (r->proto == IPPROTO_ICMPV6 && r->family == AF_INET))
		FAIL("proto", "rule %u: protocol does not exist in family %d", r->id,
		     r->family == AF_INET ? 4 : 6);
	if ((r->has & (ACL_HAS_ICMP_TYPE | ACL_HAS_ICMP_CODE)) && r->proto != IPPROTO_ICMP &&
	    r->proto != IPPROTO_ICMPV6)
		FAIL(r->has & ACL_HAS_ICMP_TYPE ? "icmp_type" : "icmp_code",
		     "rule %u: %s needs proto icmp or icmpv6", r->id,
		     r->has & ACL_HAS_ICMP_TYPE ? "icmp_type" : "icmp_code");
	if (r->nr_nd_target) {
		if (r->proto != IPPROTO_ICMPV6)
			FAIL("nd_target", "rule %u: nd_target needs proto icmpv6", r->id);
		for (i = 0; i < r->nr_nd_target; i++)
			if (r->nd_target[i].family != AF_INET6)
				FAIL("nd_target", "rule %u: nd_target takes IPv6 prefixes", r->id);
		if ((r->has & ACL_HAS_ICMP_TYPE) && r->icmp_type != ICMP6_NS && r->icmp_type != ICMP6_NA)
			FAIL("icmp_type",
			     "rule %u: nd_target matches only nd-neighbor-solicit and nd-neighbor-advert",
			     r->id);
	}
	if ((r->has & ACL_HAS_VLAN) && r->vlan_lo > r->vlan_hi)
		FAIL("vlan", "rule %u: empty vlan range", r->id);
	if ((r->has & ACL_HAS_VLAN_INNER) && r->ivlan_lo > r->ivlan_hi)
		FAIL("vlan", "rule %u: empty inner vlan range", r->id);
	if (((r->has & ACL_HAS_VLAN) && r->vlan_hi > ACL_VLAN_MAX) ||
	    ((r->has & ACL_HAS_VLAN_INNER) && r->ivlan_hi > ACL_VLAN_MAX))
		FAIL("vlan", "rule %u: vlan ids are 0..%d", r->id, ACL_VLAN_MAX);
	for (i = 0; i < 6; i++) {
		if ((r->has & ACL_HAS_SRC_MAC) && (r->src_mac[i] & ~r->src_mac_mask[i]))
			FAIL("src_mac", "rule %u: src_mac has bits set outside its mask", r->id);
		if ((r->has & ACL_HAS_DST_MAC) && (r->dst_mac[i] & ~r->dst_mac_mask[i]))
			FAIL("dst_mac", "rule %u: dst_mac has bits set outside its mask", r->id);
	}
	if (!r->arp && !rule_in_family(r, AF_INET) && !rule_in_family(r, AF_INET6))
		FAIL(NULL, "rule %u can never match: its prefixes share no address family%s", r->id,
		     r->family || r->proto == IPPROTO_ICMP || r->proto == IPPROTO_ICMPV6 ||
		     r->nr_nd_target ? " with its family or protocol" : "");
	return 0;
}

int acl_rule_check(const struct acl_rule_spec *r, char *err, size_t errlen)
{
	return acl_rule_check_key(r, err, errlen, NULL);
}

int acl_rule_parse(const char *text, struct acl_rule_spec *rule, char *err, size_t errlen)
{
	char *copy, *save, *tok, *arg, *icmp[2] = { NULL, NULL };
	bool have_action = false;
	size_t i;
	int ret = -EINVAL;

	memset(rule, 0, sizeof(*rule));
	rule->sport_hi = rule->dport_hi = 65535;
	if (errlen)
		err[0] = 0;
	copy = strdup(text);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, " \t\n", &save); tok; tok = strtok_r(NULL, " \t\n", &save)) {
		for (i = 0; i < ARRAY_SIZE(acl_actions); i++)
			if (!strcasecmp(tok, acl_actions[i].name))
				break;
		if (i < ARRAY_SIZE(acl_actions)) {
			if (have_action) {
				snprintf(err, errlen, "more than one action");
				goto out;
			}
			rule->action = acl_actions[i].action;
			have_action = true;
			continue;
		}
		arg = strtok_r(NULL, " \t\n", &save);
		if (!arg) {
			snprintf(err, errlen, "\"%s\" needs a value", tok);
			goto out;
		}
		/* ICMP names need the protocol, which may come later. */
		if (!strcasecmp(tok, "icmp_type") || !strcasecmp(tok, "icmp_code")) {
			icmp[!strcasecmp(tok, "icmp_code")] = arg;
			continue;
		}
		ret = acl_rule_set(rule, tok, arg, err, errlen);
		if (ret)
			goto out;
		ret = -EINVAL;
	}
	for (i = 0; i < 2; i++) {
		if (icmp[i] && (ret = acl_rule_set(rule, i ? "icmp_code" : "icmp_type", icmp[i], err, errlen)))
			goto out;
		ret = -EINVAL;
	}
	if (!have_action) {
		snprintf(err, errlen, "no action (pass, drop, xsk or count)");
		goto out;
	}
	ret = acl_rule_check(rule, err, errlen);
out:
	free(copy);
	if (ret)
		acl_rule_spec_free(rule);
	return ret;
}

/* snprintf that keeps going: *off may pass len, which the caller reports. */
static void appendf(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(*off < len ? buf + *off : NULL, *off < len ? len - *off : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		*off += n;
}

static void format_prefixes(char *buf, size_t len, size_t *off, const char *kw,
			    const struct acl_prefix *p, size_t n)
{
	char a[INET6_ADDRSTRLEN];
	size_t i;

	if (!n)
		return;
	appendf(buf, len, off, " %s ", kw);
	for (i = 0; i < n; i++) {
		inet_ntop(p[i].family, p[i].addr, a, sizeof(a));
		appendf(buf, len, off, "%s%s/%u", i ? "," : "", a, p[i].len);
	}
}

static void format_flags(char *buf, size_t len, size_t *off, uint8_t flags)
{
	bool first = true;
	int i;

	if (!flags) {
		appendf(buf, len, off, "none");
		return;
	}
	for (i = 0; i < 8; i++) {
		if (flags & (1u << i)) {
			appendf(buf, len, off, "%s%s", first ? "" : ",", acl_flag_names[i]);
			first = false;
		}
	}
}

static void format_range(char *buf, size_t len, size_t *off, uint16_t lo, uint16_t hi, uint16_t max)
{
	if (!lo && hi == max)
		appendf(buf, len, off, "any");
	else if (lo == hi)
		appendf(buf, len, off, "%u", lo);
	else
		appendf(buf, len, off, "%u-%u", lo, hi);
}

static void format_ports(char *buf, size_t len, size_t *off, const char *kw, uint16_t lo, uint16_t hi)
{
	if (!lo && hi == 65535)
		return;
	appendf(buf, len, off, " %s ", kw);
	format_range(buf, len, off, lo, hi, 65535);
}

static void format_mac(char *buf, size_t len, size_t *off, const char *kw, const uint8_t *mac,
		       const uint8_t *mask)
{
	static const uint8_t ones[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	appendf(buf, len, off, " %s %02x:%02x:%02x:%02x:%02x:%02x", kw, mac[0], mac[1], mac[2],
		mac[3], mac[4], mac[5]);
	if (memcmp(mask, ones, 6))
		appendf(buf, len, off, "/%02x:%02x:%02x:%02x:%02x:%02x", mask[0], mask[1], mask[2],
			mask[3], mask[4], mask[5]);
}

static void format_icmp(char *buf, size_t len, size_t *off, const struct acl_rule_spec *r)
{
	bool v6 = r->proto == IPPROTO_ICMPV6;
	const char *name;

	if (r->has & ACL_HAS_ICMP_TYPE) {
		name = v6 ? icmp_name_of(icmp6_types, ARRAY_SIZE(icmp6_types), r->icmp_type) :
			    icmp_name_of(icmp4_types, ARRAY_SIZE(icmp4_types), r->icmp_type);
		if (name)
			appendf(buf, len, off, " icmp_type %s", name);
		else
			appendf(buf, len, off, " icmp_type %u", r->icmp_type);
	}
	if (r->has & ACL_HAS_ICMP_CODE) {
		/* Code names are destination-unreachable's: only then is a name what the code means. */
		name = NULL;
		if ((r->has & ACL_HAS_ICMP_TYPE) && r->icmp_type == (v6 ? ICMP6_UNREACH : ICMP4_UNREACH))
			name = v6 ? icmp_name_of(icmp6_codes, ARRAY_SIZE(icmp6_codes), r->icmp_code) :
				    icmp_name_of(icmp4_codes, ARRAY_SIZE(icmp4_codes), r->icmp_code);
		if (name)
			appendf(buf, len, off, " icmp_code %s", name);
		else
			appendf(buf, len, off, " icmp_code %u", r->icmp_code);
	}
}

/* Formats into buf[len] (len may be 0); *need gets the length of the whole text. */
static int rule_format(const struct acl_rule_spec *r, char *buf, size_t len, size_t *need)
{
	size_t off = 0, i;

	if ((unsigned int)r->action > SLUICE_ACL_COUNT)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(acl_actions); i++)
		if (acl_actions[i].action == r->action)
			appendf(buf, len, &off, "%s", acl_actions[i].name);
	appendf(buf, len, &off, " id %u", r->id);
	if (r->family)
		appendf(buf, len, &off, " family %d", r->family == AF_INET ? 4 : 6);
	if (r->arp) {
		appendf(buf, len, &off, " proto arp");
	} else if (r->proto) {
		for (i = 0; i < ARRAY_SIZE(acl_protos); i++)
			if (acl_protos[i].proto == r->proto)
				break;
		if (i < ARRAY_SIZE(acl_protos))
			appendf(buf, len, &off, " proto %s", acl_protos[i].name);
		else
			appendf(buf, len, &off, " proto %u", r->proto);
	}
	format_prefixes(buf, len, &off, "src", r->src, r->nr_src);
	format_prefixes(buf, len, &off, "dst", r->dst, r->nr_dst);
	format_ports(buf, len, &off, "sport", r->sport_lo, r->sport_hi);
	format_ports(buf, len, &off, "dport", r->dport_lo, r->dport_hi);
	if (r->tcp_flags_mask) {
		appendf(buf, len, &off, " flags ");
		format_flags(buf, len, &off, r->tcp_flags_value);
		if (r->tcp_flags_value != r->tcp_flags_mask) {
			appendf(buf, len, &off, "/");
			format_flags(buf, len, &off, r->tcp_flags_mask);
		}
	}
	if (r->has & ACL_HAS_SRC_MAC)
		format_mac(buf, len, &off, "src_mac", r->src_mac, r->src_mac_mask);
	if (r->has & ACL_HAS_DST_MAC)
		format_mac(buf, len, &off, "dst_mac", r->dst_mac, r->dst_mac_mask);
	if (r->has & ACL_HAS_VLAN) {
		appendf(buf, len, &off, " vlan ");
		format_range(buf, len, &off, r->vlan_lo, r->vlan_hi, ACL_VLAN_MAX);
		if (r->has & ACL_HAS_VLAN_INNER) {
			appendf(buf, len, &off, ":");
			format_range(buf, len, &off, r->ivlan_lo, r->ivlan_hi, ACL_VLAN_MAX);
		}
	}
	format_prefixes(buf, len, &off, "arp_sender", r->arp_sender, r->nr_arp_sender);
	format_prefixes(buf, len, &off, "arp_target", r->arp_target, r->nr_arp_target);
	format_icmp(buf, len, &off, r);
	format_prefixes(buf, len, &off, "nd_target", r->nd_target, r->nr_nd_target);
	*need = off;
	if (off >= len)
		return -ENOSPC;
	return (int)off;
}

int acl_rule_format(const struct acl_rule_spec *r, char *buf, size_t len)
{
	size_t need;

	return rule_format(r, buf, len, &need);
}

char *acl_rule_text(const struct acl_rule_spec *r)
{
	size_t need;
	char *buf;

	/* Measure first: a rule of many prefixes has no fixed bound. */
	if (rule_format(r, NULL, 0, &need) != -ENOSPC)
		return NULL;
	buf = malloc(need + 1);
	if (buf && rule_format(r, buf, need + 1, &need) < 0) {
		free(buf);
		buf = NULL;
	}
	return buf;
}

/* ---- maps ---- */

static const char *const acl_map_names[] = {
	ACL_MAP_RULES, ACL_MAP_HITS, ACL_MAP_CTL, ACL_MAP_SUM,
	ACL_MAP_SRC4, ACL_MAP_DST4, ACL_MAP_SRC6, ACL_MAP_DST6, ACL_MAP_ND6,
	ACL_MAP_HOSTS4, ACL_MAP_HOSTS6,
};

static int *acl_map_fd(struct acl_maps *m, size_t i)
{
	int *fds[] = { &m->rules, &m->hits, &m->ctl, &m->sum,
		       &m->trie[SLUICE_ACL_T_SRC4], &m->trie[SLUICE_ACL_T_DST4],
		       &m->trie[SLUICE_ACL_T_SRC6], &m->trie[SLUICE_ACL_T_DST6],
		       &m->trie[SLUICE_ACL_T_ND6], &m->hosts4, &m->hosts6 };

	return fds[i];
}

int acl_maps__from_object(const struct bpf_object *obj, struct acl_maps *maps)
{
	const struct bpf_map *map;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(acl_map_names); i++) {
		map = bpf_object__find_map_by_name(obj, acl_map_names[i]);
		if (!map || bpf_map__fd(map) < 0)
			return -ENOENT;
		*acl_map_fd(maps, i) = bpf_map__fd(map);
	}
	return 0;
}

void acl_maps__close(struct acl_maps *maps)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(acl_map_names); i++) {
		int *fd = acl_map_fd(maps, i);

		if (*fd >= 0)
			close(*fd);
		*fd = -1;
	}
}

int acl_maps__open_pinned(const char *dir, struct acl_maps *maps)
{
	char path[4096];
	size_t i;
	int err;

	for (i = 0; i < ARRAY_SIZE(acl_map_names); i++)
		*acl_map_fd(maps, i) = -1;
	for (i = 0; i < ARRAY_SIZE(acl_map_names); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, acl_map_names[i]);
		*acl_map_fd(maps, i) = bpf_obj_get(path);
		if (*acl_map_fd(maps, i) < 0) {
			err = -errno;
			acl_maps__close(maps);
			return err;
		}
	}
	return 0;
}

/* ---- rx VLAN offload ---- */

int acl_iface_rxvlan(const char *ifname)
{
	struct ethtool_drvinfo di = { .cmd = ETHTOOL_GDRVINFO };
	struct ethtool_value ev = { .cmd = ETHTOOL_GFLAGS };
	struct ifreq ifr = {};
	int fd, ret;

	if (strlen(ifname) >= sizeof(ifr.ifr_name))
		return -EINVAL;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	strcpy(ifr.ifr_name, ifname);
	/* veth says on, but hands XDP the frame as its peer sent it, tag and all. */
	ifr.ifr_data = (void *)&di;
	if (!ioctl(fd, SIOCETHTOOL, &ifr) && !strcmp(di.driver, "veth")) {
		ret = 0;
		goto out;
	}
	ifr.ifr_data = (void *)&ev;
	ret = ioctl(fd, SIOCETHTOOL, &ifr) ? -errno : !!(ev.data & ETH_FLAG_RXVLAN);
out:
	close(fd);
	return ret;
}

/* ---- compiler ---- */

/* A packet that read a summary is done with it this long after (see the top of the file). */
#define ACL_QUIESCE_NS		1000000ull
/* Positions left free after each rule appended at the end, for later insertions. */
#define ACL_GAP_TAIL		8
/* Maps the process keeps a mirror of. */
#define ACL_MIRRORS		8
#define ACL_NONE		UINT32_MAX

static const int trie_alen[SLUICE_ACL_NR_TRIES] = { 4, 4, 16, 16, 16 };
static const uint8_t trie_kinds[SLUICE_ACL_NR_TRIES] = {
	SLUICE_ACL_K_IP4 | SLUICE_ACL_K_ARP, SLUICE_ACL_K_IP4 | SLUICE_ACL_K_ARP,
	SLUICE_ACL_K_IP6, SLUICE_ACL_K_IP6, SLUICE_ACL_K_IP6,
};

static size_t acl_small_max = SLUICE_ACL_SMALL_MAX;
static void (*acl_step_hook)(const char *step, void *arg);
static void *acl_step_arg;

void acl__set_step_hook(void (*fn)(const char *step, void *arg), void *arg)
{
	acl_step_hook = fn;
	acl_step_arg = arg;
}

static void step(const char *what)
{
	if (acl_step_hook)
		acl_step_hook(what, acl_step_arg);
}

void acl__set_small_max(size_t max)
{
	acl_small_max = max < SLUICE_ACL_SMALL_MAX ? max : SLUICE_ACL_SMALL_MAX;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ull), .tv_nsec = (long)(t % 1000000000ull) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Bitmaps change only through bm_set and bm_or, which keep words in step with w. */
static void bm_set(struct sluice_acl_bitmap *b, uint32_t pos)
{
	b->w[pos / 64] |= 1ULL << (pos % 64);
	b->words |= 1u << (pos / 64);
}

static bool bm_test(const struct sluice_acl_bitmap *b, uint32_t pos)
{
	return b->w[pos / 64] & (1ULL << (pos % 64));
}

/* A prefix as a trie key: length and address with host bits clear. */
struct pfx {
	uint8_t len;
	uint8_t addr[16];
};

static void pfx_mask(struct pfx *k, const uint8_t *addr, int alen, unsigned int len)
{
	memset(k, 0, sizeof(*k));
	k->len = (uint8_t)len;
	for (int i = 0; i < alen && i * 8 < (int)len; i++)
		k->addr[i] = addr[i];
	if (len % 8)
		k->addr[len / 8] &= (uint8_t)(0xff00 >> (len % 8));
}

static bool pfx_contains(const struct pfx *outer, const struct pfx *in, int alen)
{
	struct pfx m;

	if (in->len < outer->len)
		return false;
	pfx_mask(&m, in->addr, alen, outer->len);
	return !memcmp(m.addr, outer->addr, sizeof(m.addr));
}

static int pfx_cmp(const void *a, const void *b)
{
	const struct pfx *x = a, *y = b;
	int c = memcmp(x->addr, y->addr, sizeof(x->addr));

	return c ? c : (int)x->len - (int)y->len;
}

/* Kernel key of a trie: struct sluice_lpm4_key or struct sluice_lpm6_key. */
static void pfx_to_key(const struct pfx *p, int alen, void *key)
{
	uint32_t len = p->len;

	memset(key, 0, sizeof(struct sluice_lpm6_key));
	memcpy(key, &len, 4);
	memcpy((uint8_t *)key + 4, p->addr, alen);
}

/* ---- a rule, compiled ---- */

/* What sluice_acl_rules holds for a rule, and its prefixes per trie (sorted, none inside another). */
struct crule {
	struct sluice_acl_rule k;
	struct pfx *pfx[SLUICE_ACL_NR_TRIES];
	uint32_t nr[SLUICE_ACL_NR_TRIES];
	uint32_t pos;
	uint32_t old;			/* during an update: index in the old set, or ACL_NONE */
};

static void crule_free(struct crule *c)
{
	for (int t = 0; t < SLUICE_ACL_NR_TRIES; t++)
		free(c->pfx[t]);
	memset(c->pfx, 0, sizeof(c->pfx));
}

static void crules_free(struct crule *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		crule_free(&v[i]);
	free(v);
}

static bool crule_equal(const struct crule *a, const struct crule *b)
{
	if (memcmp(&a->k, &b->k, sizeof(a->k)))
		return false;
	for (int t = 0; t < SLUICE_ACL_NR_TRIES; t++)
		if (a->nr[t] != b->nr[t] || (a->nr[t] && memcmp(a->pfx[t], b->pfx[t], a->nr[t] * sizeof(struct pfx))))
			return false;
	return true;
}

/* Sorts a rule's prefixes of one trie and drops those inside another: 10.1.0.0/16 adds nothing to 10.0.0.0/8. */
static void pfx_list_norm(struct pfx *v, uint32_t *n, int alen)
{
	uint32_t i, out = 0;

	qsort(v, *n, sizeof(*v), pfx_cmp);
	for (i = 0; i < *n; i++) {
		/* Sorted, a prefix inside any kept one is inside the last kept one. */
		if (out && pfx_contains(&v[out - 1], &v[i], alen))
			continue;
		v[out++] = v[i];
	}
	*n = out;
}

static int pfx_list_add(struct crule *c, int t, const struct acl_prefix *p, size_t n, int family)
{
	struct pfx *v;
	size_t i, add = 0;

	for (i = 0; i < n; i++)
		add += p[i].family == family;
	if (!add)
		return 0;
	v = realloc(c->pfx[t], (c->nr[t] + add) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	c->pfx[t] = v;
	for (i = 0; i < n; i++)
		if (p[i].family == family)
			pfx_mask(&v[c->nr[t]++], p[i].addr, trie_alen[t], p[i].len);
	return 0;
}

static void mac_to_u64(const uint8_t *mac, __u64 *out)
{
	*out = 0;
	memcpy(out, mac, 6);
}

static uint8_t spec_kinds(const struct acl_rule_spec *r)
{
	uint8_t k = 0;

	if (r->arp)
		return SLUICE_ACL_K_ARP;
	if (!r->family && !r->nr_src && !r->nr_dst && !r->proto && !ports_restricted(r) &&
	    !r->tcp_flags_mask && !(r->has & (ACL_HAS_ICMP_TYPE | ACL_HAS_ICMP_CODE)) && !r->nr_nd_target)
		return SLUICE_ACL_K_IP4 | SLUICE_ACL_K_IP6 | SLUICE_ACL_K_ARP | SLUICE_ACL_K_OTHER;
	if (rule_in_family(r, AF_INET))
		k |= SLUICE_ACL_K_IP4;
	if (rule_in_family(r, AF_INET6))
		k |= SLUICE_ACL_K_IP6;
	return k;
}

/* The kinds of frame a match may match: those its key does not require to be 0. */
static uint8_t match_kinds(const struct sluice_acl_match *m)
{
	return (uint8_t)(~m->key_mask & 0xf);
}

/* A need bit the frame must have: part of the key test. */
static void match_need(struct sluice_acl_match *m, uint32_t need)
{
	m->need |= need;
	m->key_mask |= SLUICE_ACL_KEY_HAVE(need);
	m->key_val |= SLUICE_ACL_KEY_HAVE(need);
}

static int crule_compile(const struct acl_rule_spec *r, struct crule *c)
{
	struct sluice_acl_match *m = &c->k.m;
	uint8_t kinds = spec_kinds(r);
	int t, err = 0;

	memset(c, 0, sizeof(*c));
	c->old = ACL_NONE;
	c->k.id = r->id;
	m->action = (uint8_t)r->action;
	/* The kinds it may not match must be 0 in the frame's key. */
	m->key_mask = SLUICE_ACL_KEY_KIND(~kinds & 0xf);
	/* Fields it does not name: full ranges, zero masks, so the stage need not ask. */
	m->sport_span = m->dport_span = m->vlan_span = m->ivlan_span = 0xffff;
	if (r->proto) {
		match_need(m, SLUICE_ACL_N_PROTO);
		m->key_mask |= SLUICE_ACL_KEY_PROTO(0xff);
		m->key_val |= SLUICE_ACL_KEY_PROTO(r->proto);
	}
	if (ports_restricted(r)) {
		match_need(m, SLUICE_ACL_N_PORTS);
		m->sport_lo = r->sport_lo;
		m->sport_span = (uint16_t)(r->sport_hi - r->sport_lo);
		m->dport_lo = r->dport_lo;
		m->dport_span = (uint16_t)(r->dport_hi - r->dport_lo);
	}
	if (r->tcp_flags_mask) {
		match_need(m, SLUICE_ACL_N_TCP_FLAGS);
		m->key_mask |= SLUICE_ACL_KEY_TCP_FLAGS(r->tcp_flags_mask);
		m->key_val |= SLUICE_ACL_KEY_TCP_FLAGS(r->tcp_flags_value);
	}
	if (r->has & ACL_HAS_ICMP_TYPE) {
		match_need(m, SLUICE_ACL_N_ICMP_TYPE);
		m->key_mask |= SLUICE_ACL_KEY_ICMP_TYPE(0xff);
		m->key_val |= SLUICE_ACL_KEY_ICMP_TYPE(r->icmp_type);
	}
	if (r->has & ACL_HAS_ICMP_CODE) {
		match_need(m, SLUICE_ACL_N_ICMP_CODE);
		m->key_mask |= SLUICE_ACL_KEY_ICMP_CODE(0xff);
		m->key_val |= SLUICE_ACL_KEY_ICMP_CODE(r->icmp_code);
	}
	if (r->has & ACL_HAS_SRC_MAC) {
		match_need(m, SLUICE_ACL_N_SRC_MAC);
		mac_to_u64(r->src_mac, &m->src_mac);
		mac_to_u64(r->src_mac_mask, &m->src_mac_mask);
	}
	if (r->has & ACL_HAS_DST_MAC) {
		match_need(m, SLUICE_ACL_N_DST_MAC);
		mac_to_u64(r->dst_mac, &m->dst_mac);
		mac_to_u64(r->dst_mac_mask, &m->dst_mac_mask);
	}
	if (r->has & ACL_HAS_VLAN) {
		match_need(m, SLUICE_ACL_N_VLAN);
		m->vlan_lo = r->vlan_lo;
		m->vlan_span = (uint16_t)(r->vlan_hi - r->vlan_lo);
	}
	if (r->has & ACL_HAS_VLAN_INNER) {
		match_need(m, SLUICE_ACL_N_VLAN_INNER);
		m->ivlan_lo = r->ivlan_lo;
		m->ivlan_span = (uint16_t)(r->ivlan_hi - r->ivlan_lo);
	}
	if (r->nr_nd_target)
		match_need(m, SLUICE_ACL_N_ND);
	if (kinds & SLUICE_ACL_K_IP4) {
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_SRC4, r->src, r->nr_src, AF_INET);
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_DST4, r->dst, r->nr_dst, AF_INET);
	}
	if (r->arp) {
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_SRC4, r->arp_sender, r->nr_arp_sender, AF_INET);
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_DST4, r->arp_target, r->nr_arp_target, AF_INET);
	}
	if (kinds & SLUICE_ACL_K_IP6) {
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_SRC6, r->src, r->nr_src, AF_INET6);
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_DST6, r->dst, r->nr_dst, AF_INET6);
		err = err ?: pfx_list_add(c, SLUICE_ACL_T_ND6, r->nd_target, r->nr_nd_target, AF_INET6);
	}
	if (err) {
		crule_free(c);
		return err;
	}
	for (t = 0; t < SLUICE_ACL_NR_TRIES; t++)
		pfx_list_norm(c->pfx[t], &c->nr[t], trie_alen[t]);
	return 0;
}

/* ---- the summary ---- */

static void small_addr(const struct pfx *p, __u64 addr[2], __u64 mask[2])
{
	uint8_t m[16] = {};

	for (int i = 0; i < p->len; i++)
		m[i / 8] |= 0x80 >> (i % 8);
	memcpy(addr, p->addr, 16);
	memcpy(mask, m, 16);
}

/*
 * Entries of one rule: one per combination of its prefixes that can share a
 * frame (one address family). Returns how many it takes; writes them only
 * when they all fit below max.
 */
static size_t small_expand(const struct crule *c, struct sluice_acl_small *out, size_t have, size_t max)
{
	const uint32_t *nr = c->nr;
	bool none = true, any_src = nr[SLUICE_ACL_T_SRC4] || nr[SLUICE_ACL_T_SRC6];
	bool any_dst = nr[SLUICE_ACL_T_DST4] || nr[SLUICE_ACL_T_DST6];
	size_t cnt[2] = {}, total;
	uint8_t kinds[2];
	int t, fs;

	for (t = 0; t < SLUICE_ACL_NR_TRIES; t++)
		none &= !nr[t];
	/* A rule with no prefix at all is one entry, of every kind it has. */
	if (none) {
		if (have + 1 <= max) {
			memset(&out[have], 0, sizeof(out[have]));
			out[have].m = c->k.m;
			out[have].pos = c->pos;
		}
		return 1;
	}
	for (fs = 0; fs < 2; fs++) {		/* 0: IPv4 (and ARP), 1: IPv6 */
		uint32_t ns = nr[fs ? SLUICE_ACL_T_SRC6 : SLUICE_ACL_T_SRC4];
		uint32_t nd = nr[fs ? SLUICE_ACL_T_DST6 : SLUICE_ACL_T_DST4];
		uint32_t nn = fs ? nr[SLUICE_ACL_T_ND6] : 0;

		kinds[fs] = match_kinds(&c->k.m) & (fs ? SLUICE_ACL_K_IP6 : SLUICE_ACL_K_IP4 | SLUICE_ACL_K_ARP);
		/* A side naming prefixes of the other family only cannot match this one. */
		if (!kinds[fs] || (!ns && any_src) || (!nd && any_dst) || (!fs && nr[SLUICE_ACL_T_ND6]))
			continue;
		cnt[fs] = (size_t)(ns ? ns : 1) * (nd ? nd : 1) * (nn ? nn : 1);
	}
	total = cnt[0] + cnt[1];
	if (have + total > max)
		return total;
	for (fs = 0; fs < 2; fs++) {
		int ts = fs ? SLUICE_ACL_T_SRC6 : SLUICE_ACL_T_SRC4;
		int td = fs ? SLUICE_ACL_T_DST6 : SLUICE_ACL_T_DST4;
		uint32_t ns = nr[ts], nd = nr[td], nn = fs ? nr[SLUICE_ACL_T_ND6] : 0;

		if (!cnt[fs])
			continue;
		for (uint32_t i = 0; i < (ns ? ns : 1); i++) {
			for (uint32_t j = 0; j < (nd ? nd : 1); j++) {
				for (uint32_t x = 0; x < (nn ? nn : 1); x++) {
					struct sluice_acl_small *e = &out[have++];

					memset(e, 0, sizeof(*e));
					e->m = c->k.m;
					e->m.key_mask |= SLUICE_ACL_KEY_KIND(~kinds[fs] & 0xf);
					e->pos = c->pos;
					if (ns) {
						match_need(&e->m, SLUICE_ACL_N_SRC);
						small_addr(&c->pfx[ts][i], e->addr[SLUICE_ACL_A_SRC],
							   e->mask[SLUICE_ACL_A_SRC]);
					}
					if (nd) {
						match_need(&e->m, SLUICE_ACL_N_DST);
						small_addr(&c->pfx[td][j], e->addr[SLUICE_ACL_A_DST],
							   e->mask[SLUICE_ACL_A_DST]);
					}
					if (nn) {
						match_need(&e->m, SLUICE_ACL_N_ND_TARGET);
						small_addr(&c->pfx[SLUICE_ACL_T_ND6][x], e->addr[SLUICE_ACL_A_ND],
							   e->mask[SLUICE_ACL_A_ND]);
					}
				}
			}
		}
	}
	return total;
}

/* A host's bit in the summary's filter, from its address as the stage loads it. */
static void host_bit_set(struct sluice_acl_summary *s, int t, const struct pfx *k)
{
	uint64_t a0, a1;
	uint32_t a4, b;

	if (trie_alen[t] == 4) {
		memcpy(&a4, k->addr, 4);
		b = sluice_acl_host_bit4(a4);
	} else {
		memcpy(&a0, k->addr, 8);
		memcpy(&a1, k->addr + 8, 8);
		b = sluice_acl_host_bit6(a0, a1);
	}
	b &= SLUICE_ACL_HOST_BITS - 1;
	s->host_bits[t][b / 64] |= 1ULL << (b % 64);
}

/* The summary of rules v[0..n), at their positions. */
static void summary_build(const struct crule *v, size_t n, struct sluice_acl_summary *s)
{
	size_t i, nr_small = 0;
	int t;

	memset(s, 0, sizeof(*s));
	if (!n)
		return;
	for (i = 0; i < n; i++) {
		const struct crule *c = &v[i];

		bm_set(&s->live, c->pos);
		s->fields |= c->k.m.need;
		if (match_kinds(&c->k.m) & SLUICE_ACL_K_OTHER)
			bm_set(&s->other, c->pos);
		for (t = 0; t < SLUICE_ACL_NR_TRIES; t++) {
			for (uint32_t j = 0; j < c->nr[t]; j++) {
				const struct pfx *k = &c->pfx[t][j];

				if (k->len == trie_alen[t] * 8) {
					s->hosts |= 1u << t;
					host_bit_set(s, t, k);
				} else {
					s->tries |= 1u << t;
				}
			}
			if (!c->nr[t] && (match_kinds(&c->k.m) & trie_kinds[t]))
				bm_set(&s->any[t], c->pos);
		}
		if (nr_small <= acl_small_max)
			nr_small += small_expand(c, s->small, nr_small, acl_small_max);
	}
	if (s->tries & (1u << SLUICE_ACL_T_ND6))
		s->fields |= SLUICE_ACL_N_ND_TARGET;
	if (nr_small <= acl_small_max) {
		s->mode = SLUICE_ACL_MODE_SMALL;
		s->nr_small = (uint32_t)nr_small;
		for (i = 0; i < nr_small; i++) {
			const struct sluice_acl_match *m = &s->small[i].m;

			s->fields |= m->need;
			/* The inline scan reads IP addresses; ARP's, MAC, VLAN, ND need the full one. */
			if ((m->need & SLUICE_ACL_N_FULL) ||
			    ((m->need & (SLUICE_ACL_N_SRC | SLUICE_ACL_N_DST)) &&
			     (match_kinds(m) & SLUICE_ACL_K_ARP)))
				s->mode = SLUICE_ACL_MODE_SMALL_FULL;
		}
	} else {
		s->mode = SLUICE_ACL_MODE_BITMAP;
		memset(s->small, 0, sizeof(s->small));
	}
}

/* ---- the mirror of one trie: every key, with the positions naming it ---- */

#define KENT_INLINE	4

struct kent {
	struct pfx key;
	uint8_t used;
	uint8_t touched;		/* its kernel entry must be rewritten or deleted */
	uint16_t nown, cap;		/* positions naming the key ("own"), inline up to KENT_INLINE */
	union {
		uint16_t in[KENT_INLINE];
		uint16_t *ext;
	} own;
};

struct ktab {
	struct kent *e;			/* open addressing, linear probing */
	size_t cap, nr;
	uint32_t lens[129];		/* keys per prefix length */
	int alen;
	int fd;				/* the trie */
	int hfd;			/* the hosts map: full-length keys go there, as (tidx, address) */
	uint32_t tidx;
	struct pfx *touched;		/* keys to write at the next flush */
	size_t nr_touched, cap_touched;
};

static uint16_t *kent_own(struct kent *e)
{
	return e->cap > KENT_INLINE ? e->own.ext : e->own.in;
}

static size_t pfx_hash(const struct pfx *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static void kt_free(struct ktab *t)
{
	for (size_t i = 0; t->e && i < t->cap; i++)
		if (t->e[i].used && t->e[i].cap > KENT_INLINE)
			free(t->e[i].own.ext);
	free(t->e);
	free(t->touched);
	memset(t, 0, sizeof(*t));
}

static int kt_init(struct ktab *t, int alen, int fd)
{
	memset(t, 0, sizeof(*t));
	t->alen = alen;
	t->fd = fd;
	t->hfd = -1;
	t->cap = 64;
	t->e = calloc(t->cap, sizeof(*t->e));
	return t->e ? 0 : -ENOMEM;
}

static struct kent *kt_find(const struct ktab *t, const struct pfx *k)
{
	size_t i = pfx_hash(k) & (t->cap - 1);

	while (t->e[i].used) {
		if (!memcmp(&t->e[i].key, k, sizeof(*k)))
			return &t->e[i];
		i = (i + 1) & (t->cap - 1);
	}
	return NULL;
}

static int kt_grow(struct ktab *t)
{
	struct kent *old = t->e;
	size_t oldcap = t->cap;

	t->cap *= 2;
	t->e = calloc(t->cap, sizeof(*t->e));
	if (!t->e) {
		t->e = old;
		t->cap = oldcap;
		return -ENOMEM;
	}
	for (size_t i = 0; i < oldcap; i++) {
		size_t j;

		if (!old[i].used)
			continue;
		j = pfx_hash(&old[i].key) & (t->cap - 1);
		while (t->e[j].used)
			j = (j + 1) & (t->cap - 1);
		t->e[j] = old[i];
	}
	free(old);
	return 0;
}

static struct kent *kt_insert(struct ktab *t, const struct pfx *k)
{
	struct kent *e = kt_find(t, k);
	size_t i;

	if (e)
		return e;
	if ((t->nr + 1) * 2 > t->cap && kt_grow(t))
		return NULL;
	i = pfx_hash(k) & (t->cap - 1);
	while (t->e[i].used)
		i = (i + 1) & (t->cap - 1);
	e = &t->e[i];
	memset(e, 0, sizeof(*e));
	e->used = 1;
	e->key = *k;
	t->lens[k->len]++;
	t->nr++;
	return e;
}

/* Removes e, shifting back the entries probing past it. */
static void kt_remove(struct ktab *t, struct kent *e)
{
	size_t i = (size_t)(e - t->e), j = i, h;

	if (e->cap > KENT_INLINE)
		free(e->own.ext);
	t->lens[e->key.len]--;
	t->nr--;
	e->used = 0;
	for (;;) {
		j = (j + 1) & (t->cap - 1);
		if (!t->e[j].used)
			break;
		h = pfx_hash(&t->e[j].key) & (t->cap - 1);
		/* j may move to i if its home is not in (i, j] */
		if (i <= j ? (h > i && h <= j) : (h > i || h <= j))
			continue;
		t->e[i] = t->e[j];
		t->e[j].used = 0;
		i = j;
	}
}

static int kt_touch(struct ktab *t, struct kent *e)
{
	if (e->touched)
		return 0;
	if (t->nr_touched == t->cap_touched) {
		size_t cap = t->cap_touched ? 2 * t->cap_touched : 64;
		struct pfx *v = realloc(t->touched, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		t->touched = v;
		t->cap_touched = cap;
	}
	t->touched[t->nr_touched++] = e->key;
	e->touched = 1;
	return 0;
}

static int kent_own_add(struct kent *e, uint16_t pos)
{
	uint16_t *o = kent_own(e);

	for (uint16_t i = 0; i < e->nown; i++)
		if (o[i] == pos)
			return 0;
	if (e->nown == (e->cap > KENT_INLINE ? e->cap : KENT_INLINE)) {
		uint16_t cap = (uint16_t)(e->nown * 2), *v;

		v = malloc(cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		memcpy(v, o, e->nown * sizeof(*v));
		if (e->cap > KENT_INLINE)
			free(e->own.ext);
		e->own.ext = v;
		e->cap = cap;
		o = v;
	}
	o[e->nown++] = pos;
	return 0;
}

static void kent_own_del(struct kent *e, uint16_t pos)
{
	uint16_t *o = kent_own(e);

	for (uint16_t i = 0; i < e->nown; i++) {
		if (o[i] == pos) {
			o[i] = o[--e->nown];
			return;
		}
	}
}

/* Touches every key strictly inside k: their containment includes k's positions. */
static int kt_touch_inside(struct ktab *t, const struct pfx *k)
{
	int l, err;

	for (l = 128; l > k->len; l--)
		if (t->lens[l])
			break;
	if (l == k->len)
		return 0;
	for (size_t i = 0; i < t->cap; i++) {
		struct kent *e = &t->e[i];

		if (e->used && e->key.len > k->len && pfx_contains(k, &e->key, t->alen) &&
		    (err = kt_touch(t, e)))
			return err;
	}
	return 0;
}

/* pos names (add) or stops naming (!add) prefix k. */
static int kt_own(struct ktab *t, const struct pfx *k, uint16_t pos, bool add)
{
	struct kent *e = add ? kt_insert(t, k) : kt_find(t, k);
	int err;

	if (!e)
		return add ? -ENOMEM : 0;
	if (add)
		err = kent_own_add(e, pos);
	else
		err = (kent_own_del(e, pos), 0);
	return err ?: kt_touch(t, e) ?: kt_touch_inside(t, k);
}

/* What the kernel entry of k holds: the positions naming k or a prefix around it. */
static void kt_contain(struct ktab *t, const struct pfx *k, struct sluice_acl_bitmap *out)
{
	struct kent *e;
	struct pfx a;

	memset(out, 0, sizeof(*out));
	for (unsigned int l = 0; l <= k->len; l++) {
		if (!t->lens[l])
			continue;
		pfx_mask(&a, k->addr, t->alen, l);
		e = kt_find(t, &a);
		if (!e)
			continue;
		for (uint16_t i = 0; i < e->nown; i++)
			bm_set(out, kent_own(e)[i]);
	}
}

/*
 * Writes every touched key: deletes those no position names any more
 * (first, so the trie never needs room for both), then rewrites the rest.
 * The /0 key stays, named or not: the stage counts on every lookup finding
 * an entry (bpf/acl.h, sluice_acl_side()).
 */
/* A key's kernel map and key: hosts in the hosts map, by trie index; others in the trie. */
static int kt_kernel_key(const struct ktab *t, const struct pfx *k, void *key)
{
	if (k->len == t->alen * 8 && t->hfd >= 0) {
		uint32_t idx = t->tidx;

		memset(key, 0, sizeof(struct sluice_acl_host6_key));
		memcpy(key, &idx, 4);
		memcpy((uint8_t *)key + 4, k->addr, t->alen);
		return t->hfd;
	}
	pfx_to_key(k, t->alen, key);
	return t->fd;
}

static int kt_flush(struct ktab *t, size_t *writes)
{
	struct sluice_lpm6_key key;
	struct sluice_acl_bitmap v;
	struct kent *e;
	int pass, fd, err = 0;

	for (pass = 0; pass < 2 && !err; pass++) {
		for (size_t i = 0; i < t->nr_touched; i++) {
			e = kt_find(t, &t->touched[i]);
			if (!e || (pass == 0) != (e->nown == 0 && e->key.len))
				continue;
			fd = kt_kernel_key(t, &e->key, &key);
			if (pass == 0) {
				if (bpf_map_delete_elem(fd, &key) && errno != ENOENT) {
					err = -errno;
					break;
				}
				kt_remove(t, e);
			} else {
				kt_contain(t, &e->key, &v);
				if (bpf_map_update_elem(fd, &key, &v, BPF_ANY)) {
					err = -errno;
					break;
				}
				e->touched = 0;
			}
			(*writes)++;
		}
	}
	t->nr_touched = 0;
	return err;
}

/* ---- the mirror of one set of maps ---- */

#define ACL_NR_MAPS	(6 + SLUICE_ACL_NR_TRIES)

struct mirror {
	uint32_t ids[ACL_NR_MAPS];	/* the maps' ids: which maps this is the mirror of */
	uint64_t gen;			/* sluice_acl_ctl.gen it matches */
	uint64_t used;			/* for eviction: last use */
	struct crule *live;		/* the rule set, in order, at its positions */
	size_t nr_live;
	struct ktab tab[SLUICE_ACL_NR_TRIES];
	uint64_t retired_ns[SLUICE_ACL_SLOTS];	/* when each summary slot stopped being live */
	/*
	 * Rules an update retired whose positions and trie bits are not
	 * cleared yet: a later update does it once they are due (their
	 * positions stay taken until then), so a deletion does not wait.
	 */
	struct retired {
		struct crule *v;
		size_t n;
		uint64_t due;
	} *pending;
	size_t nr_pending;
};

static struct mirror *mirrors[ACL_MIRRORS];
static uint64_t mirror_clock;

static void mirror_free(struct mirror *mi)
{
	if (!mi)
		return;
	for (size_t i = 0; i < mi->nr_pending; i++)
		crules_free(mi->pending[i].v, mi->pending[i].n);
	free(mi->pending);
	crules_free(mi->live, mi->nr_live);
	for (int t = 0; t < SLUICE_ACL_NR_TRIES; t++)
		kt_free(&mi->tab[t]);
	free(mi);
}

static void mirror_drop(struct mirror *mi)
{
	for (int i = 0; i < ACL_MIRRORS; i++)
		if (mirrors[i] == mi)
			mirrors[i] = NULL;
	mirror_free(mi);
}

static int maps_ids(const struct acl_maps *maps, uint32_t *ids)
{
	const int fds[ACL_NR_MAPS] = {
		maps->rules, maps->hits, maps->ctl, maps->sum, maps->trie[0], maps->trie[1],
		maps->trie[2], maps->trie[3], maps->trie[4], maps->hosts4, maps->hosts6,
	};

	for (int i = 0; i < ACL_NR_MAPS; i++) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);

		if (bpf_obj_get_info_by_fd(fds[i], &info, &len))
			return -errno;
		ids[i] = info.id;
	}
	return 0;
}

static struct sluice_acl_ctl *ctl_map(const struct acl_maps *maps)
{
	void *p = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE, MAP_SHARED,
		       maps->ctl, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void ctl_unmap(struct sluice_acl_ctl *ctl)
{
	if (ctl)
		munmap(ctl, (size_t)sysconf(_SC_PAGESIZE));
}

/*
 * Reads a trie back: its keys, and for each the live positions it adds to
 * the nearest key around it (its own). Keys holding bits of positions no
 * longer live, or named by no live rule, are touched: the flush fixes them.
 */
/* Appends the keys of one kernel map (the trie, or this trie's hosts in the hosts map) and their values. */
static int read_keys(struct ktab *kt, bool hosts, struct pfx **keys, struct sluice_acl_bitmap **vals,
		     size_t *n, size_t *cap)
{
	struct sluice_acl_host6_key key, next;
	int fd = hosts ? kt->hfd : kt->fd;
	void *prev = NULL;
	struct pfx k;

	if (fd < 0)
		return 0;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		uint32_t w;

		if (*n == *cap) {
			size_t nc = *cap ? 2 * *cap : 256;
			struct pfx *nk = realloc(*keys, nc * sizeof(*nk));
			struct sluice_acl_bitmap *nv;

			if (!nk)
				return -ENOMEM;
			*keys = nk;
			nv = realloc(*vals, nc * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			*vals = nv;
			*cap = nc;
		}
		/* Both key layouts: a __u32 (prefix length, or trie index), then the address. */
		memcpy(&w, &next, 4);
		memset(&k, 0, sizeof(k));
		k.len = hosts ? (uint8_t)(kt->alen * 8) : (uint8_t)w;
		memcpy(k.addr, (uint8_t *)&next + 4, kt->alen);
		if (!hosts || w == kt->tidx) {
			if (!bpf_map_lookup_elem(fd, &next, &(*vals)[*n])) {
				(*keys)[(*n)++] = k;
				if (!kt_insert(kt, &k))
					return -ENOMEM;
			} else if (errno != ENOENT) {
				return -errno;
			}
		}
		key = next;
		prev = &key;
	}
	return errno == ENOENT ? 0 : -errno;
}

/*
 * Reads a trie back (and its hosts): its keys, and for each the live
 * positions it adds to the nearest key around it (its own). Keys holding
 * bits of positions no longer live, or named by no live rule, are touched:
 * the flush fixes them.
 */
static int mirror_read_trie(struct mirror *mi, int t, const struct sluice_acl_bitmap *live)
{
	static const struct sluice_acl_bitmap none;
	struct ktab *kt = &mi->tab[t];
	struct sluice_acl_bitmap *vals = NULL;
	struct pfx *keys = NULL;
	uint32_t *idx = NULL;
	size_t n = 0, cap = 0, i;
	int err;

	err = read_keys(kt, false, &keys, &vals, &n, &cap) ?: read_keys(kt, true, &keys, &vals, &n, &cap);
	if (err)
		goto out;
	/* Every key is in: entries stay where they are from here. */
	idx = malloc(kt->cap * sizeof(*idx));
	if (!idx && n) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++)
		idx[kt_find(kt, &keys[i]) - kt->e] = (uint32_t)i;
	for (i = 0; i < n; i++) {
		struct kent *e = kt_find(kt, &keys[i]), *pe = NULL;
		const struct sluice_acl_bitmap *pv = &none;
		bool stale = false;
		struct pfx a;

		for (int l = (int)keys[i].len - 1; l >= 0 && !pe; l--) {
			if (!kt->lens[l])
				continue;
			pfx_mask(&a, keys[i].addr, kt->alen, (unsigned int)l);
			pe = kt_find(kt, &a);
		}
		if (pe)
			pv = &vals[idx[pe - kt->e]];
		for (uint32_t pos = 0; pos < SLUICE_ACL_POSITIONS; pos++) {
			if (!bm_test(&vals[i], pos))
				continue;
			if (!bm_test(live, pos)) {
				stale = true;
				continue;
			}
			if (!bm_test(pv, pos) && (err = kent_own_add(e, (uint16_t)pos)))
				goto out;
		}
		/* The /0 key stays unnamed (kt_flush()). */
		if ((stale || (!e->nown && e->key.len)) && (err = kt_touch(kt, e)))
			goto out;
	}
out:
	free(idx);
	free(keys);
	free(vals);
	return err;
}

/* The /0 key every trie keeps (see kt_flush()); written at the next flush if missing. */
static int kt_root(struct ktab *t)
{
	struct pfx root = {};
	struct kent *e = kt_find(t, &root);

	if (e)
		return 0;
	e = kt_insert(t, &root);
	return e ? kt_touch(t, e) : -ENOMEM;
}

/* Reads the rule set back from the maps: the live summary's positions, their rules, the tries. */
static int mirror_rebuild(const struct acl_maps *maps, struct mirror *mi,
			  const struct sluice_acl_ctl *ctl, size_t *writes)
{
	struct sluice_acl_summary *sum = malloc(sizeof(*sum));
	uint32_t sel = ctl->sel & (SLUICE_ACL_SLOTS - 1), pos;
	int16_t *at = NULL;
	size_t n = 0;
	int t, err;

	at = malloc(SLUICE_ACL_POSITIONS * sizeof(*at));
	if (!sum || !at) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(maps->sum, &sel, sum)) {
		err = -errno;
		goto out;
	}
	mi->live = calloc(SLUICE_ACL_POSITIONS, sizeof(*mi->live));
	if (!mi->live) {
		err = -ENOMEM;
		goto out;
	}
	for (pos = 0; pos < SLUICE_ACL_POSITIONS; pos++) {
		at[pos] = -1;
		if (!bm_test(&sum->live, pos))
			continue;
		if (bpf_map_lookup_elem(maps->rules, &pos, &mi->live[n].k)) {
			err = -errno;
			goto out;
		}
		mi->live[n].pos = pos;
		mi->live[n].old = ACL_NONE;
		at[pos] = (int16_t)n++;
	}
	mi->nr_live = n;
	for (t = 0; t < SLUICE_ACL_NR_TRIES; t++) {
		struct ktab *kt = &mi->tab[t];

		err = kt_init(kt, trie_alen[t], maps->trie[t]);
		kt->hfd = trie_alen[t] == 4 ? maps->hosts4 : maps->hosts6;
		kt->tidx = (uint32_t)t;
		err = err ?: mirror_read_trie(mi, t, &sum->live) ?: kt_root(kt);
		if (err)
			goto out;
		/* Each rule's prefixes are the keys naming its position. */
		for (int pass = 0; pass < 2; pass++) {
			for (size_t i = 0; i < kt->cap; i++) {
				struct kent *e = &kt->e[i];

				for (uint16_t j = 0; e->used && j < e->nown; j++) {
					struct crule *c = &mi->live[at[kent_own(e)[j]]];

					if (pass)
						c->pfx[t][c->nr[t]++] = e->key;
					else
						c->nr[t]++;
				}
			}
			for (size_t i = 0; !pass && i < n; i++) {
				struct crule *c = &mi->live[i];

				if (c->nr[t] && !(c->pfx[t] = malloc(c->nr[t] * sizeof(struct pfx)))) {
					err = -ENOMEM;
					goto out;
				}
				c->nr[t] = 0;
			}
		}
		for (size_t i = 0; i < n; i++)
			qsort(mi->live[i].pfx[t], mi->live[i].nr[t], sizeof(struct pfx), pfx_cmp);
		err = kt_flush(kt, writes);
		if (err)
			goto out;
	}
	mi->gen = ctl->gen;
out:
	free(at);
	free(sum);
	return err;
}

/*
 * A mirror outlives the descriptors it was built with (the daemon opens the
 * pinned maps for each update): the tries are written through this call's.
 */
static void mirror_bind(struct mirror *mi, const struct acl_maps *maps)
{
	for (int t = 0; t < SLUICE_ACL_NR_TRIES; t++) {
		mi->tab[t].fd = maps->trie[t];
		mi->tab[t].hfd = trie_alen[t] == 4 ? maps->hosts4 : maps->hosts6;
	}
}

/* The mirror of these maps, read back from them when the process has none that is current. */
static struct mirror *mirror_get(const struct acl_maps *maps, const struct sluice_acl_ctl *ctl,
				 struct acl_apply_info *info, int *err)
{
	uint32_t ids[ACL_NR_MAPS];
	struct mirror *mi = NULL;
	int i, slot = 0;

	*err = maps_ids(maps, ids);
	if (*err)
		return NULL;
	for (i = 0; i < ACL_MIRRORS; i++) {
		if (mirrors[i] && !memcmp(mirrors[i]->ids, ids, sizeof(ids))) {
			if (mirrors[i]->gen == ctl->gen) {
				mirror_bind(mirrors[i], maps);
				mirrors[i]->used = ++mirror_clock;
				return mirrors[i];
			}
			mirror_drop(mirrors[i]);
		}
	}
	for (i = 0; i < ACL_MIRRORS; i++) {
		if (!mirrors[i]) {
			slot = i;
			break;
		}
		if (mirrors[i]->used < mirrors[slot]->used)
			slot = i;
	}
	mirror_drop(mirrors[slot]);
	mi = calloc(1, sizeof(*mi));
	if (!mi) {
		*err = -ENOMEM;
		return NULL;
	}
	memcpy(mi->ids, ids, sizeof(ids));
	info->rebuilt = true;
	*err = mirror_rebuild(maps, mi, ctl, &info->keys_written);
	if (*err) {
		mirror_free(mi);
		return NULL;
	}
	mi->used = ++mirror_clock;
	mirrors[slot] = mi;
	return mi;
}

/* Makes v[0..n) live: fills an idle summary slot and switches sel to it. */
static int flip(struct mirror *mi, const struct acl_maps *maps, struct sluice_acl_ctl *ctl,
		const struct crule *v, size_t n, enum sluice_acl_mode *mode)
{
	struct sluice_acl_summary *s = malloc(sizeof(*s));
	uint32_t cur = __atomic_load_n(&ctl->sel, __ATOMIC_RELAXED) & (SLUICE_ACL_SLOTS - 1);
	uint32_t next = (cur + 1) & (SLUICE_ACL_SLOTS - 1);
	int err = 0;

	if (!s)
		return -ENOMEM;
	summary_build(v, n, s);
	if (mode)
		*mode = s->mode;
	/* The slot may be read still by a packet that found it live. */
	if (mi->retired_ns[next])
		sleep_until(mi->retired_ns[next] + ACL_QUIESCE_NS);
	if (bpf_map_update_elem(maps->sum, &next, s, BPF_ANY))
		err = -errno;
	if (!err) {
		__atomic_store_n(&ctl->sel, next, __ATOMIC_RELEASE);
		mi->retired_ns[cur] = now_ns();
	}
	free(s);
	return err;
}

/* ---- positions ---- */

/*
 * Positions for the rules of v that do not stay (stay[i] false), between
 * those that do, at positions no old rule holds. A run of new rules that
 * finds too little room between its neighbours takes them along (they
 * move), until it fits; -ENOSPC when not even the whole range has room.
 */
static int place(struct crule *v, size_t n, const bool *occupied, bool *stay)
{
	uint32_t f[SLUICE_ACL_POSITIONS];
	size_t i = 0, j, k, F, jj;
	bool right = true;
	long L, R, p;

	while (i < n) {
		if (stay[i]) {
			i++;
			continue;
		}
		for (j = i; j < n && !stay[j]; j++)
			;
		for (;;) {
			L = i ? (long)v[i - 1].pos : -1;
			R = j < n ? (long)v[j].pos : SLUICE_ACL_POSITIONS;
			for (F = 0, p = L + 1; p < R; p++)
				if (!occupied[p])
					f[F++] = (uint32_t)p;
			k = j - i;
			if (F >= k)
				break;
			/* Too little room: the neighbour on one side moves too, alternately. */
			if (j < n && (right || !i)) {
				stay[j] = false;
				while (j < n && !stay[j])
					j++;
			} else if (i) {
				stay[i - 1] = false;
				while (i && !stay[i - 1])
					i--;
			} else {
				return -ENOSPC;
			}
			right = !right;
		}
		if (j == n) {
			/* At the end: a few free positions after each, for later appends and insertions. */
			size_t s = F / (k + 1);

			s = s > ACL_GAP_TAIL ? ACL_GAP_TAIL : s ? s : 1;
			for (jj = 0; jj < k; jj++)
				v[i + jj].pos = f[s * (jj + 1) - 1];
		} else {
			/* Between two rules: spread evenly, so later insertions find room. */
			for (jj = 0; jj < k; jj++)
				v[i + jj].pos = f[((jj + 1) * F) / (k + 1)];
		}
		i = j;
	}
	return 0;
}

/*
 * Which kept rules stay where they are: the longest run of them whose old
 * positions increase in the new order (the others move).
 */
static void keep_lis(struct crule *v, size_t n, const struct crule *old, const bool *keep, bool *stay)
{
	size_t *tail = malloc((n + 1) * sizeof(*tail)), *prev = malloc((n + 1) * sizeof(*prev));
	size_t len = 0, i, lo, hi, mid;

	memset(stay, 0, n * sizeof(*stay));
	if (!tail || !prev)
		goto out;	/* nothing stays: everything moves, still correct */
	for (i = 0; i < n; i++) {
		if (!keep[i])
			continue;
		lo = 0;
		hi = len;
		while (lo < hi) {
			mid = (lo + hi) / 2;
			if (old[v[tail[mid]].old].pos < old[v[i].old].pos)
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tail[lo - 1] : SIZE_MAX;
		tail[lo] = i;
		if (lo == len)
			len++;
	}
	for (i = len ? tail[len - 1] : SIZE_MAX; i != SIZE_MAX; i = prev[i]) {
		stay[i] = true;
		v[i].pos = old[v[i].old].pos;
	}
out:
	free(tail);
	free(prev);
}

/* ---- updating ---- */

struct hits_io {
	int fd, ncpu;
	struct sluice_acl_hits *buf;	/* ncpu entries */
};

static int hits_read(struct hits_io *h, uint32_t pos, struct sluice_acl_hits *out)
{
	return bpf_map_lookup_elem(h->fd, &pos, out) ? -errno : 0;
}

static int hits_write(struct hits_io *h, uint32_t pos, const struct sluice_acl_hits *v)
{
	return bpf_map_update_elem(h->fd, &pos, v, BPF_ANY) ? -errno : 0;
}

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int check_rules(const struct acl_rule_spec *rules, size_t n)
{
	uint32_t *ids;
	char err[128];
	size_t i;
	int ret = 0;

	if (n > SLUICE_ACL_MAX_RULES)
		return -E2BIG;
	for (i = 0; i < n; i++)
		if (acl_rule_check(&rules[i], err, sizeof(err)))
			return -EINVAL;
	/* Ids name rules in counters: they must be unique. */
	ids = malloc((n ? n : 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		ids[i] = rules[i].id;
	qsort(ids, n, sizeof(*ids), u32_cmp);
	for (i = 1; i < n; i++)
		if (ids[i] == ids[i - 1])
			ret = -EEXIST;
	free(ids);
	return ret;
}

/* Old rules by id, to find a new rule's former self. */
struct id_idx {
	uint32_t id, idx;
};

static int id_idx_cmp(const void *a, const void *b)
{
	const struct id_idx *x = a, *y = b;

	return x->id < y->id ? -1 : x->id > y->id;
}

/* Adds (add) or removes rule c's positions from the tries, and writes what changed. */
static int tries_own(struct mirror *mi, const struct crule *c, uint32_t pos, bool add)
{
	int err = 0;

	for (int t = 0; t < SLUICE_ACL_NR_TRIES && !err; t++)
		for (uint32_t i = 0; i < c->nr[t] && !err; i++)
			err = kt_own(&mi->tab[t], &c->pfx[t][i], (uint16_t)pos, add);
	return err;
}

static int tries_flush(struct mirror *mi, size_t *writes)
{
	int err = 0;

	for (int t = 0; t < SLUICE_ACL_NR_TRIES && !err; t++)
		err = kt_flush(&mi->tab[t], writes);
	return err;
}

/* Clears what earlier updates retired, the batches that are due (all, waiting for them, with wait). */
static int pending_clean(struct mirror *mi, bool wait, size_t *writes)
{
	uint64_t now = now_ns();
	size_t i, kept = 0;
	int err = 0;

	for (i = 0; i < mi->nr_pending; i++) {
		struct retired *r = &mi->pending[i];

		if (!err && (wait || r->due <= now)) {
			if (r->due > now)
				sleep_until(r->due);
			for (size_t j = 0; j < r->n && !err; j++)
				err = tries_own(mi, &r->v[j], r->v[j].pos, false);
			if (!err) {
				crules_free(r->v, r->n);
				continue;
			}
		}
		mi->pending[kept++] = *r;
	}
	mi->nr_pending = kept;
	return err ?: tries_flush(mi, writes);
}

/* Room in the tries for the old keys and the new rules' while both sets are in. */
static bool tries_fit(struct mirror *mi, const struct crule *v, size_t n, const bool *stay)
{
	for (int t = 0; t < SLUICE_ACL_NR_TRIES; t++) {
		struct ktab extra;
		size_t bound = mi->tab[t].nr;
		bool fit;

		for (size_t i = 0; i < n; i++)
			bound += stay[i] ? 0 : v[i].nr[t];
		if (bound <= SLUICE_ACL_MAX_PREFIXES)
			continue;
		/* Count new keys exactly. */
		if (kt_init(&extra, trie_alen[t], -1))
			return false;
		for (size_t i = 0; i < n; i++)
			for (uint32_t j = 0; !stay[i] && j < v[i].nr[t]; j++)
				if (!kt_find(&mi->tab[t], &v[i].pfx[t][j]) && !kt_insert(&extra, &v[i].pfx[t][j])) {
					kt_free(&extra);
					return false;
				}
		fit = mi->tab[t].nr + extra.nr <= SLUICE_ACL_MAX_PREFIXES;
		kt_free(&extra);
		if (!fit)
			return false;
	}
	return true;
}

static int rule_write(const struct acl_maps *maps, const struct crule *c)
{
	return bpf_map_update_elem(maps->rules, &c->pos, &c->k, BPF_ANY) ? -errno : 0;
}

/*
 * The update that leaves kept rules in place (see the top of the file):
 * write what is new, switch, then retire what the old set had alone.
 */
static int apply_incremental(struct mirror *mi, const struct acl_maps *maps, struct sluice_acl_ctl *ctl,
			     struct crule *v, size_t n, const bool *stay, struct hits_io *h,
			     struct acl_apply_info *info, bool *live_changed)
{
	struct sluice_acl_hits *snap = NULL, *fin = NULL, *cur = NULL;
	bool *held = calloc(mi->nr_live ? mi->nr_live : 1, sizeof(*held));
	size_t i, c, snap_n = 0;
	uint64_t t_flip;
	int err = 0;

	snap = calloc(n ? n * (size_t)h->ncpu : 1, sizeof(*snap));
	fin = calloc((size_t)h->ncpu, sizeof(*fin));
	cur = calloc((size_t)h->ncpu, sizeof(*cur));
	if (!snap || !fin || !cur || !held) {
		err = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct sluice_acl_hits *s = &snap[i * (size_t)h->ncpu];

		if (stay[i]) {
			held[v[i].old] = true;
			info->kept++;
			continue;
		}
		info->placed++;
		/* A rule that was there before keeps its hits: copy them now, the rest after the switch. */
		if (v[i].old != ACL_NONE) {
			err = hits_read(h, mi->live[v[i].old].pos, s);
			snap_n++;
		}
		err = err ?: hits_write(h, v[i].pos, s) ?: rule_write(maps, &v[i]) ?:
		      tries_own(mi, &v[i], v[i].pos, true);
		if (err)
			goto out;
	}
	err = tries_flush(mi, &info->keys_written);
	if (err)
		goto out;
	step("written");
	err = flip(mi, maps, ctl, v, n, &info->mode);
	if (err)
		goto out;
	*live_changed = true;
	t_flip = now_ns();
	step("switched");
	for (i = 0; i < mi->nr_live; i++)
		info->retired += !held[i];
	if (!info->retired)
		goto out;
	if (!snap_n) {
		/* Nothing to carry over: the clearing waits for a later update, not this one. */
		struct retired *pv = realloc(mi->pending, (mi->nr_pending + 1) * sizeof(*pv));
		struct crule *rv = calloc(info->retired, sizeof(*rv));
		size_t k = 0;

		if (!pv || !rv) {
			free(rv);
			if (pv)
				mi->pending = pv;
			err = -ENOMEM;
			goto out;
		}
		mi->pending = pv;
		for (i = 0; i < mi->nr_live; i++) {
			if (held[i])
				continue;
			rv[k++] = mi->live[i];
			memset(mi->live[i].pfx, 0, sizeof(mi->live[i].pfx));
		}
		mi->pending[mi->nr_pending++] = (struct retired){ rv, k, t_flip + ACL_QUIESCE_NS };
		goto out;
	}

	/* Packets that read the old summary are done: retire what only it had. */
	sleep_until(t_flip + ACL_QUIESCE_NS);
	for (i = 0; i < n && snap_n; i++) {
		struct sluice_acl_hits *s = &snap[i * (size_t)h->ncpu];

		if (stay[i] || v[i].old == ACL_NONE)
			continue;
		err = hits_read(h, mi->live[v[i].old].pos, fin);
		if (err)
			goto out;
		if (!memcmp(fin, s, (size_t)h->ncpu * sizeof(*s)))
			continue;
		/* Counted at the old position between the copy and the switch. */
		err = hits_read(h, v[i].pos, cur);
		if (err)
			goto out;
		for (c = 0; c < (size_t)h->ncpu; c++) {
			cur[c].packets += fin[c].packets - s[c].packets;
			cur[c].bytes += fin[c].bytes - s[c].bytes;
		}
		err = hits_write(h, v[i].pos, cur);
		if (err)
			goto out;
	}
	for (i = 0; i < mi->nr_live && !err; i++)
		if (!held[i])
			err = tries_own(mi, &mi->live[i], mi->live[i].pos, false);
	err = err ?: tries_flush(mi, &info->keys_written);
out:
	free(held);
	free(snap);
	free(fin);
	free(cur);
	return err;
}

/*
 * The two sets cannot sit side by side: switch to no rule, replace
 * everything, switch to the new set. Packets meanwhile get default_action.
 */
static int apply_blank(struct mirror *mi, const struct acl_maps *maps, struct sluice_acl_ctl *ctl,
		       struct crule *v, size_t n, struct hits_io *h, struct acl_apply_info *info,
		       bool *live_changed)
{
	bool occupied[SLUICE_ACL_POSITIONS] = {};
	struct sluice_acl_hits *old = NULL, *zero = NULL;
	bool *stay = calloc(n ? n : 1, sizeof(*stay));
	size_t i, nc = (size_t)h->ncpu;
	int err;

	info->blanked = true;
	old = calloc(mi->nr_live ? mi->nr_live * nc : 1, sizeof(*old));
	zero = calloc(nc, sizeof(*zero));
	if (!old || !zero || !stay) {
		err = -ENOMEM;
		goto out;
	}
	err = flip(mi, maps, ctl, NULL, 0, NULL);
	if (err)
		goto out;
	*live_changed = true;
	step("blanked");
	sleep_until(now_ns() + ACL_QUIESCE_NS);
	err = pending_clean(mi, true, &info->keys_written);
	if (err)
		goto out;
	for (i = 0; i < mi->nr_live && !err; i++)
		err = hits_read(h, mi->live[i].pos, &old[i * nc]) ?:
		      tries_own(mi, &mi->live[i], mi->live[i].pos, false);
	err = err ?: tries_flush(mi, &info->keys_written);
	if (err)
		goto out;
	info->retired = mi->nr_live;
	err = place(v, n, occupied, stay);
	for (i = 0; i < n && !err; i++) {
		const struct sluice_acl_hits *hv = zero;

		if (v[i].old != ACL_NONE)
			hv = &old[v[i].old * nc];
		err = hits_write(h, v[i].pos, hv) ?: rule_write(maps, &v[i]) ?:
		      tries_own(mi, &v[i], v[i].pos, true);
	}
	info->placed = n;
	err = err ?: tries_flush(mi, &info->keys_written);
	if (!err)
		step("written");
	err = err ?: flip(mi, maps, ctl, v, n, &info->mode);
	if (!err)
		step("switched");
out:
	free(stay);
	free(old);
	free(zero);
	return err;
}

int acl__apply_info(const struct acl_maps *maps, const struct acl_rule_spec *rules, size_t n,
		    struct acl_apply_info *info)
{
	bool occupied[SLUICE_ACL_POSITIONS] = {}, live_changed = false;
	struct acl_apply_info dummy;
	struct sluice_acl_ctl *ctl = NULL;
	struct id_idx *ids = NULL;
	struct crule *v = NULL;
	struct hits_io h = { .fd = maps->hits };
	struct mirror *mi;
	bool *keep = NULL, *stay = NULL, moves;
	size_t i;
	int err;

	if (!info)
		info = &dummy;
	memset(info, 0, sizeof(*info));
	err = check_rules(rules, n);
	if (err)
		return err;
	h.ncpu = libbpf_num_possible_cpus();
	if (h.ncpu < 0)
		return h.ncpu;
	ctl = ctl_map(maps);
	if (!ctl)
		return -errno;
	mi = mirror_get(maps, ctl, info, &err);
	if (!mi)
		goto out;

	v = calloc(n ? n : 1, sizeof(*v));
	keep = calloc(n ? n : 1, sizeof(*keep));
	stay = calloc(n ? n : 1, sizeof(*stay));
	ids = calloc(mi->nr_live ? mi->nr_live : 1, sizeof(*ids));
	if (!v || !keep || !stay || !ids) {
		err = -ENOMEM;
		goto fail;
	}
	for (i = 0; i < n; i++) {
		err = crule_compile(&rules[i], &v[i]);
		if (err)
			goto fail;
	}
	err = pending_clean(mi, false, &info->keys_written);
	if (err)
		goto fail;
	for (i = 0; i < mi->nr_pending; i++)
		for (size_t j = 0; j < mi->pending[i].n; j++)
			occupied[mi->pending[i].v[j].pos] = true;
	/* Each new rule's former self, by id; kept when it did not change. */
	for (i = 0; i < mi->nr_live; i++) {
		ids[i].id = mi->live[i].k.id;
		ids[i].idx = (uint32_t)i;
		occupied[mi->live[i].pos] = true;
	}
	qsort(ids, mi->nr_live, sizeof(*ids), id_idx_cmp);
	for (i = 0; i < n; i++) {
		struct id_idx key = { .id = v[i].k.id }, *f;

		f = bsearch(&key, ids, mi->nr_live, sizeof(*ids), id_idx_cmp);
		if (f) {
			v[i].old = f->idx;
			keep[i] = crule_equal(&v[i], &mi->live[f->idx]);
		}
	}
	keep_lis(v, n, mi->live, keep, stay);
	err = place(v, n, occupied, stay);
	for (i = 0, moves = false; !err && i < n; i++)
		moves |= keep[i] && !stay[i];
	if ((err == -ENOSPC || moves || (!err && !tries_fit(mi, v, n, stay))) && mi->nr_pending) {
		/*
		 * Room held by retired rules not cleared yet: clear them now,
		 * waiting if need be (under a ms; moving rules instead would wait
		 * as long, and write more).
		 */
		err = pending_clean(mi, true, &info->keys_written);
		if (err)
			goto fail;
		memset(occupied, 0, sizeof(occupied));
		for (i = 0; i < mi->nr_live; i++)
			occupied[mi->live[i].pos] = true;
		keep_lis(v, n, mi->live, keep, stay);
		err = place(v, n, occupied, stay);
	}
	for (i = 0; i < n; i++)
		info->moved += keep[i] && !stay[i];
	if (!err && tries_fit(mi, v, n, stay))
		err = apply_incremental(mi, maps, ctl, v, n, stay, &h, info, &live_changed);
	else if (!err || err == -ENOSPC)
		err = apply_blank(mi, maps, ctl, v, n, &h, info, &live_changed);
	if (err)
		goto fail;
	crules_free(mi->live, mi->nr_live);
	mi->live = v;
	mi->nr_live = n;
	v = NULL;
	mi->gen = __atomic_load_n(&ctl->gen, __ATOMIC_RELAXED) + 1;
	__atomic_store_n(&ctl->gen, mi->gen, __ATOMIC_RELEASE);
	goto out;
fail:
	/*
	 * The maps hold the old set or the new one, plus bits of positions no
	 * summary names: the next update reads them back and clears those.
	 */
	mirror_drop(mi);
	if (live_changed) {
		__atomic_add_fetch(&ctl->gen, 1, __ATOMIC_RELEASE);
		/* The new set is what packets see: the caller must know it took. */
		err = 0;
	}
out:
	crules_free(v, n);
	free(keep);
	free(stay);
	free(ids);
	ctl_unmap(ctl);
	return err;
}

int acl__apply(const struct acl_maps *maps, const struct acl_rule_spec *rules, size_t n)
{
	return acl__apply_info(maps, rules, n, NULL);
}

int acl__read_hits(const struct acl_maps *maps, struct acl_rule_hits *out, size_t max,
		   struct acl_rule_hits *dflt)
{
	struct sluice_acl_summary *sum = malloc(sizeof(*sum));
	struct sluice_acl_hits *h = NULL;
	struct sluice_acl_rule rule;
	struct sluice_acl_ctl ctl;
	uint32_t key0 = 0, pos, sel;
	int ncpu, c, err = 0;
	size_t cnt = 0;

	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0) {
		err = ncpu;
		goto out;
	}
	h = calloc((size_t)ncpu, sizeof(*h));
	if (!h || !sum) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(maps->ctl, &key0, &ctl)) {
		err = -errno;
		goto out;
	}
	sel = ctl.sel & (SLUICE_ACL_SLOTS - 1);
	if (bpf_map_lookup_elem(maps->sum, &sel, sum)) {
		err = -errno;
		goto out;
	}
	for (pos = 0; pos <= SLUICE_ACL_POSITIONS; pos++) {
		struct acl_rule_hits s = { .pos = pos };
		bool is_dflt = pos == ACL_HITS_DEFAULT;

		if (!is_dflt && !bm_test(&sum->live, pos))
			continue;
		if (is_dflt && !dflt)
			break;
		if (bpf_map_lookup_elem(maps->hits, &pos, h) ||
		    (!is_dflt && bpf_map_lookup_elem(maps->rules, &pos, &rule))) {
			err = -errno;
			goto out;
		}
		for (c = 0; c < ncpu; c++) {
			s.packets += h[c].packets;
			s.bytes += h[c].bytes;
		}
		if (is_dflt) {
			*dflt = s;
			break;
		}
		s.id = rule.id;
		if (cnt < max)
			out[cnt] = s;
		cnt++;
	}
out:
	free(h);
	free(sum);
	return err ? err : (int)cnt;
}

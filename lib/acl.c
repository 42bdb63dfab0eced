// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * ACL rules: text syntax, and the compiler that turns an ordered rule list
 * into the acl stage's maps (bpf/acl.h).
 *
 * Compilation. Rule i gets a position p_i, increasing with i. For each of
 * the four tries (family x side) every named prefix P gets the bitmap of the
 * positions of rules naming P or any prefix containing P, so one longest-
 * prefix lookup yields every rule whose prefix contains the address. A rule
 * that names no prefix on a side sits in that side's /0 entry, for each
 * family it can match. Containment is found by walking the prefix lengths in
 * use from a hash of the named prefixes: O(prefixes x lengths in use).
 *
 * Updating under traffic. A packet reads two trie entries, then rules. To
 * keep it from pairing old bitmaps with new rules, new rules go to positions
 * the old set does not use, then:
 *   phase A: every old and new trie key gets old | new bitmap; a packet sees
 *            old or old|new on each side, and since the two sets use disjoint
 *            positions the AND is the old set's matches, or both sets'
 *            matches; the first in position order is the old or the new
 *            set's first match;
 *   phase B: every new key gets the new bitmap, old-only keys are deleted;
 *            a packet sees old|new or new.
 * Verdicts are therefore always the old set's or the new set's. A count rule
 * of the other set may count a packet during the switch. When the two sets
 * together exceed SLUICE_ACL_MAX_RULES positions or a trie's capacity, the
 * update instead blanks the old bitmaps first: for its duration packets
 * match no rule and get default_action.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "acl.h"

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

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

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
	rule->src = rule->dst = NULL;
	rule->nr_src = rule->nr_dst = 0;
}

static int parse_prefixes(char *list, struct acl_prefix **out, size_t *nr, char *err, size_t errlen)
{
	size_t cnt = 1, i = 0;
	char *save, *tok;
	const char *c;

	if (*out) {
		snprintf(err, errlen, "prefixes given twice");
		return -EINVAL;
	}
	if (!strcasecmp(list, "any"))
		return 0;
	for (c = list; *c; c++)
		cnt += *c == ',';
	*out = calloc(cnt, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (acl_prefix_parse(tok, &(*out)[i])) {
			snprintf(err, errlen, "bad prefix \"%s\"", tok);
			return -EINVAL;
		}
		i++;
	}
	*nr = i;
	return i ? 0 : -EINVAL;
}

static int parse_ports(const char *s, uint16_t *lo, uint16_t *hi)
{
	unsigned long a, b;
	char *end;

	if (!strcasecmp(s, "any")) {
		*lo = 0;
		*hi = 65535;
		return 0;
	}
	errno = 0;
	a = strtoul(s, &end, 10);
	b = a;
	if (end == s || errno)
		return -EINVAL;
	if (*end == '-') {
		s = end + 1;
		b = strtoul(s, &end, 10);
		if (end == s || errno)
			return -EINVAL;
	}
	if (*end || a > b || b > 65535)
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
static int parse_flags(char *s, uint8_t *value, uint8_t *mask)
{
	char *slash = strchr(s, '/');

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

static int parse_proto(const char *s, uint8_t *proto)
{
	unsigned long v;
	char *end;
	size_t i;

	if (!strcasecmp(s, "any")) {
		*proto = 0;
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

static bool prefixes_have(const struct acl_prefix *v, size_t n, int family)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].family == family)
			return true;
	return false;
}

/* Does rule r take part in matching packets of this family? */
static bool rule_in_family(const struct acl_rule_spec *r, int family)
{
	if (r->family && r->family != family)
		return false;
	return (!r->nr_src || prefixes_have(r->src, r->nr_src, family)) &&
	       (!r->nr_dst || prefixes_have(r->dst, r->nr_dst, family));
}

static bool ports_restricted(const struct acl_rule_spec *r)
{
	return r->sport_lo || r->sport_hi != 65535 || r->dport_lo || r->dport_hi != 65535;
}

int acl_rule_check(const struct acl_rule_spec *r, char *err, size_t errlen)
{
	if ((unsigned int)r->action > SLUICE_ACL_COUNT) {
		snprintf(err, errlen, "rule %u: unknown action %d", r->id, (int)r->action);
		return -EINVAL;
	}
	if (r->family && r->family != AF_INET && r->family != AF_INET6) {
		snprintf(err, errlen, "rule %u: family must be 4, 6 or any", r->id);
		return -EINVAL;
	}
	if (r->sport_lo > r->sport_hi || r->dport_lo > r->dport_hi) {
		snprintf(err, errlen, "rule %u: empty port range", r->id);
		return -EINVAL;
	}
	if (ports_restricted(r) && r->proto && r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP &&
	    r->proto != IPPROTO_SCTP) {
		snprintf(err, errlen, "rule %u: ports need proto tcp, udp or sctp", r->id);
		return -EINVAL;
	}
	if (r->tcp_flags_mask && r->proto != IPPROTO_TCP) {
		snprintf(err, errlen, "rule %u: tcp flags need proto tcp", r->id);
		return -EINVAL;
	}
	if (r->tcp_flags_value & ~r->tcp_flags_mask) {
		snprintf(err, errlen, "rule %u: tcp flags value outside its mask", r->id);
		return -EINVAL;
	}
	if (!rule_in_family(r, AF_INET) && !rule_in_family(r, AF_INET6)) {
		snprintf(err, errlen, "rule %u can never match: its prefixes share no address family",
			 r->id);
		return -EINVAL;
	}
	return 0;
}

int acl_rule_parse(const char *text, struct acl_rule_spec *rule, char *err, size_t errlen)
{
	char *copy, *save, *tok, *arg;
	bool have_action = false;
	unsigned long v;
	char *end;
	size_t i;
	int ret = -EINVAL;

	memset(rule, 0, sizeof(*rule));
	rule->sport_hi = rule->dport_hi = 65535;
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
		if (!strcasecmp(tok, "id")) {
			errno = 0;
			v = strtoul(arg, &end, 10);
			if (end == arg || *end || errno || v > UINT32_MAX) {
				snprintf(err, errlen, "bad rule id \"%s\"", arg);
				goto out;
			}
			rule->id = (uint32_t)v;
		} else if (!strcasecmp(tok, "family")) {
			if (!strcmp(arg, "4") || !strcasecmp(arg, "inet") || !strcasecmp(arg, "ipv4")) {
				rule->family = AF_INET;
			} else if (!strcmp(arg, "6") || !strcasecmp(arg, "inet6") || !strcasecmp(arg, "ipv6")) {
				rule->family = AF_INET6;
			} else if (!strcasecmp(arg, "any")) {
				rule->family = 0;
			} else {
				snprintf(err, errlen, "bad family \"%s\" (4, 6 or any)", arg);
				goto out;
			}
		} else if (!strcasecmp(tok, "proto")) {
			if (parse_proto(arg, &rule->proto)) {
				snprintf(err, errlen, "bad protocol \"%s\"", arg);
				goto out;
			}
		} else if (!strcasecmp(tok, "src") || !strcasecmp(tok, "dst")) {
			bool src = !strcasecmp(tok, "src");

			ret = parse_prefixes(arg, src ? &rule->src : &rule->dst,
					     src ? &rule->nr_src : &rule->nr_dst, err, errlen);
			if (ret) {
				if (ret == -EINVAL && !err[0])
					snprintf(err, errlen, "bad prefix list \"%s\"", arg);
				goto out;
			}
			ret = -EINVAL;
		} else if (!strcasecmp(tok, "sport") || !strcasecmp(tok, "dport")) {
			bool s = !strcasecmp(tok, "sport");

			if (parse_ports(arg, s ? &rule->sport_lo : &rule->dport_lo,
					s ? &rule->sport_hi : &rule->dport_hi)) {
				snprintf(err, errlen, "bad port range \"%s\" (PORT, LO-HI or any)", arg);
				goto out;
			}
		} else if (!strcasecmp(tok, "flags") || !strcasecmp(tok, "tcp_flags")) {
			if (parse_flags(arg, &rule->tcp_flags_value, &rule->tcp_flags_mask)) {
				snprintf(err, errlen, "bad tcp flags (VALUE/MASK such as syn/syn,ack)");
				goto out;
			}
		} else {
			snprintf(err, errlen, "unknown word \"%s\"", tok);
			goto out;
		}
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

static void format_ports(char *buf, size_t len, size_t *off, const char *kw, uint16_t lo, uint16_t hi)
{
	if (!lo && hi == 65535)
		return;
	if (lo == hi)
		appendf(buf, len, off, " %s %u", kw, lo);
	else
		appendf(buf, len, off, " %s %u-%u", kw, lo, hi);
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
	if (r->proto) {
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
	ACL_MAP_RULES, ACL_MAP_HITS, ACL_MAP_LIVE, ACL_MAP_SRC4, ACL_MAP_DST4, ACL_MAP_SRC6, ACL_MAP_DST6,
};

static int *acl_map_fd(struct acl_maps *m, size_t i)
{
	int *fds[] = { &m->rules, &m->hits, &m->live, &m->src4, &m->dst4, &m->src6, &m->dst6 };

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

/* ---- compiler ---- */

/* A prefix as a trie key: length and address with host bits clear. */
struct pfx {
	uint8_t len;
	uint8_t addr[16];
};

struct pfx_ent {
	struct pfx key;
	bool used;
	struct sluice_acl_bitmap own;	/* indexes of the rules naming exactly this prefix */
};

/* Open-addressing hash of prefixes. */
struct pfx_table {
	struct pfx_ent *ents;
	size_t cap, nr;
	bool lens[129];			/* prefix lengths in use */
	int alen;			/* address bytes: 4 or 16 */
};

static void pfx_mask(struct pfx *k, const uint8_t *addr, int alen, unsigned int len)
{
	int i;

	memset(k, 0, sizeof(*k));
	k->len = (uint8_t)len;
	for (i = 0; i < alen && i * 8 < (int)len; i++)
		k->addr[i] = addr[i];
	if (len % 8)
		k->addr[len / 8] &= (uint8_t)(0xff00 >> (len % 8));
}

static size_t pfx_hash(const struct pfx *k)
{
	const uint8_t *p = (const uint8_t *)k;
	uint64_t h = 1469598103934665603ULL;
	size_t i;

	for (i = 0; i < sizeof(*k); i++)
		h = (h ^ p[i]) * 1099511628211ULL;
	return (size_t)(h ^ (h >> 29));
}

static int pfx_table_init(struct pfx_table *t, int alen, size_t want)
{
	size_t cap = 16;

	memset(t, 0, sizeof(*t));
	t->alen = alen;
	while (cap < 2 * want)
		cap <<= 1;
	t->ents = calloc(cap, sizeof(*t->ents));
	if (!t->ents)
		return -ENOMEM;
	t->cap = cap;
	return 0;
}

/* Finds k, or adds it when add is set (the table is sized for every add). */
static struct pfx_ent *pfx_find(struct pfx_table *t, const struct pfx *k, bool add)
{
	size_t i = pfx_hash(k) & (t->cap - 1);

	while (t->ents[i].used) {
		if (!memcmp(&t->ents[i].key, k, sizeof(*k)))
			return &t->ents[i];
		i = (i + 1) & (t->cap - 1);
	}
	if (!add)
		return NULL;
	t->ents[i].used = true;
	t->ents[i].key = *k;
	t->lens[k->len] = true;
	t->nr++;
	return &t->ents[i];
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

static bool bm_equal(const struct sluice_acl_bitmap *a, const struct sluice_acl_bitmap *b)
{
	return !memcmp(a, b, sizeof(*a));
}

static void bm_or(struct sluice_acl_bitmap *d, const struct sluice_acl_bitmap *s)
{
	int i;

	for (i = 0; i < SLUICE_ACL_WORDS; i++)
		d->w[i] |= s->w[i];
	d->words |= s->words;
}

/* Rules whose prefix on this side contains k: own bits of k and of every named ancestor. */
static void pfx_contain(struct pfx_table *t, const struct pfx *k, struct sluice_acl_bitmap *out)
{
	struct pfx_ent *e;
	struct pfx a;
	unsigned int l;

	memset(out, 0, sizeof(*out));
	for (l = 0; l <= k->len; l++) {
		if (!t->lens[l])
			continue;
		pfx_mask(&a, k->addr, t->alen, l);
		e = pfx_find(t, &a, false);
		if (e)
			bm_or(out, &e->own);
	}
}

/* The prefixes one side of one family's rules name, with the rule indexes naming each. */
static int pfx_table_build(struct pfx_table *t, int family, bool src,
			   const struct acl_rule_spec *rules, size_t n)
{
	static const uint8_t zero[16];
	size_t i, j, want = 1;
	struct pfx k;
	int err;

	for (i = 0; i < n; i++)
		want += src ? rules[i].nr_src : rules[i].nr_dst;
	err = pfx_table_init(t, family == AF_INET ? 4 : 16, want);
	if (err)
		return err;
	for (i = 0; i < n; i++) {
		const struct acl_rule_spec *r = &rules[i];
		const struct acl_prefix *p = src ? r->src : r->dst;
		size_t np = src ? r->nr_src : r->nr_dst;

		if (!rule_in_family(r, family))
			continue;
		if (!np) {
			pfx_mask(&k, zero, t->alen, 0);
			bm_set(&pfx_find(t, &k, true)->own, (uint32_t)i);
			continue;
		}
		for (j = 0; j < np; j++) {
			if (p[j].family != family)
				continue;
			pfx_mask(&k, p[j].addr, t->alen, p[j].len);
			bm_set(&pfx_find(t, &k, true)->own, (uint32_t)i);
		}
	}
	return 0;
}

/* Kernel key of a trie: struct sluice_lpm4_key or struct sluice_lpm6_key. */
static void pfx_to_key(const struct pfx *p, int alen, void *key)
{
	uint32_t len = p->len;

	memset(key, 0, sizeof(struct sluice_lpm6_key));
	memcpy(key, &len, 4);
	memcpy((uint8_t *)key + 4, p->addr, alen);
}

static void key_to_pfx(const void *key, int alen, struct pfx *p)
{
	uint32_t len;

	memcpy(&len, key, 4);
	memset(p, 0, sizeof(*p));
	p->len = (uint8_t)len;
	memcpy(p->addr, (const uint8_t *)key + 4, alen);
}

/* One trie's update: its old and new keys and the bitmaps each gets. */
struct trie_plan {
	int fd, alen;
	struct pfx_table tab;		/* prefixes the new rules name */
	struct pfx *keys;		/* old keys first, then new-only keys */
	size_t nr_old, nr_keys;
	struct sluice_acl_bitmap *oldv;	/* what a lookup of each key returns now */
	struct sluice_acl_bitmap *newv;	/* its rules in the new set, by position */
	bool *in_new;
};

static void trie_plan_free(struct trie_plan *t)
{
	free(t->tab.ents);
	free(t->keys);
	free(t->oldv);
	free(t->newv);
	free(t->in_new);
}

static int trie_plan_push(struct trie_plan *t, size_t *cap, const struct pfx *k)
{
	if (t->nr_keys == *cap) {
		struct pfx *keys = realloc(t->keys, 2 * *cap * sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		t->keys = keys;
		*cap *= 2;
	}
	t->keys[t->nr_keys++] = *k;
	return 0;
}

/* Reads the trie's current keys and lists every key the update touches. */
static int trie_plan_build(struct trie_plan *t, int fd, int family, bool src,
			   const struct acl_rule_spec *rules, size_t n)
{
	struct sluice_lpm6_key key, next;
	struct pfx_table old = {};
	void *prev = NULL;
	size_t i, cap;
	struct pfx k;
	int err;

	memset(t, 0, sizeof(*t));
	t->fd = fd;
	t->alen = family == AF_INET ? 4 : 16;
	err = pfx_table_build(&t->tab, family, src, rules, n);
	if (err)
		return err;
	if (t->tab.nr > SLUICE_ACL_MAX_PREFIXES)
		return -E2BIG;
	cap = t->tab.nr + 64;
	t->keys = malloc(cap * sizeof(*t->keys));
	if (!t->keys)
		return -ENOMEM;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		key_to_pfx(&next, t->alen, &k);
		err = trie_plan_push(t, &cap, &k);
		if (err)
			goto out;
		key = next;
		prev = &key;
	}
	if (errno != ENOENT) {
		err = -errno;
		goto out;
	}
	t->nr_old = t->nr_keys;
	err = pfx_table_init(&old, t->alen, t->nr_old);
	if (err)
		goto out;
	for (i = 0; i < t->nr_old; i++)
		pfx_find(&old, &t->keys[i], true);
	for (i = 0; i < t->tab.cap; i++) {
		if (!t->tab.ents[i].used || pfx_find(&old, &t->tab.ents[i].key, false))
			continue;
		err = trie_plan_push(t, &cap, &t->tab.ents[i].key);
		if (err)
			goto out;
	}
	t->oldv = calloc(t->nr_keys, sizeof(*t->oldv));
	t->newv = calloc(t->nr_keys, sizeof(*t->newv));
	t->in_new = calloc(t->nr_keys, sizeof(*t->in_new));
	if (!t->oldv || !t->newv || !t->in_new) {
		err = -ENOMEM;
		goto out;
	}
	/* A lookup of a key that is not in the trie yet gives its enclosing prefix's rules. */
	for (i = 0; i < t->nr_keys; i++) {
		pfx_to_key(&t->keys[i], t->alen, &key);
		if (bpf_map_lookup_elem(fd, &key, &t->oldv[i]) && errno != ENOENT) {
			err = -errno;
			goto out;
		}
		t->in_new[i] = pfx_find(&t->tab, &t->keys[i], false) != NULL;
	}
out:
	free(old.ents);
	return err;
}

/* newv of every key: containment in the new set, rule indexes turned into positions. */
static void trie_plan_place(struct trie_plan *t, const uint32_t *pos)
{
	struct sluice_acl_bitmap idx;
	uint64_t bits;
	size_t i;
	int w;

	for (i = 0; i < t->nr_keys; i++) {
		memset(&t->newv[i], 0, sizeof(t->newv[i]));
		pfx_contain(&t->tab, &t->keys[i], &idx);
		for (w = 0; w < SLUICE_ACL_WORDS; w++)
			for (bits = idx.w[w]; bits; bits &= bits - 1)
				bm_set(&t->newv[i], pos[w * 64 + __builtin_ctzll(bits)]);
	}
}

static int trie_write(struct trie_plan *t, size_t i, const struct sluice_acl_bitmap *v)
{
	struct sluice_lpm6_key key;

	pfx_to_key(&t->keys[i], t->alen, &key);
	return bpf_map_update_elem(t->fd, &key, v, BPF_ANY) ? -errno : 0;
}

static int trie_delete(struct trie_plan *t, size_t i)
{
	struct sluice_lpm6_key key;

	pfx_to_key(&t->keys[i], t->alen, &key);
	if (bpf_map_delete_elem(t->fd, &key) && errno != ENOENT)
		return -errno;
	return 0;
}

static int bm_count(const struct sluice_acl_bitmap *b)
{
	int i, c = 0;

	for (i = 0; i < SLUICE_ACL_WORDS; i++)
		c += __builtin_popcountll(b->w[i]);
	return c;
}

static struct sluice_acl_rule rule_compile(const struct acl_rule_spec *r)
{
	struct sluice_acl_rule k = {
		.sport_lo = r->sport_lo, .sport_hi = r->sport_hi,
		.dport_lo = r->dport_lo, .dport_hi = r->dport_hi,
		.proto = r->proto,
		.tcp_flags_mask = r->tcp_flags_mask,
		.tcp_flags_value = r->tcp_flags_value,
		.action = (uint8_t)r->action,
		.family = r->family == AF_INET ? 4 : r->family == AF_INET6 ? 6 : 0,
		.has_src = r->nr_src != 0,
		.has_dst = r->nr_dst != 0,
		.id = r->id,
	};

	return k;
}

/* Old rules' hit counters, to carry over to the new rule with the same id. */
struct old_hits {
	uint32_t id;
	struct sluice_acl_hits *percpu;
};

static int old_hits_read(const struct acl_maps *maps, const struct sluice_acl_bitmap *live,
			 int ncpu, struct old_hits **out, size_t *nr)
{
	struct sluice_acl_rule rule;
	struct old_hits *h;
	uint32_t pos;
	size_t cnt = 0;

	h = calloc(SLUICE_ACL_MAX_RULES, sizeof(*h));
	if (!h)
		return -ENOMEM;
	*out = h;
	for (pos = 0; pos < SLUICE_ACL_MAX_RULES; pos++) {
		if (!bm_test(live, pos))
			continue;
		h[cnt].percpu = calloc(ncpu, sizeof(*h[cnt].percpu));
		if (!h[cnt].percpu)
			return -ENOMEM;
		/* Counted before anything can fail, so old_hits_free() frees it. */
		*nr = ++cnt;
		if (bpf_map_lookup_elem(maps->rules, &pos, &rule) ||
		    bpf_map_lookup_elem(maps->hits, &pos, h[cnt - 1].percpu))
			return -errno;
		h[cnt - 1].id = rule.id;
	}
	return 0;
}

static void old_hits_free(struct old_hits *h, size_t nr)
{
	size_t i;

	for (i = 0; h && i < nr; i++)
		free(h[i].percpu);
	free(h);
}

static int check_rules(const struct acl_rule_spec *rules, size_t n)
{
	char err[128];
	size_t i, j;

	if (n > SLUICE_ACL_MAX_RULES)
		return -E2BIG;
	for (i = 0; i < n; i++) {
		if (acl_rule_check(&rules[i], err, sizeof(err)))
			return -EINVAL;
		/* Ids name rules in counters: they must be unique. */
		for (j = 0; j < i; j++)
			if (rules[j].id == rules[i].id)
				return -EEXIST;
	}
	return 0;
}

#define ACL_NR_TRIES 4

int acl__apply(const struct acl_maps *maps, const struct acl_rule_spec *rules, size_t n)
{
	const struct {
		int family;
		bool src;
	} tries[ACL_NR_TRIES] = { { AF_INET, true }, { AF_INET, false }, { AF_INET6, true }, { AF_INET6, false } };
	const int fds[ACL_NR_TRIES] = { maps->src4, maps->dst4, maps->src6, maps->dst6 };
	struct sluice_acl_bitmap old_live = {}, new_live = {}, v;
	struct trie_plan plan[ACL_NR_TRIES] = {};
	struct sluice_acl_hits *zero_hits = NULL;
	struct old_hits *oh = NULL;
	size_t nr_oh = 0, i, j, t;
	bool disjoint, rules_written = false;
	uint32_t *pos = NULL, key0 = 0, p;
	int ncpu, err;

	err = check_rules(rules, n);
	if (err)
		return err;
	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return ncpu;
	if (bpf_map_lookup_elem(maps->live, &key0, &old_live))
		return -errno;
	pos = calloc(n ? n : 1, sizeof(*pos));
	zero_hits = calloc(ncpu, sizeof(*zero_hits));
	if (!pos || !zero_hits) {
		err = -ENOMEM;
		goto out;
	}
	for (t = 0; t < ACL_NR_TRIES; t++) {
		err = trie_plan_build(&plan[t], fds[t], tries[t].family, tries[t].src, rules, n);
		if (err)
			goto out;
	}

	/* New rules go where no old bitmap points, if there is room for both sets. */
	disjoint = bm_count(&old_live) + n <= SLUICE_ACL_MAX_RULES;
	for (t = 0; t < ACL_NR_TRIES; t++)
		if (plan[t].nr_keys > SLUICE_ACL_MAX_PREFIXES)
			disjoint = false;
	for (i = 0, p = 0; i < n; i++, p++) {
		while (disjoint && bm_test(&old_live, p))
			p++;
		pos[i] = p;
		bm_set(&new_live, p);
	}
	for (t = 0; t < ACL_NR_TRIES; t++)
		trie_plan_place(&plan[t], pos);

	err = old_hits_read(maps, &old_live, ncpu, &oh, &nr_oh);
	if (err)
		goto out;

	if (!disjoint) {
		/* No room for both: packets match nothing until the new set is in. */
		memset(&v, 0, sizeof(v));
		for (t = 0; t < ACL_NR_TRIES; t++)
			for (i = 0; i < plan[t].nr_old; i++)
				if ((err = trie_write(&plan[t], i, &v)))
					goto out;
	}

	/* Rules and their counters, at positions no bitmap names yet. */
	rules_written = true;
	for (i = 0; i < n; i++) {
		struct sluice_acl_rule r = rule_compile(&rules[i]);
		struct sluice_acl_hits *h = zero_hits;

		for (j = 0; j < nr_oh; j++)
			if (oh[j].id == rules[i].id)
				h = oh[j].percpu;
		if (bpf_map_update_elem(maps->rules, &pos[i], &r, BPF_ANY) ||
		    bpf_map_update_elem(maps->hits, &pos[i], h, BPF_ANY)) {
			err = -errno;
			goto out;
		}
	}

	/*
	 * From here oldv holds what each key's entry holds, when it exists:
	 * writes that would not change it are skipped (syscalls dominate).
	 */
	if (disjoint) {
		/* Phase A: old | new everywhere. */
		for (t = 0; t < ACL_NR_TRIES; t++) {
			for (i = 0; i < plan[t].nr_keys; i++) {
				v = plan[t].oldv[i];
				bm_or(&v, &plan[t].newv[i]);
				if (i < plan[t].nr_old && bm_equal(&v, &plan[t].oldv[i]))
					continue;
				if ((err = trie_write(&plan[t], i, &v)))
					goto out;
				plan[t].oldv[i] = v;
			}
		}
	} else {
		memset(&v, 0, sizeof(v));
		for (t = 0; t < ACL_NR_TRIES; t++)
			for (i = 0; i < plan[t].nr_old; i++)
				plan[t].oldv[i] = v;
	}

	/* Phase B: new only; keys the new set does not name go. */
	for (t = 0; t < ACL_NR_TRIES; t++) {
		for (i = 0; i < plan[t].nr_keys; i++) {
			bool exists = disjoint || i < plan[t].nr_old;

			if (!plan[t].in_new[i])
				err = trie_delete(&plan[t], i);
			else if (!exists || !bm_equal(&plan[t].newv[i], &plan[t].oldv[i]))
				err = trie_write(&plan[t], i, &plan[t].newv[i]);
			if (err)
				goto out;
		}
	}
	if (bpf_map_update_elem(maps->live, &key0, &new_live, BPF_ANY)) {
		err = -errno;
		goto out;
	}
	rules_written = false;
out:
	/*
	 * Failed half way: bitmaps may name positions of either set, so the
	 * next apply must treat both as in use.
	 */
	if (err && rules_written) {
		bm_or(&new_live, &old_live);
		bpf_map_update_elem(maps->live, &key0, &new_live, BPF_ANY);
	}
	for (t = 0; t < ACL_NR_TRIES; t++)
		trie_plan_free(&plan[t]);
	old_hits_free(oh, nr_oh);
	free(zero_hits);
	free(pos);
	return err;
}

int acl__read_hits(const struct acl_maps *maps, struct acl_rule_hits *out, size_t max,
		   struct acl_rule_hits *dflt)
{
	struct sluice_acl_bitmap live;
	struct sluice_acl_hits *h;
	struct sluice_acl_rule rule;
	uint32_t key0 = 0, pos;
	int ncpu, c, err = 0;
	size_t cnt = 0;

	ncpu = libbpf_num_possible_cpus();
	if (ncpu < 0)
		return ncpu;
	h = calloc(ncpu, sizeof(*h));
	if (!h)
		return -ENOMEM;
	if (bpf_map_lookup_elem(maps->live, &key0, &live)) {
		err = -errno;
		goto out;
	}
	for (pos = 0; pos <= SLUICE_ACL_MAX_RULES; pos++) {
		struct acl_rule_hits sum = { .pos = pos };
		bool is_dflt = pos == ACL_HITS_DEFAULT;

		if (!is_dflt && !bm_test(&live, pos))
			continue;
		if (is_dflt && !dflt)
			break;
		if (bpf_map_lookup_elem(maps->hits, &pos, h) ||
		    (!is_dflt && bpf_map_lookup_elem(maps->rules, &pos, &rule))) {
			err = -errno;
			goto out;
		}
		for (c = 0; c < ncpu; c++) {
			sum.packets += h[c].packets;
			sum.bytes += h[c].bytes;
		}
		if (is_dflt) {
			*dflt = sum;
			break;
		}
		sum.id = rule.id;
		if (cnt < max)
			out[cnt] = sum;
		cnt++;
	}
out:
	free(h);
	return err ? err : (int)cnt;
}

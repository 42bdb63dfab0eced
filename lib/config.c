// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluiced configuration: libyaml's document API gives a node tree with marks;
 * we walk it once, building the owned tree and recording every error with the
 * position of the node at fault, then check what needs the whole tree
 * (cross references, limits). Errors are sorted into file order at the end so
 * the user reads them top to bottom.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <pwd.h>
#include <grp.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <linux/bpf.h>
#include <yaml.h>
#include "config.h"
#include "pipeline.h"

#define PATH_LEN 256

static const char *const builtin_stages[] = { CONFIG_BUILTIN_STAGES };

/* Rule ids seen in the pipeline being parsed: open addressing, id -> line. */
struct id_set {
	struct { uint32_t id; int line; bool used; } *v;
	size_t cap, nr;
};

struct parser {
	const char *file;	/* name in messages */
	char *dir;		/* base of relative object paths */
	yaml_document_t doc;
	struct config_errors *errs;
	size_t nr_errs;		/* errors this parse found */
	size_t cap_errs;	/* room in errs->v */
	struct id_set ids;
	bool nomem;
};

static bool streq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* ---- errors ---- */

static void err_add(struct parser *p, int line, int col, const char *path, const char *fmt, va_list ap)
{
	struct config_error *v;
	char *body = NULL, *msg = NULL;
	int ret;

	/*
	 * A file that is wrong everywhere (an alias repeats one mistake a
	 * million times) gets its first CONFIG_MAX_ERRORS errors and a count:
	 * the list is for a human, and building it must stay cheap.
	 */
	if (++p->nr_errs > CONFIG_MAX_ERRORS || !p->errs)
		return;
	if (vasprintf(&body, fmt, ap) < 0)
		goto nomem;
	if (line > 0)
		ret = asprintf(&msg, "%s:%d:%d: %s%s%s", p->file, line, col, path ? path : "",
			       path && *path ? ": " : "", body);
	else
		ret = asprintf(&msg, "%s: %s%s%s", p->file, path ? path : "", path && *path ? ": " : "",
			       body);
	free(body);
	if (ret < 0)
		goto nomem;
	if (p->errs->n + 1 > p->cap_errs) {
		size_t cap = p->errs->n + 16;

		v = realloc(p->errs->v, cap * sizeof(*v));
		if (!v) {
			free(msg);
			goto nomem;
		}
		p->errs->v = v;
		p->cap_errs = cap;
	}
	v = p->errs->v;
	v[p->errs->n++] = (struct config_error){ .msg = msg, .line = line, .col = col };
	return;
nomem:
	p->nomem = true;
}

__attribute__((format(printf, 4, 5)))
static void err_node(struct parser *p, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_add(p, n ? (int)n->start_mark.line + 1 : 0, n ? (int)n->start_mark.column + 1 : 0, path, fmt,
		ap);
	va_end(ap);
}

__attribute__((format(printf, 5, 6)))
static void err_at(struct parser *p, int line, int col, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err_add(p, line, col, path, fmt, ap);
	va_end(ap);
}

/* Paths longer than PATH_LEN are cut: they only label messages. */
__attribute__((format(printf, 2, 3)))
static char *subpath(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_LEN, fmt, ap);
	va_end(ap);
	return buf;
}

static char *xstrdup(struct parser *p, const char *s)
{
	char *d = s ? strdup(s) : NULL;

	if (s && !d)
		p->nomem = true;
	return d;
}

static void *xcalloc(struct parser *p, size_t n, size_t size)
{
	void *v = calloc(n ? n : 1, size);

	if (!v)
		p->nomem = true;
	return v;
}

/* ---- nodes ---- */

static yaml_node_t *node(struct parser *p, int id)
{
	return yaml_document_get_node(&p->doc, id);
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static bool is_plain(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_null(const yaml_node_t *n)
{
	const char *s;

	if (!is_plain(n))
		return false;
	s = scalar(n);
	return !*s || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

static size_t seq_len(const yaml_node_t *n)
{
	return n->data.sequence.items.top - n->data.sequence.items.start;
}

static yaml_node_t *seq_at(struct parser *p, const yaml_node_t *n, size_t i)
{
	return node(p, n->data.sequence.items.start[i]);
}

/* How a node looks to a user who expected something else. */
static const char *describe(const yaml_node_t *n, char *buf, size_t len)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (is_null(n))
			return "null";
		snprintf(buf, len, "\"%.40s%s\"", scalar(n), strlen(scalar(n)) > 40 ? "..." : "");
		return buf;
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static void err_type(struct parser *p, const yaml_node_t *n, const char *path, const char *want)
{
	char buf[64];

	err_node(p, n, path, "expected %s, got %s", want, describe(n, buf, sizeof(buf)));
}

/*
 * A mapping's keys, checked against what the section allows. Unknown and
 * duplicate keys are reported here, missing required ones too.
 */
struct field {
	const char *key;
	bool required;
	yaml_node_t *val;	/* out: NULL if absent (or null) */
	bool seen;		/* out: the key is there, maybe null */
};

static bool fields_get(struct parser *p, yaml_node_t *map, const char *path, struct field *f, size_t nr)
{
	yaml_node_pair_t *pair;
	char sub[PATH_LEN];
	size_t i;

	for (i = 0; i < nr; i++) {
		f[i].val = NULL;
		f[i].seen = false;
	}
	if (map->type != YAML_MAPPING_NODE) {
		err_type(p, map, path, "a mapping");
		return false;
	}
	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(p, pair->key), *v = node(p, pair->value);
		yaml_node_pair_t *prev;

		if (k->type != YAML_SCALAR_NODE) {
			err_node(p, k, path, "keys must be scalars");
			continue;
		}
		subpath(sub, "%s%s%s", path, *path ? "." : "", scalar(k));
		for (prev = map->data.mapping.pairs.start; prev < pair; prev++) {
			yaml_node_t *pk = node(p, prev->key);

			if (pk->type == YAML_SCALAR_NODE && streq(scalar(pk), scalar(k))) {
				err_node(p, k, sub, "duplicate key (first at line %d)",
					 (int)pk->start_mark.line + 1);
				break;
			}
		}
		if (prev < pair)
			continue;
		for (i = 0; i < nr; i++)
			if (streq(f[i].key, scalar(k)))
				break;
		if (i == nr) {
			char allowed[PATH_LEN] = "";
			size_t j;

			for (j = 0; j < nr; j++)
				snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s",
					 j ? ", " : "", f[j].key);
			/* { tcp_flags: syn/syn,ack } reads as a key "ack": say why. */
			err_node(p, k, sub, "unknown key; allowed: %s%s", allowed,
				 map->data.mapping.style == YAML_FLOW_MAPPING_STYLE && is_null(v) ?
				 " (a comma inside { } ends the value: quote values that contain commas)" : "");
			continue;
		}
		f[i].seen = true;
		f[i].val = is_null(v) ? NULL : v;
		if (!f[i].val && f[i].required)
			err_node(p, v, sub, "required key has no value");
	}
	for (i = 0; i < nr; i++)
		if (f[i].required && !f[i].seen)
			err_node(p, map, path, "missing required key \"%s\"", f[i].key);
	return true;
}

static struct field *field(struct field *f, size_t nr, const char *key)
{
	size_t i;

	for (i = 0; i < nr; i++)
		if (streq(f[i].key, key))
			return &f[i];
	return NULL;
}

#define FIELD(fs, key) (field(fs, sizeof(fs) / sizeof(fs[0]), key)->val)

/* ---- scalars ---- */

static bool get_str(struct parser *p, yaml_node_t *n, const char *path, char **out)
{
	if (n->type != YAML_SCALAR_NODE) {
		err_type(p, n, path, "a string");
		return false;
	}
	free(*out);
	*out = xstrdup(p, scalar(n));
	return *out != NULL;
}

/* YAML 1.2 core integers: decimal, 0x hex, 0o octal; quoted is a string. */
static bool parse_int(const yaml_node_t *n, int64_t *out)
{
	const char *s = scalar(n);
	char *end;
	int base = 10;
	bool neg = false;
	unsigned long long v;

	if (!is_plain(n) || !*s)
		return false;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	} else if (s[0] == '0' && s[1] == 'o') {
		base = 8;
		s += 2;
	}
	if (!*s || *s == '-' || *s == '+' || *s == ' ')
		return false;
	errno = 0;
	v = strtoull(s, &end, base);
	if (*end || errno || v > (unsigned long long)INT64_MAX)
		return false;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return true;
}

static bool get_int(struct parser *p, yaml_node_t *n, const char *path, int64_t min, int64_t max,
		    int64_t *out)
{
	int64_t v;

	if (n->type != YAML_SCALAR_NODE || !parse_int(n, &v)) {
		err_type(p, n, path, "an integer");
		return false;
	}
	if (v < min || v > max) {
		err_node(p, n, path, "%lld is out of range [%lld, %lld]", (long long)v, (long long)min,
			 (long long)max);
		return false;
	}
	*out = v;
	return true;
}

static bool get_u32(struct parser *p, yaml_node_t *n, const char *path, uint32_t min, uint32_t max,
		    uint32_t *out)
{
	int64_t v;

	if (!get_int(p, n, path, min, max, &v))
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool get_u64(struct parser *p, yaml_node_t *n, const char *path, uint64_t *out)
{
	int64_t v;

	if (!get_int(p, n, path, 0, INT64_MAX, &v))
		return false;
	*out = (uint64_t)v;
	return true;
}

static bool parse_bool(const yaml_node_t *n, bool *out)
{
	static const char *const t[] = { "true", "yes", "on" }, *const f[] = { "false", "no", "off" };
	size_t i;

	if (!is_plain(n))
		return false;
	for (i = 0; i < 3; i++) {
		if (!strcasecmp(scalar(n), t[i]) || !strcasecmp(scalar(n), f[i])) {
			*out = !strcasecmp(scalar(n), t[i]);
			return true;
		}
	}
	return false;
}

struct name_val {
	const char *name;
	int val;
};

static bool get_enum(struct parser *p, yaml_node_t *n, const char *path, const char *what,
		     const struct name_val *nv, size_t nr, int *out)
{
	char allowed[PATH_LEN] = "", buf[64];
	size_t i;

	if (n->type == YAML_SCALAR_NODE) {
		for (i = 0; i < nr; i++) {
			if (streq(scalar(n), nv[i].name)) {
				*out = nv[i].val;
				return true;
			}
		}
	}
	for (i = 0; i < nr; i++)
		snprintf(allowed + strlen(allowed), sizeof(allowed) - strlen(allowed), "%s%s", i ? ", " : "",
			 nv[i].name);
	err_node(p, n, path, "unknown %s %s; allowed: %s", what, describe(n, buf, sizeof(buf)), allowed);
	return false;
}

#define GET_ENUM(p, n, path, what, table, out) \
	get_enum(p, n, path, what, table, sizeof(table) / sizeof(table[0]), out)

/* What a pipeline may do with a packet that meets an empty slot. */
static const struct name_val default_verdicts[] = {
	{ "pass", XDP_PASS }, { "drop", XDP_DROP }, { "aborted", XDP_ABORTED }, { "tx", XDP_TX },
};

/* Every verdict a stage may return (an xsk stage redirects). */
static const struct name_val verdicts[] = {
	{ "pass", XDP_PASS }, { "drop", XDP_DROP }, { "aborted", XDP_ABORTED }, { "tx", XDP_TX },
	{ "redirect", XDP_REDIRECT },
};

const char *config__verdict_name(int verdict)
{
	size_t i;

	for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (verdicts[i].val == verdict)
			return verdicts[i].name;
	return NULL;
}

static bool valid_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= CONFIG_NAME_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static bool get_name(struct parser *p, yaml_node_t *n, const char *path, char **out)
{
	if (!get_str(p, n, path, out))
		return false;
	if (!valid_name(*out)) {
		err_node(p, n, path, "invalid name \"%s\": use 1 to %d of [a-z0-9_-]", *out, CONFIG_NAME_MAX);
		return false;
	}
	return true;
}

/* ---- ACL rules ---- */

static const struct name_val acl_actions[] = {
	{ "pass", SLUICE_ACL_PASS }, { "drop", SLUICE_ACL_DROP }, { "xsk", SLUICE_ACL_XSK },
	{ "count", SLUICE_ACL_COUNT },
};

static const struct name_val protos[] = {
	{ "any", 0 }, { "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP }, { "icmp", IPPROTO_ICMP },
	{ "icmpv6", IPPROTO_ICMPV6 }, { "sctp", IPPROTO_SCTP }, { "gre", IPPROTO_GRE },
	{ "esp", IPPROTO_ESP },
};

static const struct name_val tcp_flag_names[] = {
	{ "fin", 0x01 }, { "syn", 0x02 }, { "rst", 0x04 }, { "psh", 0x08 },
	{ "ack", 0x10 }, { "urg", 0x20 }, { "ece", 0x40 }, { "cwr", 0x80 },
};

static bool get_proto(struct parser *p, yaml_node_t *n, const char *path, uint8_t *out)
{
	int64_t v;
	int e;

	if (n->type == YAML_SCALAR_NODE && parse_int(n, &v)) {
		if (v < 0 || v > 255) {
			err_node(p, n, path, "protocol %lld is out of range [0, 255]", (long long)v);
			return false;
		}
		*out = (uint8_t)v;
		return true;
	}
	if (!GET_ENUM(p, n, path, "protocol", protos, &e))
		return false;
	*out = (uint8_t)e;
	return true;
}

/*
 * acl_prefix_parse() only says no: tell the user which part of "addr/len"
 * is wrong.
 */
static const char *prefix_why(const char *text, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	uint8_t a[16];
	int max;

	if (alen >= sizeof(addr))
		return "not an IPv4 or IPv6 address";
	memcpy(addr, text, alen);
	addr[alen] = 0;
	if (inet_pton(AF_INET, addr, a) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		max = 128;
	else
		return "not an IPv4 or IPv6 address";
	if (!slash || strspn(slash + 1, "0123456789") != strlen(slash + 1) || !slash[1] ||
	    strlen(slash + 1) > 3 || atoi(slash + 1) > max) {
		snprintf(buf, len, "prefix length must be 0..%d", max);
		return buf;
	}
	snprintf(buf, len, "host bits set beyond /%s", slash + 1);
	return buf;
}

static bool get_prefixes(struct parser *p, yaml_node_t *n, const char *path, struct acl_prefix **out,
			 size_t *nr)
{
	char sub[PATH_LEN], why[64];
	bool list = n->type == YAML_SEQUENCE_NODE, ok = true;
	size_t i, cnt = list ? seq_len(n) : 1;

	*out = xcalloc(p, cnt, sizeof(**out));
	if (!*out)
		return false;
	*nr = 0;
	for (i = 0; i < cnt; i++) {
		yaml_node_t *e = list ? seq_at(p, n, i) : n;

		if (list)
			subpath(sub, "%s[%zu]", path, i);
		else
			subpath(sub, "%s", path);
		if (e->type != YAML_SCALAR_NODE) {
			err_type(p, e, sub, list ? "a prefix" : "a prefix or a list of prefixes");
			ok = false;
			continue;
		}
		if (acl_prefix_parse(scalar(e), &(*out)[*nr])) {
			err_node(p, e, sub, "bad prefix \"%s\": %s", scalar(e),
				 prefix_why(scalar(e), why, sizeof(why)));
			ok = false;
			continue;
		}
		(*nr)++;
	}
	if (list && !cnt) {
		err_node(p, n, path, "empty list: omit the key to match any address");
		ok = false;
	}
	return ok;
}

/* "22", "1024-65535" or "any". */
static bool get_ports(struct parser *p, yaml_node_t *n, const char *path, uint16_t *lo, uint16_t *hi)
{
	const char *s;
	char *end;
	long a, b;
	int64_t v;

	if (n->type == YAML_SCALAR_NODE && parse_int(n, &v)) {
		if (v < 0 || v > 65535)
			goto range;
		*lo = *hi = (uint16_t)v;
		return true;
	}
	if (n->type != YAML_SCALAR_NODE)
		goto bad;
	s = scalar(n);
	if (streq(s, "any")) {
		*lo = 0;
		*hi = 65535;
		return true;
	}
	errno = 0;
	a = strtol(s, &end, 10);
	if (end == s || *end != '-' || errno)
		goto bad;
	s = end + 1;
	b = strtol(s, &end, 10);
	if (end == s || *end || errno)
		goto bad;
	if (a < 0 || b > 65535 || a > 65535 || b < 0)
		goto range;
	if (a > b) {
		err_node(p, n, path, "bad port range \"%s\": %ld > %ld", scalar(n), a, b);
		return false;
	}
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return true;
range:
	err_node(p, n, path, "bad port range \"%s\": ports are 0..65535", scalar(n));
	return false;
bad:
	err_type(p, n, path, "a port, a range LO-HI or \"any\"");
	return false;
}

static bool parse_flag_list(const char *s, size_t len, uint8_t *out)
{
	*out = 0;
	while (len) {
		size_t w = strcspn(s, ","), i;

		if (w > len)
			w = len;
		for (i = 0; i < sizeof(tcp_flag_names) / sizeof(tcp_flag_names[0]); i++)
			if (strlen(tcp_flag_names[i].name) == w && !strncasecmp(s, tcp_flag_names[i].name, w))
				break;
		if (i == sizeof(tcp_flag_names) / sizeof(tcp_flag_names[0]))
			return false;
		*out |= tcp_flag_names[i].val;
		s += w;
		len -= w;
		if (len) {
			s++;
			len--;
			if (!len)
				return false;
		}
	}
	return true;
}

/* "VALUE/MASK" as in pf: "syn/syn,ack" is SYN set and ACK clear; "syn" alone means "syn/syn". */
static bool get_tcp_flags(struct parser *p, yaml_node_t *n, const char *path, uint8_t *value,
			  uint8_t *mask)
{
	const char *s, *slash;

	if (n->type != YAML_SCALAR_NODE)
		goto bad;
	s = scalar(n);
	slash = strchr(s, '/');
	if (!parse_flag_list(s, slash ? (size_t)(slash - s) : strlen(s), value) || !*value)
		goto bad;
	*mask = *value;
	if (slash && (!parse_flag_list(slash + 1, strlen(slash + 1), mask) || !*mask))
		goto bad;
	if (*value & ~*mask) {
		err_node(p, n, path, "bad tcp_flags \"%s\": the value names flags the mask does not", s);
		return false;
	}
	return true;
bad:
	err_type(p, n, path, "TCP flags VALUE/MASK such as \"syn/syn,ack\" (fin syn rst psh ack urg ece cwr)");
	return false;
}

static bool prefixes_have(const struct acl_prefix *v, size_t n, int family)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i].family == family)
			return true;
	return false;
}

/*
 * Fields added for firewall users take the text syntax of `sluicectl rule
 * add` (acl_rule_set()), so the two can never disagree.
 */
static void rule_set_text(struct parser *p, yaml_node_t *v, const char *path, const char *key,
			  struct acl_rule_spec *r)
{
	char err[160];

	if (v->type != YAML_SCALAR_NODE) {
		err_type(p, v, path, "a scalar in the syntax of `sluicectl rule add`");
		return;
	}
	if (acl_rule_set(r, key, scalar(v), err, sizeof(err)))
		err_node(p, v, path, "%s", err);
}

static void rule_parse(struct parser *p, yaml_node_t *n, const char *path, struct acl_rule_spec *r,
		       yaml_node_t **idn)
{
	static const char *const text_keys[] = {
		"src_mac", "dst_mac", "vlan", "icmp_type", "icmp_code",
	};
	struct field f[] = {
		{ "id", true }, { "action", true }, { "proto" }, { "src" }, { "dst" },
		{ "sport" }, { "dport" }, { "tcp_flags" }, { "family" },
		{ "src_mac" }, { "dst_mac" }, { "vlan" }, { "arp_sender" }, { "arp_target" },
		{ "icmp_type" }, { "icmp_code" }, { "nd_target" },
	};
	size_t errs = p->nr_errs;
	const char *bad_key;
	char sub[PATH_LEN], why[160];
	yaml_node_t *v;
	int64_t i64;
	int e;

	r->sport_hi = r->dport_hi = 65535;
	if (!fields_get(p, n, path, f, sizeof(f) / sizeof(f[0])))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "id")) && get_int(p, v, SUB("id"), 0, UINT32_MAX, &i64)) {
		r->id = (uint32_t)i64;
		*idn = v;
	}
	if ((v = FIELD(f, "action")) && GET_ENUM(p, v, SUB("action"), "action", acl_actions, &e))
		r->action = e;
	if ((v = FIELD(f, "proto"))) {
		if (v->type == YAML_SCALAR_NODE && !strcasecmp(scalar(v), "arp"))
			r->arp = true;
		else
			get_proto(p, v, SUB("proto"), &r->proto);
	}
	if ((v = FIELD(f, "family"))) {
		static const struct name_val fam[] = { { "4", AF_INET }, { "6", AF_INET6 }, { "any", 0 } };

		if (GET_ENUM(p, v, SUB("family"), "family", fam, &e))
			r->family = e;
	}
	if ((v = FIELD(f, "src")))
		get_prefixes(p, v, SUB("src"), &r->src, &r->nr_src);
	if ((v = FIELD(f, "dst")))
		get_prefixes(p, v, SUB("dst"), &r->dst, &r->nr_dst);
	if ((v = FIELD(f, "arp_sender")))
		get_prefixes(p, v, SUB("arp_sender"), &r->arp_sender, &r->nr_arp_sender);
	if ((v = FIELD(f, "arp_target")))
		get_prefixes(p, v, SUB("arp_target"), &r->arp_target, &r->nr_arp_target);
	if ((v = FIELD(f, "nd_target")))
		get_prefixes(p, v, SUB("nd_target"), &r->nd_target, &r->nr_nd_target);
	if ((v = FIELD(f, "sport")))
		get_ports(p, v, SUB("sport"), &r->sport_lo, &r->sport_hi);
	if ((v = FIELD(f, "dport")))
		get_ports(p, v, SUB("dport"), &r->dport_lo, &r->dport_hi);
	/* After proto: ICMP names resolve in its family. */
	for (size_t i = 0; i < sizeof(text_keys) / sizeof(text_keys[0]); i++)
		if ((v = FIELD(f, text_keys[i])))
			rule_set_text(p, v, SUB(text_keys[i]), text_keys[i], r);
	if ((v = FIELD(f, "tcp_flags")) &&
	    get_tcp_flags(p, v, SUB("tcp_flags"), &r->tcp_flags_value, &r->tcp_flags_mask) &&
	    r->proto != IPPROTO_TCP)
		err_node(p, v, sub, "tcp_flags needs proto: tcp");
	if ((FIELD(f, "sport") || FIELD(f, "dport")) && r->proto != 0 && r->proto != IPPROTO_TCP &&
	    r->proto != IPPROTO_UDP && r->proto != IPPROTO_SCTP)
		err_node(p, FIELD(f, "proto"), SUB("proto"), "ports need proto tcp, udp or sctp");
	if ((r->proto == IPPROTO_ICMP && r->family == AF_INET6) ||
	    (r->proto == IPPROTO_ICMPV6 && r->family == AF_INET))
		err_node(p, FIELD(f, "proto"), SUB("proto"), "protocol does not exist in family %d",
			 r->family == AF_INET ? 4 : 6);
	/* A family every prefix list must offer, or the rule can never match. */
	for (e = AF_INET; e; e = e == AF_INET ? AF_INET6 : 0) {
		if (r->family && r->family != e)
			continue;
		if ((!r->nr_src || prefixes_have(r->src, r->nr_src, e)) &&
		    (!r->nr_dst || prefixes_have(r->dst, r->nr_dst, e)))
			break;
	}
	if (!e && (r->nr_src || r->nr_dst))
		err_node(p, n, path, "rule %u can never match: its prefixes share no address family%s",
			 r->id, r->family ? " with its family" : "");
	/*
	 * What the checks above do not cover (the fields of ARP, ICMP, ND,
	 * MAC and VLAN rules together), as the stage's compiler checks it,
	 * pointed at the key at fault.
	 */
	if (p->nr_errs == errs && acl_rule_check_key(r, why, sizeof(why), &bad_key)) {
		const char *msg = why;
		size_t d = strspn(why + 5, "0123456789");

		/* "rule N: " says what the path says already */
		if (!strncmp(why, "rule ", 5) && d && !strncmp(why + 5 + d, ": ", 2))
			msg = why + 5 + d + 2;
		v = bad_key ? FIELD(f, bad_key) : NULL;
		if (v)
			err_node(p, v, SUB(bad_key), "%s", msg);
		else
			err_node(p, n, path, "%s", msg);
	}
#undef SUB
}

/* ---- stage tests ---- */

static bool get_addr(struct parser *p, yaml_node_t *n, const char *path, int *family, void *addr)
{
	if (n->type == YAML_SCALAR_NODE) {
		if (inet_pton(AF_INET, scalar(n), addr) == 1) {
			*family = AF_INET;
			return true;
		}
		if (inet_pton(AF_INET6, scalar(n), addr) == 1) {
			*family = AF_INET6;
			return true;
		}
	}
	err_type(p, n, path, "an IPv4 or IPv6 address");
	return false;
}

static void packet_parse(struct parser *p, yaml_node_t *n, const char *path, struct pkt_spec *s)
{
	struct field f[] = {
		{ "proto" }, { "src" }, { "dst" }, { "sport" }, { "dport" }, { "vlan" },
		{ "len" }, { "tcp_flags" }, { "ttl" },
	};
	char sub[PATH_LEN];
	int fam_src = 0, fam_dst = 0;
	uint8_t addr[16], mask;
	yaml_node_t *v;
	uint32_t u;
	size_t i;

	pkt_spec_default(s);
	if (!fields_get(p, n, path, f, sizeof(f) / sizeof(f[0])))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "proto")))
		get_proto(p, v, SUB("proto"), &s->proto);
	if ((v = FIELD(f, "src")) && get_addr(p, v, SUB("src"), &fam_src, addr))
		memcpy(fam_src == AF_INET ? (void *)&s->src4 : (void *)&s->src6, addr,
		       fam_src == AF_INET ? 4 : 16);
	if ((v = FIELD(f, "dst")) && get_addr(p, v, SUB("dst"), &fam_dst, addr))
		memcpy(fam_dst == AF_INET ? (void *)&s->dst4 : (void *)&s->dst6, addr,
		       fam_dst == AF_INET ? 4 : 16);
	if (fam_src && fam_dst && fam_src != fam_dst)
		err_node(p, FIELD(f, "dst"), SUB("dst"), "src and dst are of different address families");
	s->family = fam_src ? fam_src : fam_dst ? fam_dst : AF_INET;
	if (s->proto == IPPROTO_ICMP && s->family == AF_INET6)
		s->proto = IPPROTO_ICMPV6;
	if ((v = FIELD(f, "sport")) && get_u32(p, v, SUB("sport"), 0, 65535, &u))
		s->sport = (uint16_t)u;
	if ((v = FIELD(f, "dport")) && get_u32(p, v, SUB("dport"), 0, 65535, &u))
		s->dport = (uint16_t)u;
	if ((v = FIELD(f, "ttl")) && get_u32(p, v, SUB("ttl"), 1, 255, &u))
		s->ttl = (uint8_t)u;
	if ((v = FIELD(f, "len")) && get_u32(p, v, SUB("len"), 14, 1514, &u))
		s->frame_len = u;
	if ((v = FIELD(f, "tcp_flags")) && get_tcp_flags(p, v, SUB("tcp_flags"), &s->tcp_flags, &mask) &&
	    s->proto != IPPROTO_TCP)
		err_node(p, v, sub, "tcp_flags needs proto: tcp");
	if ((v = FIELD(f, "vlan"))) {
		/* One id, or [outer, inner] for QinQ. */
		bool list = v->type == YAML_SEQUENCE_NODE;
		size_t cnt = list ? seq_len(v) : 1;

		if (cnt < 1 || cnt > 2) {
			err_node(p, v, SUB("vlan"), "expected one VLAN id or a list of two, got %zu", cnt);
		} else {
			for (i = 0; i < cnt; i++) {
				char vsub[PATH_LEN];

				subpath(vsub, list ? "%s.vlan[%zu]" : "%s.vlan", path, i);
				if (get_u32(p, list ? seq_at(p, v, i) : v, vsub, 0, 4095, &u))
					s->vlan_id[i] = (uint16_t)u;
			}
			s->vlans = (int)cnt;
		}
	}
#undef SUB
}

static void test_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_test *t)
{
	struct field f[] = { { "packet", true }, { "expect", true } };
	char sub[PATH_LEN];
	yaml_node_t *v;

	t->line = (int)n->start_mark.line + 1;
	t->col = (int)n->start_mark.column + 1;
	pkt_spec_default(&t->pkt);
	if (!fields_get(p, n, path, f, 2))
		return;
	if ((v = FIELD(f, "packet"))) {
		subpath(sub, "%s.packet", path);
		packet_parse(p, v, sub, &t->pkt);
	}
	if ((v = FIELD(f, "expect"))) {
		subpath(sub, "%s.expect", path);
		GET_ENUM(p, v, sub, "verdict", verdicts, &t->expect);
	}
}

/* ---- stages ---- */

static void rollback_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_auto_rollback *ar)
{
	struct field f[] = { { "window_ms" }, { "max_aborted" }, { "max_missed" }, { "max_drop_ratio" } };
	char sub[PATH_LEN];
	yaml_node_t *v;

	ar->enabled = true;
	ar->window_ms = 2000;
	ar->max_drop_ratio = 1.0;
	if (!fields_get(p, n, path, f, 4))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "window_ms")))
		get_u32(p, v, SUB("window_ms"), 1, 3600 * 1000, &ar->window_ms);
	if ((v = FIELD(f, "max_aborted")))
		get_u64(p, v, SUB("max_aborted"), &ar->max_aborted);
	if ((v = FIELD(f, "max_missed")))
		get_u64(p, v, SUB("max_missed"), &ar->max_missed);
	if ((v = FIELD(f, "max_drop_ratio"))) {
		char *end = NULL;
		double d = NAN;

		if (is_plain(v)) {
			errno = 0;
			d = strtod(scalar(v), &end);
		}
		if (!end || end == scalar(v) || *end || errno || !isfinite(d))
			err_type(p, v, SUB("max_drop_ratio"), "a number");
		else if (d < 0 || d > 1)
			err_node(p, v, SUB("max_drop_ratio"), "%g is out of range [0, 1]", d);
		else
			ar->max_drop_ratio = d;
	}
#undef SUB
}

/*
 * The parameters of the built-in stages: their .rodata variables (bpf/STAGE.h),
 * each a __u32, and the values that mean something to the stage. A value
 * outside would be cut to 32 bits at load, or mean nothing.
 */
enum bp_kind { BP_BOOL, BP_U32, BP_VERDICT };

static const struct builtin_param {
	const char *stage, *name;
	enum bp_kind kind;
	int64_t min, max;
} builtin_params[] = {
	{ "parse", "drop_malformed", BP_BOOL, 0, 1 },
	{ "acl", "default_action", BP_VERDICT, XDP_ABORTED, XDP_TX },
	{ "ratelimit", "rate_pps", BP_U32, 0, UINT32_MAX },
	{ "ratelimit", "burst", BP_U32, 0, UINT32_MAX },
	{ "ratelimit", "over_action", BP_VERDICT, XDP_ABORTED, XDP_TX },
	{ "xsk", "all", BP_BOOL, 0, 1 },
	{ "xsk", "fallback", BP_VERDICT, XDP_DROP, XDP_TX },
	{ "verdict", "verdict", BP_VERDICT, XDP_ABORTED, XDP_REDIRECT },
};

static void verdict_names(int64_t min, int64_t max, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int64_t v = min; v <= max && off < len; v++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
					config__verdict_name((int)v));
}

int config__builtin_param_check(const char *object, const char *name, int64_t value, char *err,
				size_t len)
{
	char names[PATH_LEN] = "";
	bool stage_known = false;
	size_t i;

	for (i = 0; i < sizeof(builtin_stages) / sizeof(builtin_stages[0]); i++)
		stage_known |= streq(builtin_stages[i], object);
	if (!stage_known)
		return 0;	/* a user object: its variables are known at load */
	for (i = 0; i < sizeof(builtin_params) / sizeof(builtin_params[0]); i++) {
		const struct builtin_param *bp = &builtin_params[i];

		if (!streq(bp->stage, object))
			continue;
		if (!streq(bp->name, name)) {
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
				 *names ? ", " : "", bp->name);
			continue;
		}
		if (value >= bp->min && value <= bp->max)
			return 0;
		if (bp->kind == BP_BOOL) {
			snprintf(err, len, "%lld is no boolean: use true or false", (long long)value);
		} else if (bp->kind == BP_VERDICT) {
			char vn[PATH_LEN];

			verdict_names(bp->min, bp->max, vn, sizeof(vn));
			snprintf(err, len, "%lld is no verdict %s takes; use %s", (long long)value, name, vn);
		} else {
			snprintf(err, len, "%lld is out of range [%lld, %lld] (a 32-bit variable)",
				 (long long)value, (long long)bp->min, (long long)bp->max);
		}
		return -ERANGE;
	}
	snprintf(err, len, "built-in stage \"%s\" has no parameter \"%s\"; %s%s", object, name,
		 *names ? "its parameters: " : "it takes none", names);
	return -ENOENT;
}

static void params_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_stage *st)
{
	yaml_node_pair_t *pair;
	char sub[PATH_LEN];

	if (n->type != YAML_MAPPING_NODE) {
		err_type(p, n, path, "a mapping of variable: value");
		return;
	}
	st->params = xcalloc(p, n->data.mapping.pairs.top - n->data.mapping.pairs.start, sizeof(*st->params));
	if (!st->params)
		return;
	for (pair = n->data.mapping.pairs.start; pair < n->data.mapping.pairs.top; pair++) {
		yaml_node_t *k = node(p, pair->key), *v = node(p, pair->value);
		struct cfg_param *prm = &st->params[st->nr_params];
		const char *name;
		bool b;
		int e;
		size_t i;

		if (k->type != YAML_SCALAR_NODE) {
			err_node(p, k, path, "keys must be scalars");
			continue;
		}
		name = scalar(k);
		subpath(sub, "%s.%s", path, name);
		if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
				      strlen(name) || (name[0] >= '0' && name[0] <= '9')) {
			err_node(p, k, sub, "not a C variable name");
			continue;
		}
		if (strlen(name) >= sizeof(((struct stage_param *)0)->name)) {
			err_node(p, k, sub, "name longer than %zu bytes",
				 sizeof(((struct stage_param *)0)->name) - 1);
			continue;
		}
		if (st->nr_params == STAGE_MAX_PARAMS) {
			err_node(p, k, sub, "more than %d parameters", STAGE_MAX_PARAMS);
			break;
		}
		for (i = 0; i < st->nr_params; i++)
			if (streq(st->params[i].name, name))
				break;
		if (i < st->nr_params) {
			err_node(p, k, sub, "duplicate key (first at line %d)", st->params[i].line);
			continue;
		}
		if (v->type != YAML_SCALAR_NODE || is_null(v)) {
			err_type(p, v, sub, "an integer, a boolean or a verdict name");
			continue;
		}
		if (parse_int(v, &prm->value)) {
		} else if (parse_bool(v, &b)) {
			prm->value = b;
		} else {
			for (e = 0; e < (int)(sizeof(verdicts) / sizeof(verdicts[0])); e++)
				if (streq(scalar(v), verdicts[e].name))
					break;
			if (e == (int)(sizeof(verdicts) / sizeof(verdicts[0]))) {
				err_node(p, v, sub, "expected an integer, got \"%s\" (a boolean or a verdict name also do)",
					 scalar(v));
				continue;
			}
			prm->value = verdicts[e].val;
		}
		if (st->builtin) {
			char why[PATH_LEN];
			int r = config__builtin_param_check(st->object, name, prm->value, why, sizeof(why));

			if (r) {
				err_node(p, r == -ENOENT ? k : v, sub, "%s", why);
				continue;
			}
		}
		prm->name = xstrdup(p, name);
		prm->line = (int)k->start_mark.line + 1;
		prm->col = (int)k->start_mark.column + 1;
		st->nr_params++;
	}
}

static bool is_builtin(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(builtin_stages) / sizeof(builtin_stages[0]); i++)
		if (streq(builtin_stages[i], name))
			return true;
	return false;
}

/* An absolute path from a configuration's relative one, folded lexically (symlinks are refused anyway). */
static char *abs_path(struct parser *p, const char *obj)
{
	char cwd[PATH_MAX], *full = NULL, *out, *q, *end;
	size_t l;

	if (obj[0] == '/') {
		full = strdup(obj);
	} else if (p->dir[0] == '/') {
		if (asprintf(&full, "%s/%s", p->dir, obj) < 0)
			full = NULL;
	} else if (getcwd(cwd, sizeof(cwd))) {
		if (asprintf(&full, "%s/%s/%s", cwd, p->dir, obj) < 0)
			full = NULL;
	}
	if (!full) {
		p->nomem = true;
		return NULL;
	}
	/* Drop "." and empty components, fold "..". */
	out = full;
	for (q = full; *q;) {
		while (*q == '/')
			q++;
		end = strchrnul(q, '/');
		l = (size_t)(end - q);
		if (!l || (l == 1 && q[0] == '.')) {
		} else if (l == 2 && q[0] == '.' && q[1] == '.') {
			while (out > full && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, q, l);
			out += l;
		}
		q = end;
	}
	if (out == full)
		*out++ = '/';
	*out = '\0';
	return full;
}

static void object_resolve(struct parser *p, yaml_node_t *n, const char *path, struct cfg_stage *st,
			   const struct sluice_config *cfg)
{
	struct trust_policy pol = { .owner = cfg->trust.owner, .stage_dir = cfg->trust.stage_dir };
	struct trust_pin pin;
	char *full, why[1024];
	const char *obj;
	int fd;

	if (!get_str(p, n, path, &st->object))
		return;
	obj = st->object;
	if (is_builtin(obj)) {
		st->builtin = true;
		return;
	}
	full = abs_path(p, obj);
	if (!full)
		return;
	if (st->has_sha256) {
		pin.path = full;
		memcpy(pin.sha256, st->sha256, sizeof(pin.sha256));
		pol.pins = &pin;
		pol.nr_pins = 1;
	}
	/* What sluiced will open, checked the way it will open it. */
	fd = trust__open_with(&pol, full, TRUST_OBJECT, NULL, why, sizeof(why));
	if (fd == -ENOENT) {
		char names[PATH_LEN] = "";
		size_t i;

		for (i = 0; i < sizeof(builtin_stages) / sizeof(builtin_stages[0]); i++)
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? " " : "",
				 builtin_stages[i]);
		err_node(p, n, path, "object \"%s\" is not a built-in stage (%s) and %s does not exist", obj,
			 names, full);
		free(full);
		return;
	}
	if (fd < 0 || trust__check_elf(fd, full, why, sizeof(why)) == -EBADMSG) {
		err_node(p, n, path, "%s", why);
		if (fd >= 0)
			close(fd);
		free(full);
		return;
	}
	close(fd);
	free(st->object);
	st->object = full;
}

/* Rule ids name rules in counters and commands: unique across the pipeline. */
/* Adds id to the set; 0, or the line it was first seen at. */
static int id_set_add(struct parser *p, uint32_t id, int line)
{
	struct id_set *s = &p->ids;
	size_t i;

	if (2 * (s->nr + 1) > s->cap) {
		struct id_set n = { .cap = s->cap ? 2 * s->cap : 64 };

		n.v = calloc(n.cap, sizeof(*n.v));
		if (!n.v) {
			p->nomem = true;
			return 0;
		}
		for (i = 0; i < s->cap; i++) {
			size_t j;

			if (!s->v[i].used)
				continue;
			for (j = (s->v[i].id * 2654435761u) & (n.cap - 1); n.v[j].used; j = (j + 1) & (n.cap - 1))
				;
			n.v[j] = s->v[i];
			n.nr++;
		}
		free(s->v);
		*s = n;
	}
	for (i = (id * 2654435761u) & (s->cap - 1); s->v[i].used; i = (i + 1) & (s->cap - 1))
		if (s->v[i].id == id)
			return s->v[i].line;
	s->v[i].used = true;
	s->v[i].id = id;
	s->v[i].line = line;
	s->nr++;
	return 0;
}

/* Rule ids name rules in counters and commands: unique across the pipeline. */
static void rule_check_id(struct parser *p, yaml_node_t *idn, const char *path,
			  const struct cfg_pipeline *pl, const struct cfg_stage *st, size_t idx)
{
	int first = id_set_add(p, st->rules[idx].id, st->rule_lines[idx]);

	if (first)
		err_node(p, idn, path, "duplicate rule id %u in pipeline \"%s\" (first at line %d)",
			 st->rules[idx].id, pl->name ? pl->name : "?", first);
}

static void stage_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_stage *st,
			struct cfg_pipeline *pl, const struct sluice_config *cfg)
{
	struct field f[] = {
		{ "name", true }, { "object", true }, { "program" }, { "tail_calls" }, { "params" },
		{ "rules" }, { "tests" }, { "auto_rollback" }, { "sha256" },
	};
	char sub[PATH_LEN];
	yaml_node_t *v;
	size_t i;

	st->line = (int)n->start_mark.line + 1;
	st->col = (int)n->start_mark.column + 1;
	if (!fields_get(p, n, path, f, sizeof(f) / sizeof(f[0])))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "name")) && get_name(p, v, SUB("name"), &st->name)) {
		for (i = 0; &pl->stages[i] < st; i++) {
			if (pl->stages[i].name && streq(pl->stages[i].name, st->name)) {
				err_node(p, v, sub, "duplicate stage name \"%s\" in pipeline \"%s\" (first at line %d)",
					 st->name, pl->name ? pl->name : "?", pl->stages[i].line);
				break;
			}
		}
	}
	if ((v = FIELD(f, "sha256"))) {
		if (v->type != YAML_SCALAR_NODE || trust__sha256_parse(scalar(v), st->sha256))
			err_type(p, v, SUB("sha256"), "64 hex digits of the object's SHA-256");
		else
			st->has_sha256 = true;
	}
	if ((v = FIELD(f, "object"))) {
		object_resolve(p, v, SUB("object"), st, cfg);
		if (st->builtin && st->has_sha256)
			err_node(p, FIELD(f, "sha256"), SUB("sha256"),
				 "built-in stage \"%s\" is part of sluiced: sha256 pins a file", st->object);
	}
	if ((v = FIELD(f, "program")) && get_str(p, v, SUB("program"), &st->program) &&
	    (strlen(st->program) >= STAGE_PROG_LEN || !*st->program))
		err_node(p, v, sub, "program names are 1 to %d bytes", STAGE_PROG_LEN - 1);
	if ((v = FIELD(f, "tail_calls")))
		get_u32(p, v, SUB("tail_calls"), 0, SLUICE_MAX_TAIL_CALLS, &st->tail_calls);
	if ((v = FIELD(f, "params")))
		params_parse(p, v, SUB("params"), st);
	if ((v = FIELD(f, "rules"))) {
		if (st->builtin && !streq(st->object, "acl")) {
			err_node(p, v, SUB("rules"), "stage object \"%s\" takes no rules (only acl does)",
				 st->object);
		} else if (v->type != YAML_SEQUENCE_NODE) {
			err_type(p, v, SUB("rules"), "a list of rules");
		} else if (seq_len(v) > SLUICE_ACL_MAX_RULES) {
			err_node(p, v, SUB("rules"), "%zu rules, more than the ACL's %d", seq_len(v),
				 SLUICE_ACL_MAX_RULES);
		} else {
			st->rules = xcalloc(p, seq_len(v), sizeof(*st->rules));
			st->rule_lines = xcalloc(p, seq_len(v), sizeof(*st->rule_lines));
			for (i = 0; st->rules && st->rule_lines && i < seq_len(v); i++) {
				yaml_node_t *rn = seq_at(p, v, i);
				yaml_node_t *idn = NULL;

				subpath(sub, "%s.rules[%zu]", path, i);
				st->rule_lines[i] = (int)rn->start_mark.line + 1;
				rule_parse(p, rn, sub, &st->rules[i], &idn);
				if (idn)
					rule_check_id(p, idn, subpath(sub, "%s.rules[%zu].id", path, i), pl, st, i);
				st->nr_rules++;
			}
		}
	}
	if ((v = FIELD(f, "tests"))) {
		if (v->type != YAML_SEQUENCE_NODE) {
			err_type(p, v, SUB("tests"), "a list of tests");
		} else if (seq_len(v) > CONFIG_MAX_TESTS) {
			err_node(p, v, SUB("tests"), "%zu pre-flight tests, more than %d", seq_len(v),
				 CONFIG_MAX_TESTS);
		} else {
			st->tests = xcalloc(p, seq_len(v), sizeof(*st->tests));
			for (i = 0; st->tests && i < seq_len(v); i++) {
				subpath(sub, "%s.tests[%zu]", path, i);
				test_parse(p, seq_at(p, v, i), sub, &st->tests[i]);
				st->nr_tests++;
			}
		}
	}
	if ((v = FIELD(f, "auto_rollback")))
		rollback_parse(p, v, SUB("auto_rollback"), &st->auto_rollback);
#undef SUB
}

static void pipeline_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_pipeline *pl,
			   struct sluice_config *cfg)
{
	struct field f[] = { { "name", true }, { "default_verdict" }, { "stages", true } };
	char sub[PATH_LEN];
	yaml_node_t *v;
	uint64_t calls = 0;
	size_t i;

	pl->line = (int)n->start_mark.line + 1;
	pl->col = (int)n->start_mark.column + 1;
	pl->default_verdict = XDP_PASS;
	/* Rule ids are unique per pipeline: a fresh set for each. */
	free(p->ids.v);
	memset(&p->ids, 0, sizeof(p->ids));
	if (!fields_get(p, n, path, f, 3))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "name")) && get_name(p, v, SUB("name"), &pl->name)) {
		for (i = 0; &cfg->pipelines[i] < pl; i++)
			if (cfg->pipelines[i].name && streq(cfg->pipelines[i].name, pl->name))
				break;
		if (&cfg->pipelines[i] < pl)
			err_node(p, v, sub, "duplicate pipeline name \"%s\" (first at line %d)", pl->name,
				 cfg->pipelines[i].line);
	}
	if ((v = FIELD(f, "default_verdict")))
		GET_ENUM(p, v, SUB("default_verdict"), "verdict", default_verdicts, &pl->default_verdict);
	v = FIELD(f, "stages");
	if (!v)
		return;
	SUB("stages");
	if (v->type != YAML_SEQUENCE_NODE) {
		err_type(p, v, sub, "a list of stages");
		return;
	}
	if (!seq_len(v)) {
		err_node(p, v, sub, "pipeline \"%s\" has no stages", pl->name ? pl->name : "?");
		return;
	}
	if (seq_len(v) > SLUICE_MAX_STAGES)
		err_node(p, v, sub, "pipeline \"%s\" has %zu stages, more than the limit of %d (SLUICE_MAX_STAGES)",
			 pl->name ? pl->name : "?", seq_len(v), SLUICE_MAX_STAGES);
	pl->stages = xcalloc(p, seq_len(v), sizeof(*pl->stages));
	for (i = 0; pl->stages && i < seq_len(v); i++) {
		char ssub[PATH_LEN];

		subpath(ssub, "%s[%zu]", sub, i);
		stage_parse(p, seq_at(p, v, i), ssub, &pl->stages[i], pl, cfg);
		pl->nr_stages++;
		/* The entry's call into the stage, then what the stage declares. */
		calls += 1 + pl->stages[i].tail_calls;
	}
	if (calls > SLUICE_MAX_TAIL_CALLS)
		err_node(p, v, sub, "a packet of pipeline \"%s\" may take %llu tail calls, more than the kernel's limit of %d (MAX_TAIL_CALL_CNT)",
			 pl->name ? pl->name : "?", (unsigned long long)calls, SLUICE_MAX_TAIL_CALLS);
#undef SUB
}

/* ---- interfaces ---- */

static const struct name_val xdp_modes[] = {
	{ "auto", CFG_XDP_AUTO }, { "native", CFG_XDP_NATIVE }, { "skb", CFG_XDP_SKB },
};

static const struct name_val attach_modes[] = {
	{ "link", CFG_ATTACH_LINK }, { "libxdp", CFG_ATTACH_LIBXDP },
};

static const struct name_val contexts[] = {
	{ "auto", CFG_CONTEXT_AUTO }, { "meta", CFG_CONTEXT_META }, { "percpu", CFG_CONTEXT_PERCPU },
};

static bool get_ifname(struct parser *p, yaml_node_t *n, const char *path, char **out)
{
	const char *s;

	if (!get_str(p, n, path, out))
		return false;
	s = *out;
	/* The name is also a directory under the pin root. */
	if (!*s || strlen(s) >= IFNAMSIZ || strpbrk(s, "/: \t") || streq(s, ".") || streq(s, "..")) {
		err_node(p, n, path, "invalid interface name \"%s\"", s);
		return false;
	}
	return true;
}

/*
 * Whether every pipeline got a name: if one did not, its error is already
 * out, and an interface naming it is no second mistake.
 */
static bool pipelines_named(const struct sluice_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nr_pipelines; i++)
		if (!cfg->pipelines[i].name)
			return false;
	return cfg->nr_pipelines > 0;
}

/* ---- observe ---- */

/* The largest sample interval: the entry's time_shift is a byte, 2^30 is plenty. */
#define OBSERVE_MAX_SAMPLE	(1u << 30)

static void observe_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_observe *o)
{
	struct field f[] = { { "record" }, { "keep" }, { "time_sample" } };
	char sub[PATH_LEN];
	yaml_node_t *v;

	if (!fields_get(p, n, path, f, sizeof(f) / sizeof(f[0])))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "record")) && !parse_bool(v, &o->record))
		err_type(p, v, SUB("record"), "true or false");
	if ((v = FIELD(f, "keep")))
		get_u32(p, v, SUB("keep"), 1, 65536, &o->keep);
	if ((v = FIELD(f, "time_sample")) &&
	    get_u32(p, v, SUB("time_sample"), 0, OBSERVE_MAX_SAMPLE, &o->time_sample) &&
	    (o->time_sample == 1 || (o->time_sample & (o->time_sample - 1)))) {
		err_node(p, v, sub, "%u: time 1 packet in a power of two from 2 to %u, or 0 for off",
			 o->time_sample, OBSERVE_MAX_SAMPLE);
		o->time_sample = 0;
	}
#undef SUB
}

static void iface_parse(struct parser *p, yaml_node_t *n, const char *path, struct cfg_iface *ifc,
			struct sluice_config *cfg)
{
	struct field f[] = { { "name", true }, { "pipeline", true }, { "mode" }, { "attach" }, { "shared_maps" },
			     { "context" }, { "observe" } };
	char sub[PATH_LEN];
	yaml_node_t *v;
	size_t i;
	int e;

	ifc->line = (int)n->start_mark.line + 1;
	ifc->col = (int)n->start_mark.column + 1;
	ifc->observe.keep = CONFIG_OBSERVE_KEEP;
	if (!fields_get(p, n, path, f, sizeof(f) / sizeof(f[0])))
		return;
#define SUB(key) subpath(sub, "%s.%s", path, key)
	if ((v = FIELD(f, "name")) && get_ifname(p, v, SUB("name"), &ifc->name)) {
		for (i = 0; &cfg->ifaces[i] < ifc; i++)
			if (cfg->ifaces[i].name && streq(cfg->ifaces[i].name, ifc->name))
				break;
		if (&cfg->ifaces[i] < ifc)
			err_node(p, v, sub, "duplicate interface \"%s\" (first at line %d)", ifc->name,
				 cfg->ifaces[i].line);
	}
	if ((v = FIELD(f, "pipeline")) && get_str(p, v, SUB("pipeline"), &ifc->pipeline)) {
		char known[PATH_LEN] = "";

		for (i = 0; i < cfg->nr_pipelines; i++) {
			if (!cfg->pipelines[i].name)
				continue;
			if (streq(cfg->pipelines[i].name, ifc->pipeline))
				break;
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", *known ? ", " : "",
				 cfg->pipelines[i].name);
		}
		if (i < cfg->nr_pipelines)
			ifc->pipe = &cfg->pipelines[i];
		else if (pipelines_named(cfg))
			err_node(p, v, sub, "unknown pipeline \"%s\"; defined: %s", ifc->pipeline,
				 *known ? known : "none");
	}
	if ((v = FIELD(f, "mode")) && GET_ENUM(p, v, SUB("mode"), "XDP mode", xdp_modes, &e))
		ifc->mode = e;
	if ((v = FIELD(f, "attach")) && GET_ENUM(p, v, SUB("attach"), "attach method", attach_modes, &e))
		ifc->attach = e;
	if ((v = FIELD(f, "context")) && GET_ENUM(p, v, SUB("context"), "context carrier", contexts, &e))
		ifc->context = e;
	if ((v = FIELD(f, "observe")))
		observe_parse(p, v, SUB("observe"), &ifc->observe);
	if ((v = FIELD(f, "shared_maps"))) {
		if (v->type != YAML_SEQUENCE_NODE) {
			err_type(p, v, SUB("shared_maps"), "a list of map names");
		} else {
			ifc->shared_maps = xcalloc(p, seq_len(v), sizeof(char *));
			for (i = 0; ifc->shared_maps && i < seq_len(v); i++) {
				yaml_node_t *m = seq_at(p, v, i);
				char msub[PATH_LEN];

				subpath(msub, "%s.shared_maps[%zu]", path, i);
				if (!get_str(p, m, msub, &ifc->shared_maps[ifc->nr_shared_maps]))
					continue;
				if (!valid_name(ifc->shared_maps[ifc->nr_shared_maps]) &&
				    strspn(scalar(m), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
					    strlen(scalar(m)))
					err_node(p, m, msub, "invalid map name \"%s\"", scalar(m));
				ifc->nr_shared_maps++;
			}
		}
	}
#undef SUB
}

/* ---- xsk ---- */

static const struct name_val xsk_modes[] = {
	{ "auto", CFG_XSK_AUTO }, { "copy", CFG_XSK_COPY }, { "zerocopy", CFG_XSK_ZEROCOPY },
};

static bool get_pow2(struct parser *p, yaml_node_t *n, const char *path, uint32_t min, uint32_t max,
		     uint32_t *out)
{
	uint32_t v;

	if (!get_u32(p, n, path, min, max, &v))
		return false;
	if (v & (v - 1)) {
		err_node(p, n, path, "%u is not a power of two", v);
		return false;
	}
	*out = v;
	return true;
}

static void xsk_parse(struct parser *p, yaml_node_t *n, struct sluice_config *cfg)
{
	struct field f[] = {
		{ "interface", true }, { "queues" }, { "rx_ring" }, { "fill_ring" }, { "frame_size" },
		{ "frames" }, { "mode" },
	};
	struct cfg_xsk *x = &cfg->xsk;
	char sub[PATH_LEN];
	yaml_node_t *v;
	size_t i, j;
	int e;

	x->enabled = true;
	x->line = (int)n->start_mark.line + 1;
	x->col = (int)n->start_mark.column + 1;
	if (!fields_get(p, n, "xsk", f, sizeof(f) / sizeof(f[0])))
		return;
	if ((v = FIELD(f, "interface")) && get_str(p, v, "xsk.interface", &x->interface)) {
		for (i = 0; i < cfg->nr_ifaces; i++)
			if (cfg->ifaces[i].name && streq(cfg->ifaces[i].name, x->interface))
				break;
		if (i == cfg->nr_ifaces)
			err_node(p, v, "xsk.interface", "interface \"%s\" is not in interfaces", x->interface);
	}
	if ((v = FIELD(f, "queues"))) {
		if (v->type != YAML_SEQUENCE_NODE || !seq_len(v)) {
			err_type(p, v, "xsk.queues", "a non-empty list of queue ids");
		} else {
			free(x->queues);
			x->nr_queues = 0;
			x->queues = xcalloc(p, seq_len(v), sizeof(*x->queues));
			for (i = 0; x->queues && i < seq_len(v); i++) {
				yaml_node_t *q = seq_at(p, v, i);

				subpath(sub, "xsk.queues[%zu]", i);
				if (!get_u32(p, q, sub, 0, SLUICE_XSK_MAX_QUEUES - 1, &x->queues[x->nr_queues]))
					continue;
				for (j = 0; j < x->nr_queues; j++)
					if (x->queues[j] == x->queues[x->nr_queues])
						break;
				if (j < x->nr_queues) {
					err_node(p, q, sub, "duplicate queue %u", x->queues[j]);
					continue;
				}
				x->nr_queues++;
			}
		}
	}
	if ((v = FIELD(f, "rx_ring")))
		get_pow2(p, v, "xsk.rx_ring", 64, 1u << 20, &x->rx_ring);
	if ((v = FIELD(f, "fill_ring")))
		get_pow2(p, v, "xsk.fill_ring", 64, 1u << 20, &x->fill_ring);
	if ((v = FIELD(f, "frame_size")))
		get_pow2(p, v, "xsk.frame_size", 2048, 4096, &x->frame_size);
	if ((v = FIELD(f, "frames")) && get_u32(p, v, "xsk.frames", 64, 1u << 22, &x->frames) &&
	    x->frames < x->fill_ring)
		err_node(p, v, "xsk.frames", "%u frames cannot fill a fill ring of %u", x->frames, x->fill_ring);
	if ((v = FIELD(f, "mode")) && GET_ENUM(p, v, "xsk.mode", "XSK mode", xsk_modes, &e))
		x->mode = e;
}

/* ---- top level ---- */

static const struct name_val log_levels[] = {
	{ "debug", LOG_DEBUG }, { "info", LOG_INFO }, { "notice", LOG_NOTICE },
	{ "warning", LOG_WARNING }, { "error", LOG_ERR },
};

static void control_parse(struct parser *p, yaml_node_t *n, struct sluice_config *cfg)
{
	struct field f[] = { { "socket" }, { "mode" }, { "group" }, { "read_group" }, { "idle_timeout_ms" } };
	yaml_node_t *v;

	if (!fields_get(p, n, "control", f, 5))
		return;
	if ((v = FIELD(f, "socket")) && get_str(p, v, "control.socket", &cfg->control.socket) &&
	    (cfg->control.socket[0] != '/' ||
	     strlen(cfg->control.socket) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		err_node(p, v, "control.socket", "must be an absolute path shorter than %zu bytes",
			 sizeof(((struct sockaddr_un *)0)->sun_path));
	if ((v = FIELD(f, "mode"))) {
		/* Octal as written: "0660" means 0660 whether YAML reads 0660 or 660. */
		const char *s = v->type == YAML_SCALAR_NODE ? scalar(v) : "";
		char *end;
		unsigned long m;

		if (s[0] == '0' && s[1] == 'o')
			s += 2;
		m = strtoul(s, &end, 8);
		if (!is_plain(v) || !*s || *end) {
			err_type(p, v, "control.mode", "an octal mode (0600 or 0660)");
		} else if (m != 0600 && m != 0660) {
			err_node(p, v, "control.mode", "mode %04lo is not allowed; use 0600 or 0660", m);
		} else {
			cfg->control.mode = (unsigned int)m;
			if (m == 0660 && !FIELD(f, "group"))
				err_node(p, v, "control.mode", "mode 0660 needs control.group");
		}
	}
	if ((v = FIELD(f, "group")) && get_str(p, v, "control.group", &cfg->control.group))
		cfg->control.group_pos = (struct cfg_pos){ (int)v->start_mark.line + 1,
							   (int)v->start_mark.column + 1 };
	if ((v = FIELD(f, "idle_timeout_ms")))
		get_u32(p, v, "control.idle_timeout_ms", 100, 3600 * 1000, &cfg->control.idle_timeout_ms);
	if ((v = FIELD(f, "read_group")) && get_str(p, v, "control.read_group", &cfg->control.read_group)) {
		cfg->control.read_group_pos = (struct cfg_pos){ (int)v->start_mark.line + 1,
								(int)v->start_mark.column + 1 };
		if (cfg->control.group && !strcmp(cfg->control.group, cfg->control.read_group))
			err_node(p, v, "control.read_group", "the same group as control.group, which administers");
	}
}

static void metrics_parse(struct parser *p, yaml_node_t *n, struct sluice_config *cfg)
{
	struct field f[] = { { "listen" } };
	struct sockaddr_in *sin = (struct sockaddr_in *)&cfg->metrics.addr;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&cfg->metrics.addr;
	char host[INET6_ADDRSTRLEN + 2], *colon, *end;
	yaml_node_t *v;
	const char *s;
	long port;

	if (!fields_get(p, n, "metrics", f, 1) || !(v = FIELD(f, "listen")))
		return;
	if (!get_str(p, v, "metrics.listen", &cfg->metrics.listen))
		return;
	s = cfg->metrics.listen;
	colon = strrchr(s, ':');
	if (!colon || (size_t)(colon - s) >= sizeof(host))
		goto bad;
	memcpy(host, s, colon - s);
	host[colon - s] = 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port < 1 || port > 65535)
		goto bad;
	/* ":PORT": every address, IPv6 and IPv4 (a dual-stack socket). */
	if (!host[0]) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_any;
		sin6->sin6_port = htons((uint16_t)port);
		cfg->metrics.addrlen = sizeof(*sin6);
		return;
	}
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		host[strlen(host) - 1] = 0;
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			goto bad;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		cfg->metrics.addrlen = sizeof(*sin6);
		return;
	}
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		goto bad;
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	cfg->metrics.addrlen = sizeof(*sin);
	return;
bad:
	err_type(p, v, "metrics.listen", "ADDRESS:PORT such as 127.0.0.1:9469, [::1]:9469 or :9469 (every address)");
	free(cfg->metrics.listen);
	cfg->metrics.listen = NULL;
}

static void trust_parse(struct parser *p, yaml_node_t *n, struct sluice_config *cfg)
{
	struct field f[] = { { "owner" }, { "stage_dir" } };
	struct trust_policy pol = { .owner = (uid_t)-1 };
	yaml_node_t *v;
	char why[1024];
	int64_t uid;

	if (!fields_get(p, n, "trust", f, 2))
		return;
	if ((v = FIELD(f, "owner")) && get_str(p, v, "trust.owner", &cfg->trust.owner_name)) {
		struct passwd *pw = getpwnam(cfg->trust.owner_name);

		if (pw)
			cfg->trust.owner = pw->pw_uid;
		else if (parse_int(v, &uid) && uid > 0 && uid < UINT32_MAX)
			cfg->trust.owner = (uid_t)uid;
		else
			err_node(p, v, "trust.owner", "no user \"%s\" on this system", cfg->trust.owner_name);
	}
	pol.owner = cfg->trust.owner;
	if ((v = FIELD(f, "stage_dir")) && get_str(p, v, "trust.stage_dir", &cfg->trust.stage_dir)) {
		int fd;

		/* The folder itself passes the rules a folder on an object's path must. */
		if (cfg->trust.stage_dir[0] != '/') {
			err_node(p, v, "trust.stage_dir", "must be an absolute path");
			return;
		}
		fd = trust__open_with(&pol, cfg->trust.stage_dir, TRUST_PCAP, NULL, why, sizeof(why));
		if (fd >= 0) {
			close(fd);
			err_node(p, v, "trust.stage_dir", "%s is a file, not a folder", cfg->trust.stage_dir);
		} else if (fd != -EISDIR && !strstr(why, "(regular-file)")) {
			err_node(p, v, "trust.stage_dir", "%s", why);
		}
	}
}

static int config_defaults(struct sluice_config *cfg)
{
	cfg->pin_root = strdup(SLUICE_PIN_ROOT);
	cfg->state_dir = strdup(CONFIG_DEFAULT_STATE_DIR);
	cfg->control.socket = strdup(CONFIG_DEFAULT_SOCKET);
	cfg->control.mode = CONFIG_DEFAULT_SOCKET_MODE;
	cfg->control.idle_timeout_ms = CONFIG_DEFAULT_IDLE_MS;
	cfg->log_level = LOG_INFO;
	cfg->trust.owner = (uid_t)-1;
	/* docs/afxdp.md "Defaults and why": measured with bench/xsk.sh --rings */
	cfg->xsk.rx_ring = 8192;
	cfg->xsk.fill_ring = 8192;
	cfg->xsk.frame_size = 2048;
	cfg->xsk.frames = 8192;
	cfg->xsk.mode = CFG_XSK_AUTO;
	if (!cfg->pin_root || !cfg->state_dir || !cfg->control.socket)
		return -ENOMEM;
	return 0;
}

static void root_parse(struct parser *p, yaml_node_t *root, struct sluice_config *cfg)
{
	struct field f[] = {
		{ "pin_root" }, { "state_dir" }, { "log_level" }, { "control" }, { "metrics" },
		{ "pipelines", true }, { "interfaces", true }, { "xsk" }, { "trust" },
	};
	yaml_node_t *v;
	char sub[PATH_LEN];
	size_t i;

	if (!fields_get(p, root, "", f, sizeof(f) / sizeof(f[0])))
		return;
	if ((v = FIELD(f, "pin_root")) && get_str(p, v, "pin_root", &cfg->pin_root)) {
		cfg->pin_root_pos = (struct cfg_pos){ (int)v->start_mark.line + 1, (int)v->start_mark.column + 1 };
		if (cfg->pin_root[0] != '/')
			err_node(p, v, "pin_root", "must be an absolute path");
	}
	if ((v = FIELD(f, "state_dir")) && get_str(p, v, "state_dir", &cfg->state_dir) &&
	    cfg->state_dir[0] != '/')
		err_node(p, v, "state_dir", "must be an absolute path");
	if ((v = FIELD(f, "log_level")))
		GET_ENUM(p, v, "log_level", "log level", log_levels, &cfg->log_level);
	if ((v = FIELD(f, "control")))
		control_parse(p, v, cfg);
	if ((v = FIELD(f, "metrics")))
		metrics_parse(p, v, cfg);
	/* Before the pipelines: their objects are checked under it. */
	if ((v = FIELD(f, "trust")))
		trust_parse(p, v, cfg);
	if ((v = FIELD(f, "pipelines"))) {
		if (v->type != YAML_SEQUENCE_NODE) {
			err_type(p, v, "pipelines", "a list of pipelines");
		} else if (!seq_len(v)) {
			err_node(p, v, "pipelines", "empty list: at least one is required");
		} else {
			cfg->pipelines = xcalloc(p, seq_len(v), sizeof(*cfg->pipelines));
			for (i = 0; cfg->pipelines && i < seq_len(v); i++) {
				subpath(sub, "pipelines[%zu]", i);
				pipeline_parse(p, seq_at(p, v, i), sub, &cfg->pipelines[i], cfg);
				cfg->nr_pipelines++;
			}
		}
	}
	if ((v = FIELD(f, "interfaces"))) {
		if (v->type != YAML_SEQUENCE_NODE) {
			err_type(p, v, "interfaces", "a list of interfaces");
		} else if (!seq_len(v)) {
			err_node(p, v, "interfaces", "empty list: at least one is required");
		} else {
			cfg->ifaces = xcalloc(p, seq_len(v), sizeof(*cfg->ifaces));
			for (i = 0; cfg->ifaces && i < seq_len(v); i++) {
				subpath(sub, "interfaces[%zu]", i);
				iface_parse(p, seq_at(p, v, i), sub, &cfg->ifaces[i], cfg);
				cfg->nr_ifaces++;
			}
		}
	}
	if ((v = FIELD(f, "xsk")))
		xsk_parse(p, v, cfg);
}

/* Stable, so errors at one node keep the order they were found in. */
static void errors_sort(struct config_error *v, size_t n)
{
	size_t i, j;

	for (i = 1; i < n; i++) {
		struct config_error e = v[i];

		for (j = i; j > 0 && (v[j - 1].line > e.line ||
				      (v[j - 1].line == e.line && v[j - 1].col > e.col)); j--)
			v[j] = v[j - 1];
		v[j] = e;
	}
}

static void err_syntax(struct parser *p, const yaml_parser_t *yp)
{
	char ctx[PATH_LEN] = "";

	if (yp->context)
		snprintf(ctx, sizeof(ctx), " (%s at line %zu, column %zu)", yp->context,
			 yp->context_mark.line + 1, yp->context_mark.column + 1);
	err_at(p, (int)yp->problem_mark.line + 1, (int)yp->problem_mark.column + 1, NULL,
	       "YAML syntax error: %s%s", yp->problem ? yp->problem : "unknown", ctx);
}

/* libyaml loads one document at a time: a second one would go unread. */
static void check_one_document(struct parser *p, yaml_parser_t *yp)
{
	yaml_document_t next;
	yaml_node_t *root;

	if (!yaml_parser_load(yp, &next)) {
		if (yp->error == YAML_MEMORY_ERROR)
			p->nomem = true;
		else
			err_syntax(p, yp);
		return;
	}
	root = yaml_document_get_root_node(&next);
	if (root)
		err_node(p, root, NULL, "a second YAML document; the configuration is one");
	yaml_document_delete(&next);
}

static uint64_t expanded_nodes(yaml_document_t *doc);

static int parse_yaml(yaml_parser_t *yp, const char *name, struct sluice_config **cfgp,
		      struct config_errors *errs)
{
	struct parser p = { .file = name, .errs = errs };
	size_t first = errs ? errs->n : 0;
	struct sluice_config *cfg = NULL;
	yaml_node_t *root;
	char *tmp;
	int err;

	*cfgp = NULL;
	tmp = strdup(name);
	if (!tmp)
		return -ENOMEM;
	p.dir = strdup(dirname(tmp));
	free(tmp);
	if (!p.dir)
		return -ENOMEM;

	if (!yaml_parser_load(yp, &p.doc)) {
		if (yp->error == YAML_MEMORY_ERROR) {
			err = -ENOMEM;
			goto out_dir;
		}
		err_syntax(&p, yp);
		err = p.nomem ? -ENOMEM : -EINVAL;
		goto out_dir;
	}
	root = yaml_document_get_root_node(&p.doc);
	if (!root) {
		err_at(&p, 1, 1, NULL, "empty configuration: pipelines and interfaces are required");
		err = -EINVAL;
		goto out_doc;
	}

	check_one_document(&p, yp);
	if (expanded_nodes(&p.doc) > CONFIG_MAX_NODES) {
		err_at(&p, 1, 1, NULL, "with its aliases expanded, the configuration has more than %u "
		       "nodes: YAML aliases may share, not multiply", CONFIG_MAX_NODES);
		err = -EINVAL;
		goto out_doc;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg || !(cfg->file = strdup(name)) || config_defaults(cfg)) {
		err = -ENOMEM;
		goto out_cfg;
	}
	root_parse(&p, root, cfg);
	if (p.nomem)
		err = -ENOMEM;
	else if (p.nr_errs)
		err = -EINVAL;
	else
		err = 0;
out_cfg:
	if (err) {
		config__free(cfg);
		cfg = NULL;
	}
out_doc:
	yaml_document_delete(&p.doc);
out_dir:
	free(p.dir);
	free(p.ids.v);
	if (errs && errs->n > first)
		errors_sort(errs->v + first, errs->n - first);
	if (p.nr_errs > CONFIG_MAX_ERRORS) {
		size_t more = p.nr_errs - CONFIG_MAX_ERRORS;

		p.nr_errs = 0;
		err_at(&p, 0, 0, NULL, "and %zu more errors", more);
	}
	*cfgp = cfg;
	return err;
}

/*
 * How deep flow collections nest ("[[[...": libyaml's scanner takes time
 * quadratic in it), found by a lexical pass that skips quoted scalars and
 * comments. Returns 0, or the 1-based line and column of the opening
 * bracket past CONFIG_MAX_DEPTH.
 */
static int flow_depth_ok(const char *s, size_t len, int *line, int *col)
{
	int depth = 0, l = 1, c = 0;
	bool sq = false, dq = false, comment = false, prev_space = true;

	for (size_t i = 0; i < len; i++) {
		char ch = s[i];

		c++;
		if (ch == '\n') {
			l++;
			c = 0;
			comment = false;
			prev_space = true;
			continue;
		}
		if (comment)
			continue;
		if (dq) {
			if (ch == '\\' && i + 1 < len)
				i++, c++;
			else if (ch == '"')
				dq = false;
			continue;
		}
		if (sq) {
			if (ch == '\'')
				sq = false;	/* '' is an escaped quote: it reopens at once */
			continue;
		}
		if (ch == '#' && prev_space) {
			comment = true;
			continue;
		}
		prev_space = ch == ' ' || ch == '\t';
		if (ch == '"')
			dq = true;
		else if (ch == '\'')
			sq = true;
		else if (ch == '[' || ch == '{') {
			if (++depth > CONFIG_MAX_DEPTH) {
				*line = l;
				*col = c;
				return -1;
			}
		} else if ((ch == ']' || ch == '}') && depth) {
			depth--;
		}
	}
	return 0;
}

/*
 * The number of nodes the document has once every alias is expanded, which
 * is what walking it costs: aliases of aliases grow it exponentially (a 17
 * KB file took 14.6 s and 1.6 GB). Memoised per node, so counting is linear
 * in the document; saturates just above CONFIG_MAX_NODES.
 */
static uint64_t expanded_nodes(yaml_document_t *doc)
{
	size_t nr = (size_t)(doc->nodes.top - doc->nodes.start), top = 0;
	uint64_t *size = calloc(nr + 1, sizeof(*size)), total = 0;
	size_t *cursor = calloc(nr + 1, sizeof(*cursor));
	uint8_t *state = calloc(nr + 1, 1);	/* 0 new, 1 on the stack, 2 counted */
	int *stack = calloc(nr + 1, sizeof(*stack));

	if (!nr)
		goto out;
	if (!size || !cursor || !state || !stack) {
		total = CONFIG_MAX_NODES + 1;
		goto out;
	}
	stack[top++] = 1;	/* the root */
	state[1] = 1;
	size[1] = 1;
	while (top) {
		int id = stack[top - 1], c;
		yaml_node_t *n = yaml_document_get_node(doc, id);
		size_t kids = n->type == YAML_SEQUENCE_NODE ?
			      (size_t)(n->data.sequence.items.top - n->data.sequence.items.start) :
			      n->type == YAML_MAPPING_NODE ?
			      2 * (size_t)(n->data.mapping.pairs.top - n->data.mapping.pairs.start) : 0;

		if (cursor[id] < kids) {
			size_t k = cursor[id]++;

			if (n->type == YAML_SEQUENCE_NODE)
				c = n->data.sequence.items.start[k];
			else if (k % 2)
				c = n->data.mapping.pairs.start[k / 2].value;
			else
				c = n->data.mapping.pairs.start[k / 2].key;
			if (c < 1 || (size_t)c > nr || state[c] == 1) {
				/* An alias of a node that contains it: it never ends. */
				size[id] = CONFIG_MAX_NODES + 1;
			} else if (state[c] == 2) {
				size[id] += size[c];
			} else {
				state[c] = 1;
				size[c] = 1;
				stack[top++] = c;
			}
			if (size[id] > CONFIG_MAX_NODES)
				size[id] = CONFIG_MAX_NODES + 1;
			continue;
		}
		state[id] = 2;
		if (--top) {
			int parent = stack[top - 1];

			size[parent] += size[id];
			if (size[parent] > CONFIG_MAX_NODES)
				size[parent] = CONFIG_MAX_NODES + 1;
		}
	}
	total = size[1];
out:
	free(size);
	free(cursor);
	free(state);
	free(stack);
	return total;
}

static int parse_buffer(const char *text, size_t len, const char *name, struct sluice_config **cfg,
			struct config_errors *errs)
{
	struct parser p = { .file = name, .errs = errs };
	yaml_parser_t yp;
	int err, line, col;

	*cfg = NULL;
	if (len > CONFIG_MAX_BYTES) {
		err_at(&p, 0, 0, NULL, "%zu bytes, more than the %u a configuration may have", len,
		       CONFIG_MAX_BYTES);
		return -EFBIG;
	}
	if (flow_depth_ok(text, len, &line, &col)) {
		err_at(&p, line, col, NULL, "[ and { nest more than %d deep", CONFIG_MAX_DEPTH);
		return -EINVAL;
	}
	if (!yaml_parser_initialize(&yp))
		return -ENOMEM;
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	err = parse_yaml(&yp, name, cfg, errs);
	yaml_parser_delete(&yp);
	return err;
}

int config__parse_string(const char *text, const char *name, struct sluice_config **cfg,
			 struct config_errors *errs)
{
	if (!text || !cfg)
		return -EINVAL;
	return parse_buffer(text, strlen(text), name ? name : "<string>", cfg, errs);
}

int config__load(const char *path, struct sluice_config **cfg, struct config_errors *errs)
{
	struct parser p = { .file = path, .errs = errs };
	struct stat st;
	char *buf = NULL;
	size_t off = 0;
	int fd, err;

	if (!path || !cfg)
		return -EINVAL;
	*cfg = NULL;
	/* Never a FIFO or a device: the configuration is a file, read whole, within a limit. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		err_at(&p, 0, 0, NULL, "cannot open: %s", strerror(-err));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		err_at(&p, 0, 0, NULL, "not a regular file");
		err = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > CONFIG_MAX_BYTES) {
		err_at(&p, 0, 0, NULL, "%lld bytes, more than the %u a configuration may have",
		       (long long)st.st_size, CONFIG_MAX_BYTES);
		err = -EFBIG;
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	while (off < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
	err = parse_buffer(buf, off, path, cfg, errs);
out:
	free(buf);
	close(fd);
	return err;
}

static void stage_free(struct cfg_stage *st)
{
	size_t i;

	free(st->name);
	free(st->object);
	free(st->program);
	for (i = 0; i < st->nr_params; i++)
		free(st->params[i].name);
	free(st->params);
	for (i = 0; i < st->nr_rules; i++)
		acl_rule_spec_free(&st->rules[i]);
	free(st->rules);
	free(st->rule_lines);
	free(st->tests);
}

void config__free(struct sluice_config *cfg)
{
	size_t i, j;

	if (!cfg)
		return;
	for (i = 0; i < cfg->nr_pipelines; i++) {
		for (j = 0; j < cfg->pipelines[i].nr_stages; j++)
			stage_free(&cfg->pipelines[i].stages[j]);
		free(cfg->pipelines[i].stages);
		free(cfg->pipelines[i].name);
	}
	free(cfg->pipelines);
	for (i = 0; i < cfg->nr_ifaces; i++) {
		free(cfg->ifaces[i].name);
		free(cfg->ifaces[i].pipeline);
		for (j = 0; j < cfg->ifaces[i].nr_shared_maps; j++)
			free(cfg->ifaces[i].shared_maps[j]);
		free(cfg->ifaces[i].shared_maps);
	}
	free(cfg->ifaces);
	free(cfg->xsk.interface);
	free(cfg->xsk.queues);
	free(cfg->metrics.listen);
	free(cfg->control.socket);
	free(cfg->control.group);
	free(cfg->control.read_group);
	free(cfg->state_dir);
	free(cfg->pin_root);
	free(cfg->trust.owner_name);
	free(cfg->trust.stage_dir);
	free(cfg->file);
	free(cfg);
}

/* The folder nearest to path that exists (path itself if it does). */
static void nearest_existing(const char *path, char *out, size_t len)
{
	struct stat st;
	char *slash;

	snprintf(out, len, "%s", path);
	while (stat(out, &st)) {
		slash = strrchr(out, '/');
		if (!slash || slash == out) {
			snprintf(out, len, "/");
			return;
		}
		*slash = '\0';
	}
}

int config__check_env(const struct sluice_config *cfg, struct config_errors *errs,
		      struct config_errors *warns)
{
	struct parser p = { .file = cfg->file, .errs = errs };
	struct parser w = { .file = cfg->file, .errs = warns };
	char near[PATH_MAX];
	struct statfs sf;
	struct stat st;

	if (cfg->control.group && !getgrnam(cfg->control.group))
		err_at(&p, cfg->control.group_pos.line, cfg->control.group_pos.col, "control.group",
		       "no group \"%s\" on this host", cfg->control.group);
	if (cfg->control.read_group && !getgrnam(cfg->control.read_group))
		err_at(&p, cfg->control.read_group_pos.line, cfg->control.read_group_pos.col,
		       "control.read_group", "no group \"%s\" on this host", cfg->control.read_group);
	/* Pins live on a bpffs: anywhere else bpf_obj_pin() fails at the first stage. */
	nearest_existing(cfg->pin_root, near, sizeof(near));
	if (statfs(near, &sf) || sf.f_type != BPF_FS_MAGIC) {
		bool mounts = !strncmp(cfg->pin_root, "/sys/fs/bpf", 11) &&
			      (cfg->pin_root[11] == '/' || !cfg->pin_root[11]) &&
			      !stat("/sys/fs/bpf", &st) && S_ISDIR(st.st_mode) &&
			      (!strcmp(near, "/sys/fs/bpf") || strncmp(near, "/sys/fs/bpf/", 12));

		/* sluiced mounts a bpffs on /sys/fs/bpf where there is none. */
		if (!mounts)
			err_at(&p, cfg->pin_root_pos.line, cfg->pin_root_pos.col, "pin_root",
			       "%s is not on a bpffs (%s is on a file system of type 0x%lx); mount one: "
			       "mount -t bpf bpf %s", cfg->pin_root, near, (unsigned long)sf.f_type, near);
	}
	for (size_t i = 0; i < cfg->nr_ifaces; i++) {
		if (!if_nametoindex(cfg->ifaces[i].name))
			err_at(&w, cfg->ifaces[i].line, cfg->ifaces[i].col, "interfaces",
			       "warning: no interface \"%s\" here (yet): sluiced would not start without it",
			       cfg->ifaces[i].name);
	}
	if (errs && p.nr_errs)
		errors_sort(errs->v + errs->n - p.nr_errs, p.nr_errs);
	return p.nr_errs ? -EINVAL : 0;
}

int config__trust_policy(const struct sluice_config *cfg, struct trust_policy *pol)
{
	size_t n = 0, i, j;

	memset(pol, 0, sizeof(*pol));
	pol->owner = cfg->trust.owner;
	pol->stage_dir = cfg->trust.stage_dir;
	for (i = 0; i < cfg->nr_pipelines; i++)
		for (j = 0; j < cfg->pipelines[i].nr_stages; j++)
			n += cfg->pipelines[i].stages[j].has_sha256;
	if (!n)
		return 0;
	pol->pins = calloc(n, sizeof(*pol->pins));
	if (!pol->pins)
		return -ENOMEM;
	for (i = 0; i < cfg->nr_pipelines; i++) {
		for (j = 0; j < cfg->pipelines[i].nr_stages; j++) {
			const struct cfg_stage *st = &cfg->pipelines[i].stages[j];

			if (!st->has_sha256)
				continue;
			pol->pins[pol->nr_pins].path = st->object;
			memcpy(pol->pins[pol->nr_pins].sha256, st->sha256, TRUST_SHA256_LEN);
			pol->nr_pins++;
		}
	}
	return 0;
}

void config__trust_policy_free(struct trust_policy *pol)
{
	free(pol->pins);
	memset(pol, 0, sizeof(*pol));
	pol->owner = (uid_t)-1;
}

void config_errors__free(struct config_errors *errs)
{
	size_t i;

	if (!errs)
		return;
	for (i = 0; i < errs->n; i++)
		free(errs->v[i].msg);
	free(errs->v);
	errs->v = NULL;
	errs->n = 0;
}

const struct cfg_pipeline *config__pipeline(const struct sluice_config *cfg, const char *name)
{
	size_t i;

	for (i = 0; cfg && name && i < cfg->nr_pipelines; i++)
		if (streq(cfg->pipelines[i].name, name))
			return &cfg->pipelines[i];
	return NULL;
}

int config__stage_equal(const struct cfg_stage *a, const struct cfg_stage *b)
{
	size_t i, j;

	if (a->builtin != b->builtin || strcmp(a->object, b->object))
		return 0;
	if (!a->program != !b->program || (a->program && strcmp(a->program, b->program)))
		return 0;
	if (a->nr_params != b->nr_params)
		return 0;
	for (i = 0; i < a->nr_params; i++) {
		for (j = 0; j < b->nr_params; j++)
			if (streq(a->params[i].name, b->params[j].name))
				break;
		if (j == b->nr_params || a->params[i].value != b->params[j].value)
			return 0;
	}
	return 1;
}

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ACL rules as users write them (config, `sluicectl rule add`) and their
 * compilation into the acl stage's maps: ordered rules, prefixes in LPM tries
 * whose values are bitmaps of the rules that contain them.
 */
#ifndef SLUICE_ACL_H
#define SLUICE_ACL_H

#include <stddef.h>
#include <stdint.h>
#include <sluice/abi.h>

struct acl_prefix {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t len;		/* prefix length */
	uint8_t addr[16];	/* network order, IPv4 in the first 4 bytes */
};

struct acl_rule_spec {
	uint32_t id;		/* user-visible; unique within a pipeline */
	enum sluice_acl_action action;
	int family;		/* 0 = any, AF_INET, AF_INET6 */
	struct acl_prefix *src;	/* match if the source is in any of them; none = any */
	size_t nr_src;
	struct acl_prefix *dst;
	size_t nr_dst;
	uint8_t proto;		/* 0 = any */
	uint16_t sport_lo, sport_hi;	/* 0..65535 = any */
	uint16_t dport_lo, dport_hi;
	uint8_t tcp_flags_mask, tcp_flags_value;
};

/* Parses "drop proto tcp src 10.0.0.0/8,192.168.0.0/16 dport 22-23 flags syn/syn,ack". */
int acl_rule_parse(const char *text, struct acl_rule_spec *rule, char *err, size_t errlen);
/*
 * Prints a rule back in the syntax acl_rule_parse() reads: the length, or
 * -ENOSPC when it does not fit (buf then holds a cut rule: never store it).
 */
int acl_rule_format(const struct acl_rule_spec *rule, char *buf, size_t len);
/* The whole text of a rule, however long (caller frees); NULL on error. */
char *acl_rule_text(const struct acl_rule_spec *rule);
int acl_prefix_parse(const char *text, struct acl_prefix *p);
void acl_rule_spec_free(struct acl_rule_spec *rule);
/* Rejects a rule that can never match or that the stage cannot express. */
int acl_rule_check(const struct acl_rule_spec *rule, char *err, size_t errlen);

/* Map names in the acl stage object, also their pin names under maps/. */
#define ACL_MAP_RULES		"sluice_acl_rules"
#define ACL_MAP_HITS		"sluice_acl_hits"
#define ACL_MAP_LIVE		"sluice_acl_live"
#define ACL_MAP_SRC4		"sluice_acl_src4"
#define ACL_MAP_DST4		"sluice_acl_dst4"
#define ACL_MAP_SRC6		"sluice_acl_src6"
#define ACL_MAP_DST6		"sluice_acl_dst6"
/* Index in ACL_MAP_HITS of packets no rule matched. */
#define ACL_HITS_DEFAULT	SLUICE_ACL_MAX_RULES

/* The acl stage's maps, by fd; -1 where not open. */
struct acl_maps {
	int rules, hits, live;
	int src4, dst4, src6, dst6;
};

struct bpf_object;

/* Borrows the fds of a loaded acl stage object (do not close them). */
int acl_maps__from_object(const struct bpf_object *obj, struct acl_maps *maps);
/* Opens the maps pinned as DIR/<map name>; close them with acl_maps__close(). */
int acl_maps__open_pinned(const char *dir, struct acl_maps *maps);
void acl_maps__close(struct acl_maps *maps);

/*
 * Replaces the whole rule set with rules[0..n) in order. Packets in flight
 * are judged by the old set or the new one, never by a mix (see acl.c for
 * the one case that degrades to default_action instead). Hit counters
 * follow rules by id. Callers serialize calls on the same maps.
 */
int acl__apply(const struct acl_maps *maps, const struct acl_rule_spec *rules, size_t n);

struct acl_rule_hits {
	uint32_t id;		/* rule id */
	uint32_t pos;		/* position in the stage: sluice_meta.rule - 1 */
	uint64_t packets;
	uint64_t bytes;
};

/*
 * Hits of the live rules in rule order, summed over CPUs: fills up to max
 * entries and returns how many rules are live, or a negative errno. dflt
 * (may be NULL) gets the packets no rule matched.
 */
int acl__read_hits(const struct acl_maps *maps, struct acl_rule_hits *out, size_t max,
		   struct acl_rule_hits *dflt);

#endif

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
/* Prints a rule back in the syntax acl_rule_parse() reads. */
int acl_rule_format(const struct acl_rule_spec *rule, char *buf, size_t len);
int acl_prefix_parse(const char *text, struct acl_prefix *p);
void acl_rule_spec_free(struct acl_rule_spec *rule);

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * ACL rules as users write them (config, `sluicectl rule add`) and their
 * compilation into the acl stage's maps (bpf/acl.h): a summary packets read
 * first, a small table for small rule sets, rules by position and LPM tries
 * whose values are bitmaps of the rules that contain a prefix.
 */
#ifndef SLUICE_ACL_H
#define SLUICE_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sluice/abi.h>

struct acl_prefix {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t len;		/* prefix length */
	uint8_t addr[16];	/* network order, IPv4 in the first 4 bytes */
};

/* Which of the optional fields of struct acl_rule_spec a rule names. */
enum {
	ACL_HAS_SRC_MAC		= 1 << 0,
	ACL_HAS_DST_MAC		= 1 << 1,
	ACL_HAS_VLAN		= 1 << 2,	/* the outer tag, vlan_lo..vlan_hi */
	ACL_HAS_VLAN_INNER	= 1 << 3,	/* the second tag: frames with two */
	ACL_HAS_ICMP_TYPE	= 1 << 4,
	ACL_HAS_ICMP_CODE	= 1 << 5,
};

#define ACL_VLAN_MAX	4095

struct acl_rule_spec {
	uint32_t id;		/* user-visible; unique within a pipeline */
	enum sluice_acl_action action;
	int family;		/* 0 = any, AF_INET, AF_INET6 */
	bool arp;		/* `proto arp`: ARP frames only (then proto is 0) */
	struct acl_prefix *src;	/* match if the source is in any of them; none = any */
	size_t nr_src;
	struct acl_prefix *dst;
	size_t nr_dst;
	uint8_t proto;		/* 0 = any */
	uint16_t sport_lo, sport_hi;	/* 0..65535 = any */
	uint16_t dport_lo, dport_hi;
	uint8_t tcp_flags_mask, tcp_flags_value;
	uint32_t has;		/* ACL_HAS_* */
	uint8_t src_mac[6], src_mac_mask[6];	/* frame bytes; value has no bit outside mask */
	uint8_t dst_mac[6], dst_mac_mask[6];
	uint16_t vlan_lo, vlan_hi;	/* outer tag, inclusive */
	uint16_t ivlan_lo, ivlan_hi;	/* inner tag */
	uint8_t icmp_type, icmp_code;
	struct acl_prefix *arp_sender;	/* IPv4, with arp */
	size_t nr_arp_sender;
	struct acl_prefix *arp_target;
	size_t nr_arp_target;
	struct acl_prefix *nd_target;	/* IPv6, with proto icmpv6: NS and NA targets */
	size_t nr_nd_target;
};

/*
 * Parses "drop proto tcp src 10.0.0.0/8,192.168.0.0/16 dport 22-23 flags syn/syn,ack".
 * Words: an action, id N, family 4|6|any, proto NAME|N|arp, src LIST, dst LIST,
 * sport P|LO-HI, dport P|LO-HI, flags VALUE[/MASK], src_mac MAC[/MASK],
 * dst_mac MAC[/MASK], vlan OUTER[:INNER], arp_sender LIST, arp_target LIST,
 * icmp_type NAME|N, icmp_code NAME|N, nd_target LIST.
 */
int acl_rule_parse(const char *text, struct acl_rule_spec *rule, char *err, size_t errlen);
/*
 * Sets one field from its text, by its word (also the config key): what
 * acl_rule_parse() does for each word but the action. ICMP names resolve
 * in the family of the rule's proto, so set proto first.
 */
int acl_rule_set(struct acl_rule_spec *rule, const char *key, const char *value, char *err,
		 size_t errlen);
/*
 * Prints a rule back in the syntax acl_rule_parse() reads: the length, or
 * -ENOSPC when it does not fit (buf then holds a cut rule: never store it).
 */
int acl_rule_format(const struct acl_rule_spec *rule, char *buf, size_t len);
/* The whole text of a rule, however long (caller frees); NULL on error. */
char *acl_rule_text(const struct acl_rule_spec *rule);
int acl_prefix_parse(const char *text, struct acl_prefix *p);
void acl_rule_spec_free(struct acl_rule_spec *rule);
/* A deep copy (dst's own lists are not freed first). */
int acl_rule_spec_copy(struct acl_rule_spec *dst, const struct acl_rule_spec *src);
/* Rejects a rule that can never match or that the stage cannot express. */
int acl_rule_check(const struct acl_rule_spec *rule, char *err, size_t errlen);
/* The same, and *key (when not NULL) names the word at fault, or NULL for the whole rule. */
int acl_rule_check_key(const struct acl_rule_spec *rule, char *err, size_t errlen, const char **key);

/* Map names in the acl stage object, also their pin names under maps/. */
#define ACL_MAP_RULES		"sluice_acl_rules"
#define ACL_MAP_HITS		"sluice_acl_hits"
#define ACL_MAP_CTL		"sluice_acl_ctl"
#define ACL_MAP_SUM		"sluice_acl_sum"
#define ACL_MAP_SRC4		"sluice_acl_src4"
#define ACL_MAP_DST4		"sluice_acl_dst4"
#define ACL_MAP_SRC6		"sluice_acl_src6"
#define ACL_MAP_DST6		"sluice_acl_dst6"
#define ACL_MAP_ND6		"sluice_acl_nd6"
#define ACL_MAP_HOSTS4		"sluice_acl_hosts4"
#define ACL_MAP_HOSTS6		"sluice_acl_hosts6"
/* Index in ACL_MAP_HITS of packets no rule matched. */
#define ACL_HITS_DEFAULT	SLUICE_ACL_POSITIONS

/* The acl stage's maps, by fd; -1 where not open. */
struct acl_maps {
	int rules, hits, ctl, sum;
	int trie[SLUICE_ACL_NR_TRIES];	/* by enum sluice_acl_trie */
	int hosts4, hosts6;		/* full-length prefixes of the IPv4 and IPv6 tries */
};

struct bpf_object;

/* Borrows the fds of a loaded acl stage object (do not close them). */
int acl_maps__from_object(const struct bpf_object *obj, struct acl_maps *maps);
/* Opens the maps pinned as DIR/<map name>; close them with acl_maps__close(). */
int acl_maps__open_pinned(const char *dir, struct acl_maps *maps);
void acl_maps__close(struct acl_maps *maps);

/* What one acl__apply_info() did. */
struct acl_apply_info {
	enum sluice_acl_mode mode;	/* of the new rule set */
	size_t kept;			/* rules left where they were */
	size_t placed;			/* rules written at a new position (new, changed or moved) */
	size_t moved;			/* of which kept rules moved to make room */
	size_t retired;			/* positions the old set used and the new one does not */
	size_t keys_written;		/* trie updates and deletes */
	bool rebuilt;			/* the mirror was read back from the maps first */
	bool blanked;			/* packets matched nothing for the update's duration */
};

/*
 * Makes rules[0..n) the rule set, in order. Packets in flight are judged by
 * the old set or the new one, never by a mix (see acl.c for the one case
 * that degrades to default_action instead). Hit counters follow rules by
 * id. Only what changed is written: the process keeps a mirror of the maps
 * it wrote, checked against a generation in the maps, so a one-rule change
 * costs that rule's writes. Callers serialize calls on the same maps.
 */
int acl__apply(const struct acl_maps *maps, const struct acl_rule_spec *rules, size_t n);
int acl__apply_info(const struct acl_maps *maps, const struct acl_rule_spec *rules, size_t n,
		    struct acl_apply_info *info);
/*
 * For tests and benchmarks: rule sets compile to the small table only up to
 * max entries (at most SLUICE_ACL_SMALL_MAX, the default; 0: never). Takes
 * effect at the next acl__apply().
 */
void acl__set_small_max(size_t max);
/*
 * For tests: fn is called at each step of an update: "written" (what is
 * new is in the maps, the old set is live), "switched" (the new set is live,
 * the old one not yet retired) and, when the sets cannot sit side by side,
 * "blanked" first (no rule is live). NULL: none.
 */
void acl__set_step_hook(void (*fn)(const char *step, void *arg), void *arg);

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

/*
 * Whether IFNAME (in the caller's network namespace) strips VLAN tags before
 * XDP sees them: rx VLAN offload on (`ethtool -k IFNAME` rx-vlan-offload),
 * on any driver but veth, which hands XDP its peer's frames as sent.
 * 1 yes, 0 no, or a negative errno. vlan rules need it off.
 */
int acl_iface_rxvlan(const char *ifname);

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The sluiced configuration file (YAML, see docs/config.md): parsed with
 * libyaml into a fully owned tree with every default filled in, and checked
 * as a whole so that one run reports every error, each as
 * "file:line:col: key.path: message" pointing at the offending node.
 */
#ifndef SLUICE_CONFIG_H
#define SLUICE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sluice/abi.h>
#include "acl.h"
#include "pkt.h"
#include "trust.h"

/* Stage objects that ship with sluice, named by their bare name. */
#define CONFIG_BUILTIN_STAGES	"parse", "acl", "ratelimit", "xsk", "count", "pass", "verdict"

#define CONFIG_DEFAULT_STATE_DIR	"/var/lib/sluice"
#define CONFIG_DEFAULT_SOCKET		"/run/sluice/sluiced.sock"
#define CONFIG_DEFAULT_SOCKET_MODE	0600
#define CONFIG_DEFAULT_IDLE_MS		10000
#define CONFIG_NAME_MAX			31	/* pipeline and stage names */

/*
 * What a configuration may cost to read: its size, how deep [ and { nest,
 * and its node count with YAML aliases expanded. 100,000 prefixes take
 * about 2 MB and 100,000 nodes, far inside each.
 */
#define CONFIG_MAX_BYTES	(16u << 20)
#define CONFIG_MAX_DEPTH	64
#define CONFIG_MAX_NODES	1000000u
#define CONFIG_MAX_TESTS	256		/* pre-flight packets per stage */
#define CONFIG_MAX_ERRORS	100		/* reported; the rest are counted */

struct cfg_param {
	char *name;		/* a .rodata variable of the stage object */
	int64_t value;		/* ints as written, bools 0/1, verdicts as XDP_* */
	int line, col;
};

/* A pre-flight packet: built with pkt_build(), run through the stage. */
struct cfg_test {
	struct pkt_spec pkt;
	int expect;		/* XDP_* */
	int line, col;
};

struct cfg_auto_rollback {
	bool enabled;		/* the stage has an auto_rollback section */
	uint32_t window_ms;	/* watch the new version this long after a swap */
	uint64_t max_aborted;	/* more ABORTED verdicts than this rolls back */
	uint64_t max_missed;	/* more missed tail calls than this rolls back */
	double max_drop_ratio;	/* drops / packets above this rolls back; 1 = never */
};

struct cfg_stage {
	char *name;
	char *object;		/* built-in name, or absolute path of a .bpf.o */
	bool builtin;
	char *program;		/* NULL: the object's only XDP program */
	uint32_t tail_calls;	/* extra tail calls the stage itself makes */
	struct cfg_param *params;
	size_t nr_params;
	struct acl_rule_spec *rules;
	size_t nr_rules;
	int *rule_lines;	/* line of each rule, for messages about it */
	struct cfg_test *tests;
	size_t nr_tests;
	struct cfg_auto_rollback auto_rollback;
	bool has_sha256;	/* the file's content is pinned */
	uint8_t sha256[TRUST_SHA256_LEN];
	int line, col;
};

struct cfg_pipeline {
	char *name;
	int default_verdict;	/* XDP_* for a packet that meets an empty slot */
	struct cfg_stage *stages;
	size_t nr_stages;	/* 1..SLUICE_MAX_STAGES */
	int line, col;
};

enum cfg_xdp_mode {
	CFG_XDP_AUTO = 0,	/* native if the driver can, else skb */
	CFG_XDP_NATIVE,
	CFG_XDP_SKB,
};

enum cfg_attach {
	CFG_ATTACH_LINK = 0,	/* a pinned bpf_link owned by sluice */
	CFG_ATTACH_LIBXDP,	/* libxdp dispatcher, shared with other XDP users */
};

/* Where the per-packet context lives (docs/datapath.md). */
enum cfg_context {
	CFG_CONTEXT_AUTO = 0,	/* metadata where the kernel allows it, else per-CPU */
	CFG_CONTEXT_META,
	CFG_CONTEXT_PERCPU,
};

/*
 * Per interface: what the entry records and times (docs/metrics.md). Applied
 * at start and at every reload; `sluicectl observe` changes it until then.
 */
#define CONFIG_OBSERVE_KEEP	1024	/* anomalies kept in memory by default */
struct cfg_observe {
	bool record;		/* anomaly recorder on */
	uint32_t keep;		/* anomalies the daemon keeps in memory, 1..65536 */
	uint32_t time_sample;	/* time 1 packet in this many (a power of two), 0 = off */
};

struct cfg_iface {
	char *name;
	char *pipeline;
	const struct cfg_pipeline *pipe;	/* resolved; never NULL in a loaded config */
	enum cfg_xdp_mode mode;
	enum cfg_attach attach;
	enum cfg_context context;
	char **shared_maps;	/* pinned under <pin_root>/shared/<map> */
	size_t nr_shared_maps;
	struct cfg_observe observe;
	int line, col;
};

enum cfg_xsk_mode {
	CFG_XSK_AUTO = 0,	/* zero-copy if the driver can, else copy */
	CFG_XSK_COPY,
	CFG_XSK_ZEROCOPY,
};

struct cfg_xsk {
	bool enabled;		/* the file has an xsk section */
	char *interface;
	uint32_t *queues;
	size_t nr_queues;
	uint32_t rx_ring;
	uint32_t fill_ring;
	uint32_t frame_size;
	uint32_t frames;
	enum cfg_xsk_mode mode;
	int line, col;
};

/* Where a key's value starts in the file, for messages that come later. */
struct cfg_pos {
	int line, col;
};

struct sluice_config {
	char *file;		/* as given to config__load() */
	char *pin_root;
	struct cfg_pos pin_root_pos;
	char *state_dir;
	int log_level;		/* syslog priority: LOG_DEBUG .. LOG_ERR */
	struct {
		char *socket;
		unsigned int mode;	/* 0600 or 0660 */
		char *group;		/* admin group; NULL: leave the socket's group alone */
		char *read_group;	/* may only read (docs/control.md "Roles"); NULL: none */
		uint32_t idle_timeout_ms;	/* an idle connection is closed after this */
		struct cfg_pos group_pos, read_group_pos;
	} control;
	struct {
		char *listen;	/* NULL: no metrics endpoint */
		struct sockaddr_storage addr;
		socklen_t addrlen;
	} metrics;
	struct cfg_pipeline *pipelines;
	size_t nr_pipelines;
	struct cfg_iface *ifaces;
	size_t nr_ifaces;
	struct cfg_xsk xsk;
	struct {
		uid_t owner;	/* trusted besides root; (uid_t)-1: none */
		char *owner_name;
		char *stage_dir;	/* NULL: objects anywhere the other rules allow */
	} trust;
};

struct config_error {
	char *msg;		/* "file:line:col: path: message" */
	int line, col;		/* 1-based; 0 when the error has no position */
};

struct config_errors {
	struct config_error *v;
	size_t n;
};

/*
 * Parse and check a file (or a string; name is used in messages and its
 * directory anchors relative object paths). On success *cfg owns the whole
 * tree. On failure *cfg is NULL and errs, if not NULL, holds every error in
 * file order: -EINVAL for configuration errors, another -errno when the file
 * cannot be read or memory runs out. errs is appended to; free it with
 * config_errors__free() either way.
 */
int config__load(const char *path, struct sluice_config **cfg, struct config_errors *errs);
int config__parse_string(const char *text, const char *name, struct sluice_config **cfg,
			 struct config_errors *errs);
void config__free(struct sluice_config *cfg);
void config_errors__free(struct config_errors *errs);

const struct cfg_pipeline *config__pipeline(const struct sluice_config *cfg, const char *name);

/*
 * Whether two stages run the same code with the same .rodata: same object,
 * program and parameters (in any order). Rules, tests and rollback policy are
 * not code, so changing them needs no new program. Returns 1 or 0.
 */
int config__stage_equal(const struct cfg_stage *a, const struct cfg_stage *b);

/*
 * What would make a start fail on this host, which parsing does not look
 * at: control.group and control.read_group must exist, pin_root must be on
 * a bpffs (or under /sys/fs/bpf, which sluiced mounts). errs gets those; a
 * missing interface goes to warns (if not NULL), since interfaces come and
 * go. Both use the file:line:col form. Returns -EINVAL when errs grew.
 */
int config__check_env(const struct sluice_config *cfg, struct config_errors *errs,
		      struct config_errors *warns);

/*
 * The trust policy a configuration asks for (lib/trust.h): its owner and
 * stage folder, and a pin for every stage object with a sha256. pol borrows
 * strings from cfg; free it with config__trust_policy_free().
 */
int config__trust_policy(const struct sluice_config *cfg, struct trust_policy *pol);
void config__trust_policy_free(struct trust_policy *pol);

/*
 * A parameter of a built-in stage: 0 when object is a built-in that has it
 * and value means something to it (or object is no built-in); -ENOENT for a
 * name it does not have, -ERANGE for a value out of range, err saying which.
 */
int config__builtin_param_check(const char *object, const char *name, int64_t value, char *err,
				size_t len);

/* "pass" for XDP_PASS etc.; NULL for a value that is no XDP action. */
const char *config__verdict_name(int verdict);

#endif

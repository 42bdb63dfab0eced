/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SLUICED_H
#define SLUICED_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "capture.h"
#include "config.h"
#include "ctl.h"
#include "pipeline.h"

struct json_object;

/* After a change with auto_rollback: what to watch, until when. */
struct rollback_watch {
	bool active;
	int idx;			/* the stage swapped, -1 for a transaction */
	uint64_t until_ms;
	struct cfg_auto_rollback policy;
	struct sluice_pipe_stats base;
	struct sluice_slot_stats base_slot;
};

/* A canary started with --auto: its side against the live side. */
struct canary_watch {
	bool active;
	uint64_t until_ms;
	struct cfg_auto_rollback policy;	/* the margins */
	struct sluice_pipe_stats base_live, base_cand;
};

/* watch[i] for a swap of stage i, watch[WATCH_COMMIT] for a transaction. */
#define WATCH_COMMIT	SLUICE_MAX_STAGES
/* Interfaces one commit may switch together. */
#define SLUICE_MAX_GROUP	16

struct iface {
	const struct cfg_iface *cfg;	/* in daemon.cfg */
	struct pipeline pl;
	struct acl_rule_spec *rules;	/* the live rule set (config, then CLI edits) */
	size_t nr_rules;
	struct rollback_watch watch[SLUICE_MAX_STAGES + 1];
	struct canary_watch canary;
	uint32_t drift;			/* positions found drifted at the last check */
};

/* change.c: the one way a running pipeline changes. */
enum change_kind {
	CHANGE_SWAP,			/* one stage: one slot update */
	CHANGE_STAGE_ROLLBACK,
	CHANGE_COMMIT,			/* a transaction: a generation, one store */
	CHANGE_PREPARE,			/* a candidate, not live */
	CHANGE_COMMIT_PREPARED,
	CHANGE_DROP,
	CHANGE_ROLLBACK,		/* back to the previous generation */
	CHANGE_CANARY_START,
	CHANGE_CANARY_PROMOTE,
	CHANGE_CANARY_ABORT,
	CHANGE_REPAIR,			/* drifted slots put back */
	CHANGE_GROUP_COMMIT,
	CHANGE_NR,
};
extern const char *const change_names[CHANGE_NR];

struct change {
	enum change_kind kind;
	struct iface *ifc;
	int idx;			/* the stage of a swap or stage rollback, else -1 */
	struct stage_src *src;		/* a swap's one source, or the whole pipeline's */
	int n;
	struct preflight_pkt *pf;
	size_t nr_pf;
	uint32_t cand;			/* in: commit/drop/canary; out: prepare */
	uint32_t share;			/* canary, of SLUICE_SHARE_ONE */
	const char *what[SLUICE_MAX_STAGES];	/* stages named, for history and the log */
	int nr_what;
	const char *auto_reason;	/* the daemon decided it, because */
	/* results */
	uint64_t us, build_us, switch_us;
	uint32_t old_gen;
	int repaired;
	struct stage_inst before[SLUICE_MAX_STAGES];
	struct pipeline_err err;
};

void change__init(struct change *c, enum change_kind kind, struct iface *ifc);
void change__free(struct change *c);
/* src becomes a copy of the live pipeline's sources, to edit. */
int change__alloc_src(struct change *c, const struct pipeline *pl);
void change__name(struct change *c, const char *stage);
int change__apply(struct daemon *d, struct change *c, uid_t uid);
struct json_object *change__reply(const struct daemon *d, const struct change *c, int ret);
int change__apply_group(struct daemon *d, struct iface **ifcs, const uint32_t *cands, int n,
			uid_t uid, struct pipeline_err *err);
/* History of a change made outside change__apply() (rule edits). */
void change__history(struct daemon *d, struct iface *ifc, const char *op, uid_t uid, const char *what,
		     uint64_t us, const char *error);
void change__check_drift(struct iface *ifc);
void change__watch_stage(struct iface *ifc, int idx);
void change__watch_commit(struct iface *ifc, const struct change *c);
void change__watch_canary(struct iface *ifc, const struct cfg_auto_rollback *policy);

struct capture;
struct events;
struct history;
struct metrics;
struct observe;
struct daemon;
struct diff_state;

struct client {
	struct ctl_conn conn;
	struct ctl_peer peer;	/* SO_PEERCRED, SO_PEERGROUPS and role, at accept */
};

struct daemon {
	struct sluice_config *cfg;
	const char *config_path;
	struct iface *ifs;
	size_t nr_ifs;
	int listen_fd;
	struct client *clients;
	size_t nr_clients, cap_clients;
	gid_t group;			/* control socket group (admin), (gid_t)-1 = root only */
	gid_t read_group;		/* control.read_group, (gid_t)-1 = none */
	int reserve_fd;			/* spare descriptor: accept() at EMFILE to say no */
	/* The client whose request is being served, for ops that open its paths. */
	const struct ctl_peer *peer;
	struct history *hist;
	struct metrics *metrics;
	struct capture *capture;	/* the xsk section's sockets, NULL without one */
	struct events *events;		/* fds the event loop watches besides its sockets */
	struct observe *observe;	/* anomaly logs of the interfaces */
	/* The metrics thread reads what the main thread changes. */
	pthread_mutex_t lock;
	uint64_t start_ms;
	uint64_t swaps;			/* changes that reached packets */
	uint64_t changes[CHANGE_NR][2];	/* by kind: [0] applied, [1] refused */
	uint64_t auto_rollbacks;
	uint64_t drift_check_ms;
	uint64_t req_us;		/* when the request being handled arrived */
	struct diff_state *diff;	/* shadow diffs, NULL until the first */
	volatile sig_atomic_t want_reload, want_quit;
};

/* caps.c: what the daemon keeps after setup (docs/security.md). */
int caps__drop(const struct sluice_config *cfg, char *held, size_t len);

/* log.c: stderr with sd-daemon level prefixes when journald reads it. */
void log_init(int level, bool journal);
void log_msg(int prio, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Copies in with control characters as \n, \t, \xNN; returns the length. */
size_t log_escape(char *out, size_t len, const char *in);
#define log_err(...)	log_msg(3, __VA_ARGS__)
#define log_warn(...)	log_msg(4, __VA_ARGS__)
#define log_notice(...)	log_msg(5, __VA_ARGS__)
#define log_info(...)	log_msg(6, __VA_ARGS__)
#define log_debug(...)	log_msg(7, __VA_ARGS__)

/* iface.c: configuration to running pipelines. */
int iface__src_from_cfg(const struct cfg_pipeline *p, struct stage_src *src);
int iface__start(struct daemon *d, struct iface *ifc, const struct cfg_iface *cfg, char *err, size_t len);
/* What iface__apply() changed, so that a failed reload can put it back. */
struct iface_undo {
	bool committed;			/* a new generation went live: src is the old code */
	struct stage_src src[SLUICE_MAX_STAGES];
	int nr_stages;
	int default_verdict;
	bool rules_set;			/* the rule set changed: rules is the old one */
	struct acl_rule_spec *rules;
	size_t nr_rules;
};
int iface__apply(struct daemon *d, struct iface *ifc, const struct cfg_iface *cfg,
		 struct iface_undo *u, bool *changed, char *err, size_t len);
void iface__undo(struct iface *ifc, struct iface_undo *u);
void iface__undo_free(struct iface_undo *u);
int iface__save_rules(const struct daemon *d, const struct iface *ifc);
int iface__set_rules(struct iface *ifc, const struct acl_rule_spec *rules, size_t n, char *err,
		     size_t len);
/*
 * Rules with a vlan field see no tag on a NIC that strips it before XDP (rx
 * VLAN offload, `ethtool -k IFACE` rx-vlan-offload): a message saying so in
 * buf, or NULL when the rules name no VLAN or the offload is off.
 */
const char *iface__vlan_warning(const struct iface *ifc, char *buf, size_t len);
int iface__preflight(const struct cfg_pipeline *p, const char *const *stages, size_t nr_stages,
		     struct preflight_pkt **pf, size_t *nr_pf);
void iface__free_preflight(struct preflight_pkt *pf, size_t n);
int iface__acl_slot(const struct iface *ifc);
struct iface *daemon__iface(struct daemon *d, const char *name);
const struct cfg_stage *iface__cfg_stage(const struct iface *ifc, const char *name);
void iface__free(struct iface *ifc);

/* ops.c: one handler per control request. */
struct json_object *ops__handle(struct daemon *d, struct json_object *req, uid_t uid);
int daemon__reload(struct daemon *d, struct json_object *changed, char *err, size_t len);
/* Makes cfg's trust policy the process's (lib/trust.h). */
int daemon__set_trust(const struct sluice_config *cfg);
void daemon__watch_tick(struct daemon *d);

/* diff.c: shadow diffs of a candidate stage against sampled live frames. */
int diff__start(struct daemon *d, struct iface *ifc, int idx, const struct stage_src *src,
		uint32_t samples, uint32_t seconds, uint32_t *id, char *err, size_t len);
void diff__tick(struct daemon *d);
struct json_object *diff__json(struct daemon *d, uint32_t id, char *err, size_t len);
void diff__free(struct daemon *d);

/* control.c: the socket and the event loop. */
void control__block_signals(void);
/* Before anything is attached: the socket path is free, or a stale socket. */
int control__check_path(struct daemon *d);
int control__listen(struct daemon *d);
int control__loop(struct daemon *d);

/* history.c: every change, in memory and appended to state_dir/history.jsonl. */
#define HISTORY_MAX_BYTES	(1u << 20)	/* then history.jsonl.1 and a new file */
struct history *history__new(const char *state_dir, size_t max_bytes);	/* 0: the default */
void history__free(struct history *h);
void history__add(struct history *h, struct json_object *entry);	/* takes the reference */
struct json_object *history__list(struct history *h, size_t limit);

/*
 * metrics.c: Prometheus text on HTTP. libmicrohttpd's thread serves a
 * snapshot that the event loop renders on its request, so it never reads a
 * pipeline or takes the daemon's lock. *out stays NULL without metrics.listen;
 * a listener that cannot bind is an error.
 */
int metrics__start(struct daemon *d, struct metrics **out);
/* Starts libmicrohttpd's thread on what metrics__start() bound: after the capabilities go. */
int metrics__serve(struct daemon *d, struct metrics *m);
void metrics__stop(struct daemon *d, struct metrics *m);
char *metrics__render(struct daemon *d);
/* An automatic rollback or canary abort of ifname (change.c), for metrics, by result. */
void metrics__count_auto_rollback(const char *ifname, bool ok);
/*
 * A configuration load at start or by a reload: counts reloads by result;
 * when ok, hashes the file and notes the time.
 */
void metrics__config_loaded(const char *path, bool ok, bool reload);

/* events.c: more fds for the event loop, each with a handler run in its thread. */
typedef void (*events_fn)(struct daemon *d, void *ctx);
int events__init(struct daemon *d);
int events__fd(const struct daemon *d);
int events__add(struct daemon *d, int fd, events_fn fn, void *ctx);
void events__del(struct daemon *d, int fd);
void events__dispatch(struct daemon *d);
void events__free(struct daemon *d);

/* observe.c: anomaly logs, the recorder and timing knobs, stage time. */
#define OBSERVE_NR_REASONS	(SLUICE_AN_SAMPLE + 1)	/* index 0: a reason this daemon does not know */
#define OBSERVE_NR_SLOTS	(SLUICE_MAX_STAGES + 1)	/* index SLUICE_MAX_STAGES: no stage */
#define OBSERVE_NR_TIMES	(SLUICE_MAX_STAGES + 1)	/* index SLUICE_MAX_STAGES: the entry */
int observe__sync(struct daemon *d);		/* a log per interface, opened or closed to match */
void observe__free(struct daemon *d);
int observe__apply_cfg(struct daemon *d);	/* each interface's knobs from its observe: */
void observe__reloaded(struct daemon *d, bool ok);	/* after a reload, from either path */
/* record: 0/1, -1 leaves it; time_sample: 1 in N (a power of two), 0 off, -1 leaves it. */
int observe__set(struct iface *ifc, int record, int64_t time_sample);
void observe__get(const struct iface *ifc, bool *record, uint64_t *time_sample);
int observe__stage_time(const struct pipeline *pl, struct sluice_stage_time *t);	/* OBSERVE_NR_TIMES */
int observe__counts(struct daemon *d, const char *ifname, const uint64_t **count);
const char *observe__reason_name(int reason);
const char *observe__stage_name(const struct pipeline *pl, int bank, int slot);
/* Records after seq `after`, oldest first, at most limit; NULL: no such interface. */
struct json_object *observe__anomalies_json(struct daemon *d, const char *ifname, uint64_t after,
					    size_t limit);
/* The ops "anomalies" and "observe" (docs/control.md), and the stats op's "observe" field. */
struct json_object *observe__op_anomalies(struct daemon *d, struct json_object *req, uid_t uid);
struct json_object *observe__op_observe(struct daemon *d, struct json_object *req, uid_t uid);
struct json_object *observe__stats_json(struct daemon *d, const struct iface *ifc);

#endif

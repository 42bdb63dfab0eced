/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One interface's pipeline: generations of (prog_array, entry, stages) pinned
 * in bpffs, attached through one XDP link, changed in place one slot at a time
 * or replaced whole by a transaction.
 */
#ifndef SLUICE_PIPELINE_H
#define SLUICE_PIPELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <net/if.h>
#include <linux/bpf.h>
#include <linux/limits.h>
#include <sluice/abi.h>

#define STAGE_MAX_PARAMS	16
#define SLUICE_MAX_SHARED	16
#define STAGE_PROG_LEN		64

struct stage_param {
	char name[64];
	int64_t value;
};

/* Where a stage's code comes from: what the config or the CLI names. */
struct stage_src {
	char name[SLUICE_NAME_LEN];	/* the stage's name in the pipeline */
	char object[PATH_MAX];		/* a built-in name or a .bpf.o path */
	char program[STAGE_PROG_LEN];	/* "" = the object's only XDP program */
	struct stage_param params[STAGE_MAX_PARAMS];
	int nr_params;
	int tail_calls;			/* extra tail calls the stage makes itself */
};

/* A loaded program in a slot. */
struct stage_inst {
	int fd;				/* -1 = none */
	uint32_t prog_id;
	uint32_t ver;
	uint64_t hash;
	uint32_t next;			/* prog_array index it tail-calls */
	char tag[17];
};

enum sluice_xdp_mode {
	SLUICE_XDP_AUTO = 0,		/* native where the driver has it, else generic */
	SLUICE_XDP_NATIVE,
	SLUICE_XDP_SKB,
};

enum sluice_attach {
	SLUICE_ATTACH_LINK = 0,		/* libbpf bpf_link: pinnable, atomic update */
	SLUICE_ATTACH_LIBXDP,		/* libxdp; netlink replace when it falls back to one program */
};

/* A bank that is not live: the previous generation, a prepared candidate, a canary. */
struct bank {
	enum sluice_bank_state state;
	uint32_t gen;
	uint32_t cand;			/* candidate id, 0 = none */
	uint32_t base;			/* pl->changes when the candidate was built */
	int default_verdict;
	int nr_stages;
	struct stage_src *src;		/* SLUICE_MAX_STAGES entries, on the heap */
	struct stage_inst st[SLUICE_MAX_STAGES];
};

struct pipeline {
	char ifname[IF_NAMESIZE];
	int ifindex;
	char root[PATH_MAX];		/* the pin root */
	char dir[PATH_MAX];		/* <pin root>/<ifname> */
	enum sluice_carrier carrier;	/* of the entry and every stage */
	uint8_t entry_flags;		/* SLUICE_ENTRY_F_* the entry is built with */
	/* The live generation: what the switch word's bank names. */
	uint32_t gen;			/* 0 = none yet */
	int bank;			/* its bank */
	int default_verdict;
	int nr_stages;
	struct stage_src *src;		/* SLUICE_MAX_STAGES entries, on the heap */
	struct stage_inst live[SLUICE_MAX_STAGES];
	struct stage_inst prev[SLUICE_MAX_STAGES];	/* what the last swap replaced */
	struct stage_src *prev_src;
	/* Every other bank; banks[bank] is unused while it is live. */
	struct bank banks[SLUICE_NR_BANKS];
	int progs_fd;			/* the prog_array: every bank */
	struct stage_inst entry;
	int switch_fd;
	struct sluice_switch *sw;	/* the switch map, mmapped */
	int link_fd;			/* -1 = not attached */
	uint32_t link_id;
	enum sluice_xdp_mode mode;
	enum sluice_attach how;
	bool native;			/* what auto chose */
	uint32_t next_ver, next_gen, next_cand;
	uint32_t changes;		/* changes to what runs: commits, swaps, rollbacks */
	/* State maps shared with other interfaces, pinned under shared_dir. */
	char shared_dir[PATH_MAX];
	char shared[SLUICE_MAX_SHARED][SLUICE_NAME_LEN];
	int nr_shared;
	/* Of the last swap or commit: loading and verifying, then the step packets see. */
	uint64_t last_build_us, last_switch_us;
	uint64_t last_switch_at_us;	/* sluice_now_us() right after that step */
};

/* A pre-flight packet: the whole candidate pipeline must give this verdict. */
struct preflight_pkt {
	const void *frame;
	size_t len;
	int expect;			/* XDP action */
};

struct pipeline_err {
	char msg[1024];
	char *verifier_log;		/* malloc'd tail of the verifier log, or NULL */
};

void pipeline_err__clear(struct pipeline_err *e);

/* Sets up pl for ifname under pin_root; touches nothing in the kernel. */
int pipeline__init(struct pipeline *pl, const char *pin_root, const char *ifname);
void pipeline__close(struct pipeline *pl);	/* closes fds, keeps pins: traffic goes on */

/*
 * Chooses where the per-packet context lives, before load. flags are
 * SLUICE_ENTRY_F_* for the entry (tests force a metadata refusal with them).
 */
void pipeline__set_carrier(struct pipeline *pl, enum sluice_carrier carrier, uint8_t entry_flags);

/* Checks a stage list against the kernel's limits before anything is loaded. */
int pipeline__validate(const struct stage_src *src, int n, struct pipeline_err *err);

/*
 * Loads a first generation, fills every slot, pins it, then attaches: no
 * packet ever meets an empty slot. Refuses to touch an interface whose
 * folder already holds a pipeline (adopt it instead).
 */
int pipeline__create(struct pipeline *pl, const struct stage_src *src, int n, int default_verdict,
		     struct pipeline_err *err);
/* Loads and pins without attaching (tests, BPF_PROG_TEST_RUN). */
int pipeline__load(struct pipeline *pl, const struct stage_src *src, int n, int default_verdict,
		   struct pipeline_err *err);
int pipeline__attach(struct pipeline *pl, enum sluice_xdp_mode mode, enum sluice_attach how,
		     struct pipeline_err *err);

/*
 * Names state maps to pin under <pin root>/shared/ rather than per interface,
 * so every interface naming them uses the same map. Before load or adopt.
 */
int pipeline__share_maps(struct pipeline *pl, const char *pin_root, char *const *names, size_t n);

/*
 * Opens what a previous daemon pinned. -ENOENT only when nothing of this
 * interface is pinned; a pipeline that is there but cannot be adopted (a
 * missing pin, another layout) is another error, and the caller must not
 * take it for an empty interface: its traffic still runs through it.
 */
int pipeline__adopt(struct pipeline *pl, struct pipeline_err *err);

/*
 * Upgrades across pin layouts, never detaching: when adoption finds pins of
 * another layout (-EPROTONOSUPPORT), prepare builds the new pipeline beside
 * them, in <root>/<ifname>:new, carrying every state map whose layout is
 * unchanged (reset names those that start afresh); the caller may write
 * state (rules) into it; switch then points the interface at the new entry
 * with one link update (or one XDP_FLAGS_REPLACE) and puts the new folder in
 * place. A start that finds the switch done but not the rest (pending)
 * finishes it with resume.
 */
int pipeline__upgrade_prepare(struct pipeline *pl, const struct stage_src *src, int n,
			      int default_verdict, char *reset, size_t resetlen, struct pipeline_err *err);
int pipeline__upgrade_switch(struct pipeline *pl, struct pipeline_err *err);
bool pipeline__upgrade_pending(const struct pipeline *pl);
int pipeline__upgrade_resume(struct pipeline *pl, struct pipeline_err *err);

/* Replaces the program in one slot of the live bank (one atomic prog_array update). */
int pipeline__swap_stage(struct pipeline *pl, int idx, const struct stage_src *src,
			 const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err);
int pipeline__rollback_stage(struct pipeline *pl, int idx, struct pipeline_err *err);

/*
 * Replaces the whole stage list as one: a new generation built in an idle
 * bank, switched in by one store into the switch word; the old one stays
 * loaded as the previous generation (pipeline__rollback_commit) once an RCU
 * grace period has passed and no packet can still be inside it.
 */
int pipeline__commit(struct pipeline *pl, const struct stage_src *src, int n,
		     const struct preflight_pkt *pf, size_t nr_pf, struct pipeline_err *err);
/* Makes the previous generation live again: one store. */
int pipeline__rollback_commit(struct pipeline *pl, struct pipeline_err *err);

/*
 * Two-phase changes: build, verify and pre-flight a generation in an idle
 * bank (a candidate), then make it live with one store. A candidate built
 * against a live generation that has changed since is refused (-ESTALE).
 */
int pipeline__prepare(struct pipeline *pl, const struct stage_src *src, int n,
		      const struct preflight_pkt *pf, size_t nr_pf, uint32_t *cand,
		      struct pipeline_err *err);
int pipeline__commit_prepared(struct pipeline *pl, uint32_t cand, struct pipeline_err *err);
int pipeline__drop_candidate(struct pipeline *pl, uint32_t cand, struct pipeline_err *err);
/* The bank of candidate cand, or -ENOENT. */
int pipeline__candidate_bank(const struct pipeline *pl, uint32_t cand);

/*
 * Canary: candidate cand serves share/SLUICE_SHARE_ONE of the flows (by a
 * flow hash), the live generation the rest. Promote makes it live; abort
 * sends every flow back and drops it.
 */
int pipeline__canary_start(struct pipeline *pl, uint32_t cand, uint32_t share,
			   struct pipeline_err *err);
int pipeline__canary_promote(struct pipeline *pl, struct pipeline_err *err);
int pipeline__canary_abort(struct pipeline *pl, struct pipeline_err *err);
/* The canary's bank, or -ENOENT. */
int pipeline__canary_bank(const struct pipeline *pl);

/*
 * Makes the prepared candidates of several interfaces live at one instant:
 * each follows a selector word of the pin root, then one store into it
 * switches them all. All of them or none.
 */
int pipeline__commit_group(struct pipeline **pls, const uint32_t *cands, int n,
			   struct pipeline_err *err);

/*
 * Slot drift: positions of the live bank whose slot holds another program
 * than the one this pipeline put there (a bit each); running[] (may be
 * NULL) gets the ids found. Repair puts the recorded programs back and
 * returns how many it restored.
 */
int pipeline__drift(const struct pipeline *pl, uint32_t *running);
int pipeline__repair(struct pipeline *pl, struct pipeline_err *err);

/*
 * A scratch copy of a pipeline with src as its stages: its own prog_array,
 * entry, switch word, context and copies of the state maps (rules as they
 * are now, counters from zero). Nothing it does reaches the live pipeline.
 */
struct pipeline_scratch;
int pipeline__scratch_open(struct pipeline *pl, const struct stage_src *src, int n,
			   struct pipeline_scratch **sc, struct pipeline_err *err);
int pipeline__scratch_run(struct pipeline_scratch *sc, const void *frame, size_t len, uint32_t *verdict);
void pipeline__scratch_close(struct pipeline_scratch *sc);

/*
 * Knobs read by the entry with the switch word: time 1 packet in time_every
 * for stage timing, sample 1 in sample_every for a shadow diff (powers of
 * two; 0 = off; -1 = leave as it is), record anomalies (-1 = leave).
 */
int pipeline__set_knobs(struct pipeline *pl, long time_every, long sample_every, int record);

/* Whether the live entry is what the interface runs (by a link or by libxdp). */
bool pipeline__attached(const struct pipeline *pl);

/* Detaches and removes every pin of the interface. */
int pipeline__destroy(struct pipeline *pl);

int pipeline__find_stage(const struct pipeline *pl, const char *name);
/* Opens a state map pinned under maps/ by name (caller closes). */
int pipeline__map_fd(const struct pipeline *pl, const char *name);
/*
 * Entries 0..n-1 of the pipeline's per-CPU array NAME, each a struct of
 * WORDS u64 counters, summed over every CPU into out[n * words]; -ENOENT
 * when the pipeline has no such map.
 */
int pipeline__percpu_sum(const struct pipeline *pl, const char *name, uint64_t *out, uint32_t n,
			 size_t words);

/*
 * Sums the per-CPU counters over every bank. slots has room for
 * SLUICE_MAX_STAGES positions.
 */
int pipeline__stats(const struct pipeline *pl, struct sluice_pipe_stats *ps,
		    struct sluice_slot_stats *slots);
/* The same for one bank only (a canary's side). */
int pipeline__stats_bank(const struct pipeline *pl, int bank, struct sluice_pipe_stats *ps,
			 struct sluice_slot_stats *slots);

/* Runs one frame through the live entry with BPF_PROG_TEST_RUN. */
int pipeline__test_run(const struct pipeline *pl, const void *frame, size_t len, uint32_t *verdict,
		       struct sluice_meta *meta);

/* Hash of what a stage would load: object bytes, program, parameters; why not into err (may be NULL). */
int stage_src__hash(const struct stage_src *src, uint64_t *hash, char *err, size_t errlen);
bool stage_src__is_builtin(const char *object);
int stage_src__set_param(struct stage_src *src, const char *name, int64_t value);

/* Waits until no XDP program run that started before the call is still going. */
void sluice_rcu_wait(void);

/* The one vocabulary for verdicts, carriers and bank states. */
const char *xdp_verdict_name(int v);
int xdp_verdict_parse(const char *s);
const char *sluice_carrier_name(int c);
int sluice_carrier_parse(const char *s);
const char *sluice_bank_state_name(int s);

#endif

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SLUICE_STAGE_LOAD_H
#define SLUICE_STAGE_LOAD_H

#include "pipeline.h"

/* The entry program's object, loaded like a stage but never named by users. */
#define STAGE_ENTRY_OBJECT	"@entry"

struct stage_load_req {
	const struct stage_src *src;
	int progs_fd;			/* the generation's prog_array */
	const char *maps_dir;		/* where state maps are pinned; NULL = private maps */
	const char *shared_dir;		/* where the maps named in shared are pinned */
	const char (*shared)[SLUICE_NAME_LEN];
	int nr_shared;
	uint32_t slot, next;
	uint16_t gen;
	uint32_t ver;
	bool entry;			/* load the entry program instead of a stage */
	int default_verdict;		/* entry only */
};

/*
 * Loads one program bound to req->progs_fd with its .rodata set. On a
 * verifier refusal *verifier_log gets the log's tail (caller frees).
 */
int stage__load(const struct stage_load_req *req, struct stage_inst *out, char *err, size_t errlen,
		char **verifier_log);

struct bpf_object;

/* Sets an integer .rodata variable of an opened, not yet loaded object. */
int stage__set_rodata(struct bpf_object *obj, const char *var, int64_t value);

#endif

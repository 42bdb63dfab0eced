/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef SLUICE_STAGE_LOAD_H
#define SLUICE_STAGE_LOAD_H

#include "pipeline.h"

/* Where a program's maps come from, for the stages and the entry alike. */
struct stage_maps {
	int progs_fd;			/* the interface's prog_array */
	const char *maps_dir;		/* where state maps are pinned; NULL = private maps */
	const char *shared_dir;		/* where the maps named in shared are pinned */
	const char (*shared)[SLUICE_NAME_LEN];
	int nr_shared;
	const char *root_dir;		/* the pin root: the selectors map (entry only) */
};

struct stage_load_req {
	const struct stage_src *src;
	struct stage_maps maps;
	uint32_t slot, next;
	uint16_t gen;
	uint8_t bank;
	uint8_t carrier;		/* enum sluice_carrier */
	uint32_t ver;
};

struct entry_load_req {
	struct stage_maps maps;
	uint8_t carrier;
	uint8_t flags;			/* SLUICE_ENTRY_F_* */
};

/*
 * Loads one stage bound to req->maps with its .rodata set. On a verifier
 * refusal *verifier_log gets the log's tail (caller frees). A stage built
 * against another version of <sluice/stage.bpf.h> is refused before load.
 */
int stage__load(const struct stage_load_req *req, struct stage_inst *out, char *err, size_t errlen,
		char **verifier_log);

/* Loads the interface's entry program for the given carrier. */
int entry__load(const struct entry_load_req *req, struct stage_inst *out, char *err, size_t errlen,
		char **verifier_log);

/* A map an object defines, as the kernel would create it. */
struct stage_map_def {
	char name[SLUICE_NAME_LEN];
	uint32_t type, key_size, value_size, max_entries, flags;
};

/*
 * The maps the entry (for carrier) and the nr stages of src define, each
 * name once: what a pipeline of them pins under maps/. Returns how many.
 */
int stage__map_defs(const struct stage_src *src, int nr, uint8_t carrier, struct stage_map_def *defs,
		    int max, char *err, size_t errlen);

struct bpf_object;

/* Sets an integer .rodata variable of an opened, not yet loaded object. */
int stage__set_rodata(struct bpf_object *obj, const char *var, int64_t value);

#endif

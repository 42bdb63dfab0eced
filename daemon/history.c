// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What changed, when and by whom: the last entries in memory for `sluicectl
 * history`, and every entry appended to state_dir/history.jsonl so the record
 * outlives the daemon.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "sluiced.h"

#define HISTORY_KEEP	1024

struct history {
	struct json_object *ring[HISTORY_KEEP];
	size_t next, count;
	FILE *log;
};

struct history *history__new(const char *state_dir)
{
	struct history *h = calloc(1, sizeof(*h));
	char path[4096];

	if (!h)
		return NULL;
	snprintf(path, sizeof(path), "%s/history.jsonl", state_dir);
	h->log = fopen(path, "ae");
	if (!h->log)
		log_warn("history: cannot append to %s: %s", path, strerror(errno));
	return h;
}

void history__free(struct history *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < HISTORY_KEEP; i++)
		json_object_put(h->ring[i]);
	if (h->log)
		fclose(h->log);
	free(h);
}

void history__add(struct history *h, struct json_object *entry)
{
	if (!h) {
		json_object_put(entry);
		return;
	}
	if (h->log) {
		fprintf(h->log, "%s\n", json_object_to_json_string_ext(entry, JSON_C_TO_STRING_PLAIN));
		fflush(h->log);
	}
	json_object_put(h->ring[h->next]);
	h->ring[h->next] = entry;
	h->next = (h->next + 1) % HISTORY_KEEP;
	if (h->count < HISTORY_KEEP)
		h->count++;
}

/* The newest limit entries, oldest first. */
struct json_object *history__list(struct history *h, size_t limit)
{
	struct json_object *a = json_object_new_array();
	size_t n;

	if (!h)
		return a;
	n = limit < h->count ? limit : h->count;
	for (size_t i = 0; i < n; i++) {
		size_t at = (h->next + HISTORY_KEEP - n + i) % HISTORY_KEEP;

		json_object_array_add(a, json_object_get(h->ring[at]));
	}
	return a;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What changed, when and by whom: the last entries in memory for `sluicectl
 * history`, and every entry appended to state_dir/history.jsonl so the record
 * outlives the daemon. The file is capped: past HISTORY_MAX_BYTES it becomes
 * history.jsonl.1 (replacing the one before) and a new one starts, so the
 * record takes at most twice that, in a tmpfs state folder too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "sluiced.h"

#define HISTORY_KEEP	1024

struct history {
	struct json_object *ring[HISTORY_KEEP];
	size_t next, count;
	FILE *log;
	char path[4096];
	size_t max_bytes;
	size_t bytes;		/* in the current file */
};

static FILE *history_open(struct history *h)
{
	struct stat st;
	FILE *f;
	int fd;

	fd = open(h->path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("history: cannot append to %s: %s", h->path, strerror(errno));
		return NULL;
	}
	f = fdopen(fd, "a");
	if (!f) {
		close(fd);
		return NULL;
	}
	h->bytes = fstat(fd, &st) ? 0 : (size_t)st.st_size;
	return f;
}

struct history *history__new(const char *state_dir, size_t max_bytes)
{
	struct history *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	snprintf(h->path, sizeof(h->path), "%s/history.jsonl", state_dir);
	h->max_bytes = max_bytes ? max_bytes : HISTORY_MAX_BYTES;
	h->log = history_open(h);
	return h;
}

/* The current file becomes .1 and a fresh one starts. */
static void history_rotate(struct history *h)
{
	char old[sizeof(h->path) + 2];

	fclose(h->log);
	h->log = NULL;
	snprintf(old, sizeof(old), "%s.1", h->path);
	if (rename(h->path, old))
		log_warn("history: cannot rotate %s: %s", h->path, strerror(errno));
	h->log = history_open(h);
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
		size_t len;
		const char *line = json_object_to_json_string_length(entry, JSON_C_TO_STRING_PLAIN, &len);

		if (h->bytes && h->bytes + len + 1 > h->max_bytes)
			history_rotate(h);
		if (h->log) {
			fprintf(h->log, "%s\n", line);
			fflush(h->log);
			h->bytes += len + 1;
		}
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

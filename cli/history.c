// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* history: the daemon's log of changes to the pipelines, oldest first. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <json-c/json.h>
#include "sluicectl.h"

/* "a,b" of the ids (or any key) in an array of objects. */
static const char *join(struct json_object *arr, const char *key, char *buf, size_t len)
{
	size_t i, n = jlen(arr), off = 0;

	buf[0] = 0;
	for (i = 0; i < n && off < len; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);
		const char *s = json_object_is_type(e, json_type_object) ? jstr(e, key) :
									   json_object_get_string(e);

		off += snprintf(buf + off, len - off, "%s%s", i ? "," : "", s);
	}
	return n ? buf : "-";
}

static const char *fmt_time(struct json_object *e, char *buf, size_t len)
{
	struct json_object *t = jget(e, "time");
	time_t secs;
	struct tm tm;

	/* Seconds since the epoch, or a string the daemon already formatted. */
	if (!json_object_is_type(t, json_type_int) && !json_object_is_type(t, json_type_double))
		return jstr(e, "time");
	secs = json_object_get_int64(t);
	if (!localtime_r(&secs, &tm) || !strftime(buf, len, "%F %T", &tm))
		return jstr(e, "time");
	return buf;
}

static void print_history(struct json_object *req, struct json_object *reply)
{
	struct json_object *entries = jget(reply, "entries"), *e;
	size_t i, n = jlen(entries);
	char tbuf[32], stages[128], old[128], new[128], ids[272], dur[32];

	if (!n)
		return;
	printf("%-19s %-5s %-14s %-10s %-16s %-20s %-9s %s\n", "TIME", "UID", "OP", "IFACE",
	       "STAGES", "PROG_IDS", "DURATION", "RESULT");
	for (i = 0; i < n; i++) {
		e = json_object_array_get_idx(entries, i);
		snprintf(ids, sizeof(ids), "%s->%s", join(jget(e, "old"), "prog_id", old, sizeof(old)),
			 join(jget(e, "new"), "prog_id", new, sizeof(new)));
		snprintf(dur, sizeof(dur), "-");
		if (jget(e, "duration_us"))
			fmt_us(jint(e, "duration_us"), dur, sizeof(dur));
		printf("%-19s %-5s %-14s %-10s %-16s %-20s %-9s %s", fmt_time(e, tbuf, sizeof(tbuf)),
		       jstr(e, "uid"), jstr(e, "op"), jstr(e, "iface"),
		       join(jget(e, "stages"), "name", stages, sizeof(stages)), ids, dur,
		       jstr(e, "result"));
		if (jget(e, "error"))
			printf(": %s", jstr(e, "error"));
		printf("\n");
	}
}

int cmd_history(int argc, char **argv)
{
	struct json_object *req;
	uint64_t limit;

	if (cli_nargs(argc, argv, 0, 1))
		return EXIT_USAGE;
	req = cli_req("history");
	if (argc == 2) {
		if (cli_parse_u64(argv[1], &limit) || !limit || limit > INT32_MAX) {
			json_object_put(req);
			return cli_usage_error("history: bad LIMIT '%s' (a count from 1)", argv[1]);
		}
		json_object_object_add(req, "limit", json_object_new_int64(limit));
	}
	return cli_do(req, print_history);
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Output. JSON goes out as the daemon sent it; the text formatters read the
 * same JSON and tolerate missing fields ("-"), so an older or newer daemon
 * still prints something sensible.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "sluicectl.h"

void print_json(struct json_object *obj)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE;

	flags |= cli.pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED :
			      JSON_C_TO_STRING_PLAIN;
	printf("%s\n", json_object_to_json_string_ext(obj, flags));
	fflush(stdout);
}

struct json_object *jget(struct json_object *o, const char *key)
{
	struct json_object *v;

	return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

size_t jlen(struct json_object *arr)
{
	return json_object_is_type(arr, json_type_array) ? json_object_array_length(arr) : 0;
}

const char *jstr(struct json_object *o, const char *key)
{
	struct json_object *v = jget(o, key);

	return v && !json_object_is_type(v, json_type_null) ? json_object_get_string(v) : "-";
}

int64_t jint(struct json_object *o, const char *key)
{
	return json_object_get_int64(jget(o, key));
}

const char *jnum(struct json_object *o, const char *key, char *buf, size_t len)
{
	struct json_object *v = jget(o, key);
	double d;

	if (!v || json_object_is_type(v, json_type_null))
		return "-";
	if (json_object_is_type(v, json_type_double)) {
		d = json_object_get_double(v);
		snprintf(buf, len, d < 10 && d > 0 ? "%.1f" : "%.0f", d);
	} else {
		snprintf(buf, len, "%" PRId64, json_object_get_int64(v));
	}
	return buf;
}

const char *fmt_duration_s(int64_t s, char *buf, size_t len)
{
	if (s >= 86400)
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h%02" PRId64 "m", s / 86400,
			 s % 86400 / 3600, s % 3600 / 60);
	else if (s >= 3600)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m%02" PRId64 "s", s / 3600,
			 s % 3600 / 60, s % 60);
	else if (s >= 60)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
	else
		snprintf(buf, len, "%" PRId64 "s", s);
	return buf;
}

const char *fmt_us(int64_t us, char *buf, size_t len)
{
	if (us >= 10000)
		snprintf(buf, len, "%.1f ms", us / 1000.0);
	else
		snprintf(buf, len, "%" PRId64 " us", us);
	return buf;
}

void print_verdicts(const char *indent, struct json_object *v)
{
	char b[32];
	size_t i;

	printf("%sverdicts:", indent);
	for (i = 0; i < 5; i++)
		printf(" %s %s", cli_verdicts[i], jnum(v, cli_verdicts[i], b, sizeof(b)));
	printf("\n");
}

/* One interface of status / stage list: its pipeline, then a stage table. */
void print_iface(struct json_object *ifc)
{
	struct json_object *stages = jget(ifc, "stages"), *s;
	size_t i, n = jlen(stages);

	printf("%s: ifindex %s pipeline %s mode %s attach %s link %s gen %s bank %s context %s "
	       "entry %s default %s\n",
	       jstr(ifc, "name"), jstr(ifc, "ifindex"), jstr(ifc, "pipeline"), jstr(ifc, "mode"),
	       jstr(ifc, "attach"), jstr(ifc, "link_id"), jstr(ifc, "gen"), jstr(ifc, "bank"),
	       jstr(ifc, "context"), jstr(ifc, "entry_prog_id"), jstr(ifc, "default_verdict"));
	if (!n)
		return;
	printf("  %-4s %-16s %-8s %-16s %-4s %-8s %s\n", "SLOT", "STAGE", "PROG_ID", "TAG", "VER",
	       "PREV_ID", "OBJECT");
	for (i = 0; i < n; i++) {
		s = json_object_array_get_idx(stages, i);
		printf("  %-4s %-16s %-8s %-16s %-4s %-8s %s", jstr(s, "slot"), jstr(s, "name"),
		       jstr(s, "prog_id"), jstr(s, "tag"), jstr(s, "ver"),
		       jint(s, "prev_prog_id") ? jstr(s, "prev_prog_id") : "-", jstr(s, "object"));
		if (jget(s, "program") && *jstr(s, "program"))
			printf(" (%s)", jstr(s, "program"));
		printf("\n");
	}
}

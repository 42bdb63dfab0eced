// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xsk stats: what the daemon's own AF_XDP sockets (capture mode) received. */
#include <stdio.h>
#include <json-c/json.h>
#include "sluicectl.h"

static void print_row(const char *queue, const char *mode, struct json_object *c)
{
	struct json_object *x = jget(c, "xdp");

	printf("%-6s %-8s %12lld %14lld %12lld %8lld %8lld %9lld %10lld %9lld %8lld\n", queue, mode,
	       (long long)jint(c, "packets"), (long long)jint(c, "bytes"), (long long)jint(c, "valid"),
	       (long long)jint(c, "corrupt"), (long long)jint(c, "gaps"),
	       (long long)jint(c, "reordered"), (long long)jint(c, "no_payload"),
	       (long long)jint(x, "rx_ring_full"), (long long)jint(x, "rx_dropped"));
}

static void print_rules(struct json_object *by_rule)
{
	size_t i, n = jlen(by_rule);

	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(by_rule, i);

		if (!jint(e, "rule"))
			printf("  no rule: %lld\n", (long long)jint(e, "packets"));
		else if (jget(e, "id"))
			printf("  rule %lld (position %lld): %lld\n", (long long)jint(e, "id"),
			       (long long)jint(e, "rule") - 1, (long long)jint(e, "packets"));
		else
			printf("  position %lld: %lld\n", (long long)jint(e, "rule") - 1,
			       (long long)jint(e, "packets"));
	}
}

static void print_xsk_stats(struct json_object *req, struct json_object *reply)
{
	struct json_object *x = jget(reply, "xsk"), *qs = jget(x, "queues"), *q;
	struct json_object *total = jget(x, "total");
	size_t i, n = jlen(qs);
	char id[16];

	printf("capture on %s, %zu queue(s)\n", jstr(x, "interface"), n);
	printf("%-6s %-8s %12s %14s %12s %8s %8s %9s %10s %9s %8s\n", "QUEUE", "MODE", "PACKETS",
	       "BYTES", "VALID", "CORRUPT", "GAPS", "REORDERED", "NO_PAYLOAD", "RING_FULL",
	       "DROPPED");
	for (i = 0; i < n; i++) {
		q = json_object_array_get_idx(qs, i);
		snprintf(id, sizeof(id), "%lld", (long long)jint(q, "queue"));
		print_row(id, jstr(q, "xdp_mode"), q);
	}
	print_row("total", "", total);
	if (jlen(jget(total, "by_rule"))) {
		printf("frames by ACL rule:\n");
		print_rules(jget(total, "by_rule"));
	}
	/* The per-CPU carrier leaves nothing in front of the frame to say which rule sent it. */
	if (jint(total, "no_meta"))
		printf("frames without sluice metadata (rule unknown; see rule list): %lld\n",
		       (long long)jint(total, "no_meta"));
}

static int cmd_xsk_stats(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 0, 0))
		return EXIT_USAGE;
	return cli_do(cli_req("xsk.stats"), print_xsk_stats);
}

const struct cli_cmd cli_xsk_cmds[] = {
	{ "stats",	cmd_xsk_stats,	NULL,	"",
	  "what the capture sockets received, per queue and by ACL rule" },
	{}
};

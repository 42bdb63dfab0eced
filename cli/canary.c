// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * canary start|status|promote|abort: a new generation serving a share of the
 * flows beside the live one, compared live, then promoted or aborted (by
 * hand, or by the daemon with auto). And repair, which puts back slots that
 * someone else changed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "sluicectl.h"

static struct json_object *iface_req(const char *op, const char *iface)
{
	struct json_object *req = cli_req(op);

	json_object_object_add(req, "iface", json_object_new_string(iface));
	return req;
}

static void print_start(struct json_object *req, struct json_object *reply)
{
	printf("%s: candidate %s (generation %s) serves %s%% of flows%s\n", jstr(req, "iface"),
	       jstr(reply, "candidate"), jstr(reply, "new_gen"), jstr(req, "share"),
	       jget(reply, "window_ms") ? ", decided by the daemon after its window" : "");
}

/*
 * canary start IFACE STAGE=OBJECT[:PROGRAM] [param N=V]... share PCT [window S] [auto]
 * [max-aborted N] [max-missed N] [max-drop-ratio R]
 */
static int canary_start(int argc, char **argv)
{
	static const char *const kw[] = { "share", "window", "auto", "max-aborted", "max-missed",
					  "max-drop-ratio" };
	static const char *const keys[] = { "share", "window_ms", "auto", "max_aborted", "max_missed",
					    "max_drop_ratio" };
	struct json_object *req, *rest;
	char **stage_argv;
	int n = 0, k;

	if (argc < 3)
		return cli_usage_error("usage: canary start IFACE STAGE=OBJECT... share PCT [window S] [auto]");
	req = iface_req("canary.start", argv[1]);
	stage_argv = calloc((size_t)argc, sizeof(*stage_argv));
	if (!stage_argv)
		return EXIT_REFUSED;
	/* STAGE=OBJECT and their params first, the canary's own words after. */
	for (int i = 2; i < argc; i++) {
		double v;
		char *end;

		if (strchr(argv[i], '=') || !strcmp(argv[i], "param") ||
		    (i > 2 && !strcmp(argv[i - 1], "param"))) {
			stage_argv[n++] = argv[i];
			continue;
		}
		k = cli_keyword("canary argument", argv[i], kw, 6);
		if (k < 0)
			goto usage;
		if (k == 2) {
			json_object_object_add(req, "auto", json_object_new_boolean(1));
			continue;
		}
		if (++i >= argc) {
			cli_usage_error("%s needs a value", kw[k]);
			goto usage;
		}
		v = strtod(argv[i], &end);
		if (*end || end == argv[i] || v < 0) {
			cli_usage_error("%s: '%s' is not a number", kw[k], argv[i]);
			goto usage;
		}
		if (k == 1)
			v *= 1000;	/* seconds on the command line, ms on the wire */
		if (k == 0 || k == 5)
			json_object_object_add(req, keys[k], json_object_new_double(v));
		else
			json_object_object_add(req, keys[k], json_object_new_int64((int64_t)v));
	}
	if (!jget(req, "share")) {
		cli_usage_error("canary start needs share PCT");
		goto usage;
	}
	rest = cli_stages_arg(n, stage_argv);
	if (!rest)
		goto usage;
	json_object_object_add(req, "stages", rest);
	free(stage_argv);
	return cli_do(req, print_start);
usage:
	free(stage_argv);
	json_object_put(req);
	return EXIT_USAGE;
}

static void print_side(const char *what, struct json_object *side)
{
	struct json_object *st = jget(side, "stats");
	char b1[32];

	printf("  %-7s gen %-4s bank %s packets %s\n", what, jstr(side, "gen"), jstr(side, "bank"),
	       jnum(st, "packets", b1, sizeof(b1)));
	printf("          missed %s bad_verdict %s ", jstr(st, "missed"), jstr(st, "bad_verdict"));
	print_verdicts("", jget(st, "verdicts"));
}

static void print_status(struct json_object *req, struct json_object *reply)
{
	printf("%s: canary candidate %s serves %s%% of flows%s\n", jstr(req, "iface"),
	       jstr(reply, "candidate"), jstr(reply, "share"),
	       jint(reply, "auto") ? ", decided by the daemon" : "");
	print_side("live", jget(reply, "live"));
	print_side("canary", jget(reply, "canary"));
}

static int iface_verb(int argc, char **argv, const char *op, cli_print_fn print)
{
	if (argc != 2)
		return cli_usage_error("usage: %s IFACE", argv[0]);
	return cli_do(iface_req(op, argv[1]), print);
}

static void print_gen(struct json_object *req, struct json_object *reply)
{
	printf("%s: gen %s -> %s\n", jstr(req, "iface"), jstr(reply, "old_gen"), jstr(reply, "new_gen"));
}

static int canary_status(int argc, char **argv)
{
	return iface_verb(argc, argv, "canary.status", print_status);
}

static int canary_promote(int argc, char **argv)
{
	return iface_verb(argc, argv, "canary.promote", print_gen);
}

static int canary_abort(int argc, char **argv)
{
	return iface_verb(argc, argv, "canary.abort", print_gen);
}

const struct cli_cmd cli_canary_cmds[] = {
	{ "status",	canary_status,	NULL, "IFACE",
	  "both sides of the running canary, side by side" },
	{ "start",	canary_start,	NULL,
	  "IFACE STAGE=OBJECT[:PROGRAM] [param NAME=INT]... share PCT [window SECONDS] [auto] "
	  "[max-aborted N] [max-missed N] [max-drop-ratio R]",
	  "a new generation for PCT% of the flows; with auto the daemon promotes or aborts it" },
	{ "promote",	canary_promote,	NULL, "IFACE",
	  "make the canary live for every flow" },
	{ "abort",	canary_abort,	NULL, "IFACE",
	  "send every flow back to the live generation and drop the canary" },
	{}
};

static void print_repair(struct json_object *req, struct json_object *reply)
{
	printf("%s: %s slot(s) restored\n", jstr(req, "iface"), jstr(reply, "repaired"));
}

int cmd_repair(int argc, char **argv)
{
	return iface_verb(argc, argv, "repair", print_repair);
}

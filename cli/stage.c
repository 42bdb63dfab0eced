// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * stage list|show|swap|rollback|prepare|commit|drop|diff: one stage of a
 * running pipeline, changed at once or in two phases, or tried against
 * sampled live traffic first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include "sluicectl.h"

static void print_list(struct json_object *req, struct json_object *reply)
{
	struct json_object *ifs = jget(reply, "interfaces");
	size_t i, n = jlen(ifs);

	for (i = 0; i < n; i++)
		print_iface(json_object_array_get_idx(ifs, i));
}

static int stage_list(int argc, char **argv)
{
	struct json_object *req;

	if (cli_nargs(argc, argv, 0, 1))
		return EXIT_USAGE;
	req = cli_req("stage.list");
	if (argc == 2)
		json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	return cli_do(req, print_list);
}

static void print_show(struct json_object *req, struct json_object *reply)
{
	struct json_object *s = jget(reply, "stage"), *st = jget(reply, "stats");
	char b1[32], b2[32], b3[32];

	printf("%s stage %s: slot %s\n", jstr(req, "iface"), jstr(s, "name"), jstr(s, "slot"));
	printf("  object %s program %s\n", jstr(s, "object"), jstr(s, "program"));
	printf("  prog_id %s tag %s ver %s prev_prog_id %s\n", jstr(s, "prog_id"), jstr(s, "tag"),
	       jstr(s, "ver"), jint(s, "prev_prog_id") ? jstr(s, "prev_prog_id") : "-");
	if (!st)
		return;
	printf("  packets %s bytes %s missed %s\n", jnum(st, "packets", b1, sizeof(b1)),
	       jnum(st, "bytes", b2, sizeof(b2)), jnum(st, "missed", b3, sizeof(b3)));
	print_verdicts("  ", jget(st, "verdicts"));
}

static struct json_object *iface_stage_req(const char *op, char **argv)
{
	struct json_object *req = cli_req(op);

	json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	json_object_object_add(req, "stage", json_object_new_string(argv[2]));
	return req;
}

static int stage_show(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 2, 2))
		return EXIT_USAGE;
	return cli_do(iface_stage_req("stage.show", argv), print_show);
}

static void print_swap(struct json_object *req, struct json_object *reply)
{
	char dur[32];

	printf("%s %s: prog %s -> %s in %s\n", jstr(req, "iface"), jstr(req, "stage"),
	       jstr(reply, "old_prog_id"), jstr(reply, "new_prog_id"),
	       jget(reply, "duration_us") ? fmt_us(jint(reply, "duration_us"), dur, sizeof(dur)) :
					    "-");
}

enum { KW_PROGRAM, KW_PARAM, KW_PCAP, KW_EXPECT, KW_FORCE };
static const char *const swap_kw[] = { "program", "param", "pcap", "expect", "force" };

/*
 * IFACE STAGE OBJECT [program P] [param N=V]... [pcap F [expect V]] [force]:
 * what swap and prepare take. NULL after a usage error.
 */
static struct json_object *stage_change_req(const char *op, int argc, char **argv)
{
	struct json_object *req, *params = NULL;
	const char *verdict;
	char *path;
	int i, k;

	if (cli_nargs(argc, argv, 3, -1))
		return NULL;
	req = iface_stage_req(op, argv);
	path = cli_object_arg(argv[3]);
	if (!path)
		goto err;
	json_object_object_add(req, "object", json_object_new_string(path));
	free(path);

	for (i = 4; i < argc; i++) {
		k = cli_keyword("swap argument", argv[i], swap_kw, 5);
		if (k < 0)
			goto err;
		if (k != KW_FORCE && ++i >= argc) {
			cli_usage_error("%s: '%s' needs a value", cli.cmd, argv[i - 1]);
			goto err;
		}
		switch (k) {
		case KW_PROGRAM:
			json_object_object_add(req, "program", json_object_new_string(argv[i]));
			break;
		case KW_PARAM:
			if (!params) {
				params = json_object_new_object();
				json_object_object_add(req, "params", params);
			}
			if (cli_param(params, argv[i]))
				goto err;
			break;
		case KW_PCAP:
			path = cli_abspath(argv[i]);
			if (!path)
				goto err;
			json_object_object_add(req, "pcap", json_object_new_string(path));
			free(path);
			break;
		case KW_EXPECT:
			verdict = cli_verdict(argv[i]);
			if (!verdict) {
				cli_usage_error("expect: '%s' is no verdict (aborted, drop, pass, tx, redirect)",
						argv[i]);
				goto err;
			}
			json_object_object_add(req, "expect", json_object_new_string(verdict));
			break;
		case KW_FORCE:
			json_object_object_add(req, "force", json_object_new_boolean(1));
			break;
		}
	}
	if (jget(req, "expect") && !jget(req, "pcap")) {
		cli_usage_error("expect needs a pcap to check");
		goto err;
	}
	return req;
err:
	json_object_put(req);
	return NULL;
}

static int stage_swap(int argc, char **argv)
{
	struct json_object *req = stage_change_req("stage.swap", argc, argv);

	return req ? cli_do(req, print_swap) : EXIT_USAGE;
}

static void print_prepare(struct json_object *req, struct json_object *reply)
{
	char dur[32];

	printf("%s: candidate %s (generation %s, not live) in %s\n", jstr(req, "iface"),
	       jstr(reply, "candidate"), jstr(reply, "new_gen"),
	       fmt_us(jint(reply, "duration_us"), dur, sizeof(dur)));
}

/* stage prepare: built, verified and pre-flighted beside what runs; live at commit. */
static int stage_prepare(int argc, char **argv)
{
	struct json_object *req = stage_change_req("stage.prepare", argc, argv);

	return req ? cli_do(req, print_prepare) : EXIT_USAGE;
}

static void print_commit(struct json_object *req, struct json_object *reply)
{
	char dur[32], sw[32];

	printf("%s: gen %s -> %s in %s (switch %s)\n", jstr(req, "iface"), jstr(reply, "old_gen"),
	       jstr(reply, "new_gen"), fmt_us(jint(reply, "duration_us"), dur, sizeof(dur)),
	       fmt_us(jint(reply, "switch_us"), sw, sizeof(sw)));
}

/* A candidate id argument; 0 with a usage error printed when it is none. */
static uint64_t cand_id(const char *arg)
{
	uint64_t v;

	if (cli_parse_u64(arg, &v) || !v || v > UINT32_MAX) {
		cli_usage_error("'%s' is not a candidate id", arg);
		return 0;
	}
	return v;
}

/* stage commit IFACE STAGE [ID]: the candidate (the newest when no ID) goes live in one store. */
static int stage_commit(int argc, char **argv)
{
	struct json_object *req;
	uint64_t id = 0;

	if (cli_nargs(argc, argv, 2, 3))
		return EXIT_USAGE;
	if (argc == 4 && !(id = cand_id(argv[3])))
		return EXIT_USAGE;
	req = cli_req("commit");
	json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	if (id)
		json_object_object_add(req, "candidate", json_object_new_int64((int64_t)id));
	return cli_do(req, print_commit);
}

/* stage drop IFACE CANDIDATE: a prepared candidate that will not be committed. */
static int stage_drop(int argc, char **argv)
{
	struct json_object *req;
	uint64_t id;

	if (cli_nargs(argc, argv, 2, 2))
		return EXIT_USAGE;
	if (!(id = cand_id(argv[2])))
		return EXIT_USAGE;
	req = cli_req("candidate.drop");
	json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	json_object_object_add(req, "candidate", json_object_new_int64((int64_t)id));
	return cli_do(req, NULL);
}

static void print_diff(struct json_object *req, struct json_object *reply)
{
	struct json_object *diff = jget(reply, "diff"), *v = jget(diff, "verdicts");
	int64_t n = jint(diff, "samples"), d = jint(diff, "differ");

	printf("%s %s: %s sampled frames, %s with another verdict (%.2f%%)\n", jstr(diff, "iface"),
	       jstr(diff, "stage"), jstr(diff, "samples"), jstr(diff, "differ"),
	       n ? 100.0 * (double)d / (double)n : 0.0);
	for (size_t i = 0; i < jlen(v); i++) {
		struct json_object *c = json_object_array_get_idx(v, i);

		printf("  live %-8s candidate %-8s %s\n", jstr(c, "live"), jstr(c, "candidate"),
		       jstr(c, "frames"));
	}
	if (jget(diff, "error"))
		printf("  stopped early: %s\n", jstr(diff, "error"));
}

/*
 * stage diff IFACE STAGE OBJECT [program P] [param N=V]... [samples N]
 * [seconds S] [write FILE]: what the candidate would do to live traffic.
 */
static int stage_diff(int argc, char **argv)
{
	static const char *const kw[] = { "program", "param", "samples", "seconds", "write" };
	struct json_object *req, *reply = NULL, *st, *params = NULL;
	const char *out = NULL;
	uint64_t v;
	int i, k, ret;

	if (cli_nargs(argc, argv, 3, -1))
		return EXIT_USAGE;
	req = iface_stage_req("stage.diff", argv);
	{
		char *path = cli_object_arg(argv[3]);

		if (!path)
			goto usage;
		json_object_object_add(req, "object", json_object_new_string(path));
		free(path);
	}
	for (i = 4; i < argc; i++) {
		k = cli_keyword("diff argument", argv[i], kw, 5);
		if (k < 0 || ++i >= argc) {
			if (k >= 0)
				cli_usage_error("%s needs a value", kw[k]);
			goto usage;
		}
		if (k == 0) {
			json_object_object_add(req, "program", json_object_new_string(argv[i]));
		} else if (k == 1) {
			if (!params) {
				params = json_object_new_object();
				json_object_object_add(req, "params", params);
			}
			if (cli_param(params, argv[i]))
				goto usage;
		} else if (k == 4) {
			out = argv[i];
		} else {
			if (cli_parse_u64(argv[i], &v) || !v || v > 1000000) {
				cli_usage_error("%s: '%s' is not a count", kw[k], argv[i]);
				goto usage;
			}
			json_object_object_add(req, kw[k], json_object_new_int64((int64_t)v));
		}
	}
	ret = cli_call(req, &reply);
	json_object_put(req);
	if (ret)
		return ret;
	/* The daemon samples in its own time: ask until it is done. */
	st = cli_req("diff.status");
	json_object_object_add(st, "id", json_object_new_int64(jint(reply, "id")));
	json_object_put(reply);
	for (;;) {
		reply = NULL;
		ret = cli_call(st, &reply);
		if (ret || json_object_get_boolean(jget(jget(reply, "diff"), "done")))
			break;
		json_object_put(reply);
		usleep(200 * 1000);
	}
	json_object_put(st);
	if (ret)
		return ret;
	if (out && cli_write_pcap(out, jget(jget(reply, "diff"), "frames"))) {
		json_object_put(reply);
		return EXIT_REFUSED;
	}
	if (cli.json)
		print_json(reply);
	else
		print_diff(NULL, reply);
	json_object_put(reply);
	return EXIT_OK;
usage:
	json_object_put(req);
	return EXIT_USAGE;
}

static int stage_rollback(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 2, 2))
		return EXIT_USAGE;
	return cli_do(iface_stage_req("stage.rollback", argv), print_swap);
}

const struct cli_cmd cli_stage_cmds[] = {
	{ "list",	stage_list,	NULL, "[IFACE]",
	  "the stage table of every interface, or of one" },
	{ "show",	stage_show,	NULL, "IFACE STAGE",
	  "one stage and its counters" },
	{ "swap",	stage_swap,	NULL,
	  "IFACE STAGE OBJECT [program PROGRAM] [param NAME=INT]... [pcap FILE [expect VERDICT]] [force]",
	  "load a new version of a stage into its slot, atomically for every packet" },
	{ "rollback",	stage_rollback,	NULL, "IFACE STAGE",
	  "put back the version the last swap replaced" },
	{ "prepare",	stage_prepare,	NULL,
	  "IFACE STAGE OBJECT [program PROGRAM] [param NAME=INT]... [pcap FILE [expect VERDICT]] [force]",
	  "build, verify and pre-flight a new version beside what runs; prints a candidate id" },
	{ "commit",	stage_commit,	NULL, "IFACE STAGE [CANDIDATE]",
	  "make a prepared candidate (the newest without CANDIDATE) live with one store" },
	{ "drop",	stage_drop,	NULL, "IFACE CANDIDATE",
	  "forget a prepared candidate" },
	{ "diff",	stage_diff,	NULL,
	  "IFACE STAGE OBJECT [program PROGRAM] [param NAME=INT]... [samples N] [seconds S] [write FILE]",
	  "what a new version would decide for sampled live packets; live traffic untouched" },
	{}
};

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* stage list|show|swap|rollback: one stage of a running pipeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* stage swap IFACE STAGE OBJECT [program P] [param N=V]... [pcap F [expect V]] [force] */
static int stage_swap(int argc, char **argv)
{
	struct json_object *req, *params = NULL;
	const char *verdict;
	char *path;
	int i, k, ret = EXIT_USAGE;

	if (cli_nargs(argc, argv, 3, -1))
		return EXIT_USAGE;
	req = iface_stage_req("stage.swap", argv);
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
	return cli_do(req, print_swap);
err:
	json_object_put(req);
	return ret;
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
	{}
};

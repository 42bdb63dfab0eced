// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * rule add|del|list: the ACL of an interface's acl stage. The rule text is
 * the rest of the command line, in the syntax of lib/acl.h; the daemon
 * parses it, so the CLI and the config file can never disagree.
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

static void print_warning(struct json_object *reply)
{
	if (jget(reply, "warning"))
		fprintf(stderr, "sluicectl: warning: %s\n", jstr(reply, "warning"));
}

static void print_add(struct json_object *req, struct json_object *reply)
{
	if (jget(reply, "id"))
		printf("rule %s\n", jstr(reply, "id"));
	print_warning(reply);
}

static void print_del(struct json_object *req, struct json_object *reply)
{
	print_warning(reply);
}

/* rule add IFACE [before ID] RULE... */
static int rule_add(int argc, char **argv)
{
	struct json_object *req;
	size_t len = 0, off = 0;
	uint64_t before;
	char *text;
	int i, first = 2;

	if (argc >= 4 && !strcmp(argv[2], "before")) {
		if (cli_parse_u64(argv[3], &before) || before > UINT32_MAX)
			return cli_usage_error("rule add: bad rule id '%s' after before", argv[3]);
		first = 4;
	}
	if (argc <= first)
		return cli_usage_error("rule add: missing %s (usage: sluicectl rule add %s)",
				       argc < 2 ? "IFACE" : "RULE", cli.synopsis);
	for (i = first; i < argc; i++)
		len += strlen(argv[i]) + 1;
	text = malloc(len);
	if (!text)
		return EXIT_REFUSED;
	for (i = first; i < argc; i++)
		off += sprintf(text + off, "%s%s", i > first ? " " : "", argv[i]);

	req = iface_req("rule.add", argv[1]);
	json_object_object_add(req, "rule", json_object_new_string(text));
	free(text);
	if (first == 4)
		json_object_object_add(req, "before", json_object_new_int64(before));
	return cli_do(req, print_add);
}

static int rule_del(int argc, char **argv)
{
	struct json_object *req;
	uint64_t id;

	if (cli_nargs(argc, argv, 2, 2))
		return EXIT_USAGE;
	if (cli_parse_u64(argv[2], &id) || id > UINT32_MAX)
		return cli_usage_error("rule del: bad rule id '%s'", argv[2]);
	req = iface_req("rule.del", argv[1]);
	json_object_object_add(req, "id", json_object_new_int64(id));
	return cli_do(req, print_del);
}

static void print_list(struct json_object *req, struct json_object *reply)
{
	struct json_object *rules = jget(reply, "rules"), *r;
	size_t i, n = jlen(rules);
	char b1[32], b2[32];

	if (!n)
		return;
	printf("%-6s %-12s %-14s %s\n", "ID", "PACKETS", "BYTES", "RULE");
	for (i = 0; i < n; i++) {
		r = json_object_array_get_idx(rules, i);
		printf("%-6s %-12s %-14s %s\n", jstr(r, "id"), jnum(r, "packets", b1, sizeof(b1)),
		       jnum(r, "bytes", b2, sizeof(b2)), jstr(r, "text"));
	}
}

static int rule_list(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 1, 1))
		return EXIT_USAGE;
	return cli_do(iface_req("rule.list", argv[1]), print_list);
}

const struct cli_cmd cli_rule_cmds[] = {
	{ "list",	rule_list,	NULL, "IFACE",
	  "the rules in order, with their ids and what each matched" },
	{ "add",	rule_add,	NULL, "IFACE [before ID] RULE...",
	  "add a rule (the rest of the line) at the end, or before rule ID" },
	{ "del",	rule_del,	NULL, "IFACE ID",
	  "remove rule ID (never abbreviated)", .exact = true },
	{}
};

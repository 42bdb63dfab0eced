// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * txn IFACE STAGE=OBJECT[:PROGRAM] [param NAME=INT]... ...: several stages
 * replaced at once, so that no packet sees a mix of old and new. A param
 * belongs to the STAGE=OBJECT before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "sluicectl.h"

static void print_txn(struct json_object *req, struct json_object *reply)
{
	char dur[32];

	printf("%s: gen %s -> %s in %s\n", jstr(req, "iface"), jstr(reply, "old_gen"),
	       jstr(reply, "new_gen"),
	       jget(reply, "duration_us") ? fmt_us(jint(reply, "duration_us"), dur, sizeof(dur)) :
					    "-");
}

/*
 * "acl=./acl.o:acl_main". The program follows the last ':' unless that
 * ':' is part of a path ("/srv/a:b/acl.o" has no program).
 */
static struct json_object *txn_stage(const char *arg)
{
	const char *eq = strchr(arg, '='), *colon;
	struct json_object *st;
	char *object, *path;

	if (!eq || eq == arg || !eq[1])
		return NULL;
	object = strdup(eq + 1);
	if (!object)
		return NULL;
	st = json_object_new_object();
	json_object_object_add(st, "stage", json_object_new_string_len(arg, eq - arg));
	colon = strrchr(object, ':');
	if (colon && colon[1] && !strchr(colon, '/')) {
		json_object_object_add(st, "program", json_object_new_string(colon + 1));
		object[colon - object] = 0;
	}
	path = *object ? cli_object_arg(object) : NULL;
	free(object);
	if (!path) {
		json_object_put(st);
		return NULL;
	}
	json_object_object_add(st, "object", json_object_new_string(path));
	free(path);
	return st;
}

int cmd_txn(int argc, char **argv)
{
	static const char *const kw[] = { "param" };
	struct json_object *req, *stages, *cur = NULL, *params;
	int i;

	if (cli_nargs(argc, argv, 2, -1))
		return EXIT_USAGE;
	req = cli_req("txn");
	json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	stages = json_object_new_array();
	json_object_object_add(req, "stages", stages);

	for (i = 2; i < argc; i++) {
		if (!strchr(argv[i], '=') || argv[i][0] == '=') {
			if (cli_keyword("txn argument", argv[i], kw, 1) < 0)
				goto err;
			if (!cur || ++i >= argc) {
				cli_usage_error(cur ? "param needs NAME=INT" :
						      "param must follow a STAGE=OBJECT");
				goto err;
			}
			params = jget(cur, "params");
			if (!params) {
				params = json_object_new_object();
				json_object_object_add(cur, "params", params);
			}
			if (cli_param(params, argv[i]))
				goto err;
			continue;
		}
		cur = txn_stage(argv[i]);
		if (!cur) {
			cli_usage_error("'%s' is not STAGE=OBJECT[:PROGRAM]", argv[i]);
			goto err;
		}
		json_object_array_add(stages, cur);
	}
	return cli_do(req, print_txn);
err:
	json_object_put(req);
	return EXIT_USAGE;
}

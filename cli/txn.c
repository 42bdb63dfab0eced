// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * txn IFACE STAGE=OBJECT[:PROGRAM] [param NAME=INT]... [prepare]: several
 * stages replaced at once, so that no packet sees a mix of old and new; with
 * IFACE:STAGE=OBJECT, on several interfaces that switch together. A param
 * belongs to the STAGE=OBJECT before it. prepare builds candidates only;
 * txn commit makes them live; txn rollback goes back a generation.
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

struct json_object *cli_stages_arg(int argc, char **argv)
{
	static const char *const kw[] = { "param" };
	struct json_object *stages = json_object_new_array(), *cur = NULL, *params;

	for (int i = 0; i < argc; i++) {
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
	if (!jlen(stages)) {
		cli_usage_error("no STAGE=OBJECT given");
		goto err;
	}
	return stages;
err:
	json_object_put(stages);
	return NULL;
}

static void print_parts(struct json_object *req, struct json_object *reply)
{
	struct json_object *parts = jget(reply, "parts");

	for (size_t i = 0; i < jlen(parts); i++) {
		struct json_object *p = json_object_array_get_idx(parts, i);

		if (jget(p, "candidate"))
			printf("%s: candidate %s (not live)\n", jstr(p, "iface"), jstr(p, "candidate"));
		else
			printf("%s: gen %s\n", jstr(p, "iface"), jstr(p, "new_gen"));
	}
	if (!jlen(parts) && jget(reply, "candidate"))
		printf("%s: candidate %s (generation %s, not live)\n", jstr(req, "iface"),
		       jstr(reply, "candidate"), jstr(reply, "new_gen"));
	else if (!jlen(parts))
		print_txn(req, reply);
}

/* The interface an "IFACE:STAGE=OBJECT" argument names, or NULL for a plain STAGE=OBJECT. */
static char *iface_prefix(const char *arg)
{
	const char *colon = strchr(arg, ':'), *eq = strchr(arg, '=');

	if (!colon || !eq || colon > eq || colon == arg)
		return NULL;
	return strndup(arg, colon - arg);
}

/*
 * txn IFACE:STAGE=OBJECT... on several interfaces: each part is built as a
 * candidate, then all switch at one store.
 */
static struct json_object *txn_parts(int argc, char **argv)
{
	struct json_object *parts = json_object_new_array(), *part = NULL;
	char **args = calloc((size_t)argc + 1, sizeof(*args));
	int n = 0;

	if (!args)
		goto err;
	for (int i = 0; i <= argc; i++) {
		char *ifname = i < argc ? iface_prefix(argv[i]) : NULL;

		if (i < argc && !ifname) {
			if (!part) {
				cli_usage_error("'%s': with several interfaces, each STAGE=OBJECT is "
						"IFACE:STAGE=OBJECT", argv[i]);
				goto err;
			}
			args[n++] = argv[i];
			continue;
		}
		/* A new interface: the previous one's arguments are complete. */
		if (part) {
			struct json_object *stages = cli_stages_arg(n, args);

			if (!stages)
				goto err;
			json_object_object_add(part, "stages", stages);
			n = 0;
		}
		if (i == argc)
			break;
		/* IFACE: starts a part unless the same interface is named again. */
		part = NULL;
		for (size_t j = 0; j < jlen(parts); j++)
			if (!strcmp(jstr(json_object_array_get_idx(parts, j), "iface"), ifname))
				part = json_object_array_get_idx(parts, j);
		if (part) {
			free(ifname);
			cli_usage_error("name each interface's stages together");
			goto err;
		}
		part = json_object_new_object();
		json_object_object_add(part, "iface", json_object_new_string(ifname));
		json_object_array_add(parts, part);
		args[n++] = argv[i] + strlen(ifname) + 1;
		free(ifname);
	}
	free(args);
	return parts;
err:
	free(args);
	json_object_put(parts);
	return NULL;
}

/* txn commit IFACE[:CANDIDATE]...: prepared candidates live, several at one instant. */
static int txn_commit(int argc, char **argv)
{
	struct json_object *req = cli_req("commit"), *parts = json_object_new_array();

	if (argc < 2) {
		json_object_put(req);
		json_object_put(parts);
		return cli_usage_error("usage: txn commit IFACE[:CANDIDATE]...");
	}
	for (int i = 1; i < argc; i++) {
		struct json_object *part = json_object_new_object();
		char *colon = strchr(argv[i], ':');
		uint64_t id = 0;

		json_object_array_add(parts, part);
		if (colon && (cli_parse_u64(colon + 1, &id) || !id || id > UINT32_MAX)) {
			cli_usage_error("'%s' is not IFACE[:CANDIDATE]", argv[i]);
			json_object_put(req);
			json_object_put(parts);
			return EXIT_USAGE;
		}
		json_object_object_add(part, "iface", colon ? json_object_new_string_len(argv[i],
							colon - argv[i]) : json_object_new_string(argv[i]));
		if (id)
			json_object_object_add(part, "candidate", json_object_new_int64((int64_t)id));
	}
	if (jlen(parts) == 1) {
		struct json_object *p = json_object_array_get_idx(parts, 0);

		json_object_object_add(req, "iface", json_object_get(jget(p, "iface")));
		if (jget(p, "candidate"))
			json_object_object_add(req, "candidate", json_object_get(jget(p, "candidate")));
		json_object_put(parts);
		return cli_do(req, print_txn);
	}
	json_object_object_add(req, "parts", parts);
	return cli_do(req, NULL);
}

int cmd_txn(int argc, char **argv)
{
	struct json_object *req, *stages;
	bool prepare = argc > 1 && !strcmp(argv[argc - 1], "prepare");
	char *prefixed;

	if (argc >= 2 && !strcmp(argv[1], "commit"))
		return txn_commit(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "rollback")) {
		if (argc != 3)
			return cli_usage_error("usage: txn rollback IFACE");
		req = cli_req("txn.rollback");
		json_object_object_add(req, "iface", json_object_new_string(argv[2]));
		return cli_do(req, print_txn);
	}
	if (prepare)
		argc--;
	if (argc < 2)
		return cli_usage_error("usage: txn IFACE STAGE=OBJECT[:PROGRAM] [param NAME=INT]... [prepare]");
	req = cli_req("txn");
	if (prepare)
		json_object_object_add(req, "prepare", json_object_new_boolean(1));
	prefixed = iface_prefix(argv[1]);
	if (prefixed) {
		free(prefixed);
		stages = txn_parts(argc - 1, argv + 1);
		if (!stages)
			goto err;
		json_object_object_add(req, "parts", stages);
		return cli_do(req, print_parts);
	}
	if (argc < 3) {
		cli_usage_error("usage: txn IFACE STAGE=OBJECT[:PROGRAM] [param NAME=INT]... [prepare]");
		goto err;
	}
	json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	stages = cli_stages_arg(argc - 2, argv + 2);
	if (!stages)
		goto err;
	json_object_object_add(req, "stages", stages);
	return cli_do(req, print_parts);
err:
	json_object_put(req);
	return EXIT_USAGE;
}

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The daemon as a whole: status, version, reload, down. */
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "sluicectl.h"

static void print_status(struct json_object *req, struct json_object *reply)
{
	struct json_object *ifs = jget(reply, "interfaces");
	size_t i, n = jlen(ifs);
	char up[32];

	printf("sluiced %s pid %s up %s config %s", jstr(reply, "version"), jstr(reply, "pid"),
	       jget(reply, "uptime_s") ? fmt_duration_s(jint(reply, "uptime_s"), up, sizeof(up)) :
					 "-",
	       jstr(reply, "config"));
	if (jget(reply, "swaps"))
		printf(" swaps %s", jstr(reply, "swaps"));
	printf("\n");
	if (!n)
		printf("no interfaces\n");
	for (i = 0; i < n; i++)
		print_iface(json_object_array_get_idx(ifs, i));
}

int cmd_status(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 0, 0))
		return EXIT_USAGE;
	return cli_do(cli_req("status"), print_status);
}

/* Ours always; the daemon's when it answers, which is not required. */
int cmd_version(int argc, char **argv)
{
	struct json_object *req, *reply = NULL, *out;
	bool json = cli.json;

	if (cli_nargs(argc, argv, 0, 0))
		return EXIT_USAGE;
	req = cli_req("status");
	/* A refusal or no daemon is not an error here: stay quiet about it. */
	cli.json = false;
	if (!req || cli_call(req, &reply))
		reply = NULL;
	cli.json = json;
	json_object_put(req);

	if (cli.json) {
		out = json_object_new_object();
		json_object_object_add(out, "sluicectl", json_object_new_string(SLUICE_VERSION));
		if (reply)
			json_object_object_add(out, "sluiced",
					       json_object_get(jget(reply, "version")));
		print_json(out);
		json_object_put(out);
	} else {
		printf("sluicectl %s\n", SLUICE_VERSION);
		if (reply)
			printf("sluiced %s\n", jstr(reply, "version"));
	}
	json_object_put(reply);
	return EXIT_OK;
}

static void print_reload(struct json_object *req, struct json_object *reply)
{
	struct json_object *changed = jget(reply, "changed"), *c;
	size_t i, n = jlen(changed);

	if (!n) {
		printf("nothing changed\n");
		return;
	}
	for (i = 0; i < n; i++) {
		c = json_object_array_get_idx(changed, i);
		printf("changed: %s\n", json_object_is_type(c, json_type_string) ?
				json_object_get_string(c) :
				json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN |
								  JSON_C_TO_STRING_NOSLASHESCAPE));
	}
}

int cmd_reload(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 0, 0))
		return EXIT_USAGE;
	return cli_do(cli_req("reload"), print_reload);
}

int cmd_down(int argc, char **argv)
{
	struct json_object *req;

	if (cli_nargs(argc, argv, 1, 1))
		return EXIT_USAGE;
	req = cli_req("down");
	json_object_object_add(req, "iface", json_object_new_string(argv[1]));
	/* Like ip(8): silence is success. */
	return cli_do(req, NULL);
}

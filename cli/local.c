// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The commands that need no daemon: probe (kernel features, run here) and
 * config check (the file sluiced would load). Each is built only when the
 * library part it calls exists (cli/Makefile sets the HAVE_ macros).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <json-c/json.h>
#include "sluicectl.h"
#ifdef HAVE_PROBE
#include "probe.h"
#endif
#ifdef HAVE_CONFIG
#include "config.h"
#endif

int cmd_probe(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 0, 0))
		return EXIT_USAGE;
#ifdef HAVE_PROBE
	int ret = probe__run_print(cli.json, cli.pretty);

	if (ret < 0) {
		fprintf(stderr, "sluicectl: probe: %s\n", strerror(-ret));
		return EXIT_REFUSED;
	}
	/* 1: a required feature is missing. */
	return ret ? EXIT_REFUSED : EXIT_OK;
#else
	fprintf(stderr, "sluicectl: probe: not built (lib/probe.c missing)\n");
	return EXIT_REFUSED;
#endif
}

static int config_check(int argc, char **argv)
{
	if (cli_nargs(argc, argv, 1, 1))
		return EXIT_USAGE;
#ifdef HAVE_CONFIG
	struct config_errors errs = {};
	struct sluice_config *cfg = NULL;
	struct json_object *out, *arr, *e;
	size_t i;
	int err;

	err = config__load(argv[1], &cfg, &errs);
	if (cli.json) {
		out = json_object_new_object();
		json_object_object_add(out, "ok", json_object_new_boolean(!err));
		json_object_object_add(out, "file", json_object_new_string(argv[1]));
		arr = json_object_new_array();
		for (i = 0; i < errs.n; i++) {
			e = json_object_new_object();
			json_object_object_add(e, "message", json_object_new_string(errs.v[i].msg));
			json_object_object_add(e, "line", json_object_new_int(errs.v[i].line));
			json_object_object_add(e, "col", json_object_new_int(errs.v[i].col));
			json_object_array_add(arr, e);
		}
		if (err && !errs.n)
			json_object_object_add(out, "error", json_object_new_string(strerror(-err)));
		json_object_object_add(out, "errors", arr);
		print_json(out);
		json_object_put(out);
	} else if (!err) {
		/* The words of sluiced -n and of docs/config.md. */
		printf("configuration OK\n");
	} else {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i].msg);
		if (!errs.n)
			fprintf(stderr, "%s: %s\n", argv[1], strerror(-err));
	}
	config_errors__free(&errs);
	config__free(cfg);
	return err ? EXIT_REFUSED : EXIT_OK;
#else
	fprintf(stderr, "sluicectl: config check: not built (lib/config.c missing)\n");
	return EXIT_REFUSED;
#endif
}

const struct cli_cmd cli_config_cmds[] = {
	{ "check", config_check, NULL, "FILE",
	  "check a configuration as sluiced would, without the daemon" },
	{}
};

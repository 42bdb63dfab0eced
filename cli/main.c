// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluicectl: asks sluiced to show or change the pipelines it owns.
 * Grammar in the style of ip(8) and bpftool(8): OBJECT VERB [ARGS], where
 * every word may be shortened to a unique prefix.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>
#include "ctl.h"
#include "sluicectl.h"

struct cli_opts cli = {
	.timeout_ms = 10000,
};

static const struct cli_cmd objects[] = {
	{ "status",	cmd_status,	NULL,			"" },
	{ "stage",	NULL,		cli_stage_cmds,		NULL },
	{ "txn",	cmd_txn,	NULL,
	  "IFACE [IFACE:]STAGE=OBJECT[:PROGRAM] [param NAME=INT]... [prepare] | commit IFACE[:ID]... | "
	  "rollback IFACE" },
	{ "canary",	NULL,		cli_canary_cmds,	NULL },
	{ "repair",	cmd_repair,	NULL,			"IFACE" },
	{ "rule",	NULL,		cli_rule_cmds,		NULL },
	{ "stats",	cmd_stats,	NULL,			"[IFACE] [-w SECONDS [-n COUNT]]" },
	{ "history",	cmd_history,	NULL,			"[LIMIT]" },
	{ "probe",	cmd_probe,	NULL,			"" },
	{ "config",	NULL,		cli_config_cmds,	NULL },
	{ "reload",	cmd_reload,	NULL,			"" },
	{ "down",	cmd_down,	NULL,			"IFACE" },
	{ "xsk",	NULL,		cli_xsk_cmds,		NULL },
	{ "version",	cmd_version,	NULL,			"" },
	{ "help",	cmd_help,	NULL,			"" },
	{}
};

static void usage_cmds(FILE *f, const struct cli_cmd *obj)
{
	const struct cli_cmd *v;

	if (!obj->sub) {
		fprintf(f, "  %s%s%s\n", obj->name, *obj->args ? " " : "", obj->args);
		return;
	}
	for (v = obj->sub; v->name; v++)
		fprintf(f, "  %s %s %s\n", obj->name, v->name, v->args);
}

void cli_usage(FILE *f)
{
	const struct cli_cmd *o;

	fprintf(f, "Usage: sluicectl [OPTIONS] OBJECT VERB [ARGS]\n\n");
	for (o = objects; o->name; o++)
		usage_cmds(f, o);
	fprintf(f,
		"\n"
		"Every word can be shortened to a unique prefix (\"st sw\" is \"stage swap\").\n"
		"OBJECT is a built-in stage name or a path to a .bpf.o (relative paths are\n"
		"resolved here). VERDICT is aborted, drop, pass, tx or redirect.\n"
		"\n"
		"Options:\n"
		"  -j, --json          print the daemon's JSON reply\n"
		"  -p, --pretty        print it indented (implies -j)\n"
		"  -s, --socket PATH   control socket (default $%s or %s)\n"
		"  -t, --timeout SEC   give up on the daemon after SEC seconds (default 10)\n"
		"  -h, --help          this text\n"
		"  -V, --version       sluicectl's version\n"
		"\n"
		"Exit status: 0 ok, 1 refused, 2 usage error, 3 daemon unreachable.\n",
		SLUICE_CTL_SOCKET_ENV, SLUICE_CTL_SOCKET);
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "sluicectl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'sluicectl help'.\n");
	return EXIT_USAGE;
}

int cli_match(const char *arg, const char *const *words, size_t n)
{
	size_t i, len = strlen(arg);
	int found = -1;

	if (!len)
		return -1;
	for (i = 0; i < n; i++)
		if (!strcmp(arg, words[i]))
			return i;
	for (i = 0; i < n; i++) {
		if (strncmp(arg, words[i], len))
			continue;
		if (found >= 0)
			return -2;
		found = i;
	}
	return found;
}

/* The candidates arg is a prefix of, for an error message. */
static void candidates(const char *arg, const char *const *words, size_t n, char *buf, size_t len)
{
	size_t i, off = 0;

	buf[0] = 0;
	for (i = 0; i < n && off < len; i++)
		if (!strncmp(arg, words[i], strlen(arg)))
			off += snprintf(buf + off, len - off, "%s%s", off ? ", " : "", words[i]);
}

int cli_keyword(const char *what, const char *arg, const char *const *words, size_t n)
{
	int i = cli_match(arg, words, n);
	char buf[256];

	if (i == -1) {
		cli_usage_error("unknown %s '%s'", what, arg);
		return -1;
	}
	if (i == -2) {
		candidates(arg, words, n, buf, sizeof(buf));
		cli_usage_error("ambiguous %s '%s': %s", what, arg, buf);
		return -1;
	}
	return i;
}

static size_t names(const struct cli_cmd *tbl, const char **out, size_t max)
{
	size_t n = 0;

	for (; tbl->name && n < max; tbl++)
		out[n++] = tbl->name;
	return n;
}

/*
 * The object argv[0] names. A prefix shared by several objects ("st") is
 * settled by the verb after it when exactly one of them has a verb that it
 * matches: "st sw" is "stage swap".
 */
static int resolve_object(int argc, char **argv)
{
	const char *words[32], *verbs[32];
	size_t n = names(objects, words, 32), i, nv;
	int found = -1, k = cli_match(argv[0], words, n);

	if (k != -2 || argc < 2)
		return k;
	for (i = 0; i < n; i++) {
		if (strncmp(argv[0], words[i], strlen(argv[0])) || !objects[i].sub)
			continue;
		nv = names(objects[i].sub, verbs, 32);
		if (cli_match(argv[1], verbs, nv) < 0)
			continue;
		if (found >= 0)
			return -2;
		found = i;
	}
	return found >= 0 ? found : -2;
}

static int dispatch(int argc, char **argv)
{
	const char *words[32];
	const struct cli_cmd *obj;
	char buf[256];
	size_t n;
	int k;

	k = resolve_object(argc, argv);
	if (k < 0) {
		n = names(objects, words, 32);
		if (k == -1)
			return cli_usage_error("unknown object '%s'", argv[0]);
		candidates(argv[0], words, n, buf, sizeof(buf));
		return cli_usage_error("ambiguous object '%s': %s", argv[0], buf);
	}
	obj = &objects[k];
	if (!obj->sub)
		return obj->run(argc, argv);

	argc--;
	argv++;
	if (!argc) {
		/* A bare "stage" lists, as "ip link" shows. */
		if (!strcmp(obj->sub[0].name, "list"))
			return obj->sub[0].run(argc, (char *[]){ "list", NULL });
		return cli_usage_error("%s: missing verb", obj->name);
	}
	if (!strcmp(argv[0], "help")) {
		usage_cmds(stdout, obj);
		return EXIT_OK;
	}
	n = names(obj->sub, words, 32);
	k = cli_match(argv[0], words, n);
	if (k == -1)
		return cli_usage_error("%s: unknown verb '%s'", obj->name, argv[0]);
	if (k == -2) {
		candidates(argv[0], words, n, buf, sizeof(buf));
		return cli_usage_error("%s: ambiguous verb '%s': %s", obj->name, argv[0], buf);
	}
	return obj->sub[k].run(argc, argv);
}

int cmd_help(int argc, char **argv)
{
	cli_usage(stdout);
	return EXIT_OK;
}

static int parse_timeout(const char *arg)
{
	char *end;
	double s;

	errno = 0;
	s = strtod(arg, &end);
	if (errno || end == arg || *end || s <= 0 || s > 86400)
		return -1;
	cli.timeout_ms = (int)(s * 1000 + 0.5);
	if (!cli.timeout_ms)
		cli.timeout_ms = 1;
	return 0;
}

/*
 * -j and -p are also taken after the command words (`sluicectl stats -j`),
 * as people type them; no command has an argument that could be one.
 */
static int take_output_flags(int argc, char **argv)
{
	int n = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty")) {
			cli.json = cli.pretty = true;
		} else {
			argv[n++] = argv[i];
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "pretty",	no_argument,		NULL, 'p' },
		{ "socket",	required_argument,	NULL, 's' },
		{ "timeout",	required_argument,	NULL, 't' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{}
	};
	int c;

	cli.socket = getenv(SLUICE_CTL_SOCKET_ENV);
	if (!cli.socket || !*cli.socket)
		cli.socket = SLUICE_CTL_SOCKET;

	/* '+': options end at OBJECT, so a command's own (stats -w) stay its own. */
	while ((c = getopt_long(argc, argv, "+jps:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			cli.json = true;
			break;
		case 'p':
			cli.json = cli.pretty = true;
			break;
		case 's':
			cli.socket = optarg;
			break;
		case 't':
			if (parse_timeout(optarg))
				return cli_usage_error("bad timeout '%s' (seconds)", optarg);
			break;
		case 'h':
			cli_usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("sluicectl %s\n", SLUICE_VERSION);
			return EXIT_OK;
		default:
			fprintf(stderr, "Try 'sluicectl help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	return dispatch(take_output_flags(argc - optind, argv + optind), argv + optind);
}

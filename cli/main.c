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
	{ "status",	cmd_status,	NULL,			"",
	  "the daemon and the pipeline of every interface" },
	{ "stage",	NULL,		cli_stage_cmds,		NULL,
	  "the stages of a running pipeline, one at a time" },
	{ "txn",	cmd_txn,	NULL,
	  "IFACE [IFACE:]STAGE=OBJECT[:PROGRAM] [param NAME=INT]... [prepare] | commit IFACE[:ID]... | "
	  "rollback IFACE",
	  "replace several stages at once, atomically for every packet; on several interfaces at once; "
	  "in two phases (prepare, commit); back one generation (rollback)" },
	{ "canary",	NULL,		cli_canary_cmds,	NULL,
	  "a new generation on a share of the flows, compared live, then promoted or aborted" },
	{ "repair",	cmd_repair,	NULL,			"IFACE",
	  "put back slots that someone else changed (slot drift)" },
	{ "rule",	NULL,		cli_rule_cmds,		NULL,
	  "the ACL rules of an interface's acl stage" },
	{ "stats",	cmd_stats,	NULL,			"[IFACE] [-w SECONDS [-n COUNT]]",
	  "pipeline and per-stage counters; rates per second with -w" },
	{ "history",	cmd_history,	NULL,			"[LIMIT]",
	  "the daemon's log of swaps, transactions, rule changes and rollbacks" },
	{ "probe",	cmd_probe,	NULL,			"",
	  "check the kernel features sluice needs, here, without the daemon" },
	{ "config",	NULL,		cli_config_cmds,	NULL,
	  "configuration files" },
	{ "reload",	cmd_reload,	NULL,			"",
	  "re-read the configuration and apply it; waits for the result" },
	{ "down",	cmd_down,	NULL,			"IFACE",
	  "detach and unpin an interface's pipeline (never abbreviated)", .exact = true },
	{ "xsk",	NULL,		cli_xsk_cmds,		NULL,
	  "the daemon's own AF_XDP sockets" },
	{ "anomalies",	cmd_anomalies,	NULL,			"IFACE [-w FILE.pcapng] [-f] [-n COUNT]",
	  "the packets the recorder kept: aborted, an empty slot, two generations; pcapng with -w" },
	{ "observe",	cmd_observe,	NULL,			"IFACE [record on|off] [timing N|off]",
	  "the anomaly recorder and sampled stage timing, until the next reload" },
	{ "version",	cmd_version,	NULL,			"",
	  "the version of sluicectl, and of sluiced when it answers" },
	{ "help",	cmd_help,	NULL,			"[OBJECT [VERB]]",
	  "usage, of everything or of one command" },
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
		fprintf(f, "  %s %s%s%s\n", obj->name, v->name, *v->args ? " " : "", v->args);
}

void cli_usage(FILE *f)
{
	const struct cli_cmd *o;

	fprintf(f, "Usage: sluicectl [OPTIONS] OBJECT VERB [ARGS]\n\n");
	for (o = objects; o->name; o++)
		usage_cmds(f, o);
	fprintf(f,
		"\n"
		"Every word can be shortened to a unique prefix (\"st sw\" is \"stage swap\"),\n"
		"except \"down\", which is typed in full. \"OBJECT help\", \"OBJECT VERB help\" or\n"
		"--help after any command prints its usage and sends nothing.\n"
		"OBJECT is a built-in stage name or a path to a .bpf.o (relative paths are\n"
		"resolved here). VERDICT is aborted, drop, pass, tx or redirect.\n"
		"\n"
		"Options:\n"
		"  -j, --json          print the daemon's JSON reply (errors too, on stdout)\n"
		"  -p, --pretty        print it indented (implies -j)\n"
		"  -s, --socket PATH   control socket (default $%s or %s)\n"
		"  -t, --timeout SEC   give up on the daemon after SEC seconds (default 10)\n"
		"  -h, --help          this text\n"
		"  -V, --version       sluicectl's version\n"
		"\n"
		"Exit status: 0 ok, 1 refused, 2 usage error, 3 daemon unreachable.\n",
		SLUICE_CTL_SOCKET_ENV, SLUICE_CTL_SOCKET);
}

void cli_json_error(const char *msg, int code)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	json_object_object_add(o, "exit_status", json_object_new_int(code));
	print_json(o);
	json_object_put(o);
}

int cli_usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "sluicectl: %s\nTry 'sluicectl %s%shelp'.\n", msg, cli.cmd,
		cli.cmd[0] ? " " : "");
	if (cli.json)
		cli_json_error(msg, EXIT_USAGE);
	return EXIT_USAGE;
}

/* Word i (from 0) of a synopsis when it is a required one ("IFACE"), else NULL. */
static const char *synopsis_word(const char *syn, int i, char *buf, size_t len)
{
	const char *p = syn ? syn : "";
	size_t n;

	for (;;) {
		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (!n)
			return NULL;
		if (!i--)
			break;
		p += n;
	}
	if (*p == '[' || *p == '.' || n >= len)
		return NULL;
	snprintf(buf, len, "%.*s", (int)n, p);
	return buf;
}

int cli_nargs(int argc, char **argv, int min, int max)
{
	char word[64];
	const char *w;

	if (max >= 0 && argc - 1 > max)
		return cli_usage_error("%s: unexpected argument '%s' (usage: sluicectl %s%s%s)",
				       cli.cmd, argv[max + 1], cli.cmd,
				       cli.synopsis && *cli.synopsis ? " " : "",
				       cli.synopsis ? cli.synopsis : "");
	if (argc - 1 < min) {
		w = synopsis_word(cli.synopsis, argc - 1, word, sizeof(word));
		return cli_usage_error("%s: missing %s (usage: sluicectl %s %s)", cli.cmd,
				       w ? w : "arguments", cli.cmd, cli.synopsis ? cli.synopsis : "");
	}
	return 0;
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

enum { MATCH_NONE = -1, MATCH_AMBIGUOUS = -2, MATCH_EXACT_ONLY = -3 };

/*
 * The entry of tbl that arg names: the one of that exact name, else the only
 * one arg is a prefix of among those that may be abbreviated. MATCH_EXACT_ONLY
 * when arg only abbreviates words that must be typed in full.
 */
static int cmd_match(const char *arg, const struct cli_cmd *tbl)
{
	size_t len = strlen(arg);
	bool exact_only = false;
	int i, found = MATCH_NONE;

	if (!len)
		return MATCH_NONE;
	for (i = 0; tbl[i].name; i++)
		if (!strcmp(arg, tbl[i].name))
			return i;
	for (i = 0; tbl[i].name; i++) {
		if (strncmp(arg, tbl[i].name, len))
			continue;
		if (tbl[i].exact) {
			exact_only = true;
			continue;
		}
		if (found >= 0)
			return MATCH_AMBIGUOUS;
		found = i;
	}
	return found >= 0 ? found : exact_only ? MATCH_EXACT_ONLY : MATCH_NONE;
}

/*
 * The usage error for a word cmd_match() did not take: an object (owner
 * NULL) or a verb of owner.
 */
static int match_error(const char *owner, const char *arg, const struct cli_cmd *tbl, int k)
{
	const char *what = owner ? "verb" : "object";

	char buf[256];
	size_t off = 0;

	if (k == MATCH_NONE)
		return cli_usage_error("%s%sunknown %s '%s'", owner ? owner : "", owner ? ": " : "",
				       what, arg);
	buf[0] = 0;
	for (; tbl->name && off < sizeof(buf); tbl++)
		if (!strncmp(arg, tbl->name, strlen(arg)) && tbl->exact == (k == MATCH_EXACT_ONLY))
			off += snprintf(buf + off, sizeof(buf) - off, "%s%s", off ? ", " : "",
					tbl->name);
	if (k == MATCH_EXACT_ONLY)
		return cli_usage_error("'%s' is short for '%s', which is never abbreviated: type it in full",
				       arg, buf);
	return cli_usage_error("%s%sambiguous %s '%s': %s", owner ? owner : "", owner ? ": " : "",
			       what, arg, buf);
}

/*
 * The object argv[0] names. A prefix shared by several objects ("st") is
 * settled by the verb after it when exactly one of them has a verb that it
 * matches: "st sw" is "stage swap".
 */
static int resolve_object(int argc, char **argv)
{
	int i, found = -1, k = cmd_match(argv[0], objects);

	if (k != MATCH_AMBIGUOUS || argc < 2)
		return k;
	for (i = 0; objects[i].name; i++) {
		if (strncmp(argv[0], objects[i].name, strlen(argv[0])) || !objects[i].sub ||
		    objects[i].exact)
			continue;
		if (cmd_match(argv[1], objects[i].sub) < 0)
			continue;
		if (found >= 0)
			return MATCH_AMBIGUOUS;
		found = i;
	}
	return found >= 0 ? found : MATCH_AMBIGUOUS;
}

static bool is_help(const char *arg)
{
	return !strcmp(arg, "help") || !strcmp(arg, "-h") || !strcmp(arg, "--help");
}

/* "help" right after the command's words, or -h/--help anywhere after them. */
static bool wants_help(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "help"))
		return true;
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* Usage of one object, or of one of its verbs (verb may be NULL). */
static void help_cmd(const struct cli_cmd *obj, const struct cli_cmd *verb)
{
	const struct cli_cmd *v;

	if (!obj->sub || verb) {
		v = verb ? verb : obj;
		printf("usage: sluicectl %s%s%s%s%s\n", obj->name, verb ? " " : "",
		       verb ? verb->name : "", v->args && *v->args ? " " : "", v->args ? v->args : "");
		if (v->desc)
			printf("  %s\n", v->desc);
		return;
	}
	printf("sluicectl %s%s%s\n\n", obj->name, obj->desc ? ": " : "", obj->desc ? obj->desc : "");
	for (v = obj->sub; v->name; v++) {
		printf("  %s %s%s%s\n", obj->name, v->name, v->args && *v->args ? " " : "",
		       v->args ? v->args : "");
		if (v->desc)
			printf("      %s\n", v->desc);
	}
}

static int dispatch(int argc, char **argv)
{
	const struct cli_cmd *obj, *verb;
	int k;

	k = resolve_object(argc, argv);
	if (k < 0)
		return match_error(NULL, argv[0], objects, k);
	obj = &objects[k];
	snprintf(cli.cmd, sizeof(cli.cmd), "%s", obj->name);
	if (!obj->sub) {
		cli.synopsis = obj->args;
		/* `help stats` is help's own argument, not a request for help on help. */
		if (obj->run != cmd_help && wants_help(argc, argv)) {
			help_cmd(obj, NULL);
			return EXIT_OK;
		}
		return obj->run(argc, argv);
	}

	argc--;
	argv++;
	if (!argc) {
		/* A bare "stage" lists, as "ip link" shows. */
		if (!strcmp(obj->sub[0].name, "list")) {
			snprintf(cli.cmd, sizeof(cli.cmd), "%s list", obj->name);
			cli.synopsis = obj->sub[0].args;
			return obj->sub[0].run(1, (char *[]){ "list", NULL });
		}
		return cli_usage_error("%s: missing verb (%s help lists them)", obj->name, obj->name);
	}
	if (is_help(argv[0])) {
		help_cmd(obj, NULL);
		return EXIT_OK;
	}
	k = cmd_match(argv[0], obj->sub);
	if (k < 0)
		return match_error(obj->name, argv[0], obj->sub, k);
	verb = &obj->sub[k];
	snprintf(cli.cmd, sizeof(cli.cmd), "%s %s", obj->name, verb->name);
	cli.synopsis = verb->args;
	if (wants_help(argc, argv)) {
		help_cmd(obj, verb);
		return EXIT_OK;
	}
	return verb->run(argc, argv);
}

int cmd_help(int argc, char **argv)
{
	const struct cli_cmd *obj;
	int k;

	if (argc == 1) {
		cli_usage(stdout);
		return EXIT_OK;
	}
	if (cli_nargs(argc, argv, 0, 2))
		return EXIT_USAGE;
	/* help OBJECT [VERB]: the same words as the command itself. */
	cli.cmd[0] = '\0';
	k = resolve_object(argc - 1, argv + 1);
	if (k < 0)
		return match_error(NULL, argv[1], objects, k);
	obj = &objects[k];
	if (argc == 2 || !obj->sub) {
		help_cmd(obj, NULL);
		return EXIT_OK;
	}
	k = cmd_match(argv[2], obj->sub);
	if (k < 0)
		return match_error(obj->name, argv[2], obj->sub, k);
	help_cmd(obj, &obj->sub[k]);
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

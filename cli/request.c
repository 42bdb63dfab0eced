// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The one path to the daemon: build a request, send it, turn the outcome
 * into an exit code and print the reply. Also the argument helpers that
 * several commands share (paths, parameters, verdict names).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "ctl.h"
#include "sluicectl.h"

/* Lines of the verifier log worth showing: the error is at its end. */
#define VERIFIER_TAIL	20

const char *const cli_verdicts[5] = { "aborted", "drop", "pass", "tx", "redirect" };

struct json_object *cli_req(const char *op)
{
	struct json_object *req = json_object_new_object();

	if (req)
		json_object_object_add(req, "op", json_object_new_string(op));
	return req;
}

static void print_log_tail(const char *log)
{
	const char *p = log + strlen(log);
	int lines = 0;

	/* Back up over trailing newlines, then VERIFIER_TAIL lines. */
	while (p > log && p[-1] == '\n')
		p--;
	while (p > log) {
		if (p[-1] == '\n' && ++lines == VERIFIER_TAIL)
			break;
		p--;
	}
	fprintf(stderr, "verifier log%s:\n%s%s", p > log ? " (tail)" : "", p,
		log[strlen(log) - 1] == '\n' ? "" : "\n");
}

int cli_call(struct json_object *req, struct json_object **reply)
{
	const char *op = jstr(req, "op");
	struct json_object *ok;
	char msg[PATH_MAX + 128];
	int err;

	*reply = NULL;
	err = ctl__request(cli.socket, req, reply, cli.timeout_ms);
	if (err) {
		snprintf(msg, sizeof(msg), "%s sluiced at %s: %s",
			 err == -EPROTO || err == -EBADMSG || err == -EMSGSIZE ?
				 "bad reply from" : "cannot reach",
			 cli.socket, strerror(-err));
		goto unreachable;
	}
	if (!json_object_object_get_ex(*reply, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		snprintf(msg, sizeof(msg), "bad reply from sluiced at %s: no \"ok\"", cli.socket);
		json_object_put(*reply);
		*reply = NULL;
		goto unreachable;
	}
	if (json_object_get_boolean(ok))
		return EXIT_OK;

	/* Refused: the reply still goes to stdout with -j, for scripts. */
	if (cli.json)
		print_json(*reply);
	fprintf(stderr, "sluicectl: %s: %s\n", op,
		jget(*reply, "error") ? jstr(*reply, "error") : "refused");
	if (jget(*reply, "verifier_log") && *jstr(*reply, "verifier_log"))
		print_log_tail(jstr(*reply, "verifier_log"));
	json_object_put(*reply);
	*reply = NULL;
	return EXIT_REFUSED;

unreachable:
	fprintf(stderr, "sluicectl: %s\n", msg);
	/* Scripts reading -j see the failure on stdout too, not an empty line. */
	if (cli.json)
		cli_json_error(msg, EXIT_UNREACHABLE);
	return EXIT_UNREACHABLE;
}

int cli_do(struct json_object *req, cli_print_fn print)
{
	struct json_object *reply;
	int ret;

	if (!req) {
		fprintf(stderr, "sluicectl: %s\n", strerror(ENOMEM));
		return EXIT_REFUSED;
	}
	ret = cli_call(req, &reply);
	if (!ret) {
		if (cli.json)
			print_json(reply);
		else if (print)
			print(req, reply);
		json_object_put(reply);
	}
	json_object_put(req);
	return ret;
}

/* Drops "." and empty components and folds ".." in an absolute path, in place. */
static void normalize(char *path)
{
	char *out = path, *p = path, *end;
	size_t len;

	while (*p) {
		while (*p == '/')
			p++;
		end = strchrnul(p, '/');
		len = end - p;
		if (!len || (len == 1 && p[0] == '.')) {
			/* nothing */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			while (out > path && *--out != '/')
				;
		} else {
			*out++ = '/';
			memmove(out, p, len);
			out += len;
		}
		p = end;
	}
	if (out == path)
		*out++ = '/';
	*out = 0;
}

char *cli_abspath(const char *arg)
{
	char *abs, cwd[PATH_MAX];

	if (arg[0] == '/')
		return strdup(arg);
	/* Canonical when it exists; else joined, so the daemon names it in full. */
	abs = realpath(arg, NULL);
	if (abs)
		return abs;
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&abs, "%s/%s", cwd, arg) < 0)
		return NULL;
	normalize(abs);
	return abs;
}

char *cli_object_arg(const char *arg)
{
	struct stat st;
	size_t len = strlen(arg);

	/* A bare word that is no file here names a built-in stage. */
	if (!strchr(arg, '/') && !(len > 2 && !strcmp(arg + len - 2, ".o")) &&
	    stat(arg, &st))
		return strdup(arg);
	return cli_abspath(arg);
}

int cli_parse_u64(const char *arg, uint64_t *v)
{
	char *end;

	errno = 0;
	if (!*arg || *arg == '-')
		return -EINVAL;
	*v = strtoull(arg, &end, 0);
	return errno || *end ? -EINVAL : 0;
}

int cli_param(struct json_object *obj, const char *arg)
{
	const char *eq = strchr(arg, '=');
	long long v;
	char *end, *name;

	if (!eq || eq == arg || !eq[1])
		return cli_usage_error("param wants NAME=INT, not '%s'", arg);
	errno = 0;
	v = strtoll(eq + 1, &end, 0);
	if (errno || *end)
		return cli_usage_error("param %.*s: '%s' is not an integer", (int)(eq - arg), arg,
				       eq + 1);
	name = strndup(arg, eq - arg);
	if (!name)
		return EXIT_REFUSED;
	json_object_object_add(obj, name, json_object_new_int64(v));
	free(name);
	return 0;
}

const char *cli_verdict(const char *arg)
{
	int i = cli_match(arg, cli_verdicts, 5);

	return i >= 0 ? cli_verdicts[i] : NULL;
}

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sluicectl internals: the command tables, the one path every request takes
 * to the daemon, and the text formatters of the replies. Text output is
 * always derived from the same JSON reply that -j prints.
 */
#ifndef SLUICECTL_H
#define SLUICECTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

/* Exit codes, documented in sluicectl(8). */
enum {
	EXIT_OK		= 0,
	EXIT_REFUSED	= 1,	/* the daemon (or a local check) said no */
	EXIT_USAGE	= 2,
	EXIT_UNREACHABLE = 3,	/* no daemon, timeout, or a reply we cannot read */
};

struct cli_opts {
	bool json;
	bool pretty;
	const char *socket;
	int timeout_ms;
	/* The command being run ("stage swap") and its synopsis, for messages. */
	char cmd[64];
	const char *synopsis;
};

extern struct cli_opts cli;

/* argv[0] is the verb (or the object for verb-less ones). */
typedef int (*cli_run_fn)(int argc, char **argv);

struct cli_cmd {
	const char *name;
	cli_run_fn run;			/* NULL when sub is set */
	const struct cli_cmd *sub;	/* verbs of an object, NULL-terminated */
	const char *args;		/* synopsis of the arguments, for usage */
	const char *desc;		/* one line for `OBJECT help` */
	/* Destructive: never taken from a prefix, only typed in full. */
	bool exact;
};

/* Text formatter of an ok reply; req is what was asked, for context. */
typedef void (*cli_print_fn)(struct json_object *req, struct json_object *reply);

/* main.c */
/*
 * Index of the entry arg names: an exact match, or the only entry it is a
 * prefix of. -1: none, -2: ambiguous.
 */
int cli_match(const char *arg, const char *const *words, size_t n);
/* Like cli_match() for a keyword argument; prints the usage error itself. */
int cli_keyword(const char *what, const char *arg, const char *const *words, size_t n);
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Checks that the command got between min and max arguments after its
 * words (max -1: no limit); otherwise a usage error naming the first
 * argument too many, or what is missing, from the synopsis.
 */
int cli_nargs(int argc, char **argv, int min, int max);
/* A failure as JSON on stdout under -j (scripts read stdout only). */
void cli_json_error(const char *msg, int code);
void cli_usage(FILE *f);

/* request.c */
struct json_object *cli_req(const char *op);
/*
 * Sends req (consumed), prints the reply (JSON with -j, else through
 * print, which may be NULL) and returns an exit code.
 */
int cli_do(struct json_object *req, cli_print_fn print);
/*
 * Sends req (not consumed). EXIT_OK with *reply an ok reply to put; else
 * the failure is reported on stderr and its exit code returned.
 */
int cli_call(struct json_object *req, struct json_object **reply);
/* An object argument: a bare name stays (a built-in), a path is made absolute. */
char *cli_object_arg(const char *arg);
char *cli_abspath(const char *arg);
/* NAME=INT into obj[NAME]; usage error on anything else. */
int cli_param(struct json_object *obj, const char *arg);
int cli_parse_u64(const char *arg, uint64_t *v);
/* A verdict name by unique prefix ("dr" -> "drop"), or NULL. */
const char *cli_verdict(const char *arg);
extern const char *const cli_verdicts[5];

/* print.c */
void print_json(struct json_object *obj);
const char *jstr(struct json_object *o, const char *key);
/* Length of an array; 0 for anything else, a missing field included. */
size_t jlen(struct json_object *arr);
int64_t jint(struct json_object *o, const char *key);
struct json_object *jget(struct json_object *o, const char *key);
/* A count: integers as such, rates (doubles) rounded. */
const char *jnum(struct json_object *o, const char *key, char *buf, size_t len);
const char *fmt_duration_s(int64_t s, char *buf, size_t len);
const char *fmt_us(int64_t us, char *buf, size_t len);
void print_iface(struct json_object *ifc);
void print_verdicts(const char *indent, struct json_object *v);

/* Commands, one file per object. */
int cmd_status(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_down(int argc, char **argv);
int cmd_history(int argc, char **argv);
int cmd_help(int argc, char **argv);
extern const struct cli_cmd cli_stage_cmds[];
int cmd_txn(int argc, char **argv);
/* STAGE=OBJECT[:PROGRAM] [param NAME=INT]... as the daemon's stages array, or NULL. */
struct json_object *cli_stages_arg(int argc, char **argv);
extern const struct cli_cmd cli_canary_cmds[];
int cmd_repair(int argc, char **argv);
/* Hex frames of a reply as a pcap file. */
int cli_write_pcap(const char *path, struct json_object *frames);
extern const struct cli_cmd cli_rule_cmds[];
int cmd_stats(int argc, char **argv);
int cmd_probe(int argc, char **argv);
extern const struct cli_cmd cli_config_cmds[];
extern const struct cli_cmd cli_xsk_cmds[];
int cmd_anomalies(int argc, char **argv);
int cmd_observe(int argc, char **argv);

#endif

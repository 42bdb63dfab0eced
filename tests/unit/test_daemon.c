// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Parts of sluiced without a kernel (daemon/libsluiced.a): the history file
 * is capped and rotated, every log line is one line whatever a client put
 * in it, and a flood of log lines is cut to a rate with a count of what was
 * dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/stat.h>
#include <json-c/json.h>
#include "harness.h"
#include "sluiced.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/sluice-daemon-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

static off_t file_size(const char *name)
{
	char p[256];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) ? -1 : st.st_size;
}

static void test_history_rotates(void **state)
{
	struct history *h = history__new(dir, 4096);
	struct json_object *l;

	assert_non_null(h);
	for (int i = 0; i < 200; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "op", json_object_new_string("stage.swap"));
		json_object_object_add(e, "n", json_object_new_int(i));
		history__add(h, e);
	}
	/* Both files exist, neither above the cap. */
	assert_true(file_size("history.jsonl") > 0);
	assert_true(file_size("history.jsonl") <= 4096);
	assert_true(file_size("history.jsonl.1") > 0);
	assert_true(file_size("history.jsonl.1") <= 4096);
	/* Memory keeps the newest entries whatever the files hold. */
	l = history__list(h, 1);
	assert_int_equal(json_object_get_int(json_object_object_get(json_object_array_get_idx(l, 0), "n")),
			 199);
	json_object_put(l);
	history__free(h);
}

/* Runs fn with stderr going to a file, and returns what was written (caller frees). */
static char *capture_stderr(void (*fn)(void))
{
	char p[256], *buf;
	int fd, saved;
	off_t n;

	snprintf(p, sizeof(p), "%s/stderr", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = lseek(fd, 0, SEEK_END);
	buf = calloc(1, (size_t)n + 1);
	assert_int_equal(pread(fd, buf, (size_t)n, 0), n);
	close(fd);
	return buf;
}

static void log_forged(void)
{
	log_init(LOG_DEBUG, false);
	log_notice("swap of object %s refused", "/x.o\nsluiced: notice: forged line\x1b[2J");
}

static void test_log_one_line(void **state)
{
	char *out = capture_stderr(log_forged);

	print_message("# %s", out);
	assert_string_equal(out, "sluiced: notice: swap of object /x.o\\nsluiced: notice: forged line"
				 "\\x1b[2J refused\n");
	free(out);
}

static void log_flood(void)
{
	log_init(LOG_DEBUG, false);
	for (int i = 0; i < 2000; i++)
		log_info("line %d", i);
	/* 100 ms buys a few lines back: the first says how many were dropped. */
	usleep(100 * 1000);
	log_info("after");
}

static void test_log_rate_limited(void **state)
{
	char *out = capture_stderr(log_flood), *p;
	int lines = 0;

	for (p = out; (p = strchr(p, '\n')); p++)
		lines++;
	print_message("# %d of 2001 lines written\n", lines);
	assert_true(lines >= 200);
	assert_true(lines < 1000);
	assert_non_null(strstr(out, "log lines suppressed (more than 50 a second)"));
	assert_non_null(strstr(out, "sluiced: info: after\n"));
	free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_history_rotates),
		cmocka_unit_test(test_log_one_line),
		cmocka_unit_test(test_log_rate_limited),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

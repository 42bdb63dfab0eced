// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The trust policy (lib/trust.c): every rule refuses by name what it is
 * for, a FIFO or a device is refused without blocking, a client learns
 * nothing about a path it could not read itself, and stage objects loaded
 * through the pipeline library go through the same checks.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include "harness.h"
#include "pipeline.h"
#include "trust.h"

static char dir[64];

static void path_of(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", dir, rel);
}

static void make_file(const char *rel, mode_t mode, const char *content)
{
	char p[256];
	int fd;

	path_of(p, sizeof(p), rel);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static int setup(void **state)
{
	char p[256];

	if (geteuid() != 0)
		return 0;
	snprintf(dir, sizeof(dir), "/tmp/sluice-trust-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0755);
	make_file("ok.o", 0644, "hello");
	path_of(p, sizeof(p), "sub");
	mkdir(p, 0755);
	make_file("sub/in.o", 0644, "inside");
	path_of(p, sizeof(p), "open");
	mkdir(p, 0777);
	chmod(p, 0777);
	make_file("open/x.o", 0644, "x");
	path_of(p, sizeof(p), "sticky");
	mkdir(p, 01777);
	chmod(p, 01777);
	make_file("sticky/x.o", 0644, "x");
	path_of(p, sizeof(p), "private");
	mkdir(p, 0700);
	make_file("private/secret.o", 0600, "secret");
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];

	trust__reset();
	if (dir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			return -1;
	}
	return 0;
}

/* The file opens, or is refused by rule (the word in parentheses). */
static void expect(const char *rel, enum trust_kind kind, const struct trust_peer *peer,
		   const char *rule)
{
	char p[256], err[512] = "";
	int fd;

	if (rel[0] == '/')
		snprintf(p, sizeof(p), "%s", rel);
	else
		path_of(p, sizeof(p), rel);
	fd = trust__open(p, kind, peer, err, sizeof(err));
	if (!rule) {
		if (fd < 0)
			fail_msg("%s refused: %s", p, err);
		close(fd);
		return;
	}
	if (fd >= 0)
		fail_msg("%s opened, want refusal by %s", p, rule);
	if (!strstr(err, rule))
		fail_msg("%s: got \"%s\", want \"%s\"", p, err, rule);
}

static void test_rules(void **state)
{
	struct trust_policy pol = { .owner = (uid_t)-1 };
	char p[256], q[256];

	require_bpf();
	expect("ok.o", TRUST_OBJECT, NULL, NULL);
	expect("sub/in.o", TRUST_OBJECT, NULL, NULL);
	expect("sticky/x.o", TRUST_OBJECT, NULL, NULL);
	assert_int_equal(trust__open("relative/x.o", TRUST_OBJECT, NULL, p, sizeof(p)), -EINVAL);
	assert_non_null(strstr(p, "(absolute)"));
	expect("sub/../ok.o", TRUST_OBJECT, NULL, "(absolute)");
	expect("sub/./in.o", TRUST_OBJECT, NULL, "(absolute)");
	expect("open/x.o", TRUST_OBJECT, NULL, "(not-writable): folder");
	make_file("loose.o", 0666, "x");
	expect("loose.o", TRUST_OBJECT, NULL, "(not-writable)");
	make_file("grp.o", 0664, "x");
	expect("grp.o", TRUST_OBJECT, NULL, "(not-writable)");
	expect("sub", TRUST_OBJECT, NULL, "(regular-file)");
	expect("/dev/null", TRUST_OBJECT, NULL, "(regular-file)");
	expect("missing.o", TRUST_OBJECT, NULL, "No such file");

	/* Symbolic links: as the last component, and as a folder on the way. */
	path_of(p, sizeof(p), "link.o");
	path_of(q, sizeof(q), "ok.o");
	assert_int_equal(symlink(q, p), 0);
	expect("link.o", TRUST_OBJECT, NULL, "(no-symlinks)");
	path_of(p, sizeof(p), "linkdir");
	path_of(q, sizeof(q), "sub");
	assert_int_equal(symlink(q, p), 0);
	expect("linkdir/in.o", TRUST_OBJECT, NULL, "(no-symlinks)");

	/* Owner: root, or trust.owner once configured. */
	make_file("user.o", 0644, "x");
	path_of(p, sizeof(p), "user.o");
	assert_int_equal(chown(p, 1000, 1000), 0);
	expect("user.o", TRUST_OBJECT, NULL, "(owner)");
	pol.owner = 1000;
	assert_int_equal(trust__set_policy(&pol), 0);
	expect("user.o", TRUST_OBJECT, NULL, NULL);
	trust__reset();

	/* Size. */
	path_of(p, sizeof(p), "big.o");
	make_file("big.o", 0644, "");
	assert_int_equal(truncate(p, (off_t)TRUST_MAX_FILE + 1), 0);
	expect("big.o", TRUST_OBJECT, NULL, "(size)");
}

/* A FIFO a client names is refused at once: opening it would block the daemon. */
static void test_fifo_does_not_block(void **state)
{
	char p[256];

	require_bpf();
	path_of(p, sizeof(p), "fifo.o");
	assert_int_equal(mkfifo(p, 0644), 0);
	alarm(10);	/* a blocked open ends the test with SIGALRM, not a hang */
	expect("fifo.o", TRUST_OBJECT, NULL, "(regular-file)");
	expect("fifo.o", TRUST_PCAP, NULL, "(regular-file)");
	alarm(0);
}

static void test_stage_dir_and_sha256(void **state)
{
	/* sha256("hello") */
	static const char *hello = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
	struct trust_pin pin = {};
	struct trust_policy pol = { .owner = (uid_t)-1 };
	char sub[256], p[256];

	require_bpf();
	path_of(sub, sizeof(sub), "sub");
	pol.stage_dir = sub;
	assert_int_equal(trust__set_policy(&pol), 0);
	expect("sub/in.o", TRUST_OBJECT, NULL, NULL);
	expect("ok.o", TRUST_OBJECT, NULL, "(stage-dir)");
	/* The stage folder is for objects: a pcap may lie elsewhere. */
	expect("ok.o", TRUST_PCAP, NULL, NULL);

	path_of(p, sizeof(p), "ok.o");
	pin.path = p;
	assert_int_equal(trust__sha256_parse(hello, pin.sha256), 0);
	pol.stage_dir = NULL;
	pol.pins = &pin;
	pol.nr_pins = 1;
	assert_int_equal(trust__set_policy(&pol), 0);
	expect("ok.o", TRUST_OBJECT, NULL, NULL);
	make_file("ok.o", 0644, "hellO");
	expect("ok.o", TRUST_OBJECT, NULL, "(sha256)");
	make_file("ok.o", 0644, "hello");
	trust__reset();

	assert_int_equal(trust__sha256_parse("sha256:00", pin.sha256), -EINVAL);
	assert_int_equal(trust__sha256_parse(hello + 1, pin.sha256), -EINVAL);
}

/*
 * A client learns only what it could see itself: a root-only file that
 * exists and one that does not give the same answer.
 */
static void test_peer_learns_nothing(void **state)
{
	struct trust_peer nobody = { .uid = 65534, .gid = 65534 };
	char p[256], e1[512], e2[512], want[600];

	require_bpf();
	path_of(p, sizeof(p), "private/secret.o");
	assert_true(trust__open(p, TRUST_OBJECT, &nobody, e1, sizeof(e1)) < 0);
	path_of(p, sizeof(p), "private/missing.o");
	assert_true(trust__open(p, TRUST_OBJECT, &nobody, e2, sizeof(e2)) < 0);
	/* Same text but for the path. */
	snprintf(want, sizeof(want), "%s/private/secret.o: no such file, or uid 65534 may not read it",
		 dir);
	assert_string_equal(e1, want);
	snprintf(want, sizeof(want), "%s/private/missing.o: no such file, or uid 65534 may not read it",
		 dir);
	assert_string_equal(e2, want);
	/* Also a file of the wrong kind behind a folder it cannot search. */
	expect("missing.o", TRUST_OBJECT, &nobody, "no such file, or uid 65534 may not read it");
	/* What it may read, it may name; root sees every reason. */
	expect("ok.o", TRUST_OBJECT, &nobody, NULL);
	expect("private/secret.o", TRUST_OBJECT, NULL, NULL);
	make_file("private/mine.o", 0600, "x");
	path_of(p, sizeof(p), "private");
	assert_int_equal(chmod(p, 0755), 0);
	path_of(p, sizeof(p), "private/mine.o");
	assert_int_equal(chown(p, 0, 65534), 0);
	assert_int_equal(chmod(p, 0640), 0);
	expect("private/mine.o", TRUST_OBJECT, &nobody, NULL);
	assert_int_equal(chmod(p, 0600), 0);
	expect("private/mine.o", TRUST_OBJECT, &nobody, "may not read it");
}

static void test_map_names(void **state)
{
	static const char *const ok[] = { "sluice_acl_rules", "m", "Counts_2" };
	static const char *const bad[] = {
		"", "../x", "a/b", ".hidden", "x.y", "x y", "a\nb",
		"a_name_of_sixty_four_characters_is_one_more_than_a_pin_may_have_",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		assert_int_equal(trust__map_name(ok[i], err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		assert_int_equal(trust__map_name(bad[i], err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "cannot be a pin name"));
	}
}

/* The pipeline library opens user objects through the policy. */
static void test_stage_load_uses_policy(void **state)
{
	struct pipeline_err err = {};
	struct stage_src src = {};
	struct pipeline pl;
	char p[256], obj[PATH_MAX];

	require_bpf();
	assert_non_null(test_pin_root());
	snprintf(obj, sizeof(obj), "%s/testdata/aborts.bpf.o", SLUICE_BUILD_STAGEDIR);
	path_of(p, sizeof(p), "aborts.bpf.o");
	assert_int_equal(symlink(obj, p), 0);
	assert_int_equal(pipeline__init(&pl, test_pin_root(), "trust"), 0);
	pipeline__set_carrier(&pl, test_carrier(), 0);
	snprintf(src.name, sizeof(src.name), "a");
	snprintf(src.object, sizeof(src.object), "%s", p);
	assert_int_not_equal(pipeline__load(&pl, &src, 1, XDP_PASS, &err), 0);
	/* The pipeline reports the errno (ELOOP); sluiced names the rule before. */
	if (!strstr(err.msg, "symbolic link"))
		fail_msg("got: %s", err.msg);
	pipeline_err__clear(&err);
	/* The real file loads. */
	snprintf(src.object, sizeof(src.object), "%s", obj);
	if (pipeline__load(&pl, &src, 1, XDP_PASS, &err))
		fail_msg("load: %s", err.msg);
	pipeline__destroy(&pl);
	pipeline__close(&pl);
}

/*
 * A corrupt object that crashes libbpf's reader (count.bpf.o with four
 * bytes set to 0xff; libbpf 1.1 segfaults on it) is refused by name, and
 * the process that asked lives on.
 */
static void test_corrupt_object_refused(void **state)
{
	char obj[PATH_MAX], p[256], err[512] = "";
	static uint8_t buf[1 << 20];
	struct stat st;
	size_t n;
	FILE *f;
	pid_t pid;
	int status;

	require_bpf();
	snprintf(obj, sizeof(obj), "%s/count.bpf.o", SLUICE_BUILD_STAGEDIR);
	f = fopen(obj, "rb");
	if (!f)
		skip();
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 2000);
	memset(buf + 777 * n / 2000, 0xff, 4);
	path_of(p, sizeof(p), "corrupt.bpf.o");
	f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
	assert_int_equal(stat(p, &st), 0);
	/* Does this libbpf crash on it? Asked in a child of our own. */
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct bpf_object *o;

		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		o = bpf_object__open_mem(buf, n, NULL);

		bpf_object__close(o);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFSIGNALED(status)) {
		print_message("# this libbpf reads the corrupt object without crashing\n");
		skip();
	}
	assert_int_equal(trust__check(p, TRUST_OBJECT, NULL, err, sizeof(err)), -EBADMSG);
	if (!strstr(err, "(parses): reading it crashed libbpf"))
		fail_msg("got: %s", err);
	/* A sound object passes, and the second time from the cache. */
	assert_int_equal(trust__check(obj, TRUST_OBJECT, NULL, err, sizeof(err)), 0);
	assert_int_equal(trust__check(obj, TRUST_OBJECT, NULL, err, sizeof(err)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rules),
		cmocka_unit_test(test_fifo_does_not_block),
		cmocka_unit_test(test_stage_dir_and_sha256),
		cmocka_unit_test(test_peer_learns_nothing),
		cmocka_unit_test(test_map_names),
		cmocka_unit_test(test_stage_load_uses_policy),
		cmocka_unit_test(test_corrupt_object_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}

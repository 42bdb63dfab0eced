// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The feature probe on this machine: every required feature is found, the
 * veth pair and network namespace it made are gone afterwards, the libxdp
 * dispatcher (refused here) is reported as unavailable with a reason, and
 * the JSON printer and probe__require() agree with probe__run().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/wait.h>
#include <json-c/json.h>
#include <bpf/libbpf.h>
#include "harness.h"
#include "probe.h"

static const struct probe_result *find(const struct probe_result *r, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(r[i].name, name))
			return &r[i];
	fail_msg("no probe named %s", name);
	return NULL;
}


static void test_required_present(void **state)
{
	static const char *const required[] = {
		"bpffs", "xdp_prog", "tail_call_subprog", "xdp_link",
	};
	struct probe_result *r;
	size_t n, i, nreq = 0;

	require_bpf();
	assert_int_equal(probe__run(&r, &n), 0);
	for (i = 0; i < n; i++) {
		assert_non_null(r[i].name);
		assert_non_null(r[i].needs);
		assert_true(r[i].detail[0]);
		if (r[i].required) {
			nreq++;
			if (!r[i].ok)
				fail_msg("%s: %s", r[i].name, r[i].detail);
		}
	}
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		assert_true(find(r, n, required[i])->required);
	assert_int_equal(nreq, sizeof(required) / sizeof(required[0]));
	/* What the machine notes say sluice gets here. */
	assert_true(find(r, n, "direct_tail_call")->ok);
	assert_true(find(r, n, "native_xdp_veth")->ok);
	assert_true(find(r, n, "af_xdp")->ok);
	free(r);
}

/*
 * Acting as a kernel that refuses XDP metadata and live frames: both are
 * reported missing with the reason, nothing required is, and the carrier
 * auto picks is the per-CPU one.
 */
static void test_denied_features_are_optional(void **state)
{
	struct probe_result *r;
	char err[512], why[256];
	size_t n;

	require_bpf();
	setenv("SLUICE_DENY_FEATURES", "xdp_adjust_meta,xdp_live_frames", 1);
	assert_int_equal(probe__run(&r, &n), 0);
	assert_false(find(r, n, "xdp_adjust_meta")->ok);
	assert_false(find(r, n, "xdp_adjust_meta")->required);
	assert_non_null(strstr(find(r, n, "xdp_adjust_meta")->detail, "SLUICE_DENY_FEATURES"));
	assert_false(find(r, n, "xdp_live_frames")->ok);
	assert_true(find(r, n, "xdp_link")->ok);
	free(r);
	assert_int_equal(probe__require(err, sizeof(err)), 0);
	assert_int_equal(probe__carrier_auto(why, sizeof(why)), SLUICE_CARRIER_PERCPU);
	assert_false(probe__live_frames(NULL, 0));
	unsetenv("SLUICE_DENY_FEATURES");
	/* Only names in the list: a prefix of one is not one. */
	setenv("SLUICE_DENY_FEATURES", "xdp_adjust", 1);
	assert_false(probe__denied("xdp_adjust_meta"));
	unsetenv("SLUICE_DENY_FEATURES");
}

/* The open object build/bpf/NAME.bpf.o. */
static struct bpf_object *open_built(const char *name)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/bpf/%s.bpf.o",
		 getenv("SLUICE_BUILD") ? getenv("SLUICE_BUILD") : "build", name);
	return bpf_object__open_file(path, NULL);
}

/*
 * Acting as a kernel that refuses metadata refuses what such a verifier
 * refuses, for every loader that asks: the entry built to reserve metadata,
 * not the build that never names the helper, and nothing when not denied.
 */
static void test_denied_helper_refused_at_load(void **state)
{
	struct bpf_object *meta = open_built("entry"), *percpu = open_built("entry_percpu");
	char why[256] = "";

	assert_non_null(meta);
	assert_non_null(percpu);
	assert_int_equal(probe__check_denied_helpers(meta, why, sizeof(why)), 0);
	setenv("SLUICE_DENY_FEATURES", "xdp_adjust_meta", 1);
	assert_int_equal(probe__check_denied_helpers(meta, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "cannot use helper bpf_xdp_adjust_meta#54"));
	assert_int_equal(probe__check_denied_helpers(percpu, why, sizeof(why)), 0);
	unsetenv("SLUICE_DENY_FEATURES");
	bpf_object__close(meta);
	bpf_object__close(percpu);
}

/* Does any process still hold the network namespace "net:[ino]"? */
static int netns_holders(const char *nsid)
{
	char path[64], link[64];
	struct dirent *de;
	int holders = 0;
	ssize_t len;
	DIR *d;

	d = opendir("/proc");
	assert_non_null(d);
	while ((de = readdir(d))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/ns/net", de->d_name);
		len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (!strcmp(link, nsid))
			holders++;
	}
	closedir(d);
	return holders;
}

static int count_fds(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void test_leaves_nothing_behind(void **state)
{
	const struct probe_result *nat;
	struct probe_result *r;
	char nsid[64], self[64];
	const char *p;
	ssize_t len;
	size_t n;
	int fds;

	require_bpf();
	fds = count_fds();
	assert_int_equal(probe__run(&r, &n), 0);
	/* Every map, program, link, BTF and socket fd was closed. */
	assert_int_equal(count_fds(), fds);
	nat = find(r, n, "native_xdp_veth");
	assert_true(nat->ok);
	p = strstr(nat->detail, "net:[");
	assert_non_null(p);
	snprintf(nsid, sizeof(nsid), "%.*s", (int)(strchr(p, ']') - p + 1), p);

	/* The probe ran in another namespace, not ours... */
	len = readlink("/proc/self/ns/net", self, sizeof(self) - 1);
	assert_true(len > 0);
	self[len] = '\0';
	assert_string_not_equal(nsid, self);
	/*
	 * ...no process is left in it, so it died with the child. (Namespace
	 * inode numbers are reused: a namespace another test makes in this
	 * instant could take the number, a false failure we accept.)
	 */
	assert_int_equal(netns_holders(nsid), 0);
	/* ...and the veth never showed up here. */
	assert_int_equal(if_nametoindex("slprobe0"), 0);
	assert_int_equal(if_nametoindex("slprobe1"), 0);
	/* The child was reaped. */
	assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
	assert_int_equal(errno, ECHILD);
	free(r);
}

static void test_dispatcher_not_available(void **state)
{
	const struct probe_result *d;
	struct probe_result *r;
	size_t n;

	require_bpf();
	assert_int_equal(probe__run(&r, &n), 0);
	d = find(r, n, "libxdp_dispatcher");
	assert_false(d->required);
	/* freplace is refused on this machine, so libxdp falls back. */
	assert_false(d->ok);
	assert_non_null(strstr(d->detail, "not available: "));
	assert_true(strlen(d->detail) > strlen("not available: ") + 10);
	assert_non_null(strstr(d->detail, "freplace"));
	free(r);
}

/* The JSON printer says the same as probe__run(), and exit status 0. */
static void test_json_and_require(void **state)
{
	struct json_object *root, *features, *ok, *f, *v;
	char tmpl[] = "/tmp/sluice-probe-json-XXXXXX", err[1024] = "x";
	int fd, saved, rc;
	size_t i;

	require_bpf();
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	fflush(stdout);
	saved = dup(STDOUT_FILENO);
	dup2(fd, STDOUT_FILENO);
	rc = probe__run_print(true, true);
	fflush(stdout);
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fd);
	assert_int_equal(rc, 0);

	root = json_object_from_file(tmpl);
	unlink(tmpl);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "ok", &ok));
	assert_true(json_object_get_boolean(ok));
	assert_true(json_object_object_get_ex(root, "features", &features));
	assert_true(json_object_array_length(features) >= 10);
	for (i = 0; i < json_object_array_length(features); i++) {
		f = json_object_array_get_idx(features, i);
		assert_true(json_object_object_get_ex(f, "name", &v));
		if (strcmp(json_object_get_string(v), "libxdp_dispatcher"))
			continue;
		assert_true(json_object_object_get_ex(f, "ok", &v));
		assert_false(json_object_get_boolean(v));
		assert_true(json_object_object_get_ex(f, "required", &v));
		assert_false(json_object_get_boolean(v));
	}
	json_object_put(root);

	assert_int_equal(probe__require(err, sizeof(err)), 0);
	assert_string_equal(err, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_required_present),
		cmocka_unit_test(test_denied_features_are_optional),
		cmocka_unit_test(test_denied_helper_refused_at_load),
		cmocka_unit_test(test_leaves_nothing_behind),
		cmocka_unit_test(test_dispatcher_not_available),
		cmocka_unit_test(test_json_and_require),
	};

	libbpf_set_print(NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

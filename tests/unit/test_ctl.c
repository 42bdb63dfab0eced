// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control protocol framing, over socketpairs: both decoders (blocking
 * ctl__recv and the daemon's incremental ctl_conn) must agree on every
 * malformed input, never read past a frame, and keep frames intact however
 * the bytes are split. Peer credentials are checked with a real unprivileged
 * client (fork + setuid).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <json-c/json.h>
#include "harness.h"
#include "ctl.h"

#define TMO 2000

struct pair {
	int cli;		/* blocking client end */
	struct ctl_conn srv;	/* non-blocking daemon end */
};

static void pair_open(struct pair *p)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	p->cli = sv[0];
	ctl_conn__init(&p->srv, sv[1], TMO);
}

static void pair_close(struct pair *p)
{
	if (p->cli >= 0)
		close(p->cli);
	ctl_conn__close(&p->srv);
}

static size_t hdr_raw(uint8_t *buf, uint32_t magic, uint16_t ver, uint16_t type, uint32_t len)
{
	magic = htonl(magic);
	ver = htons(ver);
	type = htons(type);
	len = htonl(len);
	memcpy(buf, &magic, 4);
	memcpy(buf + 4, &ver, 2);
	memcpy(buf + 6, &type, 2);
	memcpy(buf + 8, &len, 4);
	return SLUICE_CTL_HDR_LEN;
}

/* A whole frame with the given body text, as a peer would write it. */
static size_t frame_raw(uint8_t *buf, uint16_t type, const char *body)
{
	size_t n = strlen(body);

	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, type, n);
	memcpy(buf + SLUICE_CTL_HDR_LEN, body, n);
	return SLUICE_CTL_HDR_LEN + n;
}

static void write_all(int fd, const void *buf, size_t len)
{
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/*
 * Feeds bytes to both decoders and returns their verdicts: the daemon one
 * after the peer closed, and the blocking one with a short timeout.
 */
static void expect_both(const void *bytes, size_t len, bool close_after, int want)
{
	struct json_object *body = NULL;
	struct pair p;
	int type, err, sv[2];

	pair_open(&p);
	write_all(p.cli, bytes, len);
	if (close_after)
		shutdown(p.cli, SHUT_WR);
	err = ctl_conn__read(&p.srv);
	assert_int_equal(err, want);
	assert_null(ctl_conn__take(&p.srv));
	pair_close(&p);

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	write_all(sv[0], bytes, len);
	if (close_after)
		shutdown(sv[0], SHUT_WR);
	err = ctl__recv(sv[1], &type, &body, 100);
	assert_int_equal(err, want == 0 ? -ETIMEDOUT : want);
	assert_null(body);
	close(sv[0]);
	close(sv[1]);
}

/* Both decoders accept bytes as one request whose op is op. */
static void expect_ok(const void *bytes, size_t len, const char *op)
{
	struct json_object *body = NULL;
	struct pair p;
	int type;

	pair_open(&p);
	write_all(p.cli, bytes, len);
	assert_int_equal(ctl_conn__read(&p.srv), 1);
	body = ctl_conn__take(&p.srv);
	assert_string_equal(json_object_get_string(json_object_object_get(body, "op")), op);
	json_object_put(body);
	body = NULL;

	write_all(p.cli, bytes, len);
	assert_int_equal(ctl__recv(p.srv.fd, &type, &body, 100), 0);
	assert_int_equal(type, CTL_MSG_REQUEST);
	assert_string_equal(json_object_get_string(json_object_object_get(body, "op")), op);
	json_object_put(body);
	pair_close(&p);
}

static void test_round_trip(void **state)
{
	struct json_object *req, *got, *reply, *back = NULL;
	struct pair p;
	int type;

	pair_open(&p);
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("stage.swap"));
	json_object_object_add(req, "object", json_object_new_string("/x/acl \"v2\".o"));
	json_object_object_add(req, "n", json_object_new_int64(1ll << 40));
	assert_int_equal(ctl__send(p.cli, CTL_MSG_REQUEST, req, TMO), 0);

	assert_int_equal(ctl_conn__read(&p.srv), 1);
	assert_true(p.srv.deadline == 0);
	got = ctl_conn__take(&p.srv);
	assert_non_null(got);
	assert_true(json_object_equal(req, got));
	assert_null(ctl_conn__take(&p.srv));
	assert_int_equal(ctl_conn__read(&p.srv), 0);

	reply = json_object_new_object();
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	assert_int_equal(ctl_conn__queue(&p.srv, reply), 0);
	assert_true(ctl_conn__want_write(&p.srv));
	assert_true(p.srv.deadline != 0);
	assert_int_equal(ctl_conn__flush(&p.srv), 0);
	assert_false(ctl_conn__want_write(&p.srv));
	assert_true(p.srv.deadline == 0);

	assert_int_equal(ctl__recv(p.cli, &type, &back, TMO), 0);
	assert_int_equal(type, CTL_MSG_REPLY);
	assert_true(json_object_equal(reply, back));

	json_object_put(req);
	json_object_put(got);
	json_object_put(reply);
	json_object_put(back);
	pair_close(&p);
}

static void test_truncated_header(void **state)
{
	uint8_t buf[64];

	frame_raw(buf, CTL_MSG_REQUEST, "{}");
	/* Half a header: wait for more, then the peer leaves mid-frame. */
	expect_both(buf, 6, false, 0);
	expect_both(buf, 6, true, -ECONNRESET);
	expect_both(buf, SLUICE_CTL_HDR_LEN - 1, true, -ECONNRESET);
}

static void test_truncated_body(void **state)
{
	uint8_t buf[64];
	size_t n = frame_raw(buf, CTL_MSG_REQUEST, "{\"op\":\"status\"}");

	expect_both(buf, n - 1, false, 0);
	expect_both(buf, n - 1, true, -ECONNRESET);
	expect_both(buf, SLUICE_CTL_HDR_LEN, true, -ECONNRESET);
}

static void test_stall_expires(void **state)
{
	uint8_t buf[64];
	struct pair p;

	pair_open(&p);
	frame_raw(buf, CTL_MSG_REQUEST, "{}");
	write_all(p.cli, buf, 3);
	assert_int_equal(ctl_conn__read(&p.srv), 0);
	assert_true(p.srv.deadline != 0);
	assert_false(ctl_conn__expired(&p.srv, ctl__now_ms()));
	assert_true(ctl_conn__expired(&p.srv, ctl__now_ms() + TMO + 1));
	pair_close(&p);
}

static void test_oversized(void **state)
{
	struct json_object *big, *body = NULL;
	uint8_t buf[SLUICE_CTL_HDR_LEN];
	char *s;
	int sv[2];

	/* Refused from the header alone, before anything is buffered. */
	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, CTL_MSG_REQUEST, SLUICE_CTL_MAX_MSG + 1);
	expect_both(buf, sizeof(buf), false, -EMSGSIZE);
	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, CTL_MSG_REQUEST, 0xffffffffu);
	expect_both(buf, sizeof(buf), false, -EMSGSIZE);

	/* The sender refuses to build one either. */
	s = malloc(SLUICE_CTL_MAX_MSG + 1);
	memset(s, 'a', SLUICE_CTL_MAX_MSG);
	s[SLUICE_CTL_MAX_MSG] = 0;
	big = json_object_new_object();
	json_object_object_add(big, "blob", json_object_new_string(s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(ctl__send(sv[0], CTL_MSG_REQUEST, big, TMO), -EMSGSIZE);
	assert_int_equal(ctl__recv(sv[1], &(int){ 0 }, &body, 10), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	json_object_put(big);
	free(s);
}

/* Exactly SLUICE_CTL_MAX_MSG bytes of body is allowed, by both decoders. */
static void test_max_size_accepted(void **state)
{
	size_t n = SLUICE_CTL_HDR_LEN + SLUICE_CTL_MAX_MSG;
	struct json_object *body = NULL;
	struct pollfd pfd;
	struct pair p;
	uint8_t *buf;
	pid_t pid;
	int type, i, st, err;

	buf = malloc(n);
	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, CTL_MSG_REQUEST, SLUICE_CTL_MAX_MSG);
	memset(buf + SLUICE_CTL_HDR_LEN, ' ', SLUICE_CTL_MAX_MSG);
	memcpy(buf + SLUICE_CTL_HDR_LEN, "{\"op\":\"big\"}", 12);

	for (i = 0; i < 2; i++) {
		pair_open(&p);
		pid = fork();
		assert_true(pid >= 0);
		if (!pid) {
			ssize_t off = 0, w;

			while (off < (ssize_t)n && (w = write(p.cli, buf + off, n - off)) > 0)
				off += w;
			_exit(off == (ssize_t)n ? 0 : 1);
		}
		if (i == 0) {
			assert_int_equal(ctl__recv(p.srv.fd, &type, &body, 5000), 0);
		} else {
			pfd = (struct pollfd){ .fd = p.srv.fd, .events = POLLIN };
			while ((err = ctl_conn__read(&p.srv)) == 0)
				assert_int_equal(poll(&pfd, 1, 5000), 1);
			assert_int_equal(err, 1);
			body = ctl_conn__take(&p.srv);
		}
		assert_string_equal(json_object_get_string(json_object_object_get(body, "op")), "big");
		json_object_put(body);
		body = NULL;
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_int_equal(st, 0);
		pair_close(&p);
	}
	free(buf);
}

static void test_bad_magic(void **state)
{
	uint8_t buf[64];
	size_t n = frame_raw(buf, CTL_MSG_REQUEST, "{}");

	buf[0] ^= 0x20;		/* "sLCT" */
	expect_both(buf, n, false, -EPROTO);
	/* Byte-swapped: a peer that forgot network order. */
	hdr_raw(buf, 0x54434c53u, SLUICE_CTL_VERSION, CTL_MSG_REQUEST, 2);
	expect_both(buf, n, false, -EPROTO);
}

static void test_bad_version_and_type(void **state)
{
	uint8_t buf[64];

	frame_raw(buf, CTL_MSG_REQUEST, "{}");
	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION + 1, CTL_MSG_REQUEST, 2);
	expect_both(buf, SLUICE_CTL_HDR_LEN + 2, false, -EPROTO);
	hdr_raw(buf, SLUICE_CTL_MAGIC, 0, CTL_MSG_REQUEST, 2);
	expect_both(buf, SLUICE_CTL_HDR_LEN + 2, false, -EPROTO);
	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, 3, 2);
	expect_both(buf, SLUICE_CTL_HDR_LEN + 2, false, -EPROTO);
	hdr_raw(buf, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, 0, 2);
	expect_both(buf, SLUICE_CTL_HDR_LEN + 2, false, -EPROTO);
}

/* The daemon only takes requests; the client only takes replies. */
static void test_wrong_direction(void **state)
{
	struct json_object *o = json_object_new_object();
	struct pair p;

	pair_open(&p);
	assert_int_equal(ctl__send(p.cli, CTL_MSG_REPLY, o, TMO), 0);
	assert_int_equal(ctl_conn__read(&p.srv), -EPROTO);
	pair_close(&p);
	assert_int_equal(ctl__send(-1, 7, o, TMO), -EINVAL);
	json_object_put(o);
}

static void test_garbage_json(void **state)
{
	static const char *const bad[] = {
		"{\"op\":",		/* cut short */
		"not json",
		"[1,2,3]",		/* JSON, but not an object */
		"\"status\"",
		"{}x",			/* trailing bytes */
		"{} {}",		/* two documents */
		"{'op':'status'}",	/* not strict JSON */
		"{\"op\":\"\xff\xfe\"}",	/* not UTF-8 */
		/* A key twice: json-c keeps the last; another reader the first. */
		"{\"op\":\"status\",\"op\":\"down\",\"iface\":\"e\"}",
		"{\"op\":\"txn\",\"stages\":[{\"stage\":\"a\",\"stage\":\"b\"}]}",
		"{\"a\":{\"x\":1},\"b\":{\"y\":{\"z\":1,\"z\":2}}}",
		"{\"op\":\"s\",\"\\u006fp\":\"down\"}",	/* the same key, escaped */
	};
	uint8_t buf[128], zero[SLUICE_CTL_HDR_LEN];
	size_t i, n;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = frame_raw(buf, CTL_MSG_REQUEST, bad[i]);
		expect_both(buf, n, false, -EBADMSG);
	}
	/* Trailing white space is fine. */
	n = frame_raw(buf, CTL_MSG_REQUEST, "{\"op\":\"status\"} \n");
	expect_ok(buf, n, "status");
	/* The same names in different objects, and keys inside strings, are no duplicates. */
	n = frame_raw(buf, CTL_MSG_REQUEST, "{\"op\":\"txn\",\"x\":[{\"op\":1},{\"op\":\"{\\\",\"}],\"y\":{}}");
	expect_ok(buf, n, "txn");
	/* An empty body cannot be an object. */
	hdr_raw(zero, SLUICE_CTL_MAGIC, SLUICE_CTL_VERSION, CTL_MSG_REQUEST, 0);
	expect_both(zero, sizeof(zero), false, -EBADMSG);
	/* A NUL inside the body. */
	n = frame_raw(buf, CTL_MSG_REQUEST, "{}  ");
	buf[SLUICE_CTL_HDR_LEN + 2] = 0;
	expect_both(buf, n, false, -EBADMSG);
}

static void test_byte_by_byte(void **state)
{
	struct json_object *got;
	uint8_t buf[128];
	struct pair p;
	size_t i, n;

	n = frame_raw(buf, CTL_MSG_REQUEST, "{\"op\":\"rule.add\",\"rule\":\"drop proto tcp\"}");
	pair_open(&p);
	for (i = 0; i < n; i++) {
		assert_int_equal(ctl_conn__read(&p.srv), 0);
		write_all(p.cli, buf + i, 1);
	}
	assert_int_equal(ctl_conn__read(&p.srv), 1);
	got = ctl_conn__take(&p.srv);
	assert_string_equal(json_object_get_string(json_object_object_get(got, "rule")),
			    "drop proto tcp");
	json_object_put(got);
	assert_int_equal(ctl_conn__read(&p.srv), 0);
	pair_close(&p);
}

static void test_two_in_one_write(void **state)
{
	struct json_object *a, *b;
	uint8_t buf[256];
	struct pair p;
	size_t n;

	n = frame_raw(buf, CTL_MSG_REQUEST, "{\"op\":\"status\"}");
	n += frame_raw(buf + n, CTL_MSG_REQUEST, "{\"op\":\"stats\",\"iface\":\"v0\"}");
	/* And the start of a third, which must wait. */
	n += frame_raw(buf + n, CTL_MSG_REQUEST, "{\"op\":\"history\"}") - 4;
	pair_open(&p);
	write_all(p.cli, buf, n);

	assert_int_equal(ctl_conn__read(&p.srv), 1);
	/* Not taken yet: reading again hands out the same one. */
	assert_int_equal(ctl_conn__read(&p.srv), 1);
	a = ctl_conn__take(&p.srv);
	assert_int_equal(ctl_conn__read(&p.srv), 1);
	b = ctl_conn__take(&p.srv);
	assert_int_equal(ctl_conn__read(&p.srv), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(a, "op")), "status");
	assert_string_equal(json_object_get_string(json_object_object_get(b, "op")), "stats");
	assert_string_equal(json_object_get_string(json_object_object_get(b, "iface")), "v0");
	json_object_put(a);
	json_object_put(b);
	pair_close(&p);
}

/* A reply bigger than the socket buffer goes out over several flushes. */
static void test_flush_partial(void **state)
{
	struct json_object *reply, *back = NULL;
	struct pollfd pfd;
	struct pair p;
	char *s;
	pid_t pid;
	int err, st, type, flushes = 0;

	s = malloc(SLUICE_CTL_MAX_MSG / 2);
	memset(s, 'x', SLUICE_CTL_MAX_MSG / 2 - 1);
	s[SLUICE_CTL_MAX_MSG / 2 - 1] = 0;
	reply = json_object_new_object();
	json_object_object_add(reply, "blob", json_object_new_string(s));
	pair_open(&p);
	assert_int_equal(ctl_conn__queue(&p.srv, reply), 0);
	assert_int_equal(ctl_conn__queue(&p.srv, reply), 0);
	assert_int_equal(ctl_conn__flush(&p.srv), 1);

	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		int ok = 1, k;

		for (k = 0; k < 2; k++) {
			ok &= ctl__recv(p.cli, &type, &back, 5000) == 0 && type == CTL_MSG_REPLY &&
			      strlen(json_object_get_string(json_object_object_get(back, "blob"))) ==
				      SLUICE_CTL_MAX_MSG / 2 - 1;
			json_object_put(back);
		}
		_exit(ok ? 0 : 1);
	}
	pfd = (struct pollfd){ .fd = p.srv.fd, .events = POLLOUT };
	while ((err = ctl_conn__flush(&p.srv)) == 1) {
		flushes++;
		assert_int_equal(poll(&pfd, 1, 5000), 1);
	}
	assert_int_equal(err, 0);
	assert_true(flushes > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	json_object_put(reply);
	pair_close(&p);
	free(s);
}

/* ctl__request against a forked one-shot server on a filesystem socket. */
static void test_request_path(void **state)
{
	struct json_object *req, *reply = NULL;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/sluice-ctl-XXXXXX", longpath[sizeof(sa.sun_path) + 1];
	int lfd, st;
	pid_t pid;

	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	assert_int_equal(ctl__connect(sa.sun_path, TMO), -ENOENT);

	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		struct json_object *in = NULL, *out;
		int fd = accept(lfd, NULL, NULL), type;

		if (ctl__recv(fd, &type, &in, 5000) || type != CTL_MSG_REQUEST)
			_exit(1);
		out = json_object_new_object();
		json_object_object_add(out, "ok", json_object_new_boolean(1));
		json_object_object_add(out, "echo", json_object_get(json_object_object_get(in, "op")));
		_exit(ctl__send(fd, CTL_MSG_REPLY, out, 5000) ? 1 : 0);
	}
	req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("status"));
	assert_int_equal(ctl__request(sa.sun_path, req, &reply, TMO), 0);
	assert_string_equal(json_object_get_string(json_object_object_get(reply, "echo")), "status");
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);

	/* Nobody listening any more. */
	close(lfd);
	assert_int_equal(ctl__request(sa.sun_path, req, &reply, TMO), -ECONNREFUSED);
	unlink(sa.sun_path);
	rmdir(dir);
	json_object_put(req);
	json_object_put(reply);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(ctl__connect(longpath, TMO), -ENAMETOOLONG);
}

static void test_peer_credentials(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[] = "/tmp/sluice-ctl-XXXXXX";
	int lfd, fd, sv[2], st;
	gid_t supp = 4242;
	pid_t pid;

	/* The socketpair peer is ourselves. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	if (geteuid() == 0) {
		assert_int_equal(ctl__peer_allowed(sv[0], (gid_t)-1), 0);
	} else {
		assert_int_equal(ctl__peer_allowed(sv[0], getegid()), 0);
		assert_int_equal(ctl__peer_allowed(sv[0], (gid_t)-1), -EACCES);
	}
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(ctl__peer_allowed(-1, 0), -EBADF);

	if (geteuid() != 0)
		skip();
	/* An unprivileged client: uid/gid 65534 with one supplementary group. */
	assert_non_null(mkdtemp(dir));
	chmod(dir, 0777);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	chmod(sa.sun_path, 0777);
	assert_int_equal(listen(lfd, 4), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (!pid) {
		if (setgroups(1, &supp) || setgid(65534) || setuid(65534))
			_exit(2);
		fd = ctl__connect(sa.sun_path, TMO);
		if (fd < 0)
			_exit(3);
		/* Stay connected until the parent has looked. */
		_exit(read(fd, &st, 1) < 0 ? 4 : 0);
	}
	fd = accept(lfd, NULL, NULL);
	assert_true(fd >= 0);
	assert_int_equal(ctl__peer_allowed(fd, 65534), 0);		/* primary */
	assert_int_equal(ctl__peer_allowed(fd, supp), 0);		/* supplementary */
	assert_int_equal(ctl__peer_allowed(fd, 4243), -EACCES);
	assert_int_equal(ctl__peer_allowed(fd, 0), -EACCES);		/* root's group */
	assert_int_equal(ctl__peer_allowed(fd, (gid_t)-1), -EACCES);
	close(fd);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(WEXITSTATUS(st), 0);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
}

/*
 * A connection that sends nothing expires after its idle limit (it used to
 * stay forever: the deadline started at the first byte), and a served
 * request starts the idle limit over.
 */
static void test_idle_expires(void **state)
{
	struct json_object *req;
	uint8_t buf[64];
	struct pair p;
	uint64_t now;
	size_t n;

	pair_open(&p);
	ctl_conn__set_idle(&p.srv, 500);
	now = ctl__now_ms();
	assert_false(ctl_conn__expired(&p.srv, now));
	assert_true(ctl_conn__expired(&p.srv, now + 501));
	/* A whole request arrives: not idle while it waits to be answered. */
	n = frame_raw(buf, CTL_MSG_REQUEST, "{}");
	write_all(p.cli, buf, n);
	assert_int_equal(ctl_conn__read(&p.srv), 1);
	assert_false(ctl_conn__expired(&p.srv, ctl__now_ms() + 501));
	req = ctl_conn__take(&p.srv);
	assert_int_equal(ctl_conn__queue(&p.srv, req), 0);
	assert_int_equal(ctl_conn__flush(&p.srv), 0);
	json_object_put(req);
	/* Served: idle again, with a fresh limit. */
	now = ctl__now_ms();
	assert_false(ctl_conn__expired(&p.srv, now + 400));
	assert_true(ctl_conn__expired(&p.srv, now + 1000));
	pair_close(&p);
}

/* Request fields are taken as typed, never coerced (issue #11, defect 9). */
static void test_request_fields_strict(void **state)
{
	static const struct {
		const char *json, *why;
	} bad[] = {
		{ "{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":true}", "'id' must be an integer" },
		{ "{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":4294967298}", "'id' must be an integer 0..4294967295" },
		{ "{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":-1}", "'id' must be" },
		{ "{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":2.0}", "'id' must be" },
		{ "{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":\"2\"}", "'id' must be" },
		{ "{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":99999999999999999999}", "'id' must be" },
		{ "{\"op\":\"rule.del\",\"iface\":\"e\"}", "'id' is required" },
		{ "{\"op\":\"stage.swap\",\"iface\":\"e\",\"stage\":\"s\",\"object\":\"acl\",\"force\":\"false\"}",
		  "'force' must be true or false" },
		{ "{\"op\":\"stage.swap\",\"iface\":\"e\",\"stage\":\"s\",\"object\":\"acl\",\"force\":0}",
		  "'force' must be true or false" },
		{ "{\"op\":\"stage.swap\",\"iface\":\"e\",\"stage\":\"s\",\"object\":\"acl\",\"params\":{\"rate_pps\":true}}",
		  "parameter 'rate_pps' must be an integer" },
		{ "{\"op\":\"stage.swap\",\"iface\":\"e\",\"stage\":\"s\",\"object\":\"acl\",\"objects\":\"x\"}",
		  "unknown field 'objects' for op stage.swap" },
		{ "{\"op\":\"stage.swap\",\"iface\":5,\"stage\":\"s\",\"object\":\"acl\"}", "'iface' must be a non-empty string" },
		{ "{\"op\":\"rule.add\",\"iface\":\"e\",\"rule\":\"drop\",\"before\":\"1\"}", "'before' must be" },
		{ "{\"op\":\"history\",\"limit\":0}", "'limit' must be an integer 1..1000000" },
		{ "{\"op\":\"history\",\"limit\":true}", "'limit' must be" },
		{ "{\"op\":\"txn\",\"iface\":\"e\",\"stages\":[]}", "'stages' must be an array of 1 to 16" },
		{ "{\"op\":\"txn\",\"iface\":\"e\",\"stages\":[{\"stage\":\"a\"}]}", "stages[0]: 'object' is required" },
		{ "{\"op\":\"txn\",\"iface\":\"e\",\"stages\":[{\"stage\":\"a\",\"object\":\"b\",\"x\":1}]}",
		  "stages[0]: unknown field 'x'" },
		{ "{\"op\":\"no.such\"}", "unknown op 'no.such'" },
		{ "{\"op\":7}", "a request needs a string 'op'" },
		{ "{\"op\":\"status\\u0000\"}", "a request needs a string 'op'" },
		{ "{\"op\":\"down\\u0000x\",\"iface\":\"e\"}", "a request needs a string 'op'" },
		{ "{\"op\":\"status\",\"verbose\":true}", "unknown field 'verbose' for op status" },
	};
	static const char *const good[] = {
		"{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":4294967295}",
		"{\"op\":\"rule.del\",\"iface\":\"e\",\"id\":0}",
		"{\"op\":\"stage.swap\",\"iface\":\"e\",\"stage\":\"s\",\"object\":\"/x.o\",\"program\":\"p\","
		"\"params\":{\"rate_pps\":4294967296},\"pcap\":\"/p\",\"expect\":\"drop\",\"force\":false}",
		"{\"op\":\"txn\",\"iface\":\"e\",\"stages\":[{\"stage\":\"a\",\"object\":\"b\",\"params\":{\"x\":-1}}]}",
		"{\"op\":\"status\"}",
		"{\"op\":\"history\",\"limit\":20}",
	};
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *o = json_tokener_parse(bad[i].json);

		assert_non_null(o);
		err[0] = 0;
		if (ctl__request_check(o, err, sizeof(err)) != -EINVAL || !strstr(err, bad[i].why))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].json, err, bad[i].why);
		json_object_put(o);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct json_object *o = json_tokener_parse(good[i]);

		assert_non_null(o);
		if (ctl__request_check(o, err, sizeof(err)))
			fail_msg("%s: %s", good[i], err);
		json_object_put(o);
	}
}

/* Which ops each role may run; an op nobody knows needs the admin role. */
static void test_roles(void **state)
{
	gid_t g[2] = { 100, 4242 };
	struct ctl_peer root = { .uid = 0, .gid = 0 };
	struct ctl_peer admin = { .uid = 1000, .gid = 1000, .groups = g, .nr_groups = 2 };
	struct ctl_peer reader = { .uid = 1001, .gid = 100 };
	struct ctl_peer other = { .uid = 1002, .gid = 1002 };

	assert_int_equal(ctl__peer_role(&root, (gid_t)-1, (gid_t)-1), CTL_ROLE_ADMIN);
	assert_int_equal(ctl__peer_role(&admin, 4242, 100), CTL_ROLE_ADMIN);	/* supplementary */
	assert_int_equal(ctl__peer_role(&reader, 4242, 100), CTL_ROLE_READ);
	assert_int_equal(ctl__peer_role(&other, 4242, 100), CTL_ROLE_NONE);
	assert_int_equal(ctl__peer_role(&reader, 4242, (gid_t)-1), CTL_ROLE_NONE);
	for (const char *const *op = (const char *const[]){ "status", "stage.list", "stage.show", "stats",
							     "history", "rule.list", "xsk.stats", NULL };
	     *op; op++)
		assert_int_equal(ctl__op_role(*op), CTL_ROLE_READ);
	for (const char *const *op = (const char *const[]){ "stage.swap", "stage.rollback", "txn",
							     "rule.add", "rule.del", "reload", "down",
							     "no.such", NULL };
	     *op; op++)
		assert_int_equal(ctl__op_role(*op), CTL_ROLE_ADMIN);
	assert_int_equal(ctl__op_role(NULL), CTL_ROLE_ADMIN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_header),
		cmocka_unit_test(test_truncated_body),
		cmocka_unit_test(test_stall_expires),
		cmocka_unit_test(test_oversized),
		cmocka_unit_test(test_max_size_accepted),
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version_and_type),
		cmocka_unit_test(test_wrong_direction),
		cmocka_unit_test(test_garbage_json),
		cmocka_unit_test(test_byte_by_byte),
		cmocka_unit_test(test_two_in_one_write),
		cmocka_unit_test(test_flush_partial),
		cmocka_unit_test(test_request_path),
		cmocka_unit_test(test_peer_credentials),
		cmocka_unit_test(test_idle_expires),
		cmocka_unit_test(test_request_fields_strict),
		cmocka_unit_test(test_roles),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

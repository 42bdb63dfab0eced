// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Framing of the control protocol (see ctl.h and docs/control.md). Every
 * read and write goes through MSG_DONTWAIT and poll(), so the blocking calls
 * honour their timeout whatever the fd's O_NONBLOCK state is.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <json-c/json.h>
#include "clock.h"
#include "ctl.h"

/* Queued replies a client has not read yet: beyond this it is dropped. */
#define CTL_TX_MAX	(2 * (SLUICE_CTL_HDR_LEN + SLUICE_CTL_MAX_MSG))

uint64_t ctl__now_ms(void)
{
	return sluice_now_ms();
}

/* Absolute deadline for a relative timeout; -1 means none. */
static int64_t deadline_of(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : (int64_t)(ctl__now_ms() + timeout_ms);
}

static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int left, n;

	for (;;) {
		if (deadline < 0) {
			left = -1;
		} else {
			int64_t d = deadline - (int64_t)ctl__now_ms();

			if (d <= 0)
				return -ETIMEDOUT;
			left = d > INT32_MAX ? INT32_MAX : (int)d;
		}
		n = poll(&pfd, 1, left);
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static void hdr_encode(uint8_t *hdr, int type, uint32_t len)
{
	uint32_t magic = htonl(SLUICE_CTL_MAGIC), blen = htonl(len);
	uint16_t ver = htons(SLUICE_CTL_VERSION), t = htons(type);

	memcpy(hdr, &magic, 4);
	memcpy(hdr + 4, &ver, 2);
	memcpy(hdr + 6, &t, 2);
	memcpy(hdr + 8, &blen, 4);
}

static int hdr_decode(const uint8_t *hdr, int *type, uint32_t *len)
{
	uint32_t magic, blen;
	uint16_t ver, t;

	memcpy(&magic, hdr, 4);
	memcpy(&ver, hdr + 4, 2);
	memcpy(&t, hdr + 6, 2);
	memcpy(&blen, hdr + 8, 4);
	if (ntohl(magic) != SLUICE_CTL_MAGIC || ntohs(ver) != SLUICE_CTL_VERSION)
		return -EPROTO;
	t = ntohs(t);
	if (t != CTL_MSG_REQUEST && t != CTL_MSG_REPLY)
		return -EPROTO;
	blen = ntohl(blen);
	if (blen > SLUICE_CTL_MAX_MSG)
		return -EMSGSIZE;
	/* An empty body cannot be a JSON object. */
	if (!blen)
		return -EBADMSG;
	*type = t;
	*len = blen;
	return 0;
}

/*
 * The body of a frame: a JSON object serialised by json-c. The string
 * belongs to body and lives until body changes.
 */
static int body_encode(int type, struct json_object *body, const char **str, size_t *len)
{
	if ((type != CTL_MSG_REQUEST && type != CTL_MSG_REPLY) ||
	    !json_object_is_type(body, json_type_object))
		return -EINVAL;
	*str = json_object_to_json_string_length(body, JSON_C_TO_STRING_PLAIN, len);
	if (!*str)
		return -ENOMEM;
	if (*len > SLUICE_CTL_MAX_MSG)
		return -EMSGSIZE;
	return 0;
}

/*
 * The number of keys of every object of a JSON text, in document order, by
 * a scan of the text alone: it knows strings, escapes and nesting, nothing
 * more (json-c has already said the text is valid). -ENOMEM, or how many.
 */
static int text_key_counts(const char *buf, size_t len, uint32_t **counts)
{
	struct { bool obj, want_key; int slot; } stack[64];
	uint32_t *c = NULL;
	size_t cap = 0, n = 0;
	int top = -1;

	for (size_t i = 0; i < len; i++) {
		char ch = buf[i];

		if (ch == '"') {
			if (top >= 0 && stack[top].obj && stack[top].want_key) {
				c[stack[top].slot]++;
				stack[top].want_key = false;
			}
			for (i++; i < len && buf[i] != '"'; i++)
				if (buf[i] == '\\')
					i++;
		} else if (ch == '{' || ch == '[') {
			/* Deeper than json-c's default depth (32) was refused already. */
			if (top + 1 >= (int)(sizeof(stack) / sizeof(stack[0])))
				break;
			top++;
			stack[top].obj = ch == '{';
			stack[top].want_key = ch == '{';
			stack[top].slot = (int)n;
			if (ch == '{') {
				if (n == cap) {
					uint32_t *nc = realloc(c, (cap = cap ? 2 * cap : 16) * sizeof(*c));

					if (!nc) {
						free(c);
						return -ENOMEM;
					}
					c = nc;
				}
				c[n++] = 0;
			}
		} else if (ch == '}' || ch == ']') {
			top--;
		} else if (ch == ',' && top >= 0 && stack[top].obj) {
			stack[top].want_key = true;
		}
	}
	*counts = c;
	return (int)n;
}

/* Pre-order over the parsed tree: true when an object has fewer keys than its text. */
static bool tree_lost_keys(struct json_object *o, const uint32_t *counts, int n, int *at)
{
	if (json_object_is_type(o, json_type_object)) {
		if (*at >= n || counts[(*at)++] != (uint32_t)json_object_object_length(o))
			return true;
		json_object_object_foreach(o, k, v) {
			(void)k;
			if (tree_lost_keys(v, counts, n, at))
				return true;
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (tree_lost_keys(json_object_array_get_idx(o, i), counts, n, at))
				return true;
	}
	return false;
}

/*
 * A key given twice in one object: json-c keeps the last, so
 * {"op":"status","op":"down"} would be read as "down" by us and as
 * "status" by anything that keeps the first. Such a body is refused.
 */
static bool dup_keys(const char *buf, size_t len, struct json_object *obj)
{
	uint32_t *counts = NULL;
	int n = text_key_counts(buf, len, &counts), at = 0;
	bool dup = n < 0 || tree_lost_keys(obj, counts, n, &at) || at != n;

	free(counts);
	return dup;
}

static int body_decode(const char *buf, size_t len, struct json_object **out)
{
	struct json_tokener *tok;
	struct json_object *obj;
	size_t end;
	int err = 0;

	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, len);
	if (!obj || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(obj, json_type_object)) {
		err = -EBADMSG;
		goto out;
	}
	/* One document per frame: only white space may follow it. */
	for (end = json_tokener_get_parse_end(tok); end < len; end++) {
		if (!strchr(" \t\r\n", buf[end]) || !buf[end]) {
			err = -EBADMSG;
			goto out;
		}
	}
	if (dup_keys(buf, json_tokener_get_parse_end(tok), obj)) {
		err = -EBADMSG;
		goto out;
	}
	*out = obj;
	obj = NULL;
out:
	json_object_put(obj);
	json_tokener_free(tok);
	return err;
}

static int read_full(int fd, void *buf, size_t len, int64_t deadline)
{
	size_t off = 0;
	ssize_t n;
	int err;

	while (off < len) {
		n = recv(fd, (char *)buf + off, len - off, MSG_DONTWAIT);
		if (n > 0) {
			off += n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		err = wait_fd(fd, POLLIN, deadline);
		if (err)
			return err;
	}
	return 0;
}

static int write_full(int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = iovcnt };
	ssize_t n;
	int err;

	while (mh.msg_iovlen) {
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN)
				return -errno;
			err = wait_fd(fd, POLLOUT, deadline);
			if (err)
				return err;
			continue;
		}
		/* Skip what was written, possibly part of one iovec. */
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= n;
		}
	}
	return 0;
}

static int connect_until(const char *path, int timeout_ms)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, err;

	if (!path)
		path = SLUICE_CTL_SOCKET;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/*
	 * A Unix connect() only blocks on a full backlog, and then honours
	 * SO_SNDTIMEO. A zero timeval would mean forever, hence at least 1 ms.
	 */
	if (timeout_ms >= 0) {
		struct timeval tv = {
			.tv_sec = timeout_ms / 1000,
			.tv_usec = (timeout_ms % 1000) * 1000 + (timeout_ms ? 0 : 1000),
		};

		if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
			err = -errno;
			goto err_close;
		}
	}
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno == EINTR)
			continue;
		err = (errno == EAGAIN || errno == EINPROGRESS) ? -ETIMEDOUT : -errno;
		goto err_close;
	}
	return fd;

err_close:
	close(fd);
	return err;
}

int ctl__connect(const char *path, int timeout_ms)
{
	return connect_until(path, timeout_ms);
}

static int send_until(int fd, int type, struct json_object *body, int64_t deadline)
{
	uint8_t hdr[SLUICE_CTL_HDR_LEN];
	struct iovec iov[2];
	const char *str;
	size_t len;
	int err;

	err = body_encode(type, body, &str, &len);
	if (err)
		return err;
	hdr_encode(hdr, type, len);
	iov[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(hdr) };
	iov[1] = (struct iovec){ .iov_base = (void *)str, .iov_len = len };
	return write_full(fd, iov, 2, deadline);
}

int ctl__send(int fd, int type, struct json_object *body, int timeout_ms)
{
	return send_until(fd, type, body, deadline_of(timeout_ms));
}

static int recv_until(int fd, int *type, struct json_object **body, int64_t deadline)
{
	uint8_t hdr[SLUICE_CTL_HDR_LEN];
	uint32_t len;
	char *buf;
	int err;

	err = read_full(fd, hdr, sizeof(hdr), deadline);
	if (err)
		return err;
	err = hdr_decode(hdr, type, &len);
	if (err)
		return err;
	buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	err = read_full(fd, buf, len, deadline);
	if (!err)
		err = body_decode(buf, len, body);
	free(buf);
	return err;
}

int ctl__recv(int fd, int *type, struct json_object **body, int timeout_ms)
{
	return recv_until(fd, type, body, deadline_of(timeout_ms));
}

int ctl__request(const char *path, struct json_object *req, struct json_object **reply,
		 int timeout_ms)
{
	int64_t deadline = deadline_of(timeout_ms);
	int fd, type, err;

	fd = connect_until(path, timeout_ms);
	if (fd < 0)
		return fd;
	err = send_until(fd, CTL_MSG_REQUEST, req, deadline);
	/*
	 * A daemon that turns a client away replies first and hangs up: our
	 * write then fails, but its reason is waiting to be read.
	 */
	if (err && err != -EPIPE && err != -ECONNRESET)
		goto out;
	err = recv_until(fd, &type, reply, deadline);
	if (!err && type != CTL_MSG_REPLY) {
		json_object_put(*reply);
		*reply = NULL;
		err = -EPROTO;
	}
out:
	close(fd);
	return err;
}

void ctl_conn__init(struct ctl_conn *c, int fd, int timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
}

void ctl_conn__close(struct ctl_conn *c)
{
	json_object_put(c->msg);
	free(c->rx);
	free(c->tx);
	if (c->fd >= 0)
		close(c->fd);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void conn_arm(struct ctl_conn *c)
{
	if (!c->deadline && c->timeout_ms >= 0)
		c->deadline = ctl__now_ms() + c->timeout_ms;
}

void ctl_conn__set_idle(struct ctl_conn *c, int idle_ms)
{
	c->idle_ms = idle_ms > 0 ? idle_ms : 0;
	c->idle_deadline = c->idle_ms ? ctl__now_ms() + (uint64_t)c->idle_ms : 0;
}

/* Idle again: nothing half-read, nothing unwritten; the idle limit starts over. */
static void conn_settle(struct ctl_conn *c)
{
	if (!c->hdr_len && c->tx_off == c->tx_len) {
		c->deadline = 0;
		if (c->idle_ms)
			c->idle_deadline = ctl__now_ms() + (uint64_t)c->idle_ms;
	}
}

/* recv() into buf: > 0 bytes, 0 would block, or a negative errno. */
static ssize_t conn_recv(struct ctl_conn *c, void *buf, size_t len)
{
	ssize_t n;

	for (;;) {
		n = recv(c->fd, buf, len, MSG_DONTWAIT);
		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EAGAIN)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

int ctl_conn__read(struct ctl_conn *c)
{
	uint32_t len;
	ssize_t n;
	int type, err;

	if (c->msg)
		return 1;
	for (;;) {
		if (c->hdr_len < SLUICE_CTL_HDR_LEN) {
			n = conn_recv(c, c->hdr + c->hdr_len, SLUICE_CTL_HDR_LEN - c->hdr_len);
			if (n <= 0)
				return n;
			conn_arm(c);
			c->hdr_len += n;
			if (c->hdr_len < SLUICE_CTL_HDR_LEN)
				continue;
			err = hdr_decode(c->hdr, &type, &len);
			if (err)
				return err;
			/* Clients send requests; a reply here is a confused peer. */
			if (type != CTL_MSG_REQUEST)
				return -EPROTO;
			c->rx = malloc(len);
			if (!c->rx)
				return -ENOMEM;
			c->rx_len = 0;
			c->rx_want = len;
		}
		if (c->rx_len < c->rx_want) {
			n = conn_recv(c, c->rx + c->rx_len, c->rx_want - c->rx_len);
			if (n <= 0)
				return n;
			c->rx_len += n;
			if (c->rx_len < c->rx_want)
				continue;
		}
		err = body_decode(c->rx, c->rx_len, &c->msg);
		free(c->rx);
		c->rx = NULL;
		c->rx_len = c->rx_want = 0;
		c->hdr_len = 0;
		if (err)
			return err;
		conn_settle(c);
		return 1;
	}
}

struct json_object *ctl_conn__take(struct ctl_conn *c)
{
	struct json_object *msg = c->msg;

	c->msg = NULL;
	return msg;
}

int ctl_conn__queue(struct ctl_conn *c, struct json_object *reply)
{
	const char *str;
	size_t len, need;
	int err;

	err = body_encode(CTL_MSG_REPLY, reply, &str, &len);
	if (err)
		return err;
	/* Written bytes are dropped before growing, so tx holds only what is due. */
	if (c->tx_off) {
		memmove(c->tx, c->tx + c->tx_off, c->tx_len - c->tx_off);
		c->tx_len -= c->tx_off;
		c->tx_off = 0;
	}
	need = c->tx_len + SLUICE_CTL_HDR_LEN + len;
	if (need > CTL_TX_MAX)
		return -ENOBUFS;
	if (need > c->tx_cap) {
		size_t cap = c->tx_cap ? c->tx_cap : 4096;
		char *tx;

		while (cap < need)
			cap *= 2;
		tx = realloc(c->tx, cap);
		if (!tx)
			return -ENOMEM;
		c->tx = tx;
		c->tx_cap = cap;
	}
	hdr_encode((uint8_t *)c->tx + c->tx_len, CTL_MSG_REPLY, len);
	memcpy(c->tx + c->tx_len + SLUICE_CTL_HDR_LEN, str, len);
	c->tx_len = need;
	conn_arm(c);
	return 0;
}

int ctl_conn__flush(struct ctl_conn *c)
{
	ssize_t n;

	while (c->tx_off < c->tx_len) {
		n = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off,
			 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0) {
			c->tx_off += n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 1;
		return -errno;
	}
	c->tx_off = c->tx_len = 0;
	conn_settle(c);
	return 0;
}

bool ctl_conn__want_write(const struct ctl_conn *c)
{
	return c->tx_off < c->tx_len;
}

bool ctl_conn__expired(const struct ctl_conn *c, uint64_t now_ms)
{
	if (c->deadline)
		return now_ms >= c->deadline;
	/* A request taken but not answered yet is not idle. */
	if (c->msg)
		return false;
	return c->idle_deadline && now_ms >= c->idle_deadline;
}

int ctl__peer_allowed(int fd, gid_t group)
{
	gid_t stack[64], *groups = stack;
	socklen_t len = sizeof(struct ucred);
	struct ucred cr;
	int err = -EACCES;
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return -errno;
	if (cr.uid == 0)
		return 0;
	if (group == (gid_t)-1)
		return -EACCES;
	if (cr.gid == group)
		return 0;

	/* The supplementary groups the peer had when it connected. */
	len = sizeof(stack);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
		if (errno != ERANGE)
			return -errno;
		groups = malloc(len);
		if (!groups)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len)) {
			err = -errno;
			goto out;
		}
	}
	for (i = 0; i < len / sizeof(gid_t); i++) {
		if (groups[i] == group) {
			err = 0;
			break;
		}
	}
out:
	if (groups != stack)
		free(groups);
	return err;
}

int ctl__peer_get(int fd, struct ctl_peer *p)
{
	socklen_t len = sizeof(struct ucred);
	struct ucred cr;
	gid_t stack[64];

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len))
		return -errno;
	p->pid = cr.pid;
	p->uid = cr.uid;
	p->gid = cr.gid;
	len = sizeof(stack);
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, stack, &len)) {
		p->groups = malloc(len ? len : 1);
		if (!p->groups)
			return -ENOMEM;
		memcpy(p->groups, stack, len);
	} else {
		if (errno != ERANGE)
			return -errno;
		p->groups = malloc(len);
		if (!p->groups)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len)) {
			ctl_peer__free(p);
			return -errno;
		}
	}
	p->nr_groups = len / sizeof(gid_t);
	return 0;
}

void ctl_peer__free(struct ctl_peer *p)
{
	free(p->groups);
	p->groups = NULL;
	p->nr_groups = 0;
}

static bool peer_in(const struct ctl_peer *p, gid_t g)
{
	if (g == (gid_t)-1)
		return false;
	if (p->gid == g)
		return true;
	for (size_t i = 0; i < p->nr_groups; i++)
		if (p->groups[i] == g)
			return true;
	return false;
}

enum ctl_role ctl__peer_role(const struct ctl_peer *p, gid_t admin_group, gid_t read_group)
{
	if (p->uid == 0 || peer_in(p, admin_group))
		return CTL_ROLE_ADMIN;
	if (peer_in(p, read_group))
		return CTL_ROLE_READ;
	return CTL_ROLE_NONE;
}

const char *ctl__role_name(enum ctl_role r)
{
	return r == CTL_ROLE_ADMIN ? "admin" : r == CTL_ROLE_READ ? "read" : "none";
}

/* ---- request fields ---- */

enum field_type {
	F_STR,		/* a string, 1..4095 bytes, no NUL */
	F_U32,		/* an integer 0..2^32-1 */
	F_ID,		/* an integer 1..2^32-1 (candidates) */
	F_U64,		/* an integer 0..2^63-2 */
	F_COUNT,	/* an integer 1..1000000 */
	F_NUM,		/* a number, integer or not (its range is the op's) */
	F_BOOL,		/* true or false */
	F_PARAMS,	/* an object of up to 16 integers */
	F_LIST,		/* an array of 1..16 objects, each checked against sub */
};

struct field_spec {
	const char *key;
	enum field_type type;
	bool required;
	const struct field_spec *sub;	/* F_LIST: the fields of each item */
};

#define CTL_MAX_FIELDS	12

/* {stage, object, program?, params?}: one stage of a transaction or canary. */
static const struct field_spec stage_item[CTL_MAX_FIELDS] = {
	{ "stage", F_STR, true }, { "object", F_STR, true }, { "program", F_STR }, { "params", F_PARAMS },
};

/* One interface's part of a transaction: {iface, stages, pcap?, expect?, force?}. */
static const struct field_spec txn_part[CTL_MAX_FIELDS] = {
	{ "iface", F_STR, true }, { "stages", F_LIST, true, stage_item }, { "pcap", F_STR },
	{ "expect", F_STR }, { "force", F_BOOL },
};

/* One interface's part of a commit: {iface, candidate?}. */
static const struct field_spec commit_part[CTL_MAX_FIELDS] = {
	{ "iface", F_STR, true }, { "candidate", F_ID },
};

#define STAGE_CODE \
	{ "iface", F_STR, true }, { "stage", F_STR, true }, { "object", F_STR, true }, \
	{ "program", F_STR }, { "params", F_PARAMS }
#define PREFLIGHT { "pcap", F_STR }, { "expect", F_STR }, { "force", F_BOOL }
#define IFACE_ONLY { { "iface", F_STR, true } }

/*
 * Every op and its fields (docs/control.md), and the least role it needs:
 * read for what only shows state (no packet bytes), admin for the rest.
 */
static const struct op_spec {
	const char *op;
	enum ctl_role role;
	struct field_spec f[CTL_MAX_FIELDS];
} op_specs[] = {
	{ "status", CTL_ROLE_READ, {} },
	{ "stage.list", CTL_ROLE_READ, { { "iface", F_STR } } },
	{ "stage.show", CTL_ROLE_READ, { { "iface", F_STR, true }, { "stage", F_STR, true } } },
	{ "stats", CTL_ROLE_READ, { { "iface", F_STR } } },
	{ "history", CTL_ROLE_READ, { { "limit", F_COUNT } } },
	{ "rule.list", CTL_ROLE_READ, IFACE_ONLY },
	{ "xsk.stats", CTL_ROLE_READ, {} },
	{ "canary.status", CTL_ROLE_READ, IFACE_ONLY },
	{ "stage.swap", CTL_ROLE_ADMIN, { STAGE_CODE, PREFLIGHT } },
	{ "stage.prepare", CTL_ROLE_ADMIN, { STAGE_CODE, PREFLIGHT } },
	{ "stage.rollback", CTL_ROLE_ADMIN, { { "iface", F_STR, true }, { "stage", F_STR, true } } },
	{ "txn", CTL_ROLE_ADMIN, { { "iface", F_STR }, { "stages", F_LIST, false, stage_item },
				   { "parts", F_LIST, false, txn_part }, { "prepare", F_BOOL }, PREFLIGHT } },
	{ "commit", CTL_ROLE_ADMIN, { { "iface", F_STR }, { "candidate", F_ID },
				      { "parts", F_LIST, false, commit_part } } },
	{ "candidate.drop", CTL_ROLE_ADMIN, { { "iface", F_STR, true }, { "candidate", F_ID } } },
	{ "txn.rollback", CTL_ROLE_ADMIN, IFACE_ONLY },
	{ "canary.start", CTL_ROLE_ADMIN, {
		{ "iface", F_STR, true }, { "stages", F_LIST, true, stage_item }, { "share", F_NUM, true },
		{ "window_ms", F_NUM }, { "auto", F_BOOL }, { "max_aborted", F_NUM }, { "max_missed", F_NUM },
		{ "max_drop_ratio", F_NUM }, PREFLIGHT } },
	{ "canary.promote", CTL_ROLE_ADMIN, IFACE_ONLY },
	{ "canary.abort", CTL_ROLE_ADMIN, IFACE_ONLY },
	{ "repair", CTL_ROLE_ADMIN, IFACE_ONLY },
	/* A shadow diff loads code; its status shows the frames that differed. */
	{ "stage.diff", CTL_ROLE_ADMIN, { STAGE_CODE, { "samples", F_COUNT }, { "seconds", F_COUNT } } },
	{ "diff.status", CTL_ROLE_ADMIN, { { "id", F_ID, true } } },
	/* The anomaly recorder's records are packets; observe turns it on and off. */
	{ "anomalies", CTL_ROLE_ADMIN, { { "iface", F_STR, true }, { "after", F_U64 }, { "limit", F_U64 } } },
	{ "observe", CTL_ROLE_ADMIN, { { "iface", F_STR, true }, { "record", F_BOOL },
				       { "time_sample", F_U64 } } },
	{ "rule.add", CTL_ROLE_ADMIN, { { "iface", F_STR, true }, { "rule", F_STR, true },
					{ "before", F_U32 } } },
	{ "rule.del", CTL_ROLE_ADMIN, { { "iface", F_STR, true }, { "id", F_U32, true } } },
	{ "reload", CTL_ROLE_ADMIN, {} },
	{ "down", CTL_ROLE_ADMIN, IFACE_ONLY },
};

static const struct op_spec *op_spec(const char *op)
{
	for (size_t i = 0; op && i < sizeof(op_specs) / sizeof(op_specs[0]); i++)
		if (!strcmp(op_specs[i].op, op))
			return &op_specs[i];
	return NULL;
}

enum ctl_role ctl__op_role(const char *op)
{
	const struct op_spec *s = op_spec(op);

	return s ? s->role : CTL_ROLE_ADMIN;
}

static int int_in(struct json_object *v, int64_t min, int64_t max)
{
	int64_t x;

	/* json-c keeps numbers beyond int64 as uint64: out of every range here. */
	if (!json_object_is_type(v, json_type_int) ||
	    json_object_get_int64(v) == INT64_MAX)
		return -ERANGE;
	x = json_object_get_int64(v);
	return x < min || x > max ? -ERANGE : 0;
}

static int check_str(struct json_object *v)
{
	size_t l;

	if (!json_object_is_type(v, json_type_string))
		return -EINVAL;
	l = (size_t)json_object_get_string_len(v);
	/* No embedded NUL: C code would read a shorter string than the client sent. */
	return !l || l >= 4096 || strlen(json_object_get_string(v)) != l ? -EINVAL : 0;
}

static int check_params(struct json_object *v, const char *where, char *err, size_t len)
{
	int n = 0;

	if (!json_object_is_type(v, json_type_object)) {
		snprintf(err, len, "%s'params' must be an object of integers", where);
		return -EINVAL;
	}
	json_object_object_foreach(v, k, x) {
		if (++n > 16) {
			snprintf(err, len, "%s'params': more than 16 parameters", where);
			return -EINVAL;
		}
		if (!*k || strlen(k) > 63) {
			snprintf(err, len, "%s'params': a parameter name is 1 to 63 bytes", where);
			return -EINVAL;
		}
		if (!json_object_is_type(x, json_type_int) || json_object_get_int64(x) == INT64_MAX) {
			snprintf(err, len, "%sparameter '%.63s' must be an integer that fits 64 bits", where,
				 k);
			return -EINVAL;
		}
	}
	return 0;
}

static int check_fields(struct json_object *o, const struct field_spec *f, const char *op,
			const char *where, char *err, size_t len);

static int check_one(struct json_object *v, const struct field_spec *f, const char *where, char *err,
		     size_t len)
{
	static const char *const want[] = {
		[F_STR] = "a non-empty string without NUL, under 4096 bytes",
		[F_U32] = "an integer 0..4294967295",
		[F_ID] = "an integer 1..4294967295",
		[F_U64] = "a non-negative integer",
		[F_COUNT] = "an integer 1..1000000",
		[F_NUM] = "a number",
		[F_BOOL] = "true or false",
	};
	int ret = 0;

	switch (f->type) {
	case F_STR:
		ret = check_str(v);
		break;
	case F_U32:
		ret = int_in(v, 0, UINT32_MAX);
		break;
	case F_ID:
		ret = int_in(v, 1, UINT32_MAX);
		break;
	case F_U64:
		ret = int_in(v, 0, INT64_MAX - 1);
		break;
	case F_COUNT:
		ret = int_in(v, 1, 1000000);
		break;
	case F_NUM:
		ret = (json_object_is_type(v, json_type_int) && !int_in(v, INT64_MIN, INT64_MAX - 1)) ||
		      (json_object_is_type(v, json_type_double) && isfinite(json_object_get_double(v))) ?
		      0 : -EINVAL;
		break;
	case F_BOOL:
		ret = json_object_is_type(v, json_type_boolean) ? 0 : -EINVAL;
		break;
	case F_PARAMS:
		return check_params(v, where, err, len);
	case F_LIST: {
		size_t n;

		if (!json_object_is_type(v, json_type_array) ||
		    !(n = json_object_array_length(v)) || n > 16) {
			snprintf(err, len, "%s'%s' must be an array of 1 to 16 objects", where, f->key);
			return -EINVAL;
		}
		for (size_t i = 0; i < n; i++) {
			char at[64];

			snprintf(at, sizeof(at), "%s%s[%zu]: ", where, f->key, i);
			ret = check_fields(json_object_array_get_idx(v, i), f->sub, NULL, at, err, len);
			if (ret)
				return ret;
		}
		return 0;
	}
	}
	if (ret)
		snprintf(err, len, "%s'%s' must be %s", where, f->key, want[f->type]);
	return ret ? -EINVAL : 0;
}

static int check_fields(struct json_object *o, const struct field_spec *f, const char *op,
			const char *where, char *err, size_t len)
{
	size_t nf = 0;

	if (!json_object_is_type(o, json_type_object)) {
		snprintf(err, len, "%smust be an object", where);
		return -EINVAL;
	}
	while (nf < CTL_MAX_FIELDS && f[nf].key)
		nf++;
	json_object_object_foreach(o, k, v) {
		size_t i;
		int ret;

		if (op && !strcmp(k, "op"))
			continue;
		for (i = 0; i < nf; i++)
			if (!strcmp(k, f[i].key))
				break;
		if (i == nf) {
			snprintf(err, len, "%sunknown field '%.63s'%s%s", where, k, op ? " for op " : "",
				 op ? op : "");
			return -EINVAL;
		}
		ret = check_one(v, &f[i], where, err, len);
		if (ret)
			return ret;
	}
	for (size_t i = 0; i < nf; i++) {
		if (f[i].required && !json_object_object_get_ex(o, f[i].key, NULL)) {
			snprintf(err, len, "%s'%s' is required", where, f[i].key);
			return -EINVAL;
		}
	}
	return 0;
}

int ctl__request_check(struct json_object *req, char *err, size_t len)
{
	const struct op_spec *s;
	struct json_object *op;

	/* No NUL inside: "down\u0000x" must not be taken for "down" by strcmp. */
	if (!json_object_object_get_ex(req, "op", &op) || check_str(op)) {
		snprintf(err, len, "a request needs a string 'op'");
		return -EINVAL;
	}
	s = op_spec(json_object_get_string(op));
	if (!s) {
		snprintf(err, len, "unknown op '%.63s'", json_object_get_string(op));
		return -EINVAL;
	}
	return check_fields(req, s->f, s->op, "", err, len);
}

/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The control protocol between sluiced and its clients: framed JSON over a
 * Unix stream socket. A frame is a 12-byte header in network order
 * {magic "SLCT", version, type, body length} followed by a JSON object. The
 * length is explicit so a reader never has to guess where a JSON document
 * ends, and so an oversized message is refused before it is buffered.
 *
 * Two flavours: blocking calls with a timeout for clients (sluicectl, tests),
 * and struct ctl_conn, an incremental decoder/encoder for the daemon's
 * non-blocking event loop. docs/control.md describes the requests.
 */
#ifndef SLUICE_CTL_H
#define SLUICE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct json_object;

#define SLUICE_CTL_MAGIC	0x534c4354u	/* "SLCT" */
#define SLUICE_CTL_VERSION	1
#define SLUICE_CTL_HDR_LEN	12
#define SLUICE_CTL_MAX_MSG	(1u << 20)	/* body bytes, header excluded */
#define SLUICE_CTL_SOCKET	"/run/sluice/sluiced.sock"
#define SLUICE_CTL_SOCKET_ENV	"SLUICE_SOCKET"

enum ctl_msg_type {
	CTL_MSG_REQUEST	= 1,
	CTL_MSG_REPLY	= 2,
};

/*
 * Blocking client side. timeout_ms < 0 waits forever. All return 0 or a
 * negative errno: -ETIMEDOUT, -ECONNRESET (peer closed, also mid-frame),
 * -EMSGSIZE, -EPROTO (bad magic, version or type), -EBADMSG (body is not a
 * JSON object), or what connect()/read()/write() said.
 */
/* Returns a connected fd (>= 0, close-on-exec) or a negative errno. */
int ctl__connect(const char *path, int timeout_ms);
/* body is not consumed: the caller keeps its reference. */
int ctl__send(int fd, int type, struct json_object *body, int timeout_ms);
/* On success *body holds a new reference the caller must put. */
int ctl__recv(int fd, int *type, struct json_object **body, int timeout_ms);
/* connect + send a request + receive the reply, within one timeout. */
int ctl__request(const char *path, struct json_object *req, struct json_object **reply,
		 int timeout_ms);

/*
 * Daemon side. The fd must be non-blocking. The decoder reads no further
 * than the end of the frame in progress, so a client that pipelines
 * requests is served one at a time and rx never exceeds one frame.
 */
struct ctl_conn {
	int fd;
	uint8_t hdr[SLUICE_CTL_HDR_LEN];
	size_t hdr_len;			/* header bytes received */
	char *rx;			/* body of the frame in progress */
	size_t rx_len, rx_want;
	struct json_object *msg;	/* a whole request, until taken */
	char *tx;			/* encoded replies not yet written */
	size_t tx_off, tx_len, tx_cap;
	int timeout_ms;
	/*
	 * CLOCK_MONOTONIC ms by which the frame in progress must be complete
	 * and the queued replies written; 0 while the connection is idle.
	 * A client that stalls mid-frame cannot pin daemon memory forever.
	 */
	uint64_t deadline;
	/*
	 * While idle (nothing half-read, nothing unwritten): the connection
	 * ends at idle_deadline, idle_ms after it was accepted or last served.
	 * 0 = no idle limit. A client that connects and sends nothing cannot
	 * hold one of the daemon's connections forever.
	 */
	int idle_ms;
	uint64_t idle_deadline;
};

void ctl_conn__init(struct ctl_conn *c, int fd, int timeout_ms);
/* Arms the idle limit (see idle_ms); call after init. */
void ctl_conn__set_idle(struct ctl_conn *c, int idle_ms);
/* Frees the buffers and any untaken message, and closes the fd. */
void ctl_conn__close(struct ctl_conn *c);
/*
 * 1: a whole request is ready (ctl_conn__take it before reading again);
 * 0: need more bytes; -EMSGSIZE, -EPROTO, -EBADMSG, -ECONNRESET or another
 * negative errno: drop the connection. With edge-triggered polling, call it
 * again after taking a message until it returns 0.
 */
int ctl_conn__read(struct ctl_conn *c);
/* The ready request (a new reference), or NULL. */
struct json_object *ctl_conn__take(struct ctl_conn *c);
/* Encodes a reply frame after any already queued. reply is not consumed. */
int ctl_conn__queue(struct ctl_conn *c, struct json_object *reply);
/* 0: all written; 1: more left (wait for POLLOUT); or a negative errno. */
int ctl_conn__flush(struct ctl_conn *c);
/* True when replies are waiting to be written. */
bool ctl_conn__want_write(const struct ctl_conn *c);
/*
 * True when a frame or reply has been pending past the deadline, or the
 * connection has been idle past its idle limit.
 */
bool ctl_conn__expired(const struct ctl_conn *c, uint64_t now_ms);
uint64_t ctl__now_ms(void);

/*
 * 0 when the peer of a connected Unix socket is root or has group as its
 * primary or a supplementary group (as they were at connect time);
 * -EACCES otherwise. group == (gid_t)-1 admits root only.
 */
int ctl__peer_allowed(int fd, gid_t group);

/*
 * Roles on the control socket (docs/control.md "Roles"): root and members
 * of control.group administer; members of control.read_group may only
 * read (status, lists, counters, history, rules). Nobody else is served.
 */
enum ctl_role {
	CTL_ROLE_NONE = 0,
	CTL_ROLE_READ,
	CTL_ROLE_ADMIN,
};

/* A connected client as the kernel saw it at connect(): SO_PEERCRED, SO_PEERGROUPS. */
struct ctl_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups;		/* supplementary groups, malloc'd */
	size_t nr_groups;
	enum ctl_role role;
};

/* Fills p from a connected Unix socket; free with ctl_peer__free(). */
int ctl__peer_get(int fd, struct ctl_peer *p);
void ctl_peer__free(struct ctl_peer *p);
/* The role of p; a gid of (gid_t)-1 names no group. */
enum ctl_role ctl__peer_role(const struct ctl_peer *p, gid_t admin_group, gid_t read_group);
const char *ctl__role_name(enum ctl_role r);

/*
 * The least role an op needs: CTL_ROLE_READ for ops that only read,
 * CTL_ROLE_ADMIN for every other name, known or not.
 */
enum ctl_role ctl__op_role(const char *op);

/*
 * Checks a request against the protocol's fields (docs/control.md): "op"
 * a known op, every field one that op takes, of its exact JSON type and
 * range (no coercion: `"force": "false"` is not a boolean, 4294967298 is no
 * rule id). 0, or -EINVAL with err saying which field and why.
 */
int ctl__request_check(struct json_object *req, char *err, size_t len);

#endif

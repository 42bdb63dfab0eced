// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control socket and the daemon's one event loop. Requests run one at a
 * time in this thread, which is what serialises concurrent CLI swaps; reads
 * and writes are non-blocking with a deadline, so a slow or stuck client
 * only ever costs its own connection.
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
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/un.h>
#include <json-c/json.h>
#include "ctl.h"
#include "sluiced.h"

#define CONN_TIMEOUT_MS	5000	/* a started frame must be complete, a reply written, within */
#define MAX_CONNS	64
#define ROOT_RESERVE	8	/* connections only root may take */
#define MAX_PER_UID	8	/* connections one non-root uid may hold */
#define TICK_MS		200

/* POSIX ACL as the kernel's system.posix_acl_access xattr holds it. */
struct acl_xattr_entry {
	uint16_t tag, perm;
	uint32_t id;
};

#define ACL_XATTR_VERSION	2
#define ACL_TAG_USER_OBJ	0x01
#define ACL_TAG_GROUP_OBJ	0x04
#define ACL_TAG_GROUP		0x08
#define ACL_TAG_MASK		0x10
#define ACL_TAG_OTHER		0x20

static int mkdir_parent(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int group_gid(const char *name, gid_t *gid)
{
	struct group *gr;

	*gid = (gid_t)-1;
	if (!name)
		return 0;
	gr = getgrnam(name);
	if (!gr)
		return -ENOENT;
	*gid = gr->gr_gid;
	return 0;
}

/*
 * The read-only group reaches the socket through an ACL entry: the file's
 * own group stays control.group, as a 0660 socket has always meant.
 */
static int socket_acl(const char *path, unsigned int mode, gid_t read_group)
{
	struct {
		uint32_t version;
		struct acl_xattr_entry e[5];
	} __attribute__((packed)) acl = {
		.version = ACL_XATTR_VERSION,
		.e = {
			{ ACL_TAG_USER_OBJ, 6, (uint32_t)-1 },
			{ ACL_TAG_GROUP_OBJ, (mode >> 3) & 7, (uint32_t)-1 },
			{ ACL_TAG_GROUP, 6, read_group },
			{ ACL_TAG_MASK, 6, (uint32_t)-1 },
			{ ACL_TAG_OTHER, 0, (uint32_t)-1 },
		},
	};

	return setxattr(path, "system.posix_acl_access", &acl, sizeof(acl), 0) ? -errno : 0;
}

/*
 * The socket path is only ever replaced when it is a stale socket: never
 * a file of another kind, never the socket another daemon answers on.
 */
static int socket_path_free(const char *path, const struct sockaddr_un *sa)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		log_err("control socket %s: %s", path, strerror(errno));
		return -errno;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_err("control socket %s exists and is not a socket: refusing to replace it", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (!ret) {
		log_err("another sluiced answers on the control socket %s", path);
		return -EADDRINUSE;
	}
	if (unlink(path) && errno != ENOENT) {
		log_err("cannot remove the stale control socket %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int control__check_path(struct daemon *d)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	if (strlen(d->cfg->control.socket) >= sizeof(sa.sun_path)) {
		log_err("control socket path too long: %s", d->cfg->control.socket);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, d->cfg->control.socket);
	if (lstat(sa.sun_path, &st))
		return 0;
	return socket_path_free(sa.sun_path, &sa);
}

int control__listen(struct daemon *d)
{
	const char *path = d->cfg->control.socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	if (group_gid(d->cfg->control.group, &d->group)) {
		log_err("control socket group '%s' does not exist", d->cfg->control.group);
		return -ENOENT;
	}
	if (group_gid(d->cfg->control.read_group, &d->read_group)) {
		log_err("control read_group '%s' does not exist", d->cfg->control.read_group);
		return -ENOENT;
	}
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_err("control socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	ret = mkdir_parent(path);
	if (ret) {
		log_err("cannot create the folder of %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = socket_path_free(path, &sa);
	if (ret)
		return ret;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, d->cfg->control.mode) ||
	    (d->group != (gid_t)-1 && chown(path, 0, d->group)) || listen(fd, 16)) {
		ret = -errno;
		log_err("control socket %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	if (d->read_group != (gid_t)-1) {
		ret = socket_acl(path, d->cfg->control.mode, d->read_group);
		if (ret) {
			log_err("control.read_group: cannot give group %s access to %s: %s%s",
				d->cfg->control.read_group, path, strerror(-ret),
				ret == -EOPNOTSUPP ? " (the file system has no POSIX ACLs)" : "");
			close(fd);
			unlink(path);
			return ret;
		}
	}
	d->listen_fd = fd;
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

static void client_drop(struct daemon *d, size_t i)
{
	ctl_conn__close(&d->clients[i].conn);
	ctl_peer__free(&d->clients[i].peer);
	d->clients[i] = d->clients[--d->nr_clients];
}

static struct json_object *error_reply(const char *msg)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

/* One reply to a client turned away at the door, if the socket takes it now. */
static void say_no(int fd, const char *why)
{
	struct json_object *r = error_reply(why);

	ctl__send(fd, CTL_MSG_REPLY, r, 0);
	json_object_put(r);
	close(fd);
}

/* Out of descriptors: take the pending connection with the spare one and close it. */
static void accept_emfile(struct daemon *d)
{
	int fd;

	if (d->reserve_fd < 0)
		return;
	close(d->reserve_fd);
	fd = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	d->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	log_warn("control: out of file descriptors, refused a connection");
}

static void client_accept(struct daemon *d)
{
	struct ctl_peer peer;
	struct client *c;
	size_t same;
	int fd;

	for (;;) {
		fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				accept_emfile(d);
			return;
		}
		if (ctl__peer_get(fd, &peer)) {
			close(fd);
			continue;
		}
		same = 0;
		for (size_t i = 0; i < d->nr_clients; i++)
			same += d->clients[i].peer.uid == peer.uid;
		/* Root always finds a slot: no user can lock it out. */
		if (d->nr_clients >= MAX_CONNS ||
		    (peer.uid != 0 && (same >= MAX_PER_UID || d->nr_clients >= MAX_CONNS - ROOT_RESERVE))) {
			log_warn("control: refused a connection of uid %u: %zu of its own, %zu in all",
				 (unsigned int)peer.uid, same, d->nr_clients);
			say_no(fd, "too many connections: try again later");
			ctl_peer__free(&peer);
			continue;
		}
		if (d->nr_clients == d->cap_clients) {
			size_t cap = d->cap_clients ? 2 * d->cap_clients : 8;

			c = realloc(d->clients, cap * sizeof(*c));
			if (!c) {
				close(fd);
				ctl_peer__free(&peer);
				return;
			}
			d->clients = c;
			d->cap_clients = cap;
		}
		c = &d->clients[d->nr_clients++];
		ctl_conn__init(&c->conn, fd, CONN_TIMEOUT_MS);
		ctl_conn__set_idle(&c->conn, (int)d->cfg->control.idle_timeout_ms);
		c->peer = peer;
		c->peer.role = ctl__peer_role(&peer, d->group, d->read_group);
		/*
		 * A stranger still gets its request read and answered: closing
		 * on unread data would reset the connection and lose the reason.
		 */
		if (c->peer.role == CTL_ROLE_NONE)
			log_warn("control: refused a client (uid %u) that is neither root nor in the "
				 "socket's groups", (unsigned int)peer.uid);
	}
}

/* A change, who asked for it and how it ended: one escaped log line. */
static void log_change(const struct client *c, struct json_object *req, struct json_object *reply)
{
	struct json_object *ok = json_object_object_get(reply, "ok");
	struct json_object *e = json_object_object_get(reply, "error");

	if (json_object_get_boolean(ok))
		log_notice("control: uid %u pid %d: %s: ok", (unsigned int)c->peer.uid, (int)c->peer.pid,
			   json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN));
	else
		log_notice("control: uid %u pid %d: %s: refused: %s", (unsigned int)c->peer.uid,
			   (int)c->peer.pid, json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN),
			   e ? json_object_get_string(e) : "?");
}

/* Serves what one client has sent; returns < 0 to drop it. */
static int client_serve(struct daemon *d, struct client *c)
{
	struct json_object *req, *reply, *op;
	bool denied = c->peer.role == CTL_ROLE_NONE;
	int ret;

	while ((ret = ctl_conn__read(&c->conn)) == 1) {
		req = ctl_conn__take(&c->conn);
		if (denied) {
			reply = error_reply("permission denied: the control socket admits root and the "
					    "configured groups (control.group, control.read_group)");
		} else {
			d->peer = &c->peer;
			reply = ops__handle(d, req, c->peer.uid);
			d->peer = NULL;
			op = json_object_object_get(req, "op");
			if (ctl__op_role(json_object_get_string(op)) == CTL_ROLE_ADMIN)
				log_change(c, req, reply);
		}
		json_object_put(req);
		ret = ctl_conn__queue(&c->conn, reply);
		json_object_put(reply);
		if (ret)
			return ret;
		if (denied) {
			ctl_conn__flush(&c->conn);
			return -EACCES;
		}
	}
	if (ret < 0 && ret != -ECONNRESET) {
		/* A malformed frame gets an error reply; then the stream is unusable. */
		reply = error_reply(ret == -EMSGSIZE ? "message too large" : ret == -EPROTO ?
				    "not a sluice control frame (bad magic, version or type)" :
				    "the body is not a JSON object");
		ctl_conn__queue(&c->conn, reply);
		ctl_conn__flush(&c->conn);
		json_object_put(reply);
		log_warn("control: dropped a client (uid %u): %s", (unsigned int)c->peer.uid,
			 strerror(-ret));
	}
	return ret;
}

static void daemon_sigset(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
}

/*
 * Called first thing in main(): threads inherit the mask, and a signal sent
 * to the process goes to any thread that does not block it, where the
 * default action would end the daemon. The event loop reads them instead.
 */
void control__block_signals(void)
{
	sigset_t set;

	daemon_sigset(&set);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int signals_fd(void)
{
	sigset_t set;

	daemon_sigset(&set);
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void handle_signals(struct daemon *d, int sfd)
{
	struct signalfd_siginfo si;

	while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP) {
			/* A change like any other: who asked for it goes in the log. */
			log_notice("SIGHUP from uid %u pid %u", si.ssi_uid, si.ssi_pid);
			d->want_reload = 1;
		}
		else
			d->want_quit = 1;
	}
}

int control__loop(struct daemon *d)
{
	struct pollfd *pfd = NULL;
	int sfd = signals_fd();

	if (sfd < 0)
		return -errno;
	while (!d->want_quit) {
		size_t n = 2 + d->nr_clients;
		uint64_t now;
		int timeout = TICK_MS;

		free(pfd);
		/* One more at pfd[n]: the fds of events.c (anomaly rings, metrics requests). */
		pfd = calloc(n + 1, sizeof(*pfd));
		if (!pfd)
			return -ENOMEM;
		pfd[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = d->listen_fd, .events = POLLIN };
		for (size_t i = 0; i < d->nr_clients; i++)
			pfd[2 + i] = (struct pollfd){
				.fd = d->clients[i].conn.fd,
				.events = POLLIN | (ctl_conn__want_write(&d->clients[i].conn) ? POLLOUT : 0),
			};
		pfd[n] = (struct pollfd){ .fd = events__fd(d), .events = POLLIN };
		if (poll(pfd, n + 1, timeout) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			handle_signals(d, sfd);
		if (pfd[n].revents & POLLIN)
			events__dispatch(d);
		if (d->want_reload) {
			char err[4096];

			d->want_reload = 0;
			log_notice("SIGHUP: reloading %s", d->config_path);
			if (daemon__reload(d, NULL, err, sizeof(err))) {
				log_err("reload failed, the running configuration stays: %s", err);
				observe__reloaded(d, false);
			} else {
				observe__reloaded(d, true);
			}
		}
		if (pfd[1].revents & POLLIN)
			client_accept(d);
		now = ctl__now_ms();
		/* Walk backwards: client_drop moves the last client into i. */
		for (size_t i = n - 2; i-- > 0;) {
			struct client *c;
			short ev;

			if (i >= d->nr_clients)
				continue;
			c = &d->clients[i];
			ev = pfd[2 + i].revents;
			if ((ev & (POLLIN | POLLHUP | POLLERR)) && client_serve(d, c) < 0) {
				client_drop(d, i);
				continue;
			}
			if (ctl_conn__want_write(&c->conn) && ctl_conn__flush(&c->conn) < 0) {
				client_drop(d, i);
				continue;
			}
			if (ctl_conn__expired(&c->conn, now)) {
				log_warn("control: dropped a client (uid %u) that stalled or sat idle",
					 (unsigned int)c->peer.uid);
				client_drop(d, i);
			}
		}
		daemon__watch_tick(d);
	}
	free(pfd);
	close(sfd);
	return 0;
}

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
#include <sys/un.h>
#include <json-c/json.h>
#include "ctl.h"
#include "sluiced.h"

#define CONN_TIMEOUT_MS	5000
#define MAX_CONNS	64
#define TICK_MS		200

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

int control__listen(struct daemon *d)
{
	const char *path = d->cfg->control.socket;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, ret;

	d->group = (gid_t)-1;
	if (d->cfg->control.group) {
		struct group *gr = getgrnam(d->cfg->control.group);

		if (!gr) {
			log_err("control socket group '%s' does not exist", d->cfg->control.group);
			return -ENOENT;
		}
		d->group = gr->gr_gid;
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
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    chmod(path, d->cfg->control.mode) ||
	    (d->group != (gid_t)-1 && chown(path, 0, d->group)) || listen(fd, 16)) {
		ret = -errno;
		log_err("control socket %s: %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	d->listen_fd = fd;
	return 0;
}

static void client_drop(struct daemon *d, size_t i)
{
	ctl_conn__close(&d->clients[i].conn);
	d->clients[i] = d->clients[--d->nr_clients];
}

static uid_t peer_uid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ? (uid_t)-1 : cr.uid;
}

static void client_accept(struct daemon *d)
{
	struct client *c;
	int fd;

	while ((fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (d->nr_clients == MAX_CONNS) {
			log_warn("control: %d clients connected, refusing another", MAX_CONNS);
			close(fd);
			continue;
		}
		if (d->nr_clients == d->cap_clients) {
			size_t cap = d->cap_clients ? 2 * d->cap_clients : 8;

			c = realloc(d->clients, cap * sizeof(*c));
			if (!c) {
				close(fd);
				return;
			}
			d->clients = c;
			d->cap_clients = cap;
		}
		c = &d->clients[d->nr_clients++];
		ctl_conn__init(&c->conn, fd, CONN_TIMEOUT_MS);
		c->uid = peer_uid(fd);
		/*
		 * A stranger still gets its request read and answered: closing
		 * on unread data would reset the connection and lose the reason.
		 */
		c->denied = ctl__peer_allowed(fd, d->group) != 0;
		if (c->denied)
			log_warn("control: refused a client (uid %d) that is neither root nor in the "
				 "socket's group", (int)c->uid);
	}
}

static struct json_object *error_reply(const char *msg)
{
	struct json_object *r = json_object_new_object();

	json_object_object_add(r, "ok", json_object_new_boolean(0));
	json_object_object_add(r, "error", json_object_new_string(msg));
	return r;
}

/* Serves what one client has sent; returns < 0 to drop it. */
static int client_serve(struct daemon *d, struct client *c)
{
	struct json_object *req, *reply;
	int ret;

	while ((ret = ctl_conn__read(&c->conn)) == 1) {
		req = ctl_conn__take(&c->conn);
		reply = c->denied ? error_reply("permission denied: the control socket admits root and "
						"the configured group") : ops__handle(d, req, c->uid);
		json_object_put(req);
		ret = ctl_conn__queue(&c->conn, reply);
		json_object_put(reply);
		if (ret)
			return ret;
		if (c->denied) {
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
		log_warn("control: dropped a client: %s", strerror(-ret));
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
		if (si.ssi_signo == SIGHUP)
			d->want_reload = 1;
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
				log_warn("control: dropped a client that stalled for %d ms", CONN_TIMEOUT_MS);
				client_drop(d, i);
			}
		}
		daemon__watch_tick(d);
	}
	free(pfd);
	close(sfd);
	return 0;
}

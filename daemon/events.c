// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Event sources besides the control socket: anomaly ring buffers, the
 * metrics thread's request for a snapshot. Each registers an fd and a
 * handler here; the event loop polls the one epoll fd that gathers them and
 * runs the handlers in its own thread, so they may read and change pipelines
 * like any request.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/epoll.h>
#include "sluiced.h"

struct event_src {
	int fd;
	events_fn fn;
	void *ctx;
};

struct events {
	int epfd;
	struct event_src *v;
	size_t n, cap;
};

int events__init(struct daemon *d)
{
	struct events *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		free(e);
		return -errno;
	}
	d->events = e;
	return 0;
}

int events__fd(const struct daemon *d)
{
	return d->events ? d->events->epfd : -1;
}

int events__add(struct daemon *d, int fd, events_fn fn, void *ctx)
{
	struct events *e = d->events;
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (!e)
		return -EINVAL;
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 8;
		struct event_src *v = realloc(e->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		e->v = v;
		e->cap = cap;
	}
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, fd, &ev))
		return -errno;
	e->v[e->n++] = (struct event_src){ .fd = fd, .fn = fn, .ctx = ctx };
	return 0;
}

void events__del(struct daemon *d, int fd)
{
	struct events *e = d->events;

	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++) {
		if (e->v[i].fd != fd)
			continue;
		epoll_ctl(e->epfd, EPOLL_CTL_DEL, fd, NULL);
		e->v[i] = e->v[--e->n];
		return;
	}
}

void events__dispatch(struct daemon *d)
{
	struct events *e = d->events;
	struct epoll_event ev[16];
	int n;

	if (!e)
		return;
	n = epoll_wait(e->epfd, ev, 16, 0);
	for (int i = 0; i < n; i++) {
		/* By fd, not by pointer: a handler may have removed a later source. */
		for (size_t k = 0; k < e->n; k++) {
			if (e->v[k].fd == ev[i].data.fd) {
				e->v[k].fn(d, e->v[k].ctx);
				break;
			}
		}
	}
}

void events__free(struct daemon *d)
{
	struct events *e = d->events;

	if (!e)
		return;
	close(e->epfd);
	free(e->v);
	free(e);
	d->events = NULL;
}

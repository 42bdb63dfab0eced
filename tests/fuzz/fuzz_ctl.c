// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: the control socket as sluiced serves it. The input is a
 * byte stream a client writes: the daemon's incremental decoder
 * (ctl_conn__read) frames it over a real socketpair, and every request it
 * yields goes through the daemon's dispatch (ops__handle: field types,
 * roles, then the op) against a daemon with one interface, as far as that
 * runs without a kernel: the process drops every capability first, so a
 * request that gets as far as bpf() is refused there, as an unprivileged
 * one would be. The first byte picks the client's role.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/capability.h>
#include <sys/socket.h>
#include <json-c/json.h>
#include <bpf/libbpf.h>
#include "sluiced.h"

static struct daemon d;
static char dir[] = "/tmp/sluice-fuzz-ctl-XXXXXX";
static char config_path[64];

static const char config_text[] =
	"pin_root: /nonexistent/sluice-fuzz\n"
	"state_dir: %s\n"
	"control: { socket: %s/sock }\n"
	"pipelines:\n"
	"  - name: fw\n"
	"    stages:\n"
	"      - { name: parse, object: parse }\n"
	"      - name: acl\n"
	"        object: acl\n"
	"        rules: [ { id: 1, action: drop, proto: udp, dport: 9 } ]\n"
	"        tests: [ { packet: { proto: udp, dport: 9 }, expect: drop } ]\n"
	"        auto_rollback: { window_ms: 1000 }\n"
	"      - { name: count, object: count }\n"
	"interfaces:\n"
	"  - { name: fz0, pipeline: fw }\n";

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct config_errors errs = {};
	cap_t none;
	FILE *f;

	if (!mkdtemp(dir))
		abort();
	snprintf(config_path, sizeof(config_path), "%s/sluiced.yaml", dir);
	f = fopen(config_path, "w");
	if (!f)
		abort();
	fprintf(f, config_text, dir, dir);
	fclose(f);
	if (config__load(config_path, &d.cfg, &errs)) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.v[i].msg);
		abort();
	}
	d.config_path = config_path;
	d.listen_fd = d.reserve_fd = -1;
	d.group = d.read_group = (gid_t)-1;
	d.hist = history__new(dir, 1 << 16);
	pthread_mutex_init(&d.lock, NULL);
	/* Only emergencies: the point is what happens, not what is said. */
	log_init(0, false);
	libbpf_set_print(quiet);
	/* No capability: what would reach the kernel is refused by it. */
	none = cap_init();
	if (!none || cap_set_proc(none))
		abort();
	cap_free(none);
	return 0;
}

/* The interface every input starts from: the configuration's pipeline, nothing loaded. */
static void iface_build(void)
{
	struct iface *ifc;
	int n;

	d.ifs = calloc(1, sizeof(*d.ifs));
	if (!d.ifs)
		abort();
	ifc = &d.ifs[0];
	if (pipeline__init(&ifc->pl, d.cfg->pin_root, d.cfg->ifaces[0].name))
		abort();
	n = iface__src_from_cfg(d.cfg->ifaces[0].pipe, ifc->pl.src);
	if (n < 0)
		abort();
	ifc->pl.nr_stages = n;
	ifc->cfg = &d.cfg->ifaces[0];
	d.nr_ifs = 1;
}

static void iface_drop(void)
{
	for (size_t i = 0; i < d.nr_ifs; i++)
		iface__free(&d.ifs[i]);
	free(d.ifs);
	d.ifs = NULL;
	d.nr_ifs = 0;
	diff__free(&d);
}

static void drain(int fd)
{
	char buf[65536];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctl_peer peer = { .uid = 1000, .gid = 1000 };
	struct ctl_conn c;
	size_t off = 1;
	int sv[2], ret;

	if (!size)
		return 0;
	peer.role = data[0] & 1 ? CTL_ROLE_READ : CTL_ROLE_ADMIN;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))
		abort();
	iface_build();
	ctl_conn__init(&c, sv[1], 5000);
	d.peer = &peer;
	for (;;) {
		if (off < size) {
			ssize_t n = write(sv[0], data + off, size - off);

			if (n > 0)
				off += (size_t)n;
			if (off == size)
				shutdown(sv[0], SHUT_WR);
		}
		while ((ret = ctl_conn__read(&c)) == 1) {
			struct json_object *req = ctl_conn__take(&c), *reply;

			reply = ops__handle(&d, req, peer.uid);
			json_object_put(req);
			if (!reply || !json_object_is_type(reply, json_type_object) ||
			    !json_object_object_get_ex(reply, "ok", NULL))
				abort();	/* every request gets a reply with "ok" */
			ret = ctl_conn__queue(&c, reply);
			json_object_put(reply);
			ctl_conn__flush(&c);
			drain(sv[0]);
			if (ret)
				break;
		}
		if (ret < 0 || (off == size && ret == 0 && size == 1))
			break;
		if (off == size && ret == 0) {
			/* Everything written and the decoder wants more: it never comes. */
			break;
		}
	}
	d.peer = NULL;
	ctl_conn__close(&c);
	close(sv[0]);
	iface_drop();
	return 0;
}

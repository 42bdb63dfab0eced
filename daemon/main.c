// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluiced: loads the configured pipelines, attaches and pins them, and
 * serves the control socket. It never detaches on exit: the pins keep
 * traffic flowing through a restart, and the next start adopts them.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/limits.h>
#include <sys/file.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <bpf/libbpf.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "ctl.h"
#include "probe.h"
#include "sluiced.h"

#define DEFAULT_CONFIG	"/etc/sluice/sluiced.yaml"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluiced [-d] [-c FILE]   run in the foreground\n"
		"       sluiced -n [-c FILE]     check the configuration and exit\n"
		"\n"
		"  -c, --config FILE  configuration (default %s)\n"
		"  -n, --check        check the configuration only: print 'configuration OK'\n"
		"                     or every error, and exit 0 or 1\n"
		"  -d, --debug        debug logging\n"
		"  -h, --help         this text\n"
		"  -V, --version      print the version\n",
		DEFAULT_CONFIG);
}

static int libbpf_log(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	/* Verifier refusals are reported with their reason where they happen. */
	log_debug("libbpf: %s", line);
	return 0;
}

/*
 * Parses the file, then checks what a start would meet on this host (groups,
 * bpffs, interfaces): every error and warning on stderr, in file order.
 */
static int load_config(const char *path, struct sluice_config **cfg)
{
	struct config_errors errs = {}, warns = {};
	int ret = config__load(path, cfg, &errs);

	if (!ret)
		ret = config__check_env(*cfg, &errs, &warns);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i].msg);
	for (size_t i = 0; i < warns.n; i++)
		fprintf(stderr, "%s\n", warns.v[i].msg);
	if (ret && !errs.n)
		fprintf(stderr, "%s: %s\n", path, strerror(-ret));
	if (ret) {
		config__free(*cfg);
		*cfg = NULL;
	}
	config_errors__free(&errs);
	config_errors__free(&warns);
	return ret;
}

static int mount_bpffs(void)
{
	struct statfs st;

	if (!statfs("/sys/fs/bpf", &st) && st.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", "/sys/fs/bpf", "bpf", 0, NULL))
		return -errno;
	return 0;
}

static bool pipelines_pinned(const struct sluice_config *cfg)
{
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < cfg->nr_ifaces; i++) {
		snprintf(path, sizeof(path), "%s/%s/%s", cfg->pin_root, cfg->ifaces[i].name,
			 SLUICE_PIN_LINK);
		if (!stat(path, &st))
			return true;
	}
	return false;
}

/*
 * One daemon per state folder: two would both believe they own the pins.
 * The lock dies with the process, so kill -9 leaves nothing to clean up.
 */
static int lock_state(const char *dir)
{
	char path[PATH_MAX], pid[32];
	int fd;

	snprintf(path, sizeof(path), "%s/sluiced.pid", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_err("%s: %s", path, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_err("another sluiced (pid %s) is running with state folder %s", pid[0] ? pid : "?", dir);
		close(fd);
		return -EBUSY;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());

		if (write(fd, pid, (size_t)n) != n)
			log_warn("%s: could not write the pid", path);
	}
	/* Kept open for the life of the daemon: the lock is the fd. */
	return 0;
}

/*
 * Every descriptor the hard limit allows: objects, pins, clients and the
 * metrics port all draw on it, and running out is what a flood aims at.
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		log_warn("cannot raise the descriptor limit: %s", strerror(errno));
}

/*
 * And one daemon per pin root: two with different state folders would still
 * fight over the same pins. The lock is on the folder itself (flock works on
 * bpffs like anywhere), held for the life of the daemon.
 */
static int lock_pins(const char *pin_root)
{
	int fd;

	if (mkdir(pin_root, 0700) && errno != EEXIST) {
		log_err("pin root %s: %s", pin_root, strerror(errno));
		return -errno;
	}
	fd = open(pin_root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		log_err("pin root %s: %s", pin_root, strerror(errno));
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		log_err("another sluiced is running with pin root %s", pin_root);
		close(fd);
		return -EBUSY;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "check",	no_argument,		NULL, 'n' },
		{ "debug",	no_argument,		NULL, 'd' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{}
	};
	struct daemon d = {
		.listen_fd = -1, .reserve_fd = -1, .config_path = DEFAULT_CONFIG,
		.group = (gid_t)-1, .read_group = (gid_t)-1,
	};
	bool check = false, debug = false;
	char err[1024];
	int opt, ret = 1;

	while ((opt = getopt_long(argc, argv, "c:ndVh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			d.config_path = optarg;
			break;
		case 'n':
			check = true;
			break;
		case 'd':
			debug = true;
			break;
		case 'V':
			printf("sluiced %s\n", SLUICE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sluiced: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (load_config(d.config_path, &d.cfg))
		return 1;
	if (check) {
		printf("configuration OK\n");
		config__free(d.cfg);
		return 0;
	}

	control__block_signals();
	log_init(debug ? LOG_DEBUG : d.cfg->log_level, getenv("JOURNAL_STREAM") != NULL);
	raise_nofile();
	libbpf_set_print(libbpf_log);
	d.start_ms = ctl__now_ms();
	pthread_mutex_init(&d.lock, NULL);

	if (mount_bpffs()) {
		log_err("bpffs is not mounted on /sys/fs/bpf and mounting it failed: %s", strerror(errno));
		goto out;
	}
	/*
	 * Pins do not outlive a boot, so a pipeline already pinned proves this
	 * kernel runs sluice: a restart skips the probe (which creates a
	 * namespace and a veth) and adopts sooner.
	 */
	if (!pipelines_pinned(d.cfg) && probe__require(err, sizeof(err))) {
		log_err("this kernel cannot run sluice: %s", err);
		goto out;
	}
	if (mkdir(d.cfg->state_dir, 0700) && errno != EEXIST) {
		log_err("state directory %s: %s", d.cfg->state_dir, strerror(errno));
		goto out;
	}
	if (lock_state(d.cfg->state_dir) || lock_pins(d.cfg->pin_root))
		goto out;
	if (daemon__set_trust(d.cfg)) {
		log_err("out of memory");
		goto out;
	}
	/*
	 * A socket path that is no stale socket, or another daemon's, refuses
	 * the start before anything is attached. The socket itself comes once
	 * the pipelines run: scripts take its presence for readiness.
	 */
	if (control__check_path(&d))
		goto out;
	d.hist = history__new(d.cfg->state_dir, 0);
	if (events__init(&d)) {
		log_err("epoll: %s", strerror(errno));
		goto out;
	}
	/*
	 * The metrics listener before any interface: a port it cannot bind
	 * refuses the start before anything is attached. Scrapes wait for the
	 * event loop's first snapshot; libmicrohttpd's thread starts after the
	 * capabilities are dropped (metrics__serve).
	 */
	if (metrics__start(&d, &d.metrics))
		goto out;

	d.ifs = calloc(d.cfg->nr_ifaces ? d.cfg->nr_ifaces : 1, sizeof(*d.ifs));
	if (!d.ifs)
		goto out;
	for (size_t i = 0; i < d.cfg->nr_ifaces; i++) {
		if (iface__start(&d, &d.ifs[i], &d.cfg->ifaces[i], err, sizeof(err))) {
			log_err("%s", err);
			goto out;
		}
		d.nr_ifs++;
	}
	/* After the pipelines: the sockets go into an attached pipeline's XSKMAP. */
	if (capture__start(&d, &d.capture, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	if (control__listen(&d))
		goto out;
	/* Setup is done: from here only what changing a pipeline needs, in every thread. */
	if (caps__drop(d.cfg, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	log_notice("capabilities held: %s", err);
	if (capture__run(d.capture, err, sizeof(err))) {
		log_err("%s", err);
		goto out;
	}
	if (metrics__serve(&d, d.metrics))
		goto out;
	/* The recorder and timing as configured; a log per interface drains its ring. */
	metrics__config_loaded(d.config_path, true, false);
	observe__apply_cfg(&d);
	observe__sync(&d);
	log_notice("ready: %zu interface(s), control socket %s, %llu ms after start", d.nr_ifs,
		   d.cfg->control.socket, (unsigned long long)(ctl__now_ms() - d.start_ms));
#ifdef HAVE_SYSTEMD
	sd_notify(0, "READY=1");
#endif
	ret = control__loop(&d) ? 1 : 0;
	log_notice("exiting; pipelines stay attached and pinned under %s", d.cfg->pin_root);
out:
	metrics__stop(&d, d.metrics);
	observe__free(&d);
	capture__stop(d.capture);
	if (d.listen_fd >= 0) {
		close(d.listen_fd);
		unlink(d.cfg->control.socket);
	}
	if (d.reserve_fd >= 0)
		close(d.reserve_fd);
	for (size_t i = 0; i < d.nr_clients; i++)
		ctl_conn__close(&d.clients[i].conn);
	free(d.clients);
	for (size_t i = 0; i < d.nr_ifs; i++)
		iface__free(&d.ifs[i]);
	free(d.ifs);
	diff__free(&d);
	history__free(d.hist);
	events__free(&d);
	config__free(d.cfg);
	return ret;
}

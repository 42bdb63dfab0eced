// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The trust policy for files sluiced reads as root (see trust.h). The walk
 * holds a descriptor of each folder and opens the next component relative
 * to it, so what is checked is what is opened: nothing can be swapped in
 * between by a rename or a symlink elsewhere in the path.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <bpf/libbpf.h>
#include <linux/openat2.h>
#include <nettle/sha2.h>
#include "trust.h"

static struct trust_policy policy = { .owner = (uid_t)-1 };

static void policy_free(struct trust_policy *p)
{
	for (size_t i = 0; i < p->nr_pins; i++)
		free(p->pins[i].path);
	free(p->pins);
	free(p->stage_dir);
	memset(p, 0, sizeof(*p));
	p->owner = (uid_t)-1;
}

void trust__reset(void)
{
	policy_free(&policy);
}

int trust__set_policy(const struct trust_policy *pol)
{
	struct trust_policy np = { .owner = pol->owner };

	if (pol->stage_dir && !(np.stage_dir = strdup(pol->stage_dir)))
		goto nomem;
	if (pol->nr_pins) {
		np.pins = calloc(pol->nr_pins, sizeof(*np.pins));
		if (!np.pins)
			goto nomem;
		for (size_t i = 0; i < pol->nr_pins; i++) {
			np.pins[i] = pol->pins[i];
			np.pins[i].path = strdup(pol->pins[i].path);
			np.nr_pins = i + 1;
			if (!np.pins[i].path)
				goto nomem;
		}
	}
	policy_free(&policy);
	policy = np;
	return 0;
nomem:
	policy_free(&np);
	return -ENOMEM;
}

static int sys_openat2(int dfd, const char *name, uint64_t flags)
{
	struct open_how how = {
		.flags = flags,
		.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
	};
	long fd = syscall(SYS_openat2, dfd, name, &how, sizeof(how));

	return fd < 0 ? -errno : (int)fd;
}

static bool peer_in_group(const struct trust_peer *p, gid_t g)
{
	if (p->gid == g)
		return true;
	for (size_t i = 0; i < p->nr_groups; i++)
		if (p->groups[i] == g)
			return true;
	return false;
}

/* The kernel's mode-bit check for an unprivileged peer: bit is 4 (read) or 1 (search). */
static bool peer_may(const struct trust_peer *p, const struct stat *st, unsigned int bit)
{
	if (!p || p->uid == 0)
		return true;
	if (st->st_uid == p->uid)
		return st->st_mode & (bit << 6);
	if (peer_in_group(p, st->st_gid))
		return st->st_mode & (bit << 3);
	return st->st_mode & bit;
}

static bool owner_ok(const struct trust_policy *pol, const struct stat *st)
{
	return st->st_uid == 0 || (pol->owner != (uid_t)-1 && st->st_uid == pol->owner);
}

static const char *owner_text(const struct trust_policy *pol, char *buf, size_t len)
{
	if (pol->owner == (uid_t)-1)
		return "root";
	snprintf(buf, len, "root or trust.owner (uid %u)", (unsigned int)pol->owner);
	return buf;
}

/* One message for every way a client cannot see a path: nothing leaks. */
static int refuse_peer(const char *path, const struct trust_peer *p, char *err, size_t len)
{
	snprintf(err, len, "%s: no such file, or uid %u may not read it", path, (unsigned int)p->uid);
	return -ENOENT;
}

/* A folder on the path: owned by a trusted user, writable by nobody else. */
static int check_folder(const struct trust_policy *pol, const char *path, const char *upto,
			const struct stat *st, char *err, size_t len)
{
	char who[64];

	if (!owner_ok(pol, st)) {
		snprintf(err, len, "%s: refused by the trust policy (owner): folder %s belongs to uid %u, "
			 "not %s", path, upto, (unsigned int)st->st_uid, owner_text(pol, who, sizeof(who)));
		return -EPERM;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
		snprintf(err, len, "%s: refused by the trust policy (not-writable): folder %s is writable "
			 "by its group or by everyone (mode %04o)", path, upto,
			 (unsigned int)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int open_error(const char *path, const char *upto, int ret, const struct trust_peer *peer,
		      char *err, size_t len)
{
	if (peer && peer->uid != 0)
		return refuse_peer(path, peer, err, len);
	if (ret == -ELOOP)
		snprintf(err, len, "%s: refused by the trust policy (no-symlinks): %s is a symbolic link",
			 path, upto);
	else if (ret == -ENOTDIR)
		snprintf(err, len, "%s: %s is not a folder", path, upto);
	else
		snprintf(err, len, "%s: %s", path, strerror(-ret));
	return ret;
}

static const struct trust_pin *pin_of(const struct trust_policy *pol, const char *path)
{
	for (size_t i = 0; i < pol->nr_pins; i++)
		if (!strcmp(pol->pins[i].path, path))
			return &pol->pins[i];
	return NULL;
}

int trust__sha256_fd(int fd, uint8_t out[TRUST_SHA256_LEN])
{
	struct sha256_ctx ctx;
	uint8_t buf[65536];
	off_t off = 0;
	ssize_t n;

	sha256_init(&ctx);
	for (;;) {
		n = pread(fd, buf, sizeof(buf), off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			break;
		sha256_update(&ctx, (size_t)n, buf);
		off += n;
	}
	sha256_digest(&ctx, TRUST_SHA256_LEN, out);
	return 0;
}

int trust__sha256_parse(const char *text, uint8_t out[TRUST_SHA256_LEN])
{
	if (!strncmp(text, "sha256:", 7))
		text += 7;
	if (strlen(text) != 2 * TRUST_SHA256_LEN ||
	    strspn(text, "0123456789abcdefABCDEF") != 2 * TRUST_SHA256_LEN)
		return -EINVAL;
	for (int i = 0; i < TRUST_SHA256_LEN; i++) {
		unsigned int b;

		if (sscanf(text + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		out[i] = (uint8_t)b;
	}
	return 0;
}

static void hex(const uint8_t *b, char *out)
{
	for (int i = 0; i < TRUST_SHA256_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

/* The rules on the file itself, on its open descriptor. */
static int check_file(const struct trust_policy *pol, const char *path, int fd, enum trust_kind kind,
		      char *err, size_t len)
{
	const struct trust_pin *pin;
	struct stat st;
	char who[64];
	size_t dl;
	int ret;

	if (fstat(fd, &st))
		return -errno;
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, len, "%s: refused by the trust policy (regular-file): not a regular file",
			 path);
		return -EPERM;
	}
	if (!owner_ok(pol, &st)) {
		snprintf(err, len, "%s: refused by the trust policy (owner): belongs to uid %u, not %s",
			 path, (unsigned int)st.st_uid, owner_text(pol, who, sizeof(who)));
		return -EPERM;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, len, "%s: refused by the trust policy (not-writable): writable by its group "
			 "or by everyone (mode %04o)", path, (unsigned int)(st.st_mode & 07777));
		return -EPERM;
	}
	if ((uint64_t)st.st_size > TRUST_MAX_FILE) {
		snprintf(err, len, "%s: refused by the trust policy (size): %lld bytes, more than %u",
			 path, (long long)st.st_size, TRUST_MAX_FILE);
		return -EFBIG;
	}
	if (kind != TRUST_OBJECT)
		return 0;
	if (pol->stage_dir) {
		dl = strlen(pol->stage_dir);
		while (dl > 1 && pol->stage_dir[dl - 1] == '/')
			dl--;
		if (strncmp(path, pol->stage_dir, dl) || (dl > 1 && path[dl] != '/')) {
			snprintf(err, len, "%s: refused by the trust policy (stage-dir): stage objects must "
				 "lie under %s", path, pol->stage_dir);
			return -EPERM;
		}
	}
	pin = pin_of(pol, path);
	if (pin) {
		uint8_t got[TRUST_SHA256_LEN];
		char a[2 * TRUST_SHA256_LEN + 1], b[2 * TRUST_SHA256_LEN + 1];

		ret = trust__sha256_fd(fd, got);
		if (ret)
			return ret;
		if (memcmp(got, pin->sha256, sizeof(got))) {
			hex(got, a);
			hex(pin->sha256, b);
			snprintf(err, len, "%s: refused by the trust policy (sha256): content is %s, the "
				 "configuration pins %s", path, a, b);
			return -EPERM;
		}
	}
	return 0;
}

int trust__open_with(const struct trust_policy *pol, const char *path, enum trust_kind kind,
		     const struct trust_peer *peer, char *err, size_t len)
{
	char buf[PATH_MAX], upto[PATH_MAX];
	struct stat st, pst;
	char *comp, *next;
	int dfd, nfd, pfd = -1, fd = -1, ret;

	if (path[0] != '/' || strlen(path) >= sizeof(buf)) {
		snprintf(err, len, "%s: refused by the trust policy (absolute): not an absolute path",
			 path);
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", path);
	for (comp = buf + 1; *comp; comp = next) {
		size_t l = strcspn(comp, "/");

		next = comp + l + (comp[l] == '/');
		if ((l == 1 && comp[0] == '.') || (l == 2 && comp[0] == '.' && comp[1] == '.') ||
		    (!l && *next)) {
			snprintf(err, len, "%s: refused by the trust policy (absolute): \".\", \"..\" or "
				 "\"//\" in the path", path);
			return -EINVAL;
		}
	}
	dfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	strcpy(upto, "/");
	comp = buf + 1;
	for (;;) {
		size_t l = strcspn(comp, "/");
		bool last = !comp[l] || !comp[l + 1];

		if (fstat(dfd, &st)) {
			ret = -errno;
			goto out;
		}
		if (!peer_may(peer, &st, 1)) {
			ret = refuse_peer(path, peer, err, len);
			goto out;
		}
		ret = check_folder(pol, path, upto, &st, err, len);
		if (ret)
			goto out;
		comp[l] = '\0';
		snprintf(upto + strlen(upto), sizeof(upto) - strlen(upto), "%s%s",
			 strcmp(upto, "/") ? "/" : "", comp);
		if (last)
			break;
		nfd = sys_openat2(dfd, comp, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (nfd < 0) {
			ret = open_error(path, upto, nfd, peer, err, len);
			goto out;
		}
		close(dfd);
		dfd = nfd;
		comp += l + 1;
	}
	if (!*comp) {
		snprintf(err, len, "%s: refused by the trust policy (regular-file): a folder", path);
		ret = -EISDIR;
		goto out;
	}
	/* Looked at first without opening: a FIFO or a device is never opened. */
	pfd = sys_openat2(dfd, comp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0) {
		ret = open_error(path, upto, pfd, peer, err, len);
		goto out;
	}
	if (fstat(pfd, &pst)) {
		ret = -errno;
		goto out;
	}
	if (!peer_may(peer, &pst, 4)) {
		ret = refuse_peer(path, peer, err, len);
		goto out;
	}
	if (S_ISLNK(pst.st_mode)) {
		ret = open_error(path, upto, -ELOOP, peer, err, len);
		goto out;
	}
	ret = check_file(pol, path, pfd, TRUST_PCAP, err, len);
	if (ret)
		goto out;
	fd = sys_openat2(dfd, comp, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		ret = open_error(path, upto, fd, peer, err, len);
		fd = -1;
		goto out;
	}
	if (fstat(fd, &st)) {
		ret = -errno;
		goto out;
	}
	if (st.st_dev != pst.st_dev || st.st_ino != pst.st_ino) {
		snprintf(err, len, "%s: replaced while it was being opened", path);
		ret = -EAGAIN;
		goto out;
	}
	ret = check_file(pol, path, fd, kind, err, len);
out:
	if (pfd >= 0)
		close(pfd);
	close(dfd);
	if (ret) {
		if (fd >= 0)
			close(fd);
		return ret;
	}
	return fd;
}

int trust__open(const char *path, enum trust_kind kind, const struct trust_peer *peer, char *err,
		size_t len)
{
	return trust__open_with(&policy, path, kind, peer, err, len);
}

int trust__open_object(const char *path, char *err, size_t len)
{
	return trust__open(path, TRUST_OBJECT, NULL, err, len);
}

int trust__check(const char *path, enum trust_kind kind, const struct trust_peer *peer, char *err,
		 size_t len)
{
	int fd = trust__open(path, kind, peer, err, len), ret = 0;

	if (fd < 0)
		return fd;
	if (kind == TRUST_OBJECT)
		ret = trust__check_elf(fd, path, err, len);
	close(fd);
	return ret;
}

int trust__map_name(const char *name, char *err, size_t len)
{
	size_t n = strlen(name);

	if (n < 1 || n > TRUST_MAP_NAME_MAX ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") != n) {
		snprintf(err, len, "map name \"%.*s%s\" cannot be a pin name: use 1 to %d of [A-Za-z0-9_]",
			 64, name, n > 64 ? "..." : "", TRUST_MAP_NAME_MAX);
		return -EINVAL;
	}
	return 0;
}

/* Digests of objects libbpf has opened without crashing in a child. */
#define ELF_OK_CACHE	64
static uint8_t elf_ok[ELF_OK_CACHE][TRUST_SHA256_LEN];
static unsigned int elf_ok_next, elf_ok_nr;

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return 0;
}

int trust__check_elf(int fd, const char *path, char *err, size_t len)
{
	uint8_t digest[TRUST_SHA256_LEN], *buf;
	struct stat st;
	ssize_t n;
	size_t off = 0;
	pid_t pid;
	int status, ret;

	if (fstat(fd, &st))
		return -errno;
	if ((uint64_t)st.st_size > TRUST_MAX_FILE)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (off < (size_t)st.st_size) {
		n = pread(fd, buf + off, (size_t)st.st_size - off, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	ret = trust__sha256_fd(fd, digest);
	if (ret)
		goto out;
	for (unsigned int i = 0; i < elf_ok_nr; i++) {
		if (!memcmp(elf_ok[i], digest, sizeof(digest)))
			goto out;
	}
	/*
	 * libbpf's ELF and BTF readers are not hardened against every corrupt
	 * object (Debian 12's 1.1 segfaults on some): they read it first in a
	 * child, so a crash costs a refusal, not the daemon.
	 */
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out;
	}
	if (!pid) {
		static const int fatal[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT };
		struct bpf_object *obj;

		/* A crash must end the child, whatever handlers the parent has. */
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], SIG_DFL);
		libbpf_set_print(quiet);
		obj = bpf_object__open_mem(buf, off, NULL);
		if (!obj)
			_exit(2);
		bpf_object__close(obj);
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			ret = -errno;
			goto out;
		}
	}
	if (WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 2)) {
		/* Opened, or refused in an orderly way that the load will report. */
		memcpy(elf_ok[elf_ok_next], digest, sizeof(digest));
		elf_ok_next = (elf_ok_next + 1) % ELF_OK_CACHE;
		if (elf_ok_nr < ELF_OK_CACHE)
			elf_ok_nr++;
		goto out;
	}
	if (WIFSIGNALED(status))
		snprintf(err, len, "%s: refused by the trust policy (parses): reading it crashed libbpf "
			 "(signal %d): a corrupt object", path, WTERMSIG(status));
	else
		snprintf(err, len, "%s: refused by the trust policy (parses): reading it failed libbpf "
			 "(exit %d): a corrupt object", path, WEXITSTATUS(status));
	ret = -EBADMSG;
out:
	free(buf);
	return ret;
}

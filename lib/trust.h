/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What sluiced agrees to read as root: stage objects and pcaps named by the
 * configuration or by a control client. A path is opened one component at a
 * time from "/", each relative to the folder before it, with openat2()
 * RESOLVE_NO_SYMLINKS and O_NONBLOCK|O_NOCTTY, and every step is checked on
 * its open descriptor:
 *
 *   absolute      the path is absolute and has no "." or ".." component
 *   no-symlinks   no component is a symbolic link
 *   regular-file  the last component is a regular file (no FIFO, device, folder)
 *   owner         the file and every folder above it belong to root or trust.owner
 *   not-writable  the file is not group- or world-writable; a folder is not
 *                 either, unless it is sticky (like /tmp)
 *   size          an object or pcap is at most 64 MiB
 *   stage-dir     with trust.stage_dir, a stage object lies under it
 *   sha256        with a stage's sha256 in the configuration, the file has it
 *   parses        libbpf reads the object without crashing (checked in a child)
 *
 * A refusal names the rule. When a control client names the path, it is
 * first walked with the client's own credentials (mode bits of every folder
 * and of the file, as the kernel would check them for that client): a path
 * the client could not read itself is refused with one message whether it
 * exists or not, so the daemon answers nothing the client could not learn.
 * docs/security.md explains the choice of this over passing descriptors.
 */
#ifndef SLUICE_TRUST_H
#define SLUICE_TRUST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TRUST_SHA256_LEN	32
#define TRUST_MAX_FILE		(64u << 20)	/* bytes: objects and pcaps */
#define TRUST_MAP_NAME_MAX	63

/* A file whose content is pinned by the configuration. */
struct trust_pin {
	char *path;
	uint8_t sha256[TRUST_SHA256_LEN];
};

struct trust_policy {
	uid_t owner;			/* trusted besides root; (uid_t)-1: root only */
	char *stage_dir;		/* NULL: anywhere; else stage objects lie under it */
	struct trust_pin *pins;
	size_t nr_pins;
};

/* Who named the path: a control client, by its SO_PEERCRED and SO_PEERGROUPS. */
struct trust_peer {
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	size_t nr_groups;
};

enum trust_kind {
	TRUST_OBJECT,			/* a stage's .bpf.o: stage-dir and sha256 apply */
	TRUST_PCAP,			/* a pre-flight capture */
};

/*
 * The process-wide policy (copied): sluiced sets it from its configuration
 * at start and on every reload. Until then: root only, anywhere, no pins.
 */
int trust__set_policy(const struct trust_policy *pol);
void trust__reset(void);

/*
 * Opens path read-only under the policy: an fd (O_CLOEXEC, O_NONBLOCK) or a
 * negative errno with err naming the rule. peer NULL: the daemon's own
 * path (configuration), no client access check.
 */
int trust__open(const char *path, enum trust_kind kind, const struct trust_peer *peer, char *err,
		size_t len);
/* The same under another policy (a configuration being checked). */
int trust__open_with(const struct trust_policy *pol, const char *path, enum trust_kind kind,
		     const struct trust_peer *peer, char *err, size_t len);
/* trust__open(path, TRUST_OBJECT, NULL, ...): what stage_load.c opens objects with. */
int trust__open_object(const char *path, char *err, size_t len);
/*
 * Whether libbpf can read the object of fd without crashing: it opens it
 * first in a child process (and remembers what passed, by SHA-256). 0, or
 * -EBADMSG with err naming the rule "parses". A clean refusal by libbpf is
 * left to the load, which explains it.
 */
int trust__check_elf(int fd, const char *path, char *err, size_t len);
/* Opens and closes: 0 when trust__open() would succeed (an object also passes trust__check_elf()). */
int trust__check(const char *path, enum trust_kind kind, const struct trust_peer *peer, char *err,
		 size_t len);

/*
 * Whether a map name from an object may become a pin path component:
 * [A-Za-z0-9_], 1 to TRUST_MAP_NAME_MAX characters. 0 or -EINVAL with err.
 * Call it for every non-internal map before bpf_map__set_pin_path().
 */
int trust__map_name(const char *name, char *err, size_t len);

/* SHA-256 of a whole file from its start (pread: the offset stays). */
int trust__sha256_fd(int fd, uint8_t out[TRUST_SHA256_LEN]);
/* 64 hex digits (an optional "sha256:" prefix) to bytes; 0 or -EINVAL. */
int trust__sha256_parse(const char *text, uint8_t out[TRUST_SHA256_LEN]);

#endif

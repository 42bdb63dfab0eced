// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The kernel feature probe. Programs are built from instructions, as the
 * kernel selftests do, so the probe needs no object file and runs before
 * anything is installed. Features that need an interface are tried on a veth
 * pair made in a private network namespace of a forked child: nothing the
 * probe creates can outlive it or touch a real interface.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <linux/magic.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>
#include <json-c/json.h>
#include <sluice/abi.h>
#include "jit.h"
#include "probe.h"

/* Instruction builders, as in the kernel's include/linux/filter.h. */
#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_REG(d, s)		INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i)		INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD64_IMM(d, i)		INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define LDX_W(d, s, o)		INSN(BPF_LDX | BPF_MEM | BPF_W, d, s, o, 0)
#define ST_W(d, o, i)		INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define JEQ_IMM(d, i, o)	INSN(BPF_JMP | BPF_JEQ | BPF_K, d, 0, o, i)
#define JNE_IMM(d, i, o)	INSN(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, i)
#define JGT_REG(d, s, o)	INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define CALL_HELPER(f)		INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define CALL_LOCAL(o)		INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, o)
#define EXIT()			INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define LD_MAP_FD(d, fd)	INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), \
				INSN(0, 0, 0, 0, 0)
#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))

/*
 * BTF for "int f(struct xdp_md *ctx)": the verifier allows tail calls from
 * subprograms only when every function is described by BTF func info.
 * Returns the BTF fd or a negative errno.
 */
static int btf_load_xdp_funcs(__u32 *main_id, __u32 *sub_id)
{
	struct btf *btf = btf__new_empty();
	int int_id, md_id, ptr_id, proto_id, fd, err;

	if (!btf)
		return -errno;
	int_id = btf__add_int(btf, "int", 4, BTF_INT_SIGNED);
	md_id = btf__add_struct(btf, "xdp_md", 0);
	ptr_id = btf__add_ptr(btf, md_id);
	proto_id = btf__add_func_proto(btf, int_id);
	err = btf__add_func_param(btf, "ctx", ptr_id);
	if (int_id < 0 || md_id < 0 || ptr_id < 0 || proto_id < 0 || err) {
		err = -ENOMEM;
		goto out;
	}
	*main_id = btf__add_func(btf, "sluice_probe", BTF_FUNC_GLOBAL, proto_id);
	*sub_id = btf__add_func(btf, "sluice_probe_sub", BTF_FUNC_STATIC, proto_id);
	if ((int)*main_id < 0 || (int)*sub_id < 0) {
		err = -ENOMEM;
		goto out;
	}
	err = btf__load_into_kernel(btf);
	if (err)
		goto out;
	fd = dup(btf__fd(btf));
	err = fd < 0 ? -errno : fd;
out:
	btf__free(btf);
	return err;
}

/*
 * Loads an XDP program. With sub_off > 0 the instructions from sub_off on are
 * a subprogram and both functions get BTF func info. The verifier log, if
 * asked for, is kept in log so a failed probe can say what the kernel said.
 */
static int prog_load_log(const char *name, const struct bpf_insn *insns, size_t cnt,
			 size_t sub_off, char *log, size_t log_len)
{
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_XDP);
	struct bpf_func_info finfo[2] = {};
	int fd, btf_fd = -1, err;

	if (log && log_len) {
		log[0] = '\0';
		opts.log_buf = log;
		opts.log_size = log_len;
		opts.log_level = 1;
	}
	if (sub_off) {
		btf_fd = btf_load_xdp_funcs(&finfo[0].type_id, &finfo[1].type_id);
		if (btf_fd < 0)
			return btf_fd;
		finfo[1].insn_off = sub_off;
		opts.prog_btf_fd = btf_fd;
		opts.func_info = finfo;
		opts.func_info_cnt = ARRAY_SIZE(finfo);
		opts.func_info_rec_size = sizeof(finfo[0]);
	}
	fd = bpf_prog_load(BPF_PROG_TYPE_XDP, name, "GPL", insns, cnt, &opts);
	err = fd < 0 ? -errno : fd;
	if (btf_fd >= 0)
		close(btf_fd);
	return err;
}

static int prog_load(const char *name, const struct bpf_insn *insns, size_t cnt)
{
	return prog_load_log(name, insns, cnt, 0, NULL, 0);
}

int probe__load_verdict(int verdict)
{
	const struct bpf_insn insns[] = {
		MOV64_IMM(BPF_REG_0, verdict),
		EXIT(),
	};

	return prog_load("sluice_probe_v", insns, ARRAY_SIZE(insns));
}

/*
 * What a tail call falls through to: SLUICE_RET_MISSED, read from a map so
 * that the verifier cannot know it. Kernels before 6.18 take a subprogram's
 * fall-through value as its only return value and prune the caller's
 * branches on it, so the stage's verdict would leave the program uncounted
 * (the entry reads its sentinel from .data for the same reason).
 */
#define SENTINEL_TAIL(fd)						\
	ST_W(BPF_REG_10, -8, 0),					\
	MOV64_REG(BPF_REG_2, BPF_REG_10),				\
	ADD64_IMM(BPF_REG_2, -8),					\
	LD_MAP_FD(BPF_REG_1, fd),					\
	CALL_HELPER(BPF_FUNC_map_lookup_elem),				\
	JEQ_IMM(BPF_REG_0, 0, 2),					\
	LDX_W(BPF_REG_0, BPF_REG_0, 0),					\
	EXIT(),								\
	MOV64_IMM(BPF_REG_0, SLUICE_RET_MISSED),			\
	EXIT()

static int load_tail_caller(int prog_array_fd, int key_map_fd, bool subprog, char *log,
			    size_t log_len)
{
	__u32 zero = 0, missed = SLUICE_RET_MISSED;
	int sentinel_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sluice_sentinel", 4, 4, 1, NULL);
	/* Subprogram or main program: r1 = ctx on entry, returns r0. */
	const struct bpf_insn const_key[] = {
		LD_MAP_FD(BPF_REG_2, prog_array_fd),
		MOV64_IMM(BPF_REG_3, 0),
		CALL_HELPER(BPF_FUNC_tail_call),
		SENTINEL_TAIL(sentinel_fd),
	};
	const struct bpf_insn var_key[] = {
		MOV64_REG(BPF_REG_6, BPF_REG_1),
		ST_W(BPF_REG_10, -4, 0),
		MOV64_REG(BPF_REG_2, BPF_REG_10),
		ADD64_IMM(BPF_REG_2, -4),
		LD_MAP_FD(BPF_REG_1, key_map_fd),
		CALL_HELPER(BPF_FUNC_map_lookup_elem),
		JEQ_IMM(BPF_REG_0, 0, 6),
		LDX_W(BPF_REG_3, BPF_REG_0, 0),
		MOV64_REG(BPF_REG_1, BPF_REG_6),
		LD_MAP_FD(BPF_REG_2, prog_array_fd),
		CALL_HELPER(BPF_FUNC_tail_call),
		SENTINEL_TAIL(sentinel_fd),
	};
	/* Calls the subprogram right after it; XDP_TX iff it returned XDP_DROP. */
	const struct bpf_insn caller[] = {
		CALL_LOCAL(4),
		JNE_IMM(BPF_REG_0, XDP_DROP, 2),
		MOV64_IMM(BPF_REG_0, XDP_TX),
		EXIT(),
		EXIT(),
	};
	const struct bpf_insn *body = key_map_fd >= 0 ? var_key : const_key;
	size_t nbody = key_map_fd >= 0 ? ARRAY_SIZE(var_key) : ARRAY_SIZE(const_key);
	struct bpf_insn insns[ARRAY_SIZE(caller) + ARRAY_SIZE(var_key)];
	size_t n = 0;
	int fd;

	if (sentinel_fd < 0)
		return -errno;
	bpf_map_update_elem(sentinel_fd, &zero, &missed, 0);
	if (subprog) {
		memcpy(insns, caller, sizeof(caller));
		n = ARRAY_SIZE(caller);
	}
	memcpy(insns + n, body, nbody * sizeof(*body));
	fd = prog_load_log("sluice_probe_tc", insns, n + nbody, n, log, log_len);
	/* The program holds the map now. */
	close(sentinel_fd);
	return fd;
}

int probe__load_tail_caller(int prog_array_fd, int key_map_fd, bool subprog)
{
	return load_tail_caller(prog_array_fd, key_map_fd, subprog, NULL, 0);
}

/* Probes, in the order they are run and reported. */
enum {
	P_BPFFS,
	P_XDP,
	P_TAIL_SUBPROG,
	P_ADJUST_META,
	P_JIT,
	P_DIRECT_TC,
	P_NATIVE_XDP,
	P_LINK_UPDATE,
	P_AF_XDP,
	P_DISPATCHER,
	P_LIVE_FRAMES,
	P_LOAD_BYTES,
	P_BPF_STATS,
	P_NOT_RT,
	P_NR,
};

static const struct probe_def {
	const char *name;
	bool required;
	const char *needs;
} probe_defs[P_NR] = {
	[P_BPFFS] = { "bpffs", true, "bpffs mounted at /sys/fs/bpf (mount -t bpf bpf /sys/fs/bpf)" },
	[P_XDP] = { "xdp_prog", true, "Linux >= 4.8 with CONFIG_BPF_SYSCALL, CAP_BPF and CAP_NET_ADMIN" },
	[P_TAIL_SUBPROG] = { "tail_call_subprog", true, "Linux >= 5.10 on x86-64 with the BPF JIT on" },
	[P_ADJUST_META] = { "xdp_adjust_meta", false,
			    "a kernel whose verifier lets XDP programs call bpf_xdp_adjust_meta (Linux >= 5.15 "
			    "for it in BPF_PROG_TEST_RUN); without it the context rides in a per-CPU map "
			    "and AF_XDP sockets get no sluice metadata" },
	[P_JIT] = { "jit", false, "net.core.bpf_jit_enable = 1 (or CONFIG_BPF_JIT_ALWAYS_ON)" },
	[P_DIRECT_TC] = { "direct_tail_call", false, "the x86-64 BPF JIT, Linux >= 5.5" },
	[P_NATIVE_XDP] = { "native_xdp_veth", false, "Linux >= 4.19 (veth native XDP) and unshare(CLONE_NEWNET)" },
	[P_LINK_UPDATE] = { "xdp_link", true, "Linux >= 5.9 (XDP bpf_link and BPF_LINK_UPDATE)" },
	[P_AF_XDP] = { "af_xdp", false, "Linux >= 4.18 with CONFIG_XDP_SOCKETS" },
	[P_DISPATCHER] = { "libxdp_dispatcher", false,
			   "Linux >= 5.10 with freplace (BPF_PROG_TYPE_EXT) allowed, libxdp >= 1.2" },
	[P_LIVE_FRAMES] = { "xdp_live_frames", false, "Linux >= 5.18 (BPF_F_TEST_XDP_LIVE_FRAMES) allowed "
			    "to this user; sluice-gen then uses another engine" },
	[P_LOAD_BYTES] = { "xdp_load_bytes", false, "Linux >= 5.18 (bpf_xdp_load_bytes): shadow-diff "
			   "samples of whole frames" },
	[P_BPF_STATS] = { "bpf_stats", false, "Linux >= 5.8 (kernel.bpf_stats_enabled)" },
	[P_NOT_RT] = { "not_preempt_rt", false, "a kernel without PREEMPT_RT, or XDP metadata: on "
		       "PREEMPT_RT one packet's run may be preempted by another's on the same CPU, "
		       "so the per-CPU context carrier is never chosen automatically" },
};

/* Names of the veth pair the netns child makes; its namespace is private. */
#define PROBE_VETH		"slprobe0"
#define PROBE_VETH_PEER		"slprobe1"
/* The child's whole run; far more than it needs, less than a hang. */
#define PROBE_NETNS_TIMEOUT_MS	10000
#define PROBE_FRAME_LEN		64
#define PROBE_UMEM_FRAMES	64
#define PROBE_XSK_RING		64

__attribute__((format(printf, 3, 4)))
static void set(struct probe_result *r, bool ok, const char *fmt, ...)
{
	va_list ap;

	r->ok = ok;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* The last non-empty line of a verifier log: what the kernel objected to. */
static const char *log_tail(char *log)
{
	size_t n = strlen(log);
	char *nl;

	while (n && log[n - 1] == '\n')
		log[--n] = '\0';
	nl = strrchr(log, '\n');
	return nl ? nl + 1 : log;
}

static int read_sysctl(const char *path, int *val)
{
	FILE *f = fopen(path, "r");
	int n;

	if (!f)
		return -errno;
	n = fscanf(f, "%d", val);
	fclose(f);
	return n == 1 ? 0 : -EINVAL;
}

static int test_run(int prog_fd, __u32 flags, struct xdp_md *ctx_out, void *out, __u32 out_len,
		    __u32 *retval)
{
	uint8_t frame[PROBE_FRAME_LEN] = { [12] = 0x08 };	/* an IPv4 ethertype */
	struct xdp_md ctx_in = { .data = 0, .data_end = sizeof(frame) };
	LIBBPF_OPTS(bpf_test_run_opts, opts,
		.data_in = frame,
		.data_size_in = sizeof(frame),
		.data_out = out,
		.data_size_out = out_len,
		.flags = flags,
		.repeat = 1,
	);

	/* Only when asked for: Linux 5.10 refuses an xdp_md context in a test run. */
	if (!(flags & BPF_F_TEST_XDP_LIVE_FRAMES) && ctx_out) {
		opts.ctx_in = &ctx_in;
		opts.ctx_size_in = sizeof(ctx_in);
		opts.ctx_out = ctx_out;
		opts.ctx_size_out = ctx_out ? sizeof(*ctx_out) : 0;
	}
	if (bpf_prog_test_run_opts(prog_fd, &opts))
		return -errno;
	*retval = opts.retval;
	return 0;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static void probe_bpffs(struct probe_result *r)
{
	struct statfs st;

	if (statfs("/sys/fs/bpf", &st))
		set(r, false, "statfs /sys/fs/bpf: %s", strerror(errno));
	else if (st.f_type != BPF_FS_MAGIC)
		set(r, false, "/sys/fs/bpf is not a bpffs mount: pins would not survive");
	else
		set(r, true, "/sys/fs/bpf is bpffs");
}

static void probe_xdp(struct probe_result *r)
{
	int fd = probe__load_verdict(XDP_PASS);

	if (fd < 0) {
		set(r, false, "loading an XDP program: %s", strerror(-fd));
		return;
	}
	set(r, true, "BPF_PROG_TYPE_XDP program loaded (id %u)", prog_id(fd));
	close(fd);
}

/*
 * What sluice's entry does: a bpf2bpf callee tail-calls slot 0; the stage's
 * verdict must come back to the caller, and an empty slot must fall through.
 */
static void probe_tail_subprog(struct probe_result *r)
{
	int map_fd, stage_fd = -1, fd = -1, err;
	__u32 key = 0, hit, miss;
	char log[4096];

	/* One slot: where the probe's stage goes, or stays empty. */
	map_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "sluice_probe", 4, 4, 1, NULL);
	if (map_fd < 0) {
		set(r, false, "creating a prog_array: %s", strerror(errno));
		return;
	}
	fd = load_tail_caller(map_fd, -1, true, log, sizeof(log));
	if (fd < 0) {
		set(r, false, "verifier refused a tail call in a subprogram: %s",
		    log[0] ? log_tail(log) : strerror(-fd));
		goto out;
	}
	stage_fd = probe__load_verdict(XDP_DROP);
	if (stage_fd < 0 || bpf_map_update_elem(map_fd, &key, &stage_fd, 0)) {
		set(r, false, "filling the prog_array: %s", strerror(stage_fd < 0 ? -stage_fd : errno));
		goto out;
	}
	err = test_run(fd, 0, NULL, NULL, 0, &hit);
	if (!err && !bpf_map_delete_elem(map_fd, &key))
		err = test_run(fd, 0, NULL, NULL, 0, &miss);
	if (err) {
		set(r, false, "BPF_PROG_TEST_RUN: %s", strerror(-err));
		goto out;
	}
	if (hit != XDP_TX || miss != SLUICE_RET_MISSED)
		set(r, false, "the verdict did not come back to the caller (got %u filled, %#x empty)",
		    hit, miss);
	else
		set(r, true, "a subprogram's tail call returned the stage's verdict to its caller; "
			     "an empty slot fell through");
out:
	if (stage_fd >= 0)
		close(stage_fd);
	if (fd >= 0)
		close(fd);
	close(map_fd);
}

#define META_MAGIC 0x5c1ce0deu

bool probe__denied(const char *feature)
{
	const char *list = getenv("SLUICE_DENY_FEATURES"), *p;
	size_t len = strlen(feature);

	for (p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, feature, len) && (p[len] == ',' || !p[len]))
			return true;
	return false;
}

int probe__check_denied_helpers(const struct bpf_object *obj, char *why, size_t len)
{
	struct bpf_program *p;

	if (!probe__denied("xdp_adjust_meta"))
		return 0;
	bpf_object__for_each_program(p, obj) {
		const struct bpf_insn *in = bpf_program__insns(p);

		for (size_t i = 0; i < bpf_program__insn_cnt(p); i++) {
			if (in[i].code != (BPF_JMP | BPF_CALL) || in[i].src_reg ||
			    in[i].imm != BPF_FUNC_xdp_adjust_meta)
				continue;
			snprintf(why, len, "%s: program of this type cannot use helper "
				 "bpf_xdp_adjust_meta#%d (SLUICE_DENY_FEATURES names xdp_adjust_meta)",
				 bpf_program__name(p), BPF_FUNC_xdp_adjust_meta);
			return -EINVAL;
		}
	}
	return 0;
}

/* Whether a test asked to act as a kernel that refuses this feature. */
static bool denied(struct probe_result *r)
{
	if (!probe__denied(r->name))
		return false;
	set(r, false, "refused: SLUICE_DENY_FEATURES names it (a test acting as a kernel that "
	    "refuses it)");
	return true;
}

static void probe_adjust_meta(struct probe_result *r)
{
	const int mlen = sizeof(struct sluice_meta);
	const struct bpf_insn insns[] = {
		MOV64_REG(BPF_REG_6, BPF_REG_1),
		MOV64_IMM(BPF_REG_2, -mlen),
		CALL_HELPER(BPF_FUNC_xdp_adjust_meta),
		JNE_IMM(BPF_REG_0, 0, 7),
		LDX_W(BPF_REG_2, BPF_REG_6, offsetof(struct xdp_md, data_meta)),
		LDX_W(BPF_REG_3, BPF_REG_6, offsetof(struct xdp_md, data)),
		MOV64_REG(BPF_REG_4, BPF_REG_2),
		ADD64_IMM(BPF_REG_4, mlen),
		JGT_REG(BPF_REG_4, BPF_REG_3, 3),
		ST_W(BPF_REG_2, 0, (int)META_MAGIC),
		MOV64_IMM(BPF_REG_0, XDP_PASS),
		EXIT(),
		MOV64_IMM(BPF_REG_0, XDP_ABORTED),
		EXIT(),
	};
	uint8_t out[PROBE_FRAME_LEN + 256];
	struct xdp_md ctx = {};
	__u32 ret, magic;
	int fd, err;

	if (denied(r))
		return;
	fd = prog_load("sluice_probe_meta", insns, ARRAY_SIZE(insns));
	if (fd < 0) {
		set(r, false, "loading a bpf_xdp_adjust_meta program: %s", strerror(-fd));
		return;
	}
	err = test_run(fd, 0, &ctx, out, sizeof(out), &ret);
	close(fd);
	if (err) {
		set(r, false, "BPF_PROG_TEST_RUN with an xdp_md context: %s", strerror(-err));
		return;
	}
	memcpy(&magic, out, sizeof(magic));
	if (ret != XDP_PASS || ctx.data - ctx.data_meta != (__u32)mlen || magic != META_MAGIC)
		set(r, false, "metadata did not come back from the test run (verdict %u, %u bytes)",
		    ret, ctx.data - ctx.data_meta);
	else
		set(r, true, "%d bytes reserved, written and returned by BPF_PROG_TEST_RUN", mlen);
}

static void probe_jit(struct probe_result *r)
{
	int on, harden = -1;

	if (read_sysctl("/proc/sys/net/core/bpf_jit_enable", &on)) {
		set(r, false, "cannot read /proc/sys/net/core/bpf_jit_enable");
		return;
	}
	read_sysctl("/proc/sys/net/core/bpf_jit_harden", &harden);
	set(r, on > 0, "bpf_jit_enable = %d, bpf_jit_harden = %d%s", on, harden,
	    on > 0 ? "" : ": tail calls from subprograms need the JIT");
}

/* A constant-key tail call from a subprogram, as sluice_next() makes them. */
static void probe_direct_tc(struct probe_result *r)
{
	struct jit_tail_calls tc;
	int map_fd, fd, err;

	/* One slot: where the probe's stage goes, or stays empty. */
	map_fd = bpf_map_create(BPF_MAP_TYPE_PROG_ARRAY, "sluice_probe", 4, 4, 1, NULL);
	if (map_fd < 0) {
		set(r, false, "creating a prog_array: %s", strerror(errno));
		return;
	}
	fd = probe__load_tail_caller(map_fd, -1, true);
	if (fd < 0) {
		set(r, false, "loading a constant-key tail caller: %s", strerror(-fd));
		goto out;
	}
	err = jit__scan(fd, &tc);
	close(fd);
	if (err)
		set(r, false, "reading the JIT image: %s", strerror(-err));
	else if (tc.direct < 1 || tc.indirect)
		set(r, false, "constant-key tail call JITed as %d direct, %d indirect: stages "
			      "would pay the retpoline path", tc.direct, tc.indirect);
	else
		set(r, true, "constant-key tail call from a subprogram JITed as a direct poke "
			     "site (%d direct, %d indirect)", tc.direct, tc.indirect);
out:
	close(map_fd);
}

static void probe_live_frames(struct probe_result *r)
{
	__u32 ret;
	int fd, err;

	if (denied(r))
		return;
	fd = probe__load_verdict(XDP_DROP);
	if (fd < 0) {
		set(r, false, "loading an XDP program: %s", strerror(-fd));
		return;
	}
	/* XDP_DROP: the frame is built and freed, nothing is sent anywhere. */
	err = test_run(fd, BPF_F_TEST_XDP_LIVE_FRAMES, NULL, NULL, 0, &ret);
	close(fd);
	if (err)
		set(r, false, "BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: %s", strerror(-err));
	else
		set(r, true, "live-frames test run works (the generator's fast path)");
}

/* bpf_xdp_load_bytes(ctx, 0, stack, 4), returning XDP_PASS when it worked. */
static void probe_load_bytes(struct probe_result *r)
{
	const struct bpf_insn insns[] = {
		MOV64_REG(BPF_REG_3, BPF_REG_10),
		ADD64_IMM(BPF_REG_3, -8),
		MOV64_IMM(BPF_REG_2, 0),
		MOV64_IMM(BPF_REG_4, 4),
		CALL_HELPER(BPF_FUNC_xdp_load_bytes),
		JNE_IMM(BPF_REG_0, 0, 2),
		MOV64_IMM(BPF_REG_0, XDP_PASS),
		EXIT(),
		MOV64_IMM(BPF_REG_0, XDP_ABORTED),
		EXIT(),
	};
	__u32 ret;
	int fd, err;

	if (denied(r))
		return;
	fd = prog_load("sluice_probe_lb", insns, ARRAY_SIZE(insns));
	if (fd < 0) {
		set(r, false, "loading a bpf_xdp_load_bytes program: %s", strerror(-fd));
		return;
	}
	err = test_run(fd, 0, NULL, NULL, 0, &ret);
	close(fd);
	if (err || ret != XDP_PASS)
		set(r, false, "bpf_xdp_load_bytes did not copy the frame (%s, verdict %u)",
		    err ? strerror(-err) : "ok", ret);
	else
		set(r, true, "frames can be copied whole into a ring buffer (shadow-diff samples)");
}

bool probe__preempt_rt(void)
{
	int rt = 0;

	return !read_sysctl("/sys/kernel/realtime", &rt) && rt == 1;
}

static void probe_not_rt(struct probe_result *r)
{
	if (probe__preempt_rt())
		set(r, false, "PREEMPT_RT kernel: context: auto needs XDP metadata here");
	else
		set(r, true, "not a PREEMPT_RT kernel: a packet runs to completion on its CPU");
}

static void probe_bpf_stats(struct probe_result *r)
{
	int on;

	if (read_sysctl("/proc/sys/kernel/bpf_stats_enabled", &on))
		set(r, false, "cannot read /proc/sys/kernel/bpf_stats_enabled");
	else
		set(r, true, "kernel.bpf_stats_enabled = %d%s", on,
		    on ? "" : " (per-program run time is counted only while enabled)");
}

/* rtnetlink, just enough to make a veth pair that is up. */
struct nl_req {
	struct nlmsghdr nh;
	struct ifinfomsg ifi;
	char buf[512];
};

static struct rtattr *nl_attr(struct nlmsghdr *nh, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (void *)((char *)nh + NLMSG_ALIGN(nh->nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(rta), data, len);
	nh->nlmsg_len = NLMSG_ALIGN(nh->nlmsg_len) + RTA_ALIGN(rta->rta_len);
	return rta;
}

static void nl_nest_end(struct nlmsghdr *nh, struct rtattr *nest)
{
	nest->rta_len = (char *)nh + nh->nlmsg_len - (char *)nest;
}

/* Sends one request and returns the kernel's ack: 0 or a negative errno. */
static int nl_talk(struct nlmsghdr *req)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	struct {
		struct nlmsghdr nh;
		struct nlmsgerr err;
		char pad[256];
	} ack;
	ssize_t n;
	int fd, err;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	req->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		goto out;
	}
	n = recv(fd, &ack, sizeof(ack), 0);
	if (n < 0)
		err = -errno;
	else if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || ack.nh.nlmsg_type != NLMSG_ERROR)
		err = -EPROTO;
	else
		err = ack.err.error;
out:
	close(fd);
	return err;
}

/*
 * Both ends are created down: veth refuses to open one end (ENOTCONN) while
 * the pair is still being registered, so they are set up afterwards.
 */
static int veth_create(const char *name, const char *peer, int *ifindex)
{
	struct nl_req req = {
		.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
		.nh.nlmsg_type = RTM_NEWLINK,
		.nh.nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL,
		.ifi.ifi_family = AF_UNSPEC,
	};
	struct ifinfomsg peer_ifi = { .ifi_family = AF_UNSPEC };
	struct rtattr *linkinfo, *data, *peer_attr;
	const char *names[] = { name, peer };
	size_t i;
	int err;

	nl_attr(&req.nh, IFLA_IFNAME, name, strlen(name) + 1);
	linkinfo = nl_attr(&req.nh, IFLA_LINKINFO, NULL, 0);
	nl_attr(&req.nh, IFLA_INFO_KIND, "veth", strlen("veth"));
	data = nl_attr(&req.nh, IFLA_INFO_DATA, NULL, 0);
	peer_attr = nl_attr(&req.nh, VETH_INFO_PEER, &peer_ifi, sizeof(peer_ifi));
	nl_attr(&req.nh, IFLA_IFNAME, peer, strlen(peer) + 1);
	nl_nest_end(&req.nh, peer_attr);
	nl_nest_end(&req.nh, data);
	nl_nest_end(&req.nh, linkinfo);
	err = nl_talk(&req.nh);
	if (err)
		return err;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		struct nl_req up = {
			.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg)),
			.nh.nlmsg_type = RTM_NEWLINK,
			.ifi.ifi_family = AF_UNSPEC,
			.ifi.ifi_index = (int)if_nametoindex(names[i]),
			.ifi.ifi_flags = IFF_UP,
			.ifi.ifi_change = IFF_UP,
		};

		if (!up.ifi.ifi_index)
			return -errno;
		err = nl_talk(&up.nh);
		if (err)
			return err;
	}
	*ifindex = (int)if_nametoindex(name);
	return *ifindex ? 0 : -errno;
}

/* What the netns child sends back: the probes that need an interface. */
static const int netns_probes[] = { P_NATIVE_XDP, P_LINK_UPDATE, P_AF_XDP, P_DISPATCHER };

struct netns_report {
	struct probe_result res[P_NR];
};

static bool xdp_prog_is(int ifindex, __u32 mode_flag, __u32 id)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return false;
	if (mode_flag == XDP_FLAGS_DRV_MODE)
		return q.drv_prog_id == id;
	return q.skb_prog_id == id;
}

/*
 * Native attach through a bpf_link, then bpf_link_update to a second
 * program; if driver mode fails the link is still tried in generic mode,
 * since the link (sluice's atomic swap) is what is required.
 */
static void probe_links(int ifindex, char *nsid, struct probe_result *nat, struct probe_result *upd)
{
	LIBBPF_OPTS(bpf_link_create_opts, lo);
	int fd1, fd2 = -1, link = -1;
	__u32 modes[] = { XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE }, mode = 0;
	__u32 id1, id2;
	size_t i;

	fd1 = probe__load_verdict(XDP_PASS);
	fd2 = probe__load_verdict(XDP_PASS);
	if (fd1 < 0 || fd2 < 0) {
		set(nat, false, "loading XDP programs: %s", strerror(-(fd1 < 0 ? fd1 : fd2)));
		set(upd, false, "%s", nat->detail);
		goto out;
	}
	id1 = prog_id(fd1);
	id2 = prog_id(fd2);
	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		lo.flags = modes[i];
		link = bpf_link_create(fd1, ifindex, BPF_XDP, &lo);
		if (link >= 0) {
			mode = modes[i];
			break;
		}
		if (modes[i] == XDP_FLAGS_DRV_MODE)
			set(nat, false, "bpf_link_create in driver mode on veth: %s", strerror(errno));
		else
			set(upd, false, "bpf_link_create for XDP: %s", strerror(errno));
	}
	if (link < 0)
		goto out;
	if (mode == XDP_FLAGS_DRV_MODE) {
		if (xdp_prog_is(ifindex, mode, id1))
			set(nat, true, "attached in driver mode to veth " PROBE_VETH " in netns %s", nsid);
		else
			set(nat, false, "link created but the driver reports another program");
	}
	if (bpf_link_update(link, fd2, NULL)) {
		set(upd, false, "bpf_link_update: %s", strerror(errno));
	} else if (!xdp_prog_is(ifindex, mode, id2)) {
		set(upd, false, "bpf_link_update returned but program %u is not attached", id2);
	} else {
		close(link);
		link = -1;
		if (!xdp_prog_is(ifindex, mode, 0))
			set(upd, false, "closing the last link fd did not detach the program");
		else
			set(upd, true, "%s link swapped program %u for %u; closing it detached",
			    mode == XDP_FLAGS_DRV_MODE ? "driver-mode" : "generic-mode", id1, id2);
	}
out:
	if (link >= 0)
		close(link);
	if (fd1 >= 0)
		close(fd1);
	if (fd2 >= 0)
		close(fd2);
}

static void probe_af_xdp(struct probe_result *r)
{
	size_t size = (size_t)PROBE_UMEM_FRAMES * XSK_UMEM__DEFAULT_FRAME_SIZE;
	struct xsk_umem_config ucfg = {
		.fill_size = PROBE_XSK_RING,
		.comp_size = PROBE_XSK_RING,
		.frame_size = XSK_UMEM__DEFAULT_FRAME_SIZE,
	};
	/* No program: sluice's xsk stage redirects; the probe only binds. */
	struct xsk_socket_config scfg = {
		.rx_size = PROBE_XSK_RING,
		.tx_size = PROBE_XSK_RING,
		.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD,
		.bind_flags = XDP_COPY,
	};
	struct xsk_ring_prod fill, tx;
	struct xsk_ring_cons comp, rx;
	struct xsk_umem *umem = NULL;
	struct xsk_socket *xsk = NULL;
	void *buf;
	int err;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED) {
		set(r, false, "mmap of the umem: %s", strerror(errno));
		return;
	}
	err = xsk_umem__create(&umem, buf, size, &fill, &comp, &ucfg);
	if (err) {
		set(r, false, "xsk_umem__create: %s", strerror(-err));
		goto out;
	}
	err = xsk_socket__create(&xsk, PROBE_VETH, 0, umem, &rx, &tx, &scfg);
	if (err)
		set(r, false, "AF_XDP socket bind in copy mode: %s", strerror(-err));
	else
		set(r, true, "AF_XDP socket bound in copy mode to " PROBE_VETH " queue 0");
	xsk_socket__delete(xsk);
	xsk_umem__delete(umem);
out:
	munmap(buf, size);
}

/* The first thing libxdp warned about: why it gave up on its dispatcher. */
static char libxdp_msg[256];

static int libxdp_capture(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char line[256];
	size_t n;

	if (level == LIBXDP_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (n && !libxdp_msg[0])
		snprintf(libxdp_msg, sizeof(libxdp_msg), "%s", line);
	return 0;
}

/*
 * libxdp's multi-program dispatcher is optional: sluice owns the interface
 * through its own link. libxdp falls back to a plain attach when the
 * kernel refuses freplace; that fallback is "not available", not a failure.
 */
static void probe_dispatcher(int ifindex, struct probe_result *r)
{
	struct xdp_multiprog *mp = NULL;
	struct xdp_program *prog;
	int fd, err;
	const struct bpf_insn insns[] = {
		MOV64_IMM(BPF_REG_0, XDP_PASS),
		EXIT(),
	};

	fd = prog_load("sluice_probe_mp", insns, ARRAY_SIZE(insns));
	if (fd < 0) {
		set(r, false, "loading an XDP program: %s", strerror(-fd));
		return;
	}
	prog = xdp_program__from_fd(fd);
	err = libxdp_get_error(prog);
	if (err) {
		set(r, false, "xdp_program__from_fd: %s", strerror(-err));
		goto out_fd;
	}
	libxdp_msg[0] = '\0';
	libxdp_set_print(libxdp_capture);
	err = xdp_program__attach(prog, ifindex, XDP_MODE_NATIVE, 0);
	if (err) {
		set(r, false, "not available: xdp_program__attach failed (%s)%s%s", strerror(-err),
		    libxdp_msg[0] ? ": " : "", libxdp_msg);
		goto out_prog;
	}
	mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (libxdp_get_error(mp))
		set(r, false, "not available: cannot read back what libxdp attached");
	else if (xdp_multiprog__is_legacy(mp))
		set(r, false, "not available: libxdp fell back to a plain attach because the kernel "
			      "refused the freplace program for its dispatcher%s%s",
			      libxdp_msg[0] ? ": " : "", libxdp_msg);
	else
		set(r, true, "libxdp attached its dispatcher with %d program(s)",
		    xdp_multiprog__program_count(mp));
	if (!libxdp_get_error(mp))
		xdp_multiprog__close(mp);
	xdp_program__detach(prog, ifindex, XDP_MODE_NATIVE, 0);
out_prog:
	xdp_program__close(prog);
out_fd:
	close(fd);
}

/* Runs in the child, inside its own network namespace. */
static void netns_child(struct netns_report *rep)
{
	char nsid[64] = "?";
	struct stat st;
	int ifindex, err;
	size_t i;

	err = veth_create(PROBE_VETH, PROBE_VETH_PEER, &ifindex);
	if (err) {
		for (i = 0; i < ARRAY_SIZE(netns_probes); i++)
			set(&rep->res[netns_probes[i]], false, "creating a veth pair over rtnetlink: %s",
			    strerror(-err));
		return;
	}
	if (!stat("/proc/self/ns/net", &st))
		snprintf(nsid, sizeof(nsid), "net:[%lu]", (unsigned long)st.st_ino);
	probe_links(ifindex, nsid, &rep->res[P_NATIVE_XDP], &rep->res[P_LINK_UPDATE]);
	probe_af_xdp(&rep->res[P_AF_XDP]);
	probe_dispatcher(ifindex, &rep->res[P_DISPATCHER]);
}

/*
 * Forks a child that unshares its network namespace, so the veth pair and
 * any attachment vanish with it however it ends.
 */
static void probe_netns(struct probe_result *res)
{
	struct netns_report *rep;
	struct pollfd pfd;
	size_t got = 0, i;
	int pipefd[2], status;
	pid_t pid;
	ssize_t n;

	rep = calloc(1, sizeof(*rep));
	if (!rep || pipe2(pipefd, O_CLOEXEC)) {
		for (i = 0; i < ARRAY_SIZE(netns_probes); i++)
			set(&res[netns_probes[i]], false, "cannot set up the probe child: %s",
			    strerror(errno));
		free(rep);
		return;
	}
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		libbpf_set_print(NULL);
		if (unshare(CLONE_NEWNET)) {
			for (i = 0; i < ARRAY_SIZE(netns_probes); i++)
				set(&rep->res[netns_probes[i]], false, "unshare(CLONE_NEWNET): %s",
				    strerror(errno));
		} else {
			netns_child(rep);
		}
		n = write(pipefd[1], rep, sizeof(*rep));
		_exit(n == (ssize_t)sizeof(*rep) ? 0 : 1);
	}
	close(pipefd[1]);
	if (pid < 0) {
		for (i = 0; i < ARRAY_SIZE(netns_probes); i++)
			set(&res[netns_probes[i]], false, "fork: %s", strerror(errno));
		goto out;
	}
	pfd.fd = pipefd[0];
	pfd.events = POLLIN;
	while (got < sizeof(*rep) && poll(&pfd, 1, PROBE_NETNS_TIMEOUT_MS) > 0) {
		n = read(pipefd[0], (char *)rep + got, sizeof(*rep) - got);
		if (n <= 0)
			break;
		got += n;
	}
	if (got < sizeof(*rep))
		kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	for (i = 0; i < ARRAY_SIZE(netns_probes); i++) {
		struct probe_result *r = &res[netns_probes[i]];

		if (got < sizeof(*rep))
			set(r, false, "the probe child died or hung before reporting");
		else
			set(r, rep->res[netns_probes[i]].ok, "%s", rep->res[netns_probes[i]].detail);
	}
out:
	close(pipefd[0]);
	free(rep);
}

int probe__run(struct probe_result **res, size_t *n)
{
	struct probe_result *r;
	size_t i;

	r = calloc(P_NR, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < P_NR; i++) {
		r[i].name = probe_defs[i].name;
		r[i].required = probe_defs[i].required;
		r[i].needs = probe_defs[i].needs;
	}
	probe_bpffs(&r[P_BPFFS]);
	probe_xdp(&r[P_XDP]);
	probe_tail_subprog(&r[P_TAIL_SUBPROG]);
	probe_adjust_meta(&r[P_ADJUST_META]);
	probe_jit(&r[P_JIT]);
	probe_direct_tc(&r[P_DIRECT_TC]);
	probe_netns(r);
	probe_live_frames(&r[P_LIVE_FRAMES]);
	probe_load_bytes(&r[P_LOAD_BYTES]);
	probe_bpf_stats(&r[P_BPF_STATS]);
	probe_not_rt(&r[P_NOT_RT]);
	*res = r;
	*n = P_NR;
	return 0;
}

static bool all_required(const struct probe_result *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (r[i].required && !r[i].ok)
			return false;
	return true;
}

static const char *kernel_release(void)
{
	static struct utsname u;

	return uname(&u) ? "unknown" : u.release;
}

static int print_json(const struct probe_result *r, size_t n, bool pretty)
{
	struct json_object *root, *arr, *o;
	size_t i;
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);

	root = json_object_new_object();
	arr = json_object_new_array();
	if (!root || !arr) {
		json_object_put(root);
		json_object_put(arr);
		return -ENOMEM;
	}
	json_object_object_add(root, "ok", json_object_new_boolean(all_required(r, n)));
	json_object_object_add(root, "kernel", json_object_new_string(kernel_release()));
	json_object_object_add(root, "oldest_proven_kernel",
			       json_object_new_string(SLUICE_OLDEST_PROVEN_KERNEL));
	json_object_object_add(root, "features", arr);
	for (i = 0; i < n; i++) {
		o = json_object_new_object();
		if (!o)
			break;
		json_object_object_add(o, "name", json_object_new_string(r[i].name));
		json_object_object_add(o, "ok", json_object_new_boolean(r[i].ok));
		json_object_object_add(o, "required", json_object_new_boolean(r[i].required));
		json_object_object_add(o, "detail", json_object_new_string(r[i].detail));
		json_object_object_add(o, "needs", json_object_new_string(r[i].needs));
		json_object_array_add(arr, o);
	}
	printf("%s\n", json_object_to_json_string_ext(root, flags));
	json_object_put(root);
	return i == n ? 0 : -ENOMEM;
}

static void print_table(const struct probe_result *r, size_t n)
{
	size_t i;

	printf("%-18s %-8s %-8s %s\n", "FEATURE", "NEEDED", "STATUS", "DETAIL");
	for (i = 0; i < n; i++) {
		printf("%-18s %-8s %-8s %s\n", r[i].name, r[i].required ? "required" : "optional",
		       r[i].ok ? "ok" : r[i].required ? "MISSING" : "no", r[i].detail);
		if (!r[i].ok)
			printf("%-36s needs %s\n", "", r[i].needs);
	}
	printf("%s\n", all_required(r, n) ? "all required features present"
					   : "required features missing: sluice cannot run here");
	printf("kernel %s; the oldest the kernel matrix proves is %s (docs/kernels.md)\n",
	       kernel_release(), SLUICE_OLDEST_PROVEN_KERNEL);
}

int probe__run_print(bool json, bool pretty)
{
	struct probe_result *r;
	size_t n;
	int err;

	err = probe__run(&r, &n);
	if (err)
		return err;
	if (json)
		err = print_json(r, n, pretty);
	else
		print_table(r, n);
	if (!err)
		err = all_required(r, n) ? 0 : 1;
	free(r);
	return err;
}

static bool probe_one(int id, void (*fn)(struct probe_result *), char *why, size_t len)
{
	struct probe_result r = { .name = probe_defs[id].name };

	fn(&r);
	if (why && len)
		snprintf(why, len, "%s", r.detail);
	return r.ok;
}

bool probe__xdp_meta(char *why, size_t len)
{
	return probe_one(P_ADJUST_META, probe_adjust_meta, why, len);
}

bool probe__live_frames(char *why, size_t len)
{
	return probe_one(P_LIVE_FRAMES, probe_live_frames, why, len);
}

bool probe__load_bytes(void)
{
	return probe_one(P_LOAD_BYTES, probe_load_bytes, NULL, 0);
}

int probe__carrier_auto(char *why, size_t len)
{
	return probe__xdp_meta(why, len) ? SLUICE_CARRIER_META : SLUICE_CARRIER_PERCPU;
}

int probe__require(char *err, size_t len)
{
	struct probe_result *r;
	size_t n, i, off = 0;
	int ret;

	ret = probe__run(&r, &n);
	if (ret) {
		snprintf(err, len, "kernel feature probe could not run: %s", strerror(-ret));
		return ret;
	}
	if (len)
		err[0] = '\0';
	for (i = 0; i < n; i++) {
		if (!r[i].required || r[i].ok)
			continue;
		ret = -ENOTSUP;
		if (off < len)
			off += snprintf(err + off, len - off, "%s%s missing (%s; needs %s)",
					off ? "; " : "", r[i].name, r[i].detail, r[i].needs);
	}
	free(r);
	return ret;
}

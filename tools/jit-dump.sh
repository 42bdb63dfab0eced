#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Disassembles the x86-64 JIT image of a loaded BPF program and marks its
# tail-call sites, to show that sluice's stage-to-stage tail calls are direct
# (a 5-byte poke site the kernel patches into "jmp <stage>") and not the
# indirect retpoline path.
#
#   tools/jit-dump.sh PROG_ID
#   tools/jit-dump.sh pinned /sys/fs/bpf/sluice/veth0/gen1/stage0
#   tools/jit-dump.sh -r FILE ID|pinned PATH    also keep the raw image in FILE
#
# Debian's bpftool is built without libbfd, so "bpftool prog dump jited"
# cannot print (or even save) the image. The image is read here with
# BPF_OBJ_GET_INFO_BY_FD (jited_prog_insns), as lib/jit.c does, and handed to
# objdump. Needs root, python3 and binutils.
set -euo pipefail

usage() {
	sed -n 's/^#   //p' "$0" >&2
	exit 2
}

raw=
if [ "${1:-}" = -r ]; then
	raw=${2:?}
	shift 2
fi
case "${1:-}" in
pinned) [ $# -eq 2 ] || usage; what=pinned; arg=$2 ;;
''|*[!0-9]*) usage ;;
*) [ $# -eq 1 ] || usage; what=id; arg=$1 ;;
esac
command -v objdump >/dev/null || { echo "jit-dump: objdump (binutils) is missing" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Writes image.bin and funcs.txt ("offset length" per function, main first).
python3 - "$what" "$arg" "$tmp" <<'PY'
import ctypes, os, struct, sys

what, arg, out = sys.argv[1:4]
libc = ctypes.CDLL(None, use_errno=True)
SYS_bpf = 321                       # x86-64
BPF_OBJ_GET, BPF_PROG_GET_FD_BY_ID, BPF_OBJ_GET_INFO_BY_FD = 7, 13, 15
INFO_SIZE = 232                     # struct bpf_prog_info as of Linux 6.x

CMD_NAMES = {BPF_OBJ_GET: "BPF_OBJ_GET " + arg, BPF_PROG_GET_FD_BY_ID: "program id " + arg,
             BPF_OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD"}

def bpf(cmd, attr):
    buf = ctypes.create_string_buffer(attr, 128)
    ret = libc.syscall(SYS_bpf, cmd, buf, len(attr))
    if ret < 0:
        e = ctypes.get_errno()
        sys.exit("jit-dump: %s: %s" % (CMD_NAMES[cmd], os.strerror(e)))
    return ret

def info(fd, fill=None):
    b = ctypes.create_string_buffer(INFO_SIZE)
    for off, fmt, val in fill or []:
        struct.pack_into(fmt, b, off, val)
    bpf(BPF_OBJ_GET_INFO_BY_FD, struct.pack("IIQ", fd, INFO_SIZE, ctypes.addressof(b)))
    return b

if what == "id":
    fd = bpf(BPF_PROG_GET_FD_BY_ID, struct.pack("III", int(arg), 0, 0))
else:
    path = ctypes.create_string_buffer(arg.encode())
    fd = bpf(BPF_OBJ_GET, struct.pack("QII", ctypes.addressof(path), 0, 0))

b = info(fd)
jlen, = struct.unpack_from("I", b, 16)
nfuncs, = struct.unpack_from("I", b, 108)
name = struct.unpack_from("16s", b, 64)[0].split(b"\0")[0].decode()
if not jlen:
    sys.exit("jit-dump: program %s has no JIT image (JIT off, or the kernel hides it)" % arg)
img = ctypes.create_string_buffer(jlen)
lens = (ctypes.c_uint32 * max(nfuncs, 1))()
b = info(fd, [(16, "I", jlen), (24, "Q", ctypes.addressof(img)),
              (108, "I", nfuncs), (120, "Q", ctypes.addressof(lens))])
with open(os.path.join(out, "image.bin"), "wb") as f:
    f.write(img.raw[:jlen])
with open(os.path.join(out, "funcs.txt"), "w") as f:
    f.write("%s %d\n" % (name, jlen))
    off = 0
    for i in range(nfuncs):
        f.write("%d %d\n" % (off, lens[i]))
        off += lens[i]
PY

[ -n "$raw" ] && cp "$tmp/image.bin" "$raw"
read -r name len < "$tmp/funcs.txt"
echo "# $what $arg: program $name, $len bytes of x86-64"
tail -n +2 "$tmp/funcs.txt" | awk '{ printf "# function %d at 0x%x, %d bytes\n", NR - 1, $1, $2 }'

# Shapes from arch/x86/net/bpf_jit_comp.c (see lib/jit.c): the tail-call
# counter check "cmp $0x21" + jae, then either the 5-byte bypass of a direct
# site or "mov ptrs(%rsi,%rdx,8),%rcx" of the indirect one. The poke target
# sits right before the jae's label: a nop while the slot is empty, a jmp
# out of the image once the kernel patched it.
objdump -D -b binary -mi386:x86-64 "$tmp/image.bin" | awk '
	BEGIN { n = 0 }
	/file format binary|^Disassembly of section|<\.data>:|^$/ { next }
	{ line[n] = $0; addr[n] = ""; if ($0 ~ /^ *[0-9a-f]+:/) { addr[n] = $1; sub(":", "", addr[n]) }; n++ }
	function mark(i, text) { line[i] = line[i] "   <- " text }
	END {
		for (i = 0; i + 2 < n; i++) {
			if (line[i] !~ /cmpq? +\$0x21,(\(%rax\)|%eax)/ || line[i + 1] !~ /\tjae /)
				continue
			split(line[i + 1], f, " ")
			label = f[length(f)]
			if (line[i + 2] ~ /nopl +0x0\(%rax,%rax,1\)|\tjmp /) {
				direct++
				mark(i + 2, line[i + 2] ~ /nopl/ ? "direct tail call: bypass, a nop (slot filled)" \
								 : "direct tail call: bypass, jmp out (slot empty)")
				# The poke target is the 5 bytes just before the label.
				for (j = i + 3; j < n; j++) {
					if ("0x" addr[j] != label)
						continue
					if (line[j - 1] ~ /\tjmp /) {
						patched++
						mark(j - 1, "direct tail call: patched jmp to the stage")
					} else {
						mark(j - 1, "direct tail call: poke site, a nop (slot empty)")
					}
					break
				}
				continue
			}
			for (j = i + 2; j < n && j < i + 8; j++) {
				if (line[j] ~ /\(%rsi,%rdx,8\),%rcx/) {
					indirect++
					mark(j, "indirect tail call: loads array->ptrs[index]")
					break
				}
			}
		}
		for (i = 0; i < n; i++)
			print line[i]
		printf "# tail calls: %d direct (%d patched), %d indirect\n", direct, patched, indirect
	}'

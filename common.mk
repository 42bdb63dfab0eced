# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# Shared rules, included by every folder's Makefile after it sets SUBDIR.
# Everything built goes under $(O)/$(SUBDIR), so O=/elsewhere keeps the tree clean.

.DEFAULT_GOAL := all

TOPDIR := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
O ?= $(TOPDIR)/build
override O := $(abspath $(O))
OUT := $(O)/$(SUBDIR)

# The top Makefile exports these even when unset: empty means the default.
PREFIX := $(or $(PREFIX),/usr/local)
DESTDIR ?=
BINDIR := $(PREFIX)/sbin
LIBDIR := $(PREFIX)/lib/sluice
STAGEDIR := $(LIBDIR)/stages
SYSCONFDIR := $(or $(SYSCONFDIR),/etc/sluice)
MANDIR := $(PREFIX)/share/man
# Debian's systemd reads /lib/systemd/system; elsewhere the unit goes under PREFIX.
UNITDIR := $(or $(UNITDIR),$(PREFIX)/lib/systemd/system)
INCLUDEDIR := $(PREFIX)/include
DOCDIR := $(PREFIX)/share/doc/sluice

SLUICE_VERSION ?= 0.1.0

CC ?= gcc
CLANG ?= clang
BPFTOOL ?= bpftool
AR ?= ar
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null)

CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation
CPPFLAGS += -I$(TOPDIR)/include -I$(TOPDIR)/lib -I$(O)/bpf -D_GNU_SOURCE \
	-DSLUICE_STAGEDIR='"$(STAGEDIR)"' -DSLUICE_BUILD_STAGEDIR='"$(O)/bpf"'
DEPFLAGS = -MMD -MP
LIBSLUICE := $(O)/lib/libsluice.a
# make SANITIZE=1: AddressSanitizer and UndefinedBehaviorSanitizer in the
# daemon, the CLI, the unit tests and the library they share; any finding
# ends the program. The traffic tools and benchmarks stay as they are (their
# tests measure rates, and DPDK leaks at exit) and link a plain copy of the
# library, libsluice-plain.a.
SAN_CFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
CFLAGS_PLAIN := $(CFLAGS)
ifeq ($(SANITIZE),1)
ifneq ($(filter $(SUBDIR),lib daemon cli tests/unit),)
CFLAGS += $(SAN_CFLAGS)
else
LIBSLUICE := $(O)/lib/libsluice-plain.a
endif
endif
LDLIBS_SLUICE := $(LIBSLUICE) -lxdp -lbpf -lelf -lz -ljson-c -lnettle
# The daemon's own libraries (daemon/, and what links daemon/libsluiced.a).
LIBSLUICED := $(O)/daemon/libsluiced.a
LDLIBS_SLUICED := -lyaml -lpcap -lmicrohttpd -lpthread -lcap
ifneq ($(shell pkg-config --exists libsystemd && echo y),)
CPPFLAGS += -DHAVE_SYSTEMD
LDLIBS_SLUICED += -lsystemd
endif

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wno-unused-function \
	-I$(TOPDIR)/include -I/usr/include/$(MULTIARCH)

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-9s %s\n' "$(1)" "$(patsubst $(O)/%,%,$(2))";
MAKEFLAGS += --no-print-directory
endif

$(OUT):
	$(Q)mkdir -p $@

$(OUT)/%.bpf.o: %.bpf.c | $(OUT)
	$(call msg,CLANG-BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(DEPFLAGS) -c $< -o $@

$(OUT)/%.skel.h: $(OUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@.tmp && mv $@.tmp $@

$(OUT)/%.o: %.c | $(OUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(DEPFLAGS) -c $< -o $@

-include $(wildcard $(OUT)/*.d)

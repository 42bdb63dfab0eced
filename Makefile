# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
#   make            build everything under build/ (O=DIR elsewhere, V=1 verbose)
#   make test       install missing packages, build, run every test (root)
#   make demo       install missing packages, build, run the live demo (root)
#   make install    PREFIX=/usr/local DESTDIR=
#   make bench      benchmarks that print the figures in docs/BENCHMARKS.md and draw docs/bench/*.png

O ?= $(CURDIR)/build
override O := $(abspath $(O))
export O V PREFIX DESTDIR
ifneq ($(V),1)
MAKEFLAGS += --no-print-directory --silent
endif

# Order matters: skeletons before the library, the library before its users.
SUBDIRS := bpf lib daemon cli tools/gen tools/xsk tests/unit bench examples

all:
	@set -e; for d in $(SUBDIRS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d all; fi; \
	done

install: all
	@set -e; for d in $(SUBDIRS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d install; fi; \
	done

deps:
	@bash scripts/deps.sh

test:
	@bash scripts/deps.sh
	@$(MAKE) all
	@O=$(O) tests/run.sh $(T)

demo:
	@bash scripts/deps.sh
	@$(MAKE) all
	@O=$(O) bash tools/demo.sh

bench:
	@$(MAKE) all
	@O=$(O) bash bench/run.sh --summary

clean:
	rm -rf $(O)

.PHONY: all install deps test demo bench clean

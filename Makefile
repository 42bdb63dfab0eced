# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
#   make                build everything under build/ (O=DIR elsewhere, V=1 verbose)
#   make test           install missing packages, build, run every test (root)
#   make demo           install missing packages, build, run the live demo (root)
#   make product        the daemon, the CLI and the built-in stages only: needs
#                       neither cmocka nor DPDK (what a package builds)
#   make install        the product: PREFIX=/usr/local DESTDIR= (UNITDIR, SYSCONFDIR)
#   make install-tools  sluice-gen and sluice-xsk (DPDK, libxdp)
#   make deb            a Debian package in $(O)/deb/ (debhelper)
#   make bench          benchmarks that print the figures in docs/BENCHMARKS.md and draw
#                       docs/bench/*.png
#   make test-kernels  the tests on other kernels under qemu and on the host's
#                       (KERNELS="6.1 host" for fewer; docs/kernels.md)
#   make fuzz           libFuzzer targets, each run FUZZ_SECONDS (10) from tests/fuzz/corpus
#   SANITIZE=1          build (and test) daemon, CLI and unit tests with ASan + UBSan, in build/san

# A sanitized build lives apart: its objects must not mix with the normal ones.
ifeq ($(SANITIZE),1)
O ?= $(CURDIR)/build/san
endif
O ?= $(CURDIR)/build
override O := $(abspath $(O))
FUZZ_SECONDS ?= 10
# The short run of every fuzz target that `make test` includes.
TEST_FUZZ_SECONDS ?= 3
export O V PREFIX DESTDIR UNITDIR SYSCONFDIR SANITIZE
ifneq ($(V),1)
MAKEFLAGS += --no-print-directory --silent
endif

# Order matters: skeletons before the library, the library before its users.
PRODUCT_DIRS := bpf lib daemon cli
TOOL_DIRS := tools/gen tools/xsk
TEST_DIRS := tests/unit bench examples
SUBDIRS := $(PRODUCT_DIRS) $(TOOL_DIRS) $(TEST_DIRS)

all:
	@set -e; for d in $(SUBDIRS); do \
		if [ -f $$d/Makefile ]; then $(MAKE) -C $$d all; fi; \
	done

product:
	@set -e; for d in $(PRODUCT_DIRS); do $(MAKE) -C $$d all; done

tools: product
	@set -e; for d in $(TOOL_DIRS); do $(MAKE) -C $$d all; done

# The product only: no test, benchmark or traffic tool, so a packager needs
# neither cmocka nor DPDK. Headers and examples are for writing stages.
install: product
	@set -e; for d in $(PRODUCT_DIRS); do $(MAKE) -C $$d install; done
	@$(MAKE) -f install.mk install

install-tools: tools
	@set -e; for d in $(TOOL_DIRS); do $(MAKE) -C $$d install; done

deps:
	@bash scripts/deps.sh

test:
	@bash scripts/deps.sh
	@$(MAKE) all
	@$(MAKE) -C tests/fuzz all
	@O=$(O) FUZZ_SECONDS=$(TEST_FUZZ_SECONDS) tests/run.sh $(T)

fuzz:
	@$(MAKE) all
	@$(MAKE) -C tests/fuzz all
	@O=$(O) bash tests/fuzz/run.sh $(FUZZ_SECONDS)

demo:
	@bash scripts/deps.sh
	@$(MAKE) all
	@O=$(O) bash tools/demo.sh

test-kernels:
	@bash scripts/deps.sh
	@$(MAKE) all
	@O=$(O) tests/kernels/matrix.sh $(KERNELS)

bench:
	@$(MAKE) all
	@O=$(O) bash bench/run.sh --summary

deb:
	@O=$(O) bash scripts/deb.sh

clean:
	rm -rf $(O)

.PHONY: all product tools install install-tools deps test test-kernels fuzz demo bench deb clean

# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# What `make install` puts beside the programs: the headers a user stage is
# written against, the examples and the operator's documentation.
SUBDIR := install
include common.mk

# <sluice/stage.bpf.h> and what it includes (abi.h, dispatch.bpf.h).
HEADERS := include/sluice/stage.bpf.h include/sluice/dispatch.bpf.h include/sluice/abi.h
DOCS := README.md docs/config.md docs/operations.md docs/deploy.md docs/stages.md \
	docs/control.md docs/swap.md docs/probe.md docs/metrics.md

install:
	install -d $(DESTDIR)$(INCLUDEDIR)/sluice $(DESTDIR)$(DOCDIR)/examples/config
	install -m 0644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/sluice/
	install -m 0644 $(wildcard $(DOCS)) $(DESTDIR)$(DOCDIR)/
	install -m 0644 examples/*.bpf.c examples/*.h examples/README.md $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 examples/Makefile.installed $(DESTDIR)$(DOCDIR)/examples/Makefile
	install -m 0644 config/*.yaml $(DESTDIR)$(DOCDIR)/examples/config/
	install -d $(DESTDIR)$(DOCDIR)/examples/prometheus
	install -m 0644 config/prometheus/*.yml $(DESTDIR)$(DOCDIR)/examples/prometheus/

.PHONY: install

# Makefile - top-level entry points of dm-dedup (test-infrastructure side).
#
#   make                 build dm-dedup.ko (W=1, warnings are errors)
#   make check [T=re]    module + tools + initramfs, then the whole test suite
#                        in one QEMU VM, then host-side tests; ends with
#                        "N passed, N failed"
#   make check-crash     the crash-consistency campaign, not in make check:
#                        tests/44-crash-points.sh at CRASH_POINTS points
#                        (default 200) and tests/45-ext4-powercut.sh with
#                        CRASH_EXT4_ROUNDS power cuts (default 20), in one
#                        VM; CRASH_SEED=<n> repeats a run's workload
#   make check-harness   self-test of the harness (a deliberate WARN_ON, a
#                        guest crash and a hung test must all be caught)
#   make checkpatch      checkpatch.pl --no-tree -f on all our C sources
#   make tools           userspace tools (tools/Makefile)
#   make test-tools      test-only tools of the VM tests (tests/tools:
#                        log-replay, blkpat), copied into the initramfs
#   make check-debug     the debug set of the VM suite on the lockdep/KASAN/
#                        kmemleak kernel (scripts/check-debug.sh);
#                        check-debug-full: every test; check-debug-seeded:
#                        its detectors must catch deliberate bugs
#   make debug-kernel    build that kernel only (once per machine, cached in
#                        /var/cache/dm-dedup; scripts/debug-kernel.sh)
#   make vm-shell        boot the test VM with a shell on this terminal
#   make bench-stall     write-stall benchmark in one VM: dm-linear, dm-thin,
#                        dedup blocking_commit, dedup (bench/README.md;
#                        BENCH_SECONDS=<n> per row, default 60)
#   make bench-profile   perf profile of dedup by stage: unique, duplicate
#                        and overwrite writes (BENCH_SECONDS default 20)
#   make bench-throughput  IOPS, p99, CPU per write of dm-linear, dm-thin
#                        and dedup per hash and workload, with tcrypt hash
#                        ceilings (BENCH_SECONDS default 10, BENCH_ROWS=re)
#   make bench-sustained commit duration, fdatasync latency, metadata
#                        written and RAM over long unique writes; rows
#                        dm-linear, dm-thin, dedup-blocking, dedup,
#                        dedup-slowread (metadata reads delayed
#                        BENCH_META_READ_DELAY_MS, default 5), dedup-prefilled
#                        (PREFILL_IMAGE=<img>); BENCH_ROWS=re, also
#                        dedup-mix[-slowread] (BENCH_SECONDS default 360)
#   make install         install to /lib/modules/$(KVER)/updates + depmod
#   make dkms-install    register with DKMS as dm-dedup/$(VERSION), build and
#                        install for every installed 6.1 kernel with headers
#                        (rebuilt on kernel updates); dkms-uninstall undoes it
#   make deb             Debian packages dm-dedup-dkms and dm-dedup-tools in
#                        build/deb (dpkg-buildpackage, dh-dkms)
#   make check-packages  build the packages, install them, boot the module
#                        DKMS built in the VM and run a smoke test
#   make check-system    dm-dedup as a real block stack: a Debian bookworm
#                        guest (scripts/system-image.sh, cached in
#                        /var/cache/dm-dedup) under systemd with the tools
#                        package, deduptab and fstab; 3 clean reboots and 2
#                        hard resets, each checked (scripts/check-system.sh)
#   make demo            a dedup device in the VM: savings, then re-create
#   make fixtures        regenerate the module-written metadata fixtures
#   make bench-activation  activation time and reads, empty vs a pre-filled
#                        index after a clean remove (PREFILL_ENTRIES)
#   make bench-discard   a 768 MiB discard beside random writes and an
#                        fdatasync probe: dm-linear, dm-thin, dedup (~15 min)
#   make bench-datadisk  writes bound by a throttled data disk: dm-linear,
#                        dm-thin, dedup at 0/50/90 % duplicates (~10 min)
#   make bench-quiet     a 4 KiB write + fdatasync every 100 ms on an idle
#                        device: fdatasync latency, metadata per commit
#   make bench-ratio     dedup ratio on real data (two Debian VM disk images
#                        and linux-source-6.1, built once in build/ratio):
#                        ext4 on dm-dedup vs btrfs + duperemove; not in CI
#   make check-capacity  a > 15.875 GiB generated metadata image in the VM
#                        (scripts/check-capacity.sh; outside make check)
#   make clean / distclean
#
# Variables:
#   KVER=<release>       build against /usr/src/linux-headers-<release>
#                        (default: newest installed *-amd64 headers with
#                        their image; scripts/kver.sh)
#   KDIR=<tree>          build against any built kernel tree instead
#   GUEST_KERNEL=<img>   kernel the VM boots (default /boot/vmlinuz-$(KVER))
#   GUEST_MODROOT=<dir>  root holding lib/modules/$(KVER) for the guest
#                        (default /, i.e. the installed Debian modules)
#   DEDUP_KO=<file>      the dm-dedup.ko the VM loads (default ./dm-dedup.ko;
#                        "installed": the one depmod finds, e.g. DKMS's)
#   VM_ACCEL=tcg|kvm     QEMU accelerator (default tcg)
#   VM_TIMEOUT_SCALE=<n> multiply every timeout (slow debug kernels)
#   VM_LOAD=full|light   size of the tests' workloads (default full;
#                        check-debug uses light, DEBUG_LOAD=full overrides)
#   T=<regex>            select tests by file name (extended regex)

SHELL := /bin/bash

# The one release number of the module (MODULE_VERSION, via Kbuild) and the
# Debian packages.
VERSION := $(shell cat VERSION)

ifdef KDIR
KVER ?= $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null)
else
# Recursive on purpose: evaluated only after scripts/deps.sh has run.
KVER ?= $(shell scripts/kver.sh)
KDIR = /usr/src/linux-headers-$(KVER)
endif

GUEST_KERNEL ?= /boot/vmlinuz-$(KVER)
GUEST_MODROOT ?= /
VM_ACCEL ?= tcg
VM_TIMEOUT_SCALE ?= 1
VM_LOAD ?= full
T ?=
export KVER KDIR GUEST_KERNEL GUEST_MODROOT VM_ACCEL VM_TIMEOUT_SCALE VM_LOAD T

# Headers packages carry no vmlinux, so BTF for modules cannot be made:
# turn it off instead of printing "Skipping BTF generation" each build.
KBUILD_ARGS = -C $(KDIR) W=1 $(if $(wildcard $(KDIR)/vmlinux),,CONFIG_DEBUG_INFO_BTF_MODULES=)

# Every C file checkpatch must pass: the module, its headers, the tools and
# the test-only modules.
CHECKPATCH_FILES = $(sort $(filter-out %.mod.c,$(wildcard dm-dedup-*.c \
	include/*.h tools/*.c tools/*.h tools/pdata/*.c tools/pdata/*.h \
	tools/dedup/*.c tools/dedup/*.h tests/host/*.c tests/modules/*.c \
	tests/modules/debug/*.c tests/tools/*.c tests/host/unit/*.c \
	tests/host/unit/*.h)))

.PHONY: all deps module test-modules tools test-tools checkpatch initramfs check \
	check-crash \
	check-harness check-debug check-debug-full check-debug-seeded debug-kernel vm-shell \
	demo install clean distclean help dkms-install dkms-uninstall deb \
	check-packages

all: module

help:
	@sed -n '2,/^$$/s/^# \{0,1\}//p' Makefile

deps:
	@scripts/deps.sh

module: deps
	@test -d "$(KDIR)" || { echo "no kernel tree at KDIR=$(KDIR)" >&2; exit 1; }
	+$(MAKE) $(KBUILD_ARGS) M=$(CURDIR) \
		DEDUP_KSRC=$$(scripts/ksrc.sh $(KVER)) modules

# The harness self-test module (tests/modules); never installed.
test-modules: deps
	+$(MAKE) $(KBUILD_ARGS) M=$(CURDIR)/tests/modules modules

tools:
	@if [ -f tools/Makefile ]; then $(MAKE) -C tools; \
	else echo "tools: no tools/Makefile yet, nothing to build"; fi

test-tools: tools
	$(MAKE) -C tests/tools
	$(MAKE) -C tools helpers

checkpatch: deps
	@cp=$$(scripts/ksrc.sh $(KVER))/scripts/checkpatch.pl; rc=0; \
	for f in $(CHECKPATCH_FILES); do \
		out=$$($$cp --no-tree --quiet --show-types -f $$f 2>&1) || rc=1; \
		[ -z "$$out" ] || echo "$$out"; \
	done; \
	if [ $$rc = 0 ]; then echo "checkpatch: clean ($(words $(CHECKPATCH_FILES)) files)"; \
	else echo "checkpatch: FAILED" >&2; fi; exit $$rc

initramfs: module test-modules tools test-tools
	@scripts/mkinitramfs.sh

check: initramfs
	@scripts/run-tests.sh

# The long crash campaign: the crash and power-cut tests of make check, with
# more points, cuts and seconds (their counts reach the guest on the kernel
# command line), and timeouts to match.
CRASH_POINTS ?= 200
CRASH_FLUSH_CUTS ?= 40
CRASH_EXT4_ROUNDS ?= 20
CRASH_XFS_ROUNDS ?= 20
CRASH_SQLITE_ROUNDS ?= 20
CRASH_STRESS_SECONDS ?= 120
CRASH_TIMEOUT_SCALE ?= 8
CRASH_SEED ?=
check-crash: initramfs
	@VM_TIMEOUT_SCALE=$(CRASH_TIMEOUT_SCALE) VM_APPEND="CRASH_POINTS=$(CRASH_POINTS) \
		FLUSH_CUTS=$(CRASH_FLUSH_CUTS) EXT4_ROUNDS=$(CRASH_EXT4_ROUNDS) \
		XFS_ROUNDS=$(CRASH_XFS_ROUNDS) SQLITE_ROUNDS=$(CRASH_SQLITE_ROUNDS) \
		STRESS_SECONDS=$(CRASH_STRESS_SECONDS) \
		$(if $(CRASH_SEED),CRASH_SEED=$(CRASH_SEED)) \
		$(VM_APPEND)" scripts/run-tests.sh --guest 42-powercut-flush.sh \
		--guest 44-crash-points.sh --guest 45-ext4-powercut.sh \
		--guest 70-xfs-powercut.sh --guest 71-sqlite-powercut.sh \
		--guest 72-stress-ng.sh --no-host --results build/logs/crash.tap \
		--logs build/logs/crash

check-harness: initramfs
	@tests/harness/selftest.sh

# The debug kernel, module and initramfs live under build/debug.
check-debug: deps
	@scripts/check-debug.sh

check-debug-seeded: deps
	@scripts/check-debug.sh --seeded

check-debug-full: deps
	@DEBUG_ALL=1 scripts/check-debug.sh

debug-kernel: deps
	@scripts/debug-kernel.sh

vm-shell: initramfs
	@scripts/vm-shell.sh

# Each benchmark is one VM run of bench/run-vm.sh NAME (bench/README.md).
BENCHES := stall profile throughput sustained activation discard datadisk quiet ratio
.PHONY: $(addprefix bench-,$(BENCHES))
$(addprefix bench-,$(BENCHES)): bench-%: initramfs
	@bench/run-vm.sh $*

# Issue 14: a metadata image larger than 15.875 GiB (scripts/check-capacity.sh).
.PHONY: check-capacity
check-capacity: initramfs
	@scripts/check-capacity.sh

# Regenerates tests/host/fixtures/module-meta-*.img.xz in the VM (README
# there); only when the on-disk format changes.
.PHONY: fixtures
fixtures: initramfs
	@scripts/run-tests.sh --guest fixtures/make-fixtures.sh --no-host \
		--results build/logs/fixtures.tap --logs build/logs/fixtures
	@for f in build/vm-share/module-meta-*.img; do \
		xz -9 -c "$$f" > tests/host/fixtures/$${f##*/}.xz; done
	@ls -l tests/host/fixtures/*.xz

demo: initramfs
	@rm -f build/vm-share/demo.txt
	@scripts/run-tests.sh --guest demo/demo.sh --no-host \
		--results build/logs/demo.tap --logs build/logs/demo
	@echo; echo "---- what the demo printed in the VM ----"
	@cat build/vm-share/demo.txt

install: module
	install -D -m 0644 dm-dedup.ko $(DESTDIR)/lib/modules/$(KVER)/updates/dm-dedup.ko
	depmod -a $(if $(DESTDIR),-b $(DESTDIR)) $(KVER)

dkms-install: deps
	@scripts/dkms-install.sh

dkms-uninstall:
	@scripts/dkms-install.sh --remove

deb: deps
	@scripts/mkdeb.sh

check-packages: deps
	@scripts/check-packages.sh

# Issue 26: the guest boots the tools package of make deb and this
# dm-dedup.ko; tools/dedup_check checks its disks from the host.
.PHONY: check-system
check-system: module tools deb
	@scripts/check-system.sh

clean:
	-@[ ! -d "$(KDIR)" ] || $(MAKE) $(KBUILD_ARGS) M=$(CURDIR) clean
	-@[ ! -d "$(KDIR)" ] || $(MAKE) $(KBUILD_ARGS) M=$(CURDIR)/tests/modules clean
	-@[ ! -f tools/Makefile ] || $(MAKE) -C tools clean
	-@$(MAKE) -C tests/tools clean
	rm -rf build/initramfs build/initramfs*.cpio* build/vm build/vm-share build/logs \
		build/deb build/pkgtest

# Also drops the extracted kernel files (re-extracted in ~8 s).
distclean: clean
	rm -rf build

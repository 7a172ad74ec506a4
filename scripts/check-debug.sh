#!/bin/bash
# check-debug.sh - `make check-debug` and `make check-debug-seeded`: the VM
# test suite on the lockdep + KASAN + kmemleak kernel of
# scripts/debug-kernel.sh (built once per machine, cached outside git).
#
#   check-debug.sh [run-tests.sh args]   the guest suite (tests/*.sh, T=
#                                         filters as for make check); last
#                                         line "N passed, N failed"
#   check-debug.sh --seeded               tests/debug/seed-*.sh: a clean
#                                         control and one deliberate bug per
#                                         detector (tests/modules/debug);
#                                         passes only if each bug is reported
#                                         "not ok" with its splat
#
# Everything it builds goes to build/debug/ (module, test modules, initramfs,
# VM disks, logs), so it can run beside `make check` in the same tree: the
# module is built from a copy of the sources against the debug kernel tree.
# The harness (run-tests.sh, guest-run.sh) fails a test on BUG:, WARNING:,
# KASAN, lockdep and kmemleak reports; on this kernel its after-test
# kmemleak scan is live.
#
# Environment: DEBUG_ALL=1 (every test, not the debug set below),
# DEBUG_TIMEOUT_SCALE (timeouts x this, default 4), DEBUG_LOAD
# (the tests' workloads: light, the default, or full; see by_load in
# tests/lib.sh), VM_APPEND (added to ours), DM_DEDUP_CACHE (see
# debug-kernel.sh), T.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
mode=suite
if [ "${1:-}" = --seeded ]; then
	mode=seeded
	shift
fi

"$top/scripts/deps.sh"
# Builds the kernel the first time (tens of minutes), then only prints.
env=$("$top/scripts/debug-kernel.sh")
eval "$env"

out=$top/build/debug
mkdir -p "$out"
export KDIR KVER=$KERNEL_RELEASE
export GUEST_KERNEL=$KERNEL_IMAGE GUEST_MODROOT=$MODULES_ROOT
# KASAN + lockdep + kmemleak under TCG: boot ~27 s instead of ~4 s, and
# I/O-heavy tests several times slower. (Not VM_TIMEOUT_SCALE: the Makefile
# exports that one as 1 for make check.)
export VM_TIMEOUT_SCALE=${DEBUG_TIMEOUT_SCALE:-4}
# The detectors look at every lock taken, every access and every object,
# whatever the volume: the same tests with less data and fewer rounds
# (light) find the same bugs, in a time CI can afford.
export VM_LOAD=${DEBUG_LOAD:-light}
# Report every KASAN bug, not only the first of the boot. pci=noacpi: on
# QEMU's pc machine the AML of _PRT is a 128-step loop, which this kernel's
# ACPI interpreter (lockdep + KASAN, under TCG) cannot finish within ACPICA's
# 30 s loop timeout, once per PCI device: 90 s of boot for nothing. The
# virtio devices use MSI-X anyway.
export VM_APPEND="kasan_multi_shot pci=noacpi ${VM_APPEND:-}"
export VM_DIR=$out/vm VM_SHARE=$out/vm-share
export INITRD_BASE=$out/initramfs-$KVER.cpio

# build_copy NAME SRCDIR FILES...: copy FILES (relative to SRCDIR; mtimes
# kept, so rebuilds stay incremental) to $out/NAME, build there against
# the debug tree, and print the directory.
build_copy() {
	local name=$1 src=$2 f
	shift 2
	mkdir -p "$out/$name"
	for f in "$@"; do
		[ -e "$src/$f" ] || continue
		cp -pR "$src/$f" "$out/$name/"
	done
	nice -n 10 make -s -C "$KDIR" M="$out/$name" W=1 \
		DEDUP_KSRC="$ksrc" modules >&2
	echo "$out/$name"
}

ksrc=$("$top/scripts/ksrc.sh")
echo "check-debug: kernel $KVER ($DEBUG_KERNEL_DIR)" >&2
(cd "$top" && find . -maxdepth 1 -name 'dm-dedup*.[ch]' -printf '%P\n') \
	>"$out/mod.files"
mapfile -t modfiles <"$out/mod.files"
moddir=$(build_copy mod "$top" Kbuild include "${modfiles[@]}")
testmod=$(build_copy testmod "$top/tests/modules" Kbuild dedup_warn_test.c)
seedmod=$(build_copy seedmod "$top/tests/modules/debug" Kbuild \
	dedup_debug_seed.c)

if [ -f "$top/tools/Makefile" ]; then
	make -s -C "$top/tools" >&2
fi
# The test-only tools (log-replay, blkpat) of the crash tests, and the
# tests/host helpers the guest tests use too (ddcorrupt).
make -s -C "$top/tests/tools" >&2
make -s -C "$top/tools" helpers >&2
DEDUP_KO=$moddir/dm-dedup.ko TEST_KO_DIRS="$testmod $seedmod" \
	OUT="$INITRD_BASE" "$top/scripts/mkinitramfs.sh" >&2

# The debug set: the tests that drive the bio path, the commit pipeline's
# locks and hand-offs, buffer and pool lifetimes, growth and the failure
# paths, which is what the detectors are for. Under KASAN + lockdep + TCG a
# test takes 1-6 min, so the whole suite (95 min) does not fit CI's budget
# beside make check; DEBUG_ALL=1 (make check-debug-full) runs every test,
# T=<regex> any selection. The other tests run on Debian's kernel in make
# check.
DEBUG_SET='^(01|03|10|20|22|24|25|28|35|39|40|41|44|46|47|48|49|50|51|52|53|54|55|56|58|60|62|80|81|82|84)-'
if [ $mode = suite ] && [ -z "${T:-}" ] && [ "${DEBUG_ALL:-0}" != 1 ]; then
	export T=$DEBUG_SET
fi

logs=$out/logs
if [ $mode = suite ]; then
	rm -rf "$logs"
	exec "$top/scripts/run-tests.sh" --no-host --results "$logs/results.tap" \
		--logs "$logs" "$@"
fi

# ---- seeded bugs: the detectors must fire -----------------------------
logs=$out/logs-seeded
rm -rf "$logs"
mkdir -p "$logs"
rc=0
env -u T "$top/scripts/run-tests.sh" --guest 'debug/seed-*.sh' --no-host \
	--results "$logs/results.tap" --logs "$logs" >"$logs/run.txt" 2>&1 || rc=$?
cat "$logs/run.txt"
echo "--- checking that each seeded bug was caught"

run=$logs/run.txt
passed=0 failed=0
check() {
	if eval "$2"; then
		echo "ok: $1"
		passed=$((passed + 1))
	else
		echo "MISSED: $1"
		failed=$((failed + 1))
	fi
}
verdict() { awk -F'\t' -v n="debug/$1" '$3 == n { print $2 }' "$logs/results.tap"; }
# block NAME: the runner's output for one test, from its ok/not ok line to
# the next one.
block() {
	awk -v n="debug/$1" '/^(not )?ok [0-9]+ - / { on = ($NF == n) } on' "$run"
}

check "runner exits non-zero" '[ $rc != 0 ]'
check "control (module loaded, no bug) passes" '[ "$(verdict seed-clean)" = ok ]'
check "lockdep: inverted mutex order reported, splat printed" \
	'[ "$(verdict seed-lockdep)" = "not ok" ] &&
	 block seed-lockdep | grep -q "^#   >> .*WARNING: possible circular locking dependency detected" &&
	 block seed-lockdep | grep -q "seed_lock_a"'
check "KASAN: use-after-free reported, report printed" \
	'[ "$(verdict seed-uaf)" = "not ok" ] &&
	 block seed-uaf | grep -Eq "^#   >> .*BUG: KASAN: [a-z-]*use-after-free in .*\[dedup_debug_seed\]"'
check "kmemleak: leaked buffer reported in its own test" \
	'[ "$(verdict seed-leak)" = "not ok" ] &&
	 block seed-leak | grep -A4 "unreferenced object 0x[0-9a-f]* (size 16384)" |
	 grep -q "a5 a5 a5 a5 a5 a5 a5 a5"'
check "closing line" '[ "$(grep -E "^[0-9]+ passed, [0-9]+ failed$" "$run" | tail -n1)" = "1 passed, 3 failed" ]'
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

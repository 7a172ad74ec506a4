#!/bin/bash
# Unit tests of the data block allocator (dm-dedup-alloc.c), the RAM
# fingerprint index (dm-dedup-index.c) and the commit's radix sort
# (dm-dedup-sort.c): the files are built unchanged with
# the host's gcc (ASan/UBSan) against the kernel shim and fakes of
# tests/host/unit/, and each test of tests/host/unit/test-*.c runs in a
# process of its own.  One line per test, "ok - NAME" or "FAIL - NAME";
# exits 1 if any failed.
#
# The module sources come from UNIT_SRC (or the first argument), default
# this checkout; e.g. UNIT_SRC=/tmp/unit-before tests/host/unit.sh runs the
# tests against another worktree.  Sources from before
# dedup_alloc_dying()/dedup_index_bad_shards() get stand-ins (fakes.c).
# Everything is built in a scratch directory.
# timeout: 300
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
SRC=${UNIT_SRC:-${1:-$TOP}}
SRC=$(cd "$SRC" && pwd)
UNIT=$TOP/tests/host/unit
W=$(mktemp -d "${TMPDIR:-/tmp}/dedup-unit.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export ASAN_OPTIONS=exitcode=99:detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:exitcode=98:print_stacktrace=1

for f in dm-dedup-alloc.c dm-dedup-index.c; do
	[ -f "$SRC/$f" ] || fail "no $f in $SRC"
done
defs=()
[ ! -f "$SRC/include/dm-dedup-meta-internal.h" ] || defs+=(-DUNIT_OLD_TREE)
grep -q '^void dedup_alloc_dying(' "$SRC/dm-dedup-alloc.c" ||
	defs+=(-DUNIT_COMPAT_NO_DYING)
grep -q '^u64 dedup_index_bad_shards(' "$SRC/dm-dedup-index.c" ||
	defs+=(-DUNIT_COMPAT_NO_BAD_SHARDS)
# The commit's radix sort; older trees sorted with lib/sort (a stand-in).
sort_src=()
if [ -f "$SRC/dm-dedup-sort.c" ]; then
	sort_src=("$SRC/dm-dedup-sort.c")
else
	defs+=(-DUNIT_COMPAT_NO_SORT)
fi
echo "unit: module sources from $SRC${defs[*]:+ (${defs[*]})}"

# The kernel's own -fno-strict-aliasing and -fno-strict-overflow, so that
# the module code means what it means there.
cflags=(-std=gnu11 -Wall -Werror -O1 -g -fno-omit-frame-pointer
	-fno-strict-aliasing -fno-strict-overflow
	"-fsanitize=address,undefined" -fno-sanitize-recover=all
	-I "$UNIT/include" -I "$SRC/include" "${defs[@]}")
objs=()
for f in "$SRC/dm-dedup-alloc.c" "$SRC/dm-dedup-index.c" "${sort_src[@]}" "$UNIT"/*.c; do
	o=$W/$(basename "$f" .c).o
	gcc "${cflags[@]}" -c -o "$o" "$f" 2>"$W/build.log" ||
		{ cat "$W/build.log"; fail "cannot build $f"; }
	objs+=("$o")
done
gcc "-fsanitize=address,undefined" -o "$W/unit" "${objs[@]}" 2>"$W/build.log" ||
	{ cat "$W/build.log"; fail "cannot link the unit tests"; }

mapfile -t tests < <("$W/unit" --list)
[ ${#tests[@]} -gt 0 ] || fail "no unit tests listed"
passed=0 failed=0
for t in "${tests[@]}"; do
	rc=0
	"$W/unit" "$t" >"$W/$t.log" 2>&1 || rc=$?
	if [ $rc = 0 ]; then
		echo "ok - $t"
		passed=$((passed + 1))
	else
		echo "FAIL - $t (exit status $rc)"
		sed 's/^/    /' "$W/$t.log"
		failed=$((failed + 1))
	fi
done
echo "unit: $passed passed, $failed failed"
[ $failed = 0 ]

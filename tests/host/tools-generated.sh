#!/bin/bash
# dedup_check/dedup_dump on images made by tests/host/mkimage (every hash
# and several block sizes, deep trees, leaks), each kind of corruption, the
# options, truncated images and random damage under ASan/UBSan and valgrind.
# timeout: 600
. "$(dirname "$0")/common.inc"

cd "$W"

# ---- clean images: every hash, block sizes, data verification ----------
for hb in sha256:4096 blake2b-256:8192 xxhash64:65536 sha256:16384; do
	h=${hb%%:*} bs=${hb##*:}
	"$MKIMAGE" m.img --hash "$h" --block-size "$bs" --lbns 2000 --dup 3 \
		--zero 9 --unindexed 7 --data d.img >/dev/null
	check 0 --data-dev d.img m.img
	expect "m.img: clean: 0 errors, 0 warnings" "$h/$bs"
	expect "data: verified [0-9]+ of [0-9]+ indexed blocks" "$h/$bs"
	check 0 --data-dev d.img --sample 10% m.img
	# one flipped byte of data: a fingerprint mismatch naming the block
	printf '\x5a' | dd of=d.img bs=1 seek=$((5 * bs + 100)) conv=notrunc 2>/dev/null
	check 1 --data-dev d.img m.img
	expect "^error: data block 5 \(index entry 0x[0-9a-f]{16} in block [0-9]+\): $h fingerprint mismatch" "$h"
done

# ---- json dump matches what was generated ------------------------------
"$MKIMAGE" m.img --lbns 3000 --dup 4 --zero 10 --unindexed 5 --fill 10 >/dev/null
sanitized 0 "$DUMP" --format json --mappings m.img
python3 - "$OUT" <<'PY' || fail "json dump content"
import json, sys
d = json.load(open(sys.argv[1]))
c = d["counters"]
assert c["nr_mapped"] == 2700 and c["nr_zero"] == 300, c
assert c["nr_unique"] == 750 and c["nr_indexed"] == 600, c
assert len(d["mappings"]) == 3000
assert sum(1 for m in d["mappings"] if m["pbn"] is None) == 300
rc = {r["pbn"]: r for r in d["refcounts"]}
for m in d["mappings"]:
    assert m["pbn"] is None or m["pbn"] in rc
ix = {e["key"]: e for e in d["index"]}
for r in rc.values():
    if r["index_key"] is not None:
        assert ix[r["index_key"]]["pbn"] == r["pbn"]
assert d["trees"]["lbn"]["depth"] >= 3, d["trees"]
assert abs(d["dedup_ratio"] - 2700 / 750) < 1e-6
assert sum(b["blocks"] for b in d["refcount_histogram"]) == 750
assert d["superblock"]["hash"] == "sha256" and d["superblock"]["fp_size"] == 32
PY
sanitized 0 "$DUMP" m.img
expect "dedup ratio +3\.600"
check 0 m.img		# deep trees (fill 10%) pass too

# ---- leaks are warnings, not errors -------------------------------------
"$MKIMAGE" m.img --lbns 600 --leak 2 --meta-leak 1 >/dev/null
check 0 m.img
expect "^warning: block [0-9]+ \(refcount tree leaf\): PBN [0-9]+ has count 1 but no LBN maps to it \(leaked data block\)"
expect "^warning: block [0-9]+ \(unreferenced metadata\): space map count 1 but nothing references it \(leaked metadata block\)"
expect "clean: 0 errors, 3 warnings"

# the space map's overflow refcount tree (counts above 2)
"$MKIMAGE" m.img --lbns 600 --meta-leak 2 --overflow >/dev/null
check 0 m.img
expect "^warning: block [0-9]+ \(unreferenced metadata\): space map count 4 but nothing references it"
b=$("$CORRUPT" m.img find smref-leaf)
"$CORRUPT" m.img flip "$b" 40
check 1 m.img
expect "^error: block $b \(space map refcount tree leaf\): checksum mismatch"

# ---- one corruption at a time -------------------------------------------
"$MKIMAGE" clean.img --lbns 4000 --dup 3 --zero 7 --unindexed 6 >/dev/null
corruption_suite clean.img
fresh() { cp clean.img c.img; }

# ---- superblock refusals and options ------------------------------------
fresh; "$CORRUPT" c.img sb-set incompat_flags 4
check 2 c.img
expect "unknown incompatible feature flags 0x4: refusing"
check 2 --super-block-only c.img

fresh; "$CORRUPT" c.img sb-set version 2
check 1 --super-block-only c.img
expect "unsupported metadata version 2"

fresh; "$CORRUPT" c.img sb-set magic 0
check 1 c.img
expect "bad magic"

check 0 -q clean.img
[ ! -s "$OUT" ] || fail "--quiet printed something"
fresh; "$CORRUPT" c.img flip 4 0	# csum byte: still silent, still 1
check 1 --quiet c.img
[ ! -s "$OUT" ] || fail "--quiet printed something"
check 0 --super-block-only clean.img
expect "superblock only"
check 2 --sample 5% clean.img
check 2
check 2 nonexistent.img

# needs_check: cleared only when clean
fresh; "$CORRUPT" c.img sb-set flags 1
check 0 --clear-needs-check c.img
expect "needs_check cleared"
check 0 c.img
expect_not "needs_check flag is set"
"$CORRUPT" c.img sb-set flags 1
"$CORRUPT" c.img refcount-inc >/dev/null
check 1 --clear-needs-check c.img
expect "needs_check left as it is"
sanitized 0 "$DUMP" --format json c.img
expect '"needs_check": true'

# ---- truncated and garbage images: errors, never a crash ----------------
size=$(stat -c %s clean.img)
for s in 0 1 4095 4096 8191 12288 65536 $((size / 3)) $((size - 4096)); do
	cp clean.img c.img
	truncate -s "$s" c.img
	check 1 c.img
	sanitized any "$DUMP" --format json --mappings c.img
done
head -c 1048576 /dev/urandom > c.img
check 1 c.img
expect "bad magic"
truncate -s 1M c.img
: > c.img

# ---- random damage with checksums fixed: deeper checks must hold -------
"$MKIMAGE" clean.img --lbns 3000 --dup 3 --zero 5 --unindexed 4 --fill 50 --data d.img >/dev/null
for seed in $(seq 1 150); do
	cp clean.img c.img
	"$CORRUPT" c.img fuzz "$seed" $((1 + seed % 4)) >/dev/null
	rc=0
	"$CHECK" --data-dev d.img c.img >"$OUT" 2>&1 || rc=$?
	case $rc in 0 | 1) ;; *) cat "$OUT"; fail "fuzz seed $seed: exit status $rc" ;; esac
	rc=0
	"$DUMP" --format json --mappings c.img >"$OUT" 2>"$OUT.err" || rc=$?
	case $rc in
	0 | 1) python3 -m json.tool "$OUT" >/dev/null || fail "fuzz seed $seed: bad json" ;;
	2) ;;
	*) cat "$OUT.err"; fail "fuzz seed $seed: dump exit status $rc" ;;
	esac
done

# ---- valgrind on the plain build ----------------------------------------
cp clean.img c.img
"$CORRUPT" c.img fuzz 7 3 >/dev/null
[ "$(vg dedup_check --data-dev d.img clean.img)" = 0 ] || fail "valgrind: clean image not clean"
[ "$(vg dedup_check c.img)" = 1 ] || fail "valgrind: damaged image passed"
[ "$(vg dedup_dump --format json --mappings c.img)" != 2 ] || fail "valgrind: dump"
truncate -s 20000 c.img
[ "$(vg dedup_check c.img)" = 1 ] || fail "valgrind: truncated image"

# ---- install ------------------------------------------------------------
make -s -C "$TOP/tools" install DESTDIR="$W/inst" PREFIX=/usr >/dev/null
for f in usr/sbin/dedup_check usr/sbin/dedup_dump usr/share/man/man8/dedup_check.8 \
	usr/share/man/man8/dedup_dump.8; do
	[ -f "$W/inst/$f" ] || fail "make install did not install $f"
done
ldd "$TOP/tools/dedup_check" 2>&1 | grep -q "not a dynamic executable" || fail "dedup_check is not static"
echo "tools-generated: all passed"

#!/bin/bash
# dedup_check/dedup_dump on images made by ddgen (every
# hash and several block sizes, deep trees, random layouts), each kind of
# corruption, the options, truncated images and random damage under
# ASan/UBSan and valgrind.
# timeout: 600
. "$(dirname "$0")/common.inc"

cd "$W"

# ---- clean images: every hash, block sizes, data verification ----------
for hb in sha256:4096 blake2b-256:8192 xxhash64:65536 sha256:16384; do
	h=${hb%%:*} bs=${hb##*:}
	generate m.img --hash "$h" --block-size "$bs" --unique 3000 \
		--logical 7000 --zero 50 --data-blocks 4000 --data d.img
	check 0 --data-dev d.img m.img
	expect "m.img: clean: 0 errors, 0 warnings" "$h/$bs"
	expect "^data: verified 3000 of 3000 blocks in use" "$h/$bs"
	expect "^7000 mapped, 50 zero, 3000 unique" "$h/$bs"
	check 0 --data-dev d.img --sample 10% m.img
	expect "^data: verified 300 of 3000 blocks in use"
	# one flipped byte of data: a fingerprint mismatch naming the block
	printf '\x5a' | dd of=d.img bs=1 seek=$((5 * bs + 100)) conv=notrunc 2>/dev/null
	check 1 --data-dev d.img m.img
	expect "^error: data block 5 \(fp array block [0-9]+\): $h fingerprint mismatch" "$h"
done

# DEDUP_INCOMPAT_STALE_FP: --data-dev reads the blocks in use only, not the
# free block with a stale fingerprint
generate m.img --unique 3000 --logical 7000 --data-blocks 4000 --data d.img
"$CORRUPT" m.img stale-fp > /dev/null
check 0 --data-dev d.img m.img
expect "^note: 1 free blocks keep a stale fingerprint"
expect "^data: verified 3000 of 3000 blocks in use"
expect "^7000 mapped, 0 zero, 3000 unique"

# random LBNs over a large logical space, shuffled PBNs, deep trees
generate m.img --unique 20000 --logical 45000 --zero 300 --random-lbns \
	--lbn-space 50000000 --fill 10 --data-blocks 30000 --data d.img
check 0 --data-dev d.img m.img
expect "clean: 0 errors, 0 warnings"

# ---- json dump matches what was generated ------------------------------
generate m.img --unique 750 --logical 2700 --zero 300 --data-blocks 1000 --fill 10
sanitized 0 "$DUMP" --format json --mappings m.img
python3 - "$OUT" <<'PY' || fail "json dump content"
import json, sys
d = json.load(open(sys.argv[1]))
c, a = d["counters"], d["arrays"]
assert c["nr_mapped"] == 2700 and c["nr_zero"] == 300 and c["nr_unique"] == 750, c
assert len(d["lbns"]) == 3000
assert sum(1 for m in d["lbns"] if m["pbn"] is None) == 300
pb = {p["pbn"]: p for p in d["pbns"]}
assert len(pb) == 750 and all(len(p["fp"]) == 64 and p["count"] for p in pb.values())
counts = {}
for m in d["lbns"]:
    if m["pbn"] is not None:
        counts[m["pbn"]] = counts.get(m["pbn"], 0) + 1
assert counts == {p: v["count"] for p, v in pb.items()}
assert a["lbn"]["entries"] == 3000 and a["refcount"]["entries"] == 750
assert a["fp"]["entries"] == 750 and a["summary"]["entries"] == 1
assert abs(d["dedup_ratio"] - 2700 / 750) < 1e-6
assert sum(b["blocks"] for b in d["refcount_histogram"]) == 750
sb = d["superblock"]
assert sb["hash"] == "sha256" and sb["fp_size"] == 32 and sb["version"] == 2
assert d["space_maps"]["metadata"]["nr_allocated"] == d["metadata"]["used_blocks"]
PY
sanitized 0 "$DUMP" m.img
expect "dedup ratio +3\.600"
sanitized 0 "$DUMP" --mappings m.img
expect "^lbn 0 pbn 0$"
expect "^pbn 749 count [0-9]+ fp [0-9a-f]{64}$"

# ---- one corruption at a time -------------------------------------------
generate clean.img --unique 20000 --logical 60000 --zero 77 --random-lbns \
	--data-blocks 30000 --fill 10
corruption_suite clean.img
fresh() { cp clean.img c.img; }

# ---- superblock refusals and options ------------------------------------
fresh; "$CORRUPT" c.img sb-set incompat_flags 4
check 2 --super-block-only c.img
fresh; "$CORRUPT" c.img sb-set version 3
check 2 --super-block-only c.img
expect "unsupported metadata version 3"
fresh; "$CORRUPT" c.img sb-set magic 0
check 1 c.img
expect "bad magic"
fresh; "$CORRUPT" c.img sb-set metadata_nr_blocks 99999999
check 1 --super-block-only c.img
expect "metadata_nr_blocks is 99999999, but the metadata device has [0-9]+ blocks"
fresh; "$CORRUPT" c.img sb-set compat_flags 2
check 0 c.img
expect "^warning: block 0 \(superblock\): unknown compatible feature flags 0x2 ignored"

check 0 -q clean.img
[ ! -s "$OUT" ] || fail "--quiet printed something"
fresh; "$CORRUPT" c.img flip 0 4	# csum byte: still silent, still 1
check 1 --quiet c.img
[ ! -s "$OUT" ] || fail "--quiet printed something"
check 0 --super-block-only clean.img
expect "superblock only"
check 2 --sample 5% clean.img
check 2
check 2 nonexistent.img
fresh; "$CORRUPT" c.img fuzz 3 40 >/dev/null
check 1 --max-messages 2 c.img
expect "further messages not shown"

# needs_check: cleared only when clean
fresh; "$CORRUPT" c.img sb-set flags 1
check 0 --clear-needs-check-flag c.img
expect "needs_check cleared"
check 0 c.img
expect_not "needs_check flag is set"
"$CORRUPT" c.img sb-set flags 1
"$CORRUPT" c.img refcount-inc >/dev/null
check 1 --clear-needs-check-flag c.img
expect "needs_check left as it is"
sanitized 0 "$DUMP" --format json c.img
expect '"needs_check": true'

# ---- truncated and garbage images: errors, never a crash ----------------
used=$(( $("$DUMP" --format json clean.img | python3 -c \
	'import json,sys; print(json.load(sys.stdin)["metadata"]["used_blocks"])') ))
size=$(stat -c %s clean.img)
for s in 0 1 4095 4096 8191 12288 65536 $((used * 4096 / 3)) $((used * 4096 - 4096)) $((size - 4096)); do
	cp clean.img c.img
	truncate -s "$s" c.img
	check 1 c.img
	sanitized any "$DUMP" --format json --mappings c.img
done
head -c 1048576 /dev/urandom > c.img
check 1 c.img
expect "bad magic"
: > c.img

# ---- random damage with checksums fixed: deeper checks must hold -------
generate clean.img --unique 3000 --logical 9000 --zero 50 --data-blocks 4000 \
	--fill 20 --data d.img
for seed in $(seq 1 60); do
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
for f in dedup_check dedup_dump dedup_restore dedup_metadata_size dedup_stats; do
	[ -f "$W/inst/usr/sbin/$f" ] || fail "make install did not install $f"
	[ -f "$W/inst/usr/share/man/man8/$f.8" ] || fail "make install did not install $f.8"
done
[ ! -e "$W/inst/usr/sbin/ddgen" ] || fail "make install installed the development tool ddgen"
for f in dedup_check ddgen; do
	ldd "$TOP/tools/$f" 2>&1 | grep -q "not a dynamic executable" || fail "$f is not static"
done
echo "tools-generated: all passed"

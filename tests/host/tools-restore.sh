#!/bin/bash
# dedup_restore: dump -> restore -> dump round trips are identical (every
# hash, sequential and random layouts, a bulk region); a metadata device
# larger than region A (15.875 GiB, sparse) is generated, checked and
# corrupted in its bulk space map; bad input fails cleanly; a large image
# is built quickly.
# timeout: 600
. "$(dirname "$0")/common.inc"

cd "$W"

roundtrip() {
	local name=$1
	sanitized 0 "$DUMP" --format json --mappings a.img
	cp "$OUT" a.json
	rm -f b.img
	sanitized 0 "$RESTORE" -q -i a.json -o b.img
	check 0 b.img
	sanitized 0 "$DUMP" --format json --mappings b.img
	cmp -s a.json "$OUT" || { diff a.json "$OUT" | head; fail "$name: round trip differs"; }
}

generate a.img --unique 5000 --logical 12000 --zero 40 --data-blocks 6000
roundtrip sequential
generate a.img --hash xxhash64 --block-size 65536 --unique 3000 --logical 3001 \
	--random-lbns --lbn-space 10000000 --data-blocks 3000
roundtrip random-xxhash64
generate a.img --hash blake2b-256 --block-size 8192 --unique 0 --zero 5
roundtrip only-zero

# through a pipe, and the uuid and history counters survive
generate a.img --unique 100 --logical 300 --uuid 01234567-89ab-cdef-0123-456789abcdef
"$CORRUPT" a.img sb-set dedup_hits 77
"$CORRUPT" a.img sb-set commits 12345
"$TOP/tools/dedup_dump" -f json -m a.img | "$TOP/tools/dedup_restore" -q -i - -o b.img ||
	fail "restore from a pipe"
sanitized 0 "$DUMP" -f json b.img
expect '"uuid": "01234567-89ab-cdef-0123-456789abcdef"'
expect '"dedup_hits": 77,'
expect '"commits": 12345$'

# ---- DEDUP_INCOMPAT_STALE_FP ------------------------------------------------
# A stale fingerprint is not dumped, so not restored: the image written has
# none and does not set the bit.  A dump that lists one (written by hand, or
# by an older dedup_dump) has it dropped if the dump's superblock has the
# bit, and is refused if not.
generate a.img --unique 500 --logical 1200 --zero 9 --data-blocks 800
sanitized 0 "$DUMP" --format json --mappings a.img
cp "$OUT" clean.json
"$CORRUPT" a.img stale-fp-dup > /dev/null
sanitized 0 "$DUMP" --format json --mappings a.img
cp "$OUT" a.json
rm -f b.img
sanitized 0 "$RESTORE" -q -i a.json -o b.img
check 0 b.img
expect_not "stale fingerprint"
sanitized 0 "$DUMP" --format json --mappings b.img
python3 - clean.json a.json "$OUT" t.json u.json <<'PY' || fail "stale_fp round trip"
import json, sys
c, a, b = (json.load(open(f)) for f in sys.argv[1:4])
assert a["superblock"]["incompat_flags"] == 2, a["superblock"]
assert b["superblock"]["incompat_flags"] == 0, b["superblock"]
assert a["arrays"]["fp"]["entries"] == 501 and b["arrays"]["fp"]["entries"] == 500
for k in ("lbns", "pbns", "counters"):
    assert c[k] == a[k] == b[k], k
a["pbns"].append({"pbn": 700, "count": 0, "fp": "5a" * 32})
json.dump(a, open(sys.argv[4], "w"))
a["superblock"]["incompat_flags"] = 0
json.dump(a, open(sys.argv[5], "w"))
PY
rm -f b.img
sanitized 0 "$RESTORE" -q -i t.json -o b.img
check 0 b.img
expect_not "stale fingerprint"
sanitized 0 "$DUMP" --format json --mappings b.img
python3 - clean.json "$OUT" <<'PY' || fail "stale_fp restore drops the stale entry"
import json, sys
c, b = (json.load(open(f)) for f in sys.argv[1:])
assert c["pbns"] == b["pbns"] and b["superblock"]["incompat_flags"] == 0
PY
rm -f b.img
sanitized 1 "$RESTORE" -q -i u.json -o b.img
expect "PBN 700: count 0 with a fingerprint"

# ---- a bulk region: metadata device > 15.875 GiB, sparse -------------------
generate a.img --hash blake2b-256 --block-size 8192 --unique 60000 --logical 150000 \
	--zero 99 --random-lbns --metadata-size 17G --data-blocks 80000 --data d.img
[ "$(stat -c %s a.img)" = $((17 << 30)) ] || fail "bulk image size"
[ "$(du -k a.img | cut -f1)" -lt 102400 ] || fail "bulk image is not sparse"
check 0 --data-dev d.img a.img
expect "\(bulk region in use\)"
expect "clean: 0 errors, 0 warnings"
sanitized 0 "$DUMP" -f json a.img
python3 - "$OUT" <<'PY' || fail "bulk dump"
import json, sys
d = json.load(open(sys.argv[1]))
sb, sm = d["superblock"], d["space_maps"]
assert sb["incompat_flags"] & 1 and sb["bulk_start"] == 255 * 16320, sb
assert sb["bulk_nr_blocks"] == (17 << 30) // 4096 - 255 * 16320
assert sm["bulk"]["nr_blocks"] == sb["bulk_nr_blocks"]
# array blocks in the bulk region, the rest in region A
blocks = sum(a["blocks"] for a in d["arrays"].values())
assert sm["bulk"]["nr_allocated"] == blocks, (sm, blocks)
PY
roundtrip bulk
for kind in bulk-bitmap bulk-index-leaf; do
	cp a.img c.img
	b=$("$CORRUPT" c.img find $kind) || fail "no $kind"
	"$CORRUPT" c.img flip "$b" 60
	check 1 c.img
	case $kind in
	bulk-bitmap) expect "^error: block $b \(bulk space map bitmap\): checksum mismatch" ;;
	*) expect "^error: block $b \(bulk space map index tree leaf\): checksum mismatch" ;;
	esac
done
cp a.img c.img
b=$("$CORRUPT" c.img find lbn-block)
[ "$b" -ge $((255 * 16320)) ] || fail "lbn array block $b not in the bulk region"
"$CORRUPT" c.img flip "$b" 64
check 1 c.img
expect "^error: block $b \(lbn array block\): checksum mismatch"
NO_INTERNAL=1 corruption_suite a.img
rm -f a.img c.img b.img d.img

# ---- bad input: exit 1 or 2, never a crash --------------------------------
generate a.img --unique 200 --logical 500 --zero 3
"$TOP/tools/dedup_dump" -f json -m a.img > a.json
for n in 10 500 2000 $(( $(stat -c %s a.json) - 40 )); do
	head -c "$n" a.json > t.json
	rm -f t.img
	sanitized any "$RESTORE" -q -i t.json -o t.img
done
sed 's/"pbn": 7}/"pbn": 99999}/' a.json > t.json
sanitized 1 "$RESTORE" -q -i t.json -o t.img
expect "beyond the data device"
sed 's/"count": 2,/"count": 0,/' a.json > t.json
sanitized 1 "$RESTORE" -q -i t.json -o t.img
expect "not a valid entry"
generate t.img --unique 200 --logical 400000
"$TOP/tools/dedup_dump" -f json -m t.img > t.json
sanitized 1 "$RESTORE" -q -i t.json -o t.img --metadata-size 1M
expect "too small"
sanitized 2 "$RESTORE" -o t.img
sanitized 2 "$RESTORE" -o t.img --generate --unique 10 --logical 5
sanitized 2 "$TOP/tools/asan/ddgen" -o t.img --unique 10 --logical 5
sanitized 2 "$RESTORE" -i missing.json -o t.img
[ "$(vg dedup_restore -q -i a.json -o t.img)" = 0 ] || fail "valgrind: restore"
[ "$(vg ddgen -q -o t.img --unique 300 --logical 900 --random-lbns)" = 0 ] ||
	fail "valgrind: generate"

# ---- a large image is built in one quick pass --------------------------------
start=$(date +%s%N)
generate big.img --hash xxhash64 --unique 2000000 --logical 3000000 --zero 1000
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "2 M fingerprints: $ms ms, $(du -k big.img | cut -f1) KiB"
[ $ms -lt 60000 ] || fail "2 M entries took $ms ms"
"$TOP/tools/dedup_check" big.img > "$OUT" || { cat "$OUT"; fail "big image"; }
rm -f big.img
echo "tools-restore: all passed"

#!/bin/bash
# dedup_metadata_size against doc/metadata.md's worked examples (section 6)
# and against images ddgen really builds.
# timeout: 120
. "$(dirname "$0")/common.inc"

cd "$W"
gib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 2^30 }'; }

# 16 TiB unique + 64 TiB logical at 4 KiB: one metadata device, ~319 GiB
# (29 GiB of it the saved index), ~29 GiB of index RAM
sanitized 0 "$SIZE" --data-size 16T --logical-size 64T
expect "^bulk region "
expect "^saved index: +[0-9]+ blocks \(28\.[6-9] GiB\)"
expect "^index RAM: +28\.[0-9] GiB"
n=$("$TOP/tools/dedup_metadata_size" -n -d 16T -l 64T)
awk -v n="$n" 'BEGIN { exit !(n >= 314 * 2^30 && n <= 326 * 2^30) }' ||
	fail "16T/64T: $(gib "$n") GiB, doc says ~319 GiB"

# A data device larger than the unique data (16 TiB, 4 TiB logical): a
# freed block keeps its fingerprint (DEDUP_INCOMPAT_STALE_FP) and the
# allocator goes round the whole device, so the fp array is counted for
# all 2^32 data blocks (127 sha256 fingerprints an array block), not for
# the 2^30 unique ones
sanitized 0 "$SIZE" --data-size 16T --logical-size 4T
expect "and the fingerprints of all 4294967296 data blocks"
a=$(sed -n 's/^arrays *\([0-9]*\) blocks.*/\1/p' "$OUT")
awk -v a="$a" 'BEGIN { exit !(a >= 2^32 / 127 + 2^30 / 508) }' ||
	fail "16T/4T: $a array blocks, fewer than the fp array of every data block"

# 1 TiB unique written once: ~13.0 GiB (11.2 of arrays, 1.8 of saved
# index), region A only; at ratio 2: 15.0
sanitized 0 "$SIZE" --data-size 1T
expect "^metadata needed: 13\.0 GiB"
expect "no bulk region needed"
expect "^index RAM: +1\.8 GiB"
expect "^per block .* \+ 7\.2 B of saved index,"
# The saved index is counted: about 7.1 B of 48-byte buckets per unique
# block, 84 buckets to a 4 KiB array block (7.2 B), and shard headers:
# 1.8 GiB for 2^28 unique blocks, which the device has on top of its arrays
# (with their btree entries and slack: 1.8-1.95 GiB).
expect "^saved index: +[0-9]+ blocks \(1\.8 GiB\)"
a=$(sed -n 's/^arrays *\([0-9]*\) blocks.*/\1/p' "$OUT")
s=$(sed -n 's/^saved index: *\([0-9]*\) blocks.*/\1/p' "$OUT")
awk -v s="$s" 'BEGIN { exit !(s * 4032 >= 7.0 * 2^28 && s * 4032 <= 7.3 * 2^28) }' ||
	fail "1T: saved index of $s blocks, expected 7.0-7.3 B of buckets per unique block"
n=$("$TOP/tools/dedup_metadata_size" -n -d 1T)
awk -v n="$n" -v a="$a" 'BEGIN { d = n - a * 4096 * 1.01 * (1 + 24 / 4096);
	exit !(d >= 1.8 * 2^30 && d <= 1.95 * 2^30) }' ||
	fail "1T: $(gib "$n") GiB, not 1.8-1.95 GiB more than the $a array blocks need"
sanitized 0 "$SIZE" --data-size 1T --dedup-ratio 2
expect "^metadata needed: 15\.[01] GiB"
expect "^saved index: +$s blocks"
# a data device 16 times its unique data: shards of ~16 entries, 11-12 B
sanitized 0 "$SIZE" --data-size 256T --logical-size 16T
expect "^per block .* \+ 11\.[0-9] B of saved index,"
# 64 KiB blocks: a sixteenth
n=$("$TOP/tools/dedup_metadata_size" -n -d 1T -b 64K)
awk -v n="$n" 'BEGIN { exit !(n >= 0.78 * 2^30 && n <= 0.84 * 2^30) }' ||
	fail "1T at 64K: $(gib "$n") GiB"
# the largest sizes: ~1.2 TiB on region A alone, ~208 TiB with a bulk region
expect "1\.2 TiB of unique data on region A alone"
sanitized 0 "$SIZE" -d 1T
expect "(19[5-9]|20[0-9]|21[0-9])\.[0-9] TiB with a bulk region"
# far too large for one device
sanitized 1 "$SIZE" --data-size 1P
expect "does NOT fit one metadata device"
sanitized 2 "$SIZE"
sanitized 2 "$SIZE" -d 1T -b 3000

# one size grammar (the man pages' SIZES): the same size however written,
# anything else refused
n=$("$TOP/tools/dedup_metadata_size" -n -d 1T)
for s in 1t 1Ti 1TB 1TiB 1024G 1048576m 2147483648s 1099511627776 \
	 1099511627776b 1099511627776B 0.0009765625P 1.0T; do
	[ "$("$TOP/tools/dedup_metadata_size" -n -d "$s")" = "$n" ] ||
		fail "--data-size $s is not 1 TiB"
done
[ "$("$TOP/tools/dedup_metadata_size" -n -d 0.5TiB)" = \
  "$("$TOP/tools/dedup_metadata_size" -n -d 512G)" ] || fail "--data-size 0.5TiB"
for s in 1X 1e12 -1T +1T 0x10 " 1T" "1 T" 1TiBB 1bB ""; do
	sanitized 2 "$SIZE" -d "$s"
	expect "bad size"
done

# an image of that many blocks fits what the tool says
"$TOP/tools/ddgen" -q -o m.img --unique 500000 --logical 1000000 \
	--metadata-size "$("$TOP/tools/dedup_metadata_size" -n -d $((500000 * 4096)) -r 2)" ||
	fail "an image of the size dedup_metadata_size gives"
check 0 m.img
echo "tools-metadata-size: all passed"

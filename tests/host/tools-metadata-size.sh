#!/bin/bash
# dedup_metadata_size against doc/metadata.md's worked examples (section 6)
# and against images dedup_restore really builds.
# timeout: 120
. "$(dirname "$0")/common.inc"

cd "$W"
gib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 2^30 }'; }

# 16 TiB unique + 64 TiB logical at 4 KiB: one metadata device, ~290 GiB,
# ~28 GiB of index RAM
sanitized 0 "$SIZE" --data-size 16T --logical-size 64T
expect "^bulk region "
expect "^index RAM: +27\.[0-9] GiB"
n=$("$TOP/tools/dedup_metadata_size" -n -d 16T -l 64T)
awk -v n="$n" 'BEGIN { exit !(n >= 285 * 2^30 && n <= 296 * 2^30) }' ||
	fail "16T/64T: $(gib "$n") GiB, doc says ~290 GiB"

# 1 TiB unique written once: ~11.2 GiB, region A only; at ratio 2: 13.2
sanitized 0 "$SIZE" --data-size 1T
expect "^metadata needed: 11\.2 GiB"
expect "no bulk region needed"
expect "^index RAM: +1\.7 GiB"
sanitized 0 "$SIZE" --data-size 1T --dedup-ratio 2
expect "^metadata needed: 13\.[12] GiB"
# 64 KiB blocks: a sixteenth
n=$("$TOP/tools/dedup_metadata_size" -n -d 1T -b 64K)
awk -v n="$n" 'BEGIN { exit !(n >= 0.68 * 2^30 && n <= 0.74 * 2^30) }' ||
	fail "1T at 64K: $(gib "$n") GiB"
# the largest sizes: ~1.4 TiB on region A alone, ~245 TiB with a bulk region
expect "1\.4 TiB of unique data on region A alone"
sanitized 0 "$SIZE" -d 1T
expect "2[34][0-9]\.[0-9] TiB with a bulk region"
# far too large for one device
sanitized 1 "$SIZE" --data-size 1P
expect "does NOT fit one metadata device"
sanitized 2 "$SIZE"
sanitized 2 "$SIZE" -d 1T -b 3000

# an image of that many blocks fits what the tool says
"$TOP/tools/dedup_restore" -q -o m.img --generate --unique 500000 --logical 1000000 \
	--metadata-size "$("$TOP/tools/dedup_metadata_size" -n -d $((500000 * 4096)) -r 2)" ||
	fail "an image of the size dedup_metadata_size gives"
check 0 m.img
echo "tools-metadata-size: all passed"

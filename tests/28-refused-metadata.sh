#!/bin/sh
# Metadata that does not fit is refused with its exact ti->error and nothing
# is written to either device (md5 of both whole devices before and after):
# wrong magic, bad superblock checksum (one flipped byte), another block
# size, another hash, and a data device smaller than recorded. Afterwards
# the original table still opens the untouched metadata and data.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

setup_ram 2 4
RD=/dev/ram1
# The data device is a linear map over ram1, so it can shrink.
SECT=$(dev_sectors $RD)
dm_linear dlin $RD
D=/dev/mapper/dlin
dedup_create good $M $D 4096 sha256
fio --output=/tmp/fio.out --name=w --filename=/dev/mapper/good \
	--ioengine=libaio --direct=1 --rw=write --bs=4k --iodepth=8 --size=2M \
	--dedupe_percentage=30 --buffer_compress_percentage=0 ||
	fail "fio failed"
dedup_commit good
data_sum=$(dev_md5 /dev/mapper/good)
st=$(status_fields good mapped unique zero data_used dedup_hits)
dedup_remove good
GOOD=$(dedup_table $M $D 4096 sha256)

# sums: md5 of the whole metadata device and the whole data RAM disk.
sums() { echo "$(dev_md5 $M) $(dev_md5 $RD)"; }
# The superblock (block 0) is read and written with O_DIRECT only.
readdev $M 0 4096 > /tmp/sb.orig
# byte OFF: the byte of the original superblock at OFF, as a number.
byte() { od -An -tu1 -j "$1" -N1 /tmp/sb.orig | tr -d ' '; }
# setbyte OFF VALUE: the original superblock with one byte changed.
setbyte() {
	cp /tmp/sb.orig /tmp/sb
	printf "\\$(printf '%03o' "$2")" |
		dd of=/tmp/sb bs=1 seek="$1" count=1 conv=notrunc status=none
	cmp -s /tmp/sb /tmp/sb.orig && fail "setbyte $1 $2 changed nothing"
	put /tmp/sb 0 $M 0 4096
}
restore() {
	put /tmp/sb.orig 0 $M 0 4096
	assert_eq "$(sums)" "$base" "devices after restoring the superblock"
}
# refused WHAT TABLE TEXT: refused with TEXT, and both devices untouched.
refused() {
	local before after
	before=$(sums)
	expect_table_error "$2" "$3"
	after=$(sums)
	assert_eq "$after" "$before" "$1: device contents after the refusal"
}
# Both devices hold something: a refusal cannot pass as "nothing written"
# because the devices were empty.
base=$(sums)
assert_ne "$(dev_md5 $M)" "$(dd if=/dev/zero bs=1M count=4 status=none | md5sum | cut -d' ' -f1)" \
	"metadata device contents"

# Wrong magic: the first byte of the 8-byte magic at offset 32.
orig=$(byte 32)
setbyte 32 $(((orig + 1) % 256))
refused "wrong magic" "$GOOD" "Bad superblock magic"
restore

# Bad checksum: one byte of the uuid (offset 16), the magic intact.
orig=$(byte 16)
setbyte 16 $((orig ^ 0x5a))
refused "bad checksum" "$GOOD" "Superblock checksum error"
restore
# And one byte at the end of the checksummed area.
orig=$(byte 4095)
setbyte 4095 $((orig ^ 1))
refused "bad checksum (byte 4095)" "$GOOD" "Superblock checksum error"
restore

# Space map roots that do not fit the device (issue 23, item 10): the
# metadata space map's block count beyond region A's most (a crafted value
# that would index past the space map's bitmap array), its allocated count
# beyond its block count, its bitmap root beyond the device.
for f in "nr_blocks 99999999" "nr_allocated 99999999" "bitmap_root 1048576"; do
	# shellcheck disable=SC2086
	ddcorrupt $M sm-root metadata $f || fail "ddcorrupt sm-root $f"
	refused "space map root $f" "$GOOD" "Corrupt space map root"
	restore
done
# A bitmap root inside the device that names another block (the
# superblock's): the space map's index block then fails its checksum
# while the transaction manager is set up.  That failure path used to
# destroy the transaction manager twice (a double free: make check-debug
# runs this test under KASAN).
ddcorrupt $M sm-root metadata bitmap_root 0 || fail "ddcorrupt bitmap_root 0"
refused "space map index block of another kind" "$GOOD" \
	"Error opening metadata"
restore

# Other block sizes and another hash than recorded.
for bs in 8192 65536; do
	refused "block size $bs" "$(dedup_table $M $D $bs sha256)" \
		"Block size differs from metadata"
done
refused "hash blake2b-256" "$(dedup_table $M $D 4096 blake2b-256)" \
	"Hash differs from metadata"
refused "hash xxhash64" "$(dedup_table $M $D 4096 xxhash64)" \
	"Hash differs from metadata"

# Data device shrunk by one block, then by half.
for cut in 8 $((SECT / 2)); do
	small=$((SECT - cut))
	dm_swap dlin "0 $small linear $RD 0"
	assert_eq "$(dev_sectors $D)" "$small" "shrunk data device size"
	refused "data device $small sectors" \
		"$(DEDUP_LEN=$((small / 8 * 8)) dedup_table $M $D 4096 sha256)" \
		"Data device smaller than recorded"
done
dm_swap dlin "0 $SECT linear $RD 0"

# The original table still opens, with data and counters unchanged.
dedup_create good $M $D 4096 sha256
assert_eq "$(status_fields good mapped unique zero data_used dedup_hits)" \
	"$st" "counters after the refusals"
assert_eq "$(dev_md5 /dev/mapper/good)" "$data_sum" "data after the refusals"

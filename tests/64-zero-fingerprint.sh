#!/bin/sh
# A fingerprint of all zeroes (1 in 2^64 blocks with xxhash64; forced here by
# test_zero_fp for blocks that begin with "DEDUP-ZERO-FP") is stored as a
# valid one (issue 23, item 10): an fp-array entry of zeroes means "no
# block", so a lookup must never take a free block's empty entry for it.
# With a free block before it in its fp block, a duplicate of such a block
# shares the right block, the pool stays rw, and everything reads back;
# with xxhash64 (verified), two different such blocks are both kept.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 2 64

# zblock TAG FILE: a block that begins with the marker.
zblock() {
	{ printf 'DEDUP-ZERO-FP %s ' "$1"; dd if=/dev/zero bs=4096 count=1 status=none; } |
		head -c $BS > "$2"
}
zblock x /tmp/X
zblock y /tmp/Y
rndfile /tmp/U $((8 * BS))

for hash in sha256 xxhash64; do
	dedup_knob test_zero_fp 1	# (dedup_teardown resets it)
	wipe_superblock /dev/ram0
	dedup_create zf /dev/ram0 /dev/ram1 $BS $hash
	DEV=/dev/mapper/zf
	put /tmp/U 0 $DEV 0 $((8 * BS))
	dedup_commit zf
	blkdiscard -o $((2 * BS)) -l $BS $DEV || fail "discard"
	dedup_commit zf
	dedup_commit zf			# its block released
	put /tmp/X 0 $DEV $((10 * BS)) $BS
	dedup_commit zf
	hits0=$(dedup_field zf dedup_hits)
	put /tmp/X 0 $DEV $((11 * BS)) $BS
	put /tmp/Y 0 $DEV $((12 * BS)) $BS
	dedup_commit zf
	if [ $hash = sha256 ]; then
		# Y's fingerprint is X's here: trusted, so it is a hit too.
		want=2
	else
		want=1
	fi
	assert_eq "$(($(dedup_field zf dedup_hits) - hits0))" $want "$hash: hits"
	expect_status zf "$hash" mode=rw needs_check=-
	for lbn in 10 11; do
		readdev $DEV $((lbn * BS)) $BS | cmp -s - /tmp/X ||
			fail "$hash: block $lbn"
	done
	if [ $hash = xxhash64 ]; then
		readdev $DEV $((12 * BS)) $BS | cmp -s - /tmp/Y || fail "$hash: block 12"
	fi
	dedup_teardown
done

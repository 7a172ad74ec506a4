#!/bin/sh
# Refcount and space exactness: overwrites and discards (whole, partial and
# unaligned ranges) give back exactly the data blocks whose last reference
# went, rewriting identical data changes no usage, and the status counters
# (data_used, unique, mapped, zero) say so after each commit and after
# remove + re-create; once everything is discarded no array block is left
# all zero.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
dedup_on_ram rc 32 $BS sha256
TABLE=$(dmsetup table rc)
new_model $((256 * BS))

# blk FILE LBN COUNT [SRC_BLOCK]: COUNT blocks of FILE to LBN (and model).
blk() {
	put "$1" $((${4:-0} * BS)) $DEV $(($2 * BS)) $(($3 * BS)) $MODEL
}
discard() {	# discard OFFSET_BYTES LENGTH_BYTES
	blkdiscard -o "$1" -l "$2" $DEV || fail "blkdiscard -o $1 -l $2 failed"
	# whole blocks inside the range read as zeroes from now on
	first=$((($1 + BS - 1) / BS))
	last=$((($1 + $2) / BS))
	[ $last -gt $first ] || return 0
	dd if=/dev/zero of=$MODEL bs=$BS seek=$first count=$((last - first)) \
		conv=notrunc status=none
}
check() {	# check WHAT FIELD=VALUE...: commit, status, data
	local what=$1
	shift
	dedup_commit rc
	expect_status rc "$what" "$@"
	cmp_model $DEV $MODEL 0 $((256 * BS)) "$what: data"
}

rndfile /tmp/A $((64 * BS))
rndfile /tmp/C $((32 * BS))
dd if=/dev/zero of=/tmp/Z bs=$BS count=16 status=none

# LBN 0..63 = A, 64..127 = A again, 128..159 = C.
blk /tmp/A 0 64
blk /tmp/A 64 64
blk /tmp/C 128 32
check "A twice + C" mapped=160 unique=96 data_used=96 zero=0 dedup_hits=64

# Identical rewrite: nothing changes but the hit counter.
blk /tmp/A 0 64
check "A rewritten in place" mapped=160 unique=96 data_used=96 zero=0 \
	dedup_hits=128

# Discard the first copy of A: every block still has a reference.
discard 0 $((64 * BS))
check "first copy of A discarded" mapped=96 unique=96 data_used=96 zero=0

# Discard A[0..31] of the second copy: 32 blocks lose their last reference.
discard $((64 * BS)) $((32 * BS))
check "half of second A discarded" mapped=64 unique=64 data_used=64 zero=0

# Discarding unmapped blocks changes nothing.
discard 0 $((32 * BS))
check "unmapped range discarded" mapped=64 unique=64 data_used=64 zero=0

# Overwrite C[0..15] with zeroes: 16 blocks freed, 16 zero mappings.
blk /tmp/Z 128 16
check "C[0..15] zeroed" mapped=48 unique=48 data_used=48 zero=16

# Overwrite C[16..31] with A[32..47] (live at LBN 96..111): 16 freed, shared.
blk /tmp/A 144 16 32
check "C[16..31] := A[32..47]" mapped=48 unique=32 data_used=32 zero=16

# Unaligned discard [LBN 96 + 512 B, LBN 100 - 512 B): only whole blocks 97
# and 98 are dropped; A[33], A[34] stay referenced from LBN 145, 146.
discard $((96 * BS + 512)) $((4 * BS - 1024))
check "unaligned discard 97..98 (still shared)" mapped=46 unique=32 \
	data_used=32 zero=16
# Now the other copies: LBN 145..146 lose the last references.
discard $((145 * BS)) $((2 * BS))
check "shared copies 145..146 discarded" mapped=44 unique=30 data_used=30 \
	zero=16

# A discard of a sub-block range inside one block does nothing.
discard $((100 * BS + 1024)) 2048
check "sub-block discard" mapped=44 unique=30 data_used=30 zero=16

# Discarding zero mappings drops them without touching data blocks.
discard $((128 * BS)) $((8 * BS))
check "zero mappings discarded" mapped=44 unique=30 data_used=30 zero=8

# Overwrite with identical content of a block held elsewhere, then free it.
blk /tmp/A 200 1 40				# A[40] lives at 104 and 152
check "third reference to A[40]" mapped=45 unique=30 data_used=30 zero=8
blk /tmp/C 104 1 0				# C[0] is new again
check "A[40] overwritten at 104 by C[0]" mapped=45 unique=31 data_used=31 zero=8

# Everything persists exactly.
before=$(status_fields rc mapped unique zero data_used dedup_hits)
dmsetup remove rc
dm_create rc "$TABLE"
assert_eq "$(status_fields rc mapped unique zero data_used dedup_hits)" \
	"$before" "counters after re-create"
cmp_model $DEV $MODEL 0 $((256 * BS)) "data after re-create"

# Discard everything: no data block stays in use.
discard 0 $((256 * BS))
check "all discarded" mapped=0 unique=0 data_used=0 zero=0

# Array blocks whose entries are all zero again are dropped by the commit
# (the committer holds an array block across consecutive entries and checks
# it when it lets go): after the remove, the checker finds none left.
dmsetup remove rc || fail "cannot remove rc"
command -v dedup_check >/dev/null 2>&1 || fail "dedup_check is not installed"
out=$(dedup_check $M 2>&1) || fail "dedup_check after discarding everything: $out"
case $out in
*"all zero"*) fail "array blocks left all zero: $out" ;;
esac

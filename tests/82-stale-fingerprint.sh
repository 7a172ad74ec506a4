#!/bin/sh
# A dead block keeps its fingerprint (issue 25, INCOMPAT_STALE_FP): the
# commit where a block's count reaches zero no longer rewrites its
# fingerprint block, so a free block may carry a stale fingerprint, and a
# fingerprint counts only where the block's count is not zero.
#  1. 1 TiB thin data device: content X dies (overwritten), is written again
#     (a new block next to the dead one, in the same fingerprint block), then
#     once more: the third write shares the live block, not the dead one
#     whose stale entry comes first in the block (taken, it was a hit on a
#     block of count 0: -EILSEQ, the pool failed).  100 blocks discarded and
#     written again are all new blocks (no hit on a stale entry), and their
#     next copy all hits.
#  2. From a crash image of that (no saved index) the index is rebuilt from
#     the live fingerprints only: index_entries = unique; X and the 100
#     blocks still hit, and the pool stays rw.
#  3. A 96-block data device (one fingerprint block): X's dead block is
#     handed out again for Z, not yet committed, while a live X sits after
#     it; a write of X must share the live X (taken, the stale entry mapped
#     X's LBN to Z's block).
# Every part ends with dedup_check (dedup_teardown).
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
thin_data sthin "$TIB"
DEV=/dev/mapper/sf
# commits only when asked: the test knows what each carries
dedup_create sf $M /dev/mapper/sthin $BS sha256 commit_period_ms 60000
rndfile /tmp/X $BS
rndfile /tmp/Y $BS
rndfile /tmp/Z $BS
rndfile /tmp/U $((100 * BS))

# at LBN: reads block LBN of DEV and compares it with FILE (block SKIP)
at() {
	readdev $DEV $(($1 * BS)) $BS > /tmp/got || fail "read of LBN $1"
	dd if="$2" bs=$BS skip="${3:-0}" count=1 status=none | cmp -s - /tmp/got ||
		fail "LBN $1 does not read $2${3:+ block $3}"
}

# part 1
put /tmp/X 0 $DEV 0 $BS
dedup_commit sf
put /tmp/Y 0 $DEV 0 $BS
dedup_commit sf
dedup_commit sf			# X's block released
put /tmp/X 0 $DEV $BS $BS	# a miss: X's index entry went with its block
dedup_commit sf
assert_eq "$(dedup_field sf unique)" 2 "unique blocks after X is written again"
hits0=$(dedup_field sf dedup_hits)
put /tmp/X 0 $DEV $((2 * BS)) $BS
dedup_commit sf
assert_eq "$(($(dedup_field sf dedup_hits) - hits0))" 1 "hits of X's third copy"
expect_status sf "part 1, after X's third copy" mode=rw needs_check=- unique=2
at 0 /tmp/Y
at 1 /tmp/X
at 2 /tmp/X

put /tmp/U 0 $DEV $((100 * BS)) $((100 * BS))
dedup_commit sf
blkdiscard -o $((100 * BS)) -l $((100 * BS)) $DEV || fail "discard"
dedup_commit sf
dedup_commit sf
assert_eq "$(dedup_field sf unique)" 2 "unique blocks after the discard"
hits0=$(dedup_field sf dedup_hits)
put /tmp/U 0 $DEV $((300 * BS)) $((100 * BS))
dedup_commit sf
assert_eq "$(($(dedup_field sf dedup_hits) - hits0))" 0 "hits of U after the discard"
put /tmp/U 0 $DEV $((400 * BS)) $((100 * BS))
dedup_commit sf
assert_eq "$(($(dedup_field sf dedup_hits) - hits0))" 100 "hits of U's next copy"
expect_status sf "part 1, after U" mode=rw needs_check=- unique=102
assert_eq "$(dedup_stat sf index_entries)" 102 "index entries"

# part 2: a crash image (the last commit, no saved index)
dd if=$M of=/tmp/crash.img bs=1M status=none || fail "copy of the metadata"
dedup_remove sf
dd if=/tmp/crash.img of=$M bs=1M oflag=direct status=none || fail "crash image back"
rm -f /tmp/crash.img
dedup_create sf $M /dev/mapper/sthin $BS sha256 commit_period_ms 60000
dedup_wait_ready sf 120
assert_eq "$(dedup_stat sf index_entries)" 102 "index entries after the rebuild"
hits0=$(dedup_field sf dedup_hits)
put /tmp/X 0 $DEV $((3 * BS)) $BS
put /tmp/U 0 $DEV $((500 * BS)) $((100 * BS))
dedup_commit sf
assert_eq "$(($(dedup_field sf dedup_hits) - hits0))" 101 "hits after the rebuild"
expect_status sf "part 2" mode=rw needs_check=- unique=102
at 3 /tmp/X
readdev $DEV $((500 * BS)) $((100 * BS)) | cmp -s - /tmp/U || fail "U after the rebuild"
dedup_teardown

# part 3: the dead block handed out again
N=96
dm_create small "0 $((N * BS / 512)) linear /dev/mapper/sthin 0"
wipe_superblock $M
DEV=/dev/mapper/sg
dedup_create sg $M /dev/mapper/small $BS sha256 commit_period_ms 60000
put /tmp/X 0 $DEV 0 $BS
dedup_commit sg
put /tmp/Y 0 $DEV 0 $BS
dedup_commit sg
dedup_commit sg			# X's block released
put /tmp/X 0 $DEV $BS $BS	# the live X, after the dead one
dedup_commit sg
rndfile /tmp/F $(((N - 3) * BS))
put /tmp/F 0 $DEV $((2 * BS)) $(((N - 3) * BS))
dedup_commit sg
assert_eq "$(dedup_field sg unique)" $((N - 1)) "unique blocks, one free"
put /tmp/Z 0 $DEV $(((N - 1) * BS)) $BS	# takes the one free block: X's dead one
hits0=$(dedup_field sg dedup_hits)
put /tmp/X 0 $DEV $((2 * BS)) $BS
at $((N - 1)) /tmp/Z
at 2 /tmp/X
dedup_commit sg
assert_eq "$(($(dedup_field sg dedup_hits) - hits0))" 1 "hits of X beside the reused block"
expect_status sg "part 3" mode=rw needs_check=-
at 0 /tmp/Y
at 1 /tmp/X
at 2 /tmp/X
at 3 /tmp/F 1
at $((N - 1)) /tmp/Z
dedup_teardown
dmsetup remove small || fail "remove small"

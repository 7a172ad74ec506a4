#!/bin/sh
# Allocation failures never fail a write or the pool (issue 11, item 3):
# with the test-only test_fail_alloc failing every other allocation that has
# a fallback (generation entries beyond the reserve, the commit's sort
# arrays, the release list, the index's shards, ...), unique, duplicate,
# overwriting, partial and discarding writes all succeed, commits and a
# remove + re-create (saving and loading the fingerprint index) work, the
# pool stays rw without needs_check, and the data reads back.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 2 128
DEV=/dev/mapper/mp
new_model $((4096 * BS))
rndfile /tmp/U $((1024 * BS))

failed0=$(dedup_param test_failed_allocs)
dedup_knob test_fail_alloc 2
dedup_create mp $M $D $BS sha256 commit_period_ms 200 max_open_mb 1
# unique, then the same again elsewhere (duplicates)
put /tmp/U 0 $DEV 0 $((1024 * BS)) $MODEL 65536
put /tmp/U 0 $DEV $((1024 * BS)) $((1024 * BS)) $MODEL 65536
# overwrites with other content, partial writes, discards
put /tmp/U $((512 * BS)) $DEV 0 $((256 * BS)) $MODEL 65536
put /tmp/U 100 $DEV $((2048 * BS + 1536)) 2048 $MODEL
blkdiscard -o $((1200 * BS)) -l $((300 * BS)) $DEV || fail "discard"
dd if=/dev/zero of=$MODEL bs=$BS seek=1200 count=300 conv=notrunc status=none
dedup_commit mp
expect_status mp "under allocation failures" mode=rw needs_check=-
cmp_model $DEV $MODEL 0 $((4096 * BS)) "data under allocation failures"

# A clean remove saves the index; the re-create loads it under failures.
dmsetup remove mp
dm_create mp "$(DEDUP_LEN= dedup_table $M $D $BS sha256 commit_period_ms 200 max_open_mb 1)"
put /tmp/U $((300 * BS)) $DEV $((3000 * BS)) $((200 * BS)) $MODEL 65536
dedup_commit mp
expect_status mp "after re-create under allocation failures" mode=rw needs_check=-
cmp_model $DEV $MODEL 0 $((4096 * BS)) "data after re-create"
dedup_knob test_fail_alloc 0
failed=$(($(dedup_param test_failed_allocs) - failed0))
log "allocations failed on purpose: $failed"
[ "$failed" -gt 10 ] || fail "only $failed allocations failed: the test did not test"
mark=$(new_mark)
dedup_commit mp
if dmesg_test | grep -Eq "metadata operation|switching to (ro|fail)"; then
	dmesg_test | grep -E "metadata operation|switching" | head
	fail "an allocation failure became a metadata failure"
fi

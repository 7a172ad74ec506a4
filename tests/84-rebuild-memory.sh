#!/bin/sh
# The index rebuild after a crash waits out a shortage of memory instead of
# giving up (before, one failed allocation ended it for the whole
# activation: "duplicates are stored again until reload").  The test-only
# test_fail_alloc fails allocations that have a fallback, here the index
# shards the rebuild fills.  1 TiB thin data device (the index has as many
# shards as at that size).
#  1. Every allocation failing: the rebuild gets nowhere and retries (logged
#     "short of memory; retrying"), index_state stays rebuilding, and the
#     pool works: a write and a commit succeed, mode rw.
#  2. Every other one failing: the rebuild goes on between failures and
#     ends with every live fingerprint indexed, never "rebuilding failed".
#  3. Every copy of the old data is a hit; ends with dedup_check.
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
N=2048
thin_data rthin "$TIB"
DEV=/dev/mapper/rb
dedup_create rb $M /dev/mapper/rthin $BS sha256 commit_period_ms 60000
rndfile /tmp/U $((N * BS))
put /tmp/U 0 $DEV 0 $((N * BS))
dedup_commit rb
expect_status rb "written" mode=rw unique=$N

# A crash image: the last commit, no saved index.
dd if=$M of=/tmp/crash.img bs=1M status=none || fail "copy of the metadata"
dedup_remove rb
dd if=/tmp/crash.img of=$M bs=1M oflag=direct status=none || fail "crash image back"
rm -f /tmp/crash.img

failed0=$(dedup_param test_failed_allocs)
mark=$(new_mark)
# 1.
dedup_knob test_fail_alloc 1
dedup_create rb $M /dev/mapper/rthin $BS sha256 commit_period_ms 60000
sleep 2
assert_eq "$(dedup_stat rb index_state)" rebuilding "index state with no memory"
e1=$(dedup_stat rb index_entries)
rndfile /tmp/W $((16 * BS))
put /tmp/W 0 $DEV $((4 * N * BS)) $((16 * BS))
dedup_commit rb
expect_status rb "written while the rebuild waits" mode=rw needs_check=- unique=$((N + 16))
dmesg_since "$mark" | grep -q "fingerprint index: rebuilding is short of memory; retrying" ||
	fail "the rebuild's shortage of memory was not logged"
# 2.
dedup_knob test_fail_alloc 2
dedup_wait_ready rb 120
dedup_knob test_fail_alloc 0
failed=$(($(dedup_param test_failed_allocs) - failed0))
log "allocations failed on purpose: $failed; index entries while none could be made: $e1"
[ "$failed" -gt 1 ] || fail "$failed allocations failed: the test did not test"
klog=$(dmesg_since "$mark")
if printf '%s\n' "$klog" | grep -q "rebuilding failed"; then
	printf '%s\n' "$klog" | grep "fingerprint index"
	fail "the rebuild gave up for want of memory"
fi
assert_eq "$(dedup_stat rb index_entries)" $((N + 16)) "index entries after the rebuild"

# 3.
hits0=$(dedup_field rb dedup_hits)
put /tmp/U 0 $DEV $((N * BS)) $((N * BS))
dedup_commit rb
assert_eq "$(($(dedup_field rb dedup_hits) - hits0))" $N "hits after the rebuild"
expect_status rb "after the rebuild" mode=rw needs_check=- unique=$((N + 16))
readdev $DEV $((N * BS)) $((N * BS)) | cmp -s - /tmp/U || fail "the copy reads back"
dedup_teardown

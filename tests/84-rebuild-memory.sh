#!/bin/sh
# The index rebuild after a crash waits out a shortage of memory instead of
# giving up (before, one failed allocation ended it for the whole
# activation: "duplicates are stored again until reload").  The test-only
# test_fail_alloc fails allocations that have a fallback, here the index
# shards the rebuild fills.  1 TiB thin data device (the index has as many
# shards as at that size), metadata reads delayed 5 ms (dm-delay).
#  1. Every allocation failing: the rebuild gets nowhere (no entry) and
#     retries, backing off (at most 50 failed allocations in 2 s), logged
#     once ("short of memory; retrying"); index_state stays rebuilding,
#     and the pool works: a write and a commit succeed, mode rw.
#  2. Every other one failing: the rebuild goes on between failures and
#     ends with every live fingerprint indexed ("rebuilt after a shortage
#     of memory"), never "rebuilding failed".
#  3. Every copy of the old data is a hit; ends with dedup_check.
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
N=2048
thin_data rthin "$TIB"
# Metadata reads delayed 5 ms (the rebuild reads every fp and refcount block).
dm_delay mslow $M 5
M=/dev/mapper/mslow
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
assert_eq "$e1" 0 "index entries while no shard can be allocated"
# Retries back off (100 ms, doubling to 3.2 s): a few in 2 s, not a loop.
f1=$(($(dedup_param test_failed_allocs) - failed0))
log "allocations failed in the first 2 s: $f1"
[ "$f1" -le 50 ] || fail "$f1 allocations failed in 2 s: the rebuild retries without pause"
rndfile /tmp/W $((16 * BS))
put /tmp/W 0 $DEV $((4 * N * BS)) $((16 * BS))
dedup_commit rb
expect_status rb "written while the rebuild waits" mode=rw needs_check=- unique=$((N + 16))
[ "$(dmesg_since "$mark" | grep -c "fingerprint index: rebuilding is short of memory; retrying")" = 1 ] ||
	fail "the rebuild's shortage of memory was not logged once"
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
dmesg_since "$mark" | grep -q "fingerprint index: rebuilt after a shortage of memory" ||
	fail "the end of the shortage was not logged"

# 3.
hits0=$(dedup_field rb dedup_hits)
put /tmp/U 0 $DEV $((N * BS)) $((N * BS))
dedup_commit rb
assert_eq "$(($(dedup_field rb dedup_hits) - hits0))" $N "hits after the rebuild"
expect_status rb "after the rebuild" mode=rw needs_check=- unique=$((N + 16))
readdev $DEV $((N * BS)) $((N * BS)) | cmp -s - /tmp/U || fail "the copy reads back"
dedup_teardown

#!/bin/sh
# FLUSH and FUA do not wait for the release of freed blocks (discard
# passdown), and neither does the next commit (issue 11, item 4): with the
# release of 256 freed blocks held back by the test-only
# test_release_delay_ms, an fsync'd write and a further commit complete
# while those blocks are still pending; later they are released.
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
dedup_on_ram fr 64 $BS sha256 commit_period_ms 60000
rndfile /tmp/U $((300 * BS))
pending() { dmsetup message fr 0 stats | sed -n 's/^data_pending_free_blocks=//p'; }

put /tmp/U 0 $DEV 0 $((256 * BS))
dedup_commit fr
# A large "rm": 256 blocks freed; their release waits.
dedup_knob test_release_delay_ms "$(scaled 20)000"
blkdiscard -o 0 -l $((256 * BS)) $DEV || fail "discard"
dedup_commit fr
assert_eq "$(pending)" 256 "blocks pending release after the commit"
# An fsync'd write completes meanwhile ...
dd if=/tmp/U of=$DEV bs=$BS skip=256 seek=400 count=1 conv=fsync \
	oflag=direct status=none || fail "fsync'd write"
assert_eq "$(pending)" 256 "still pending after the fsync"
# ... and so does another commit.
dd if=/tmp/U of=$DEV bs=$BS skip=257 seek=401 count=1 oflag=direct status=none
c=$(dedup_field fr commits)
dedup_commit fr
[ "$(dedup_field fr commits)" -gt "$c" ] || fail "the second commit did not complete"
assert_eq "$(pending)" 256 "still pending after the second commit"
dedup_knob test_release_delay_ms 0
# The release comes, and the blocks are allocatable again.
end=$(($(date +%s) + $(scaled 120)))
while [ "$(pending)" != 0 ]; do
	[ "$(date +%s)" -le $end ] || fail "the freed blocks were never released"
	sleep 0.5
done
expect_status fr "after the release" data_used=2 mapped=2 mode=rw
dd if=/tmp/U bs=$BS skip=256 count=2 status=none > /tmp/two
readdev $DEV $((400 * BS)) $((2 * BS)) | cmp -s - /tmp/two || fail "data written meanwhile"

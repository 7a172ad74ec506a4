#!/bin/sh
# While a commit is in flight (held there by suspending the metadata
# device, so whatever the machine's speed it cannot finish), status says so
# and new writes complete without waiting for it; after the metadata device
# is back the commit finishes and everything is durable and correct.
# timeout: 300
. /tests/lib.sh

load_dedup
mkbrd 2 128
dm_linear meta /dev/ram0
# No periodic commit: the test starts every commit itself.
dedup_create dd1 /dev/mapper/meta /dev/ram1 4096 sha256 commit_period_ms 60000
DEV=/dev/mapper/dd1

# 16 blocks, committed; then block 15 overwritten, so that the metadata the
# writers below need (the LBN map around them) is in the reader's cache:
# no commit publishes anything between this and the writes below.
dd if=/dev/urandom of=/tmp/a bs=4096 count=16 status=none
dd if=/tmp/a of=$DEV bs=4096 oflag=direct status=none
dmsetup message dd1 0 commit || fail "commit message"
dd if=/dev/urandom of=/tmp/a bs=4096 count=1 seek=15 conv=notrunc status=none
dd if=/tmp/a of=$DEV bs=4096 count=1 seek=15 skip=15 oflag=direct status=none

c0=$(dedup_field dd1 commits)
t0=$(dedup_field dd1 transaction_id)
dm_hold meta

# A commit of block 15 starts and sticks in metadata I/O.
dmsetup message dd1 0 commit &
cpid=$!
dedup_wait_field dd1 commit_in_flight 1 60

# 64 more unique blocks, written and acknowledged during that commit. dd runs
# in the background so that a hang is reported, not waited out.
dd if=/dev/urandom of=/tmp/b bs=4096 count=64 status=none
dd if=/tmp/b of=$DEV bs=4096 seek=16 oflag=direct status=none &
ddpid=$!
end=$(($(date +%s) + $(scaled 60)))
while kill -0 $ddpid 2>/dev/null; do
	[ "$(date +%s)" -le $end ] ||
		fail "writes did not complete while the commit was in flight"
	sleep 0.1
done
wait $ddpid || fail "writes failed during the commit"

assert_eq "$(dedup_field dd1 commit_in_flight)" 1 "commit still in flight"
assert_eq "$(dedup_field dd1 commits)" "$c0" "commits finished meanwhile"
assert_eq "$(dedup_field dd1 transaction_id)" "$t0" "transaction meanwhile"
assert_eq "$(dedup_field dd1 mapped)" 80 "mapped blocks (live)"
assert_eq "$(dedup_field dd1 bp_waits)" 0 "writers that waited"

cat /tmp/a /tmp/b > /tmp/all
cmp -n $((80 * 4096)) /tmp/all $DEV || fail "data differs"

dm_release meta
wait $cpid || fail "the commit in flight failed"
dmsetup message dd1 0 commit || fail "commit after resume"
assert_eq "$(dedup_field dd1 commit_in_flight)" 0 "in flight after commit"
[ "$(dedup_field dd1 commits)" -gt "$c0" ] || fail "no commit completed"
assert_eq "$(dedup_field dd1 unique)" 80 "unique blocks"
cmp -n $((80 * 4096)) /tmp/all $DEV || fail "data differs after the commit"

#!/bin/sh
# While a commit is in flight (metadata writes delayed by seconds), status
# says so and new writes complete without waiting for it.
# timeout: 300
. /tests/lib.sh

load_dedup
mkbrd 2 128
MS=$(dev_sectors /dev/ram0)
# Reads are immediate, every metadata write takes 2 s.
dm_create slowmeta "0 $MS delay /dev/ram0 0 0 /dev/ram0 0 2000"
dedup_create dd1 /dev/mapper/slowmeta /dev/ram1 4096 sha256 commit_period_ms 100
DEV=/dev/mapper/dd1

dd if=/dev/urandom of=/tmp/a bs=4096 count=16 2>/dev/null
dd if=/tmp/a of=$DEV bs=4096 oflag=direct 2>/dev/null

# The period commit starts within 100 ms and takes seconds.
i=0
while [ "$(dedup_field dd1 commit_in_flight)" != 1 ]; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "no commit went in flight"
	sleep 0.05
done
c0=$(dedup_field dd1 commits)
t0=$(dedup_field dd1 transaction_id)

# 64 more unique blocks, written and acknowledged during that commit.
dd if=/dev/urandom of=/tmp/b bs=4096 count=64 2>/dev/null
dd if=/tmp/b of=$DEV bs=4096 seek=16 oflag=direct 2>/dev/null ||
	fail "writes failed during the commit"

assert_eq "$(dedup_field dd1 commit_in_flight)" 1 "commit still in flight"
assert_eq "$(dedup_field dd1 commits)" "$c0" "commits finished meanwhile"
assert_eq "$(dedup_field dd1 transaction_id)" "$t0" "transaction meanwhile"
assert_eq "$(dedup_field dd1 mapped)" 80 "mapped blocks (live)"
assert_eq "$(dedup_field dd1 bp_waits)" 0 "writers that waited"

cat /tmp/a /tmp/b > /tmp/all
cmp -n $((80 * 4096)) /tmp/all $DEV || fail "data differs"

dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 commit_in_flight)" 0 "in flight after commit"
[ "$(dedup_field dd1 commits)" -gt "$c0" ] || fail "no commit completed"
assert_eq "$(dedup_field dd1 unique)" 80 "unique blocks"

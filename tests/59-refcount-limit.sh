#!/bin/sh
# A block shared by as many LBNs as its reference count can hold is not
# shared further: the next write of that content stores a new copy, the
# pool stays rw (issue 11, item 7; the limit lowered to 3 by the test-only
# test_refcount_limit, instead of 2^32 - 1).
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
P=/sys/module/dm_dedup/parameters
load_dedup
mkbrd 2 32
DEV=/dev/mapper/rl
trap 'echo 0 > $P/test_refcount_limit' EXIT
echo 3 > $P/test_refcount_limit
dedup_create rl /dev/ram0 /dev/ram1 $BS sha256
dd if=/dev/urandom of=/tmp/b bs=$BS count=1 status=none
i=0
while [ $i -lt 7 ]; do
	dd if=/tmp/b of=$DEV bs=$BS seek=$i oflag=direct status=none || fail "write $i"
	i=$((i + 1))
done
expect_status rl "7 copies, at most 3 per block" mapped=7 unique=3 \
	dedup_hits=4 mode=rw
dedup_commit rl
expect_status rl "after the commit" mapped=7 unique=3 mode=rw needs_check=-
i=0
while [ $i -lt 7 ]; do
	readdev $DEV $((i * BS)) $BS | cmp -s - /tmp/b || fail "block $i"
	i=$((i + 1))
done

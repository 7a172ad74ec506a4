#!/bin/sh
# A block shared by as many LBNs as its reference count can hold is not
# shared further: the next write of that content finds another copy with
# room, or stores a new one, and the pool stays rw (issue 11, item 7; the
# limit lowered to 3 by the test-only test_refcount_limit, instead of
# 2^32 - 1).  The full copies are placed on purpose in the committed index
# and in the open generation: a write that found one full copy in each once
# went from one to the other forever (a worker spinning, the bio never
# completed, the guest hung at teardown).
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 2 32
DEV=/dev/mapper/rl
dedup_knob test_refcount_limit 3
# No periodic commit meanwhile: the test places each copy itself (the
# counts checked do not depend on it, the layering it tests does).
dedup_create rl /dev/ram0 /dev/ram1 $BS sha256 commit_period_ms 60000
dd if=/dev/urandom of=/tmp/b bs=$BS count=1 status=none

# put FIRST LAST: the content at LBNs FIRST..LAST
put() {
	i=$1
	while [ "$i" -le "$2" ]; do
		dd if=/tmp/b of=$DEV bs=$BS seek="$i" oflag=direct \
			status=none || fail "write $i"
		i=$((i + 1))
	done
}

# Copy A (LBNs 0-2) full and committed; copy B (3-5) full, in memory.
put 0 2
dedup_commit rl
put 3 5
expect_status rl "A committed, B in memory" mapped=6 unique=2 dedup_hits=4
# LBN 6 finds B full in memory and A full in the index: copy C.
put 6 6
expect_status rl "a third copy" mapped=7 unique=3 dedup_hits=4 mode=rw
dedup_commit rl
# A, B and C committed: LBNs 7-8 fill C, LBN 9 makes copy D.
put 7 9
expect_status rl "a fourth copy after three full ones" mapped=10 unique=4 \
	dedup_hits=6 mode=rw
dedup_commit rl
# LBNs 10-11 fill D; LBN 12 meets four full copies (DEDUP_SKIP_MAX) and
# stores E without looking further; LBN 13 finds E in memory.
put 10 12
expect_status rl "a fifth copy after four full ones" mapped=13 unique=5 \
	dedup_hits=8 mode=rw
put 13 13
expect_status rl "the fifth copy shared" mapped=14 unique=5 dedup_hits=9
dedup_commit rl
expect_status rl "after the commit" mapped=14 unique=5 mode=rw needs_check=-
i=0
while [ $i -lt 14 ]; do
	readdev $DEV $((i * BS)) $BS | cmp -s - /tmp/b || fail "block $i"
	i=$((i + 1))
done

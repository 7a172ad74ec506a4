#!/bin/sh
# The commit of a generation that a FLUSH waits for runs ahead of the
# writers (issue 25, fdatasync under sustained writes): the commit thread
# is at nice -20 from the freeze until that generation is durable, and
# back at its own nice (0, or what renice set) for the index update and
# publication that follow, and for commits nobody waits for.  The test-only test_apply_delay_ms holds a
# commit between its apply and its flush, test_publish_delay_ms between
# its superblock and its publication; the thread's nice is read from
# /proc there.  Before: 0 throughout.  Ends with dedup_check.
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 4 32
DEV=/dev/mapper/fp
dedup_create fp $M $D $BS sha256 commit_period_ms 60000

# The commit thread of fp (the only device): its pid.
pid=
for c in /proc/[0-9]*/comm; do
	[ "$(cat "$c" 2>/dev/null)" = dedup_commit ] || continue
	[ -z "$pid" ] || fail "more than one dedup_commit thread"
	pid=${c#/proc/}
	pid=${pid%/comm}
done
[ -n "$pid" ] || fail "no dedup_commit thread"
# Field 19 of /proc/PID/stat; the comm (field 2) has no spaces here.
nice_of() { awk '{ print $19 }' "/proc/$pid/stat"; }
assert_eq "$(nice_of)" 0 "nice of the idle commit thread"

rndfile /tmp/A $BS
rndfile /tmp/B $BS
rndfile /tmp/C $BS
hold=$(scaled 4)

# 1. A FLUSH waits: nice -20 while the commit is held after its apply.
dedup_knob test_apply_delay_ms "${hold}000"
dd if=/tmp/A of=$DEV bs=$BS count=1 oflag=direct conv=fsync,notrunc \
	status=none &
sync_pid=$!
dedup_wait_field fp commit_in_flight 1 30
sleep 1
during=$(nice_of)
wait $sync_pid || fail "write + fsync of A"
assert_eq "$during" -20 "nice while a FLUSH waits for the commit"

# 2. After the generation is durable, the publication runs at 0.
dedup_knob test_apply_delay_ms 0
dedup_knob test_publish_delay_ms "${hold}000"
dd if=/tmp/B of=$DEV bs=$BS count=1 seek=1 oflag=direct \
	conv=fsync,notrunc status=none || fail "write + fsync of B"
assert_eq "$(dedup_field fp commit_in_flight)" 1 \
	"commit_in_flight when the fsync of B returned"
assert_eq "$(nice_of)" 0 "nice during the publication"
dedup_wait_field fp commit_in_flight 0 60
dedup_knob test_publish_delay_ms 0

# 3. A periodic commit that no FLUSH waits for: 0 throughout.
dedup_knob test_apply_delay_ms "${hold}000"
dd if=/tmp/C of=$DEV bs=$BS count=1 seek=2 oflag=direct conv=notrunc \
	status=none || fail "write of C"
commits=$(dedup_field fp commits)
dmsetup message fp 0 commit_period_ms 200 || fail "message commit_period_ms"
dedup_wait_field fp commit_in_flight 1 30
sleep 1
assert_eq "$(nice_of)" 0 "nice during a commit nobody waits for"
dedup_wait_field fp commit_in_flight 0 60
dedup_knob test_apply_delay_ms 0
dmsetup message fp 0 commit_period_ms 60000 || fail "message commit_period_ms"
[ "$(dedup_field fp commits)" -gt "$commits" ] || fail "no periodic commit"
assert_eq "$(nice_of)" 0 "nice of the idle commit thread after the periodic commit"

# 4. A nice the admin set survives a boosted commit.
renice -n 5 -p "$pid" >/dev/null || fail "renice of the commit thread"
assert_eq "$(nice_of)" 5 "nice after renice"
dd if=/tmp/A of=$DEV bs=$BS count=1 seek=3 oflag=direct conv=fsync,notrunc \
	status=none || fail "write + fsync of A at LBN 3"
assert_eq "$(nice_of)" 5 "nice after a boosted commit"

for f in A B C; do
	i=$(( $(printf '%d' "'$f") - 65 ))
	readdev $DEV $((i * BS)) $BS | cmp -s - /tmp/$f || fail "LBN $i ($f)"
done
readdev $DEV $((3 * BS)) $BS | cmp -s - /tmp/A || fail "LBN 3 (A)"
expect_status fp "at the end" mode=rw needs_check=- mapped=4 unique=3
dedup_teardown

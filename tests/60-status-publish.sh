#!/bin/sh
# Status counts a commit's changes once, also between the commit and its
# publication (held open 8 s by the test-only test_publish_delay_ms), where
# the first version counted them twice (issue 11, item 7).
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
dedup_on_ram sp 32 $BS sha256 commit_period_ms 60000
rndfile /tmp/U $((64 * BS))
put /tmp/U 0 $DEV 0 $((64 * BS))
dedup_knob test_publish_delay_ms "$(scaled 8)000"
dmsetup message sp 0 commit &
cpid=$!
n=0
while kill -0 $cpid 2>/dev/null; do
	st=$(status_fields sp mapped unique data_used)
	assert_eq "$st" "mapped=64 unique=64 data_used=64" "status during the commit (sample $n)"
	n=$((n + 1))
	sleep 0.2
done
wait $cpid || fail "commit"
log "$n samples during the commit"
[ $n -ge 5 ] || fail "only $n samples: the publish delay did not hold"
expect_status sp "after the commit" mapped=64 unique=64 data_used=64

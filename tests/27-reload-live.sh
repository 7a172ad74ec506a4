#!/bin/sh
# A table reload of a device in use loses nothing: data written before the
# reload but not yet committed (W2, commit_period_ms 60000) and data written
# between "dmsetup reload" and "dmsetup resume" (W3) read back after the
# resume, after more writes + a commit (W4, which must not take blocks in
# use), and after remove + re-create, with counters to match; fio data
# written while the table is reloaded and resumed again and again verifies.
# Every check runs; the failures are listed together at the end.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 2 32
M=/dev/ram0
D=/dev/ram1
DEV=/dev/mapper/rl
MODEL=/tmp/model
truncate -s $((1024 * BS)) $MODEL
dedup_create rl $M $D $BS sha256 commit_period_ms 60000
TABLE=$(dmsetup table rl)
rndfile /tmp/r $((1024 * BS))

problems=""
# soft CMD...: run a check in a subshell, remember its failure message.
soft() {
	local msg
	if ! msg=$( ("$@") 2>&1); then
		log "$msg"
		problems="$problems
  $msg"
	fi
}
ranges() {	# ranges WHEN: W1..W4 (as far as written) against the model
	soft cmp_model $DEV $MODEL 0 $((256 * BS)) "$1: W1 (committed)"
	soft cmp_model $DEV $MODEL $((256 * BS)) $((192 * BS)) \
		"$1: W2 (uncommitted at reload)"
	soft cmp_model $DEV $MODEL $((512 * BS)) $((64 * BS)) \
		"$1: W3 (between reload and resume)"
	soft cmp_model $DEV $MODEL $((576 * BS)) $((448 * BS)) \
		"$1: W4 (after resume) and the rest"
}

# W1: committed. W2: written, not committed (unique + duplicates of W1).
put /tmp/r 0 $DEV 0 $((256 * BS)) $MODEL
dedup_commit rl
put /tmp/r $((256 * BS)) $DEV $((256 * BS)) $((128 * BS)) $MODEL
put /tmp/r 0 $DEV $((384 * BS)) $((64 * BS)) $MODEL
expect_status rl "before reload" mapped=448 unique=384

# Reload the same table; W3 goes in while the new table waits.
dmsetup reload rl --table "$TABLE" || fail "reload failed"
put /tmp/r $((512 * BS)) $DEV $((512 * BS)) $((64 * BS)) $MODEL
dmsetup resume rl || fail "resume failed"
assert_eq "$(dmsetup table rl)" "$TABLE" "table after reload"
ranges "after reload"
soft expect_status rl "after reload" mapped=512 unique=448 data_used=448

# W4 after the reload, committed: must get free blocks.
put /tmp/r $((576 * BS)) $DEV $((576 * BS)) $((128 * BS)) $MODEL
dedup_commit rl
ranges "after W4 + commit"
soft expect_status rl "after W4 + commit" mapped=640 unique=576 data_used=576

# Reloads under I/O: fio writes [8M, 12M) with crc32c verification while
# the table is reloaded and resumed, alternating verify on and off.
vfio() {
	fio --output=/tmp/fio.out --name=v --filename=$DEV --ioengine=libaio \
		--direct=1 --rw=randwrite --bs=4k --iodepth=4 --offset=8M \
		--size=4M --verify=crc32c --verify_fatal=1 "$@" ||
		{ tail -n 20 /tmp/fio.out; return 1; }
}
vfio --rate_iops=300 --do_verify=1 > /tmp/vfio.log 2>&1 &
fpid=$!
i=0
while kill -0 $fpid 2>/dev/null && [ $i -lt 40 ]; do
	i=$((i + 1))
	t=$TABLE
	[ $((i % 2)) = 0 ] ||
		t=$(echo "$TABLE" | sed 's/ 2 commit_period_ms 60000$/ 3 commit_period_ms 60000 verify/')
	dmsetup reload rl --table "$t" || fail "reload $i under I/O"
	dmsetup resume rl || fail "resume $i under I/O"
	sleep 0.2
done
wait $fpid || soft fail "fio verify with reloads under I/O: $(cat /tmp/vfio.log)"
if [ $((i % 2)) = 1 ]; then	# the last reload turned verify on
	dmsetup reload rl --table "$TABLE" && dmsetup resume rl ||
		fail "final reload"
fi
log "$i reloads under I/O"
[ $i -ge 3 ] || soft fail "only $i reloads happened while fio ran"
assert_eq "$(dmsetup table rl)" "$TABLE" "table after the reloads"

dmsetup remove rl
dm_create rl "$TABLE"
ranges "after remove + re-create"
soft expect_status rl "after re-create" mapped=$((640 + 1024)) \
	unique=$((576 + 1024)) data_used=$((576 + 1024))
soft vfio --verify_only=1

[ -z "$problems" ] || fail "data or counters lost across a table reload:$problems"

#!/bin/sh
# A table reload of a device in use loses nothing: data written before the
# reload but not yet committed (W2, commit_period_ms 60000) and data written
# between "dmsetup reload" and "dmsetup resume" (W3) read back after the
# resume, after more writes + a commit (W4, which must not take blocks in
# use), and after remove + re-create, with counters to match; data written
# while the table is reloaded and resumed again and again reads back.
# Every check runs; the failures are listed together at the end.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
dedup_on_ram rl 32 $BS sha256 commit_period_ms 60000
new_model $((1024 * BS))
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

# Reloads under I/O: a writer keeps overwriting blocks [2048, 2304) with
# blocks of /tmp/w2 (the last "block source" line of /tmp/wlog per block says
# what it must hold) until told to stop, while the table is reloaded and
# resumed six times, alternating verify on and off. Each reload waits for
# the writer to have written since the previous one, so reloads and writes
# interleave whatever the machine's speed.
writer() {
	local n=0 b s
	while [ ! -e /tmp/stop ]; do
		b=$(((n * 37) % 256))
		s=$((n % 1024))
		dd if=/tmp/w2 of=$DEV bs=$BS skip=$s seek=$((2048 + b)) count=1 \
			oflag=direct conv=notrunc status=none ||
			{ echo "write $n (block $((2048 + b))) failed" > /tmp/werr; return 1; }
		echo "$b $s" >> /tmp/wlog
		n=$((n + 1))
	done
}
# check_writer WHAT: every block the writer wrote holds its last write.
check_writer() {
	awk '{ last[$1] = $2 } END { for (b in last) print b, last[b] }' /tmp/wlog |
	while read -r b s; do
		readdev $DEV $(((2048 + b) * BS)) $BS > /tmp/got
		dd if=/tmp/w2 bs=$BS skip=$s count=1 status=none > /tmp/want
		cmp -s /tmp/got /tmp/want ||
			{ echo "$1: block $((2048 + b)) is not source block $s"; return 1; }
	done
}
rndfile /tmp/w2 $((1024 * BS))
rm -f /tmp/stop /tmp/werr
: > /tmp/wlog
writer &
wpid=$!
i=0
seen=0
while [ $i -lt 6 ]; do
	end=$(($(date +%s) + $(scaled 60)))
	while [ "$(wc -l < /tmp/wlog)" -le $seen ]; do
		kill -0 $wpid 2>/dev/null || fail "the writer stopped: $(cat /tmp/werr 2>/dev/null)"
		[ "$(date +%s)" -le $end ] || fail "the writer made no progress after reload $i"
		sleep 0.05
	done
	seen=$(wc -l < /tmp/wlog)
	i=$((i + 1))
	t=$TABLE
	[ $((i % 2)) = 0 ] ||
		t=$(echo "$TABLE" | sed 's/ 2 commit_period_ms 60000$/ 3 commit_period_ms 60000 verify/')
	dmsetup reload rl --table "$t" || fail "reload $i under I/O"
	dmsetup resume rl || fail "resume $i under I/O"
done
touch /tmp/stop
wait $wpid || soft fail "writer during the reloads: $(cat /tmp/werr 2>/dev/null)"
log "$i reloads under I/O, $(wc -l < /tmp/wlog) writes"
soft check_writer "after the reloads under I/O"
# Each source block only ever goes to one target block (1024 is a multiple
# of 256), so the writer's blocks are all distinct, and distinct from W1-W4.
WB=$(awk '{ print $1 }' /tmp/wlog | sort -u | wc -l)
assert_eq "$(dmsetup table rl)" "$TABLE" "table after the reloads"

dmsetup remove rl
dm_create rl "$TABLE"
ranges "after remove + re-create"
soft expect_status rl "after re-create" mapped=$((640 + WB)) \
	unique=$((576 + WB)) data_used=$((576 + WB))
soft check_writer "after re-create"

[ -z "$problems" ] || fail "data or counters lost across a table reload:$problems"

#!/bin/sh
# A large discard goes at the pace of commits and holds up no write
# (issue 25): its unmappings are taken into a generation only up to a
# budget (DEDUP_DISCARD_GEN_BYTES: 256 KiB of array entries, 8 B per LBN
# plus 4 B per block that dies: its fingerprint stays), so a discard of
# unique data is spread over several commits instead of one that grows
# with it (here more than two generations' worth, ~21,800 blocks each: the
# stuck commit's and the open one's);
# while a commit is stuck (the metadata device's writes held for a minute,
# its reads served) a discard waits at that budget and a write beside it
# completes.  Afterwards the discarded
# range reads zeroes, the rest reads back, the freed blocks are counted
# free.  Data on a 1 TiB thin volume, metadata reads delayed 2 ms.
# timeout: 600
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 3 512
thin_pool
thin_volume bigdata 0 $TIB
dm_delay slowmeta /dev/ram2 2
# No periodic commit: every commit here is asked for by a discard, a
# message or a full generation.
dedup_create dd1 /dev/mapper/slowmeta /dev/mapper/bigdata $BS sha256 \
	commit_period_ms 60000
DEV=/dev/mapper/dd1
MB=$(by_load 320 256)		# written; the first 3/4 are discarded
DMB=$((MB * 3 / 4))
NB=$((DMB * 256))		# blocks discarded

# Written 16 MiB a commit, so that no writer waits for metadata room
# before the discard (the test asserts below that none waited a second);
# only the kept quarter is kept in RAM, as the model.
dd if=/dev/urandom of=/tmp/u bs=1M count=$((MB - DMB)) status=none
i=0
while [ $i -lt $MB ]; do
	if [ $i -lt $DMB ]; then
		dd if=/dev/urandom of=$DEV bs=1M seek=$i count=16 oflag=direct \
			status=none
	else
		dd if=/tmp/u of=$DEV bs=1M skip=$((i - DMB)) seek=$i count=16 \
			oflag=direct status=none
	fi || fail "write of MiB $i-$((i + 15)) failed"
	dmsetup message dd1 0 commit || fail "commit message"
	i=$((i + 16))
done
[ $i = $MB ] && [ $((DMB % 16)) = 0 ] || fail "MB $MB, DMB $DMB: not 16 MiB pieces"
dmsetup message dd1 0 commit || fail "commit message"
assert_eq "$(dedup_field dd1 unique)" $((MB * 256)) "unique blocks written"
log "before the discard: $(status_fields dd1 bp_waits longest_wait_us)"

# 1. A commit stuck: the discard stops at the budget, a write goes on.
# (dm-delay flushes the writes it holds when it is suspended: dm_swap.)
S=$(dev_sectors /dev/ram2)
unhold() { dm_swap slowmeta "0 $S delay /dev/ram2 0 2 /dev/ram2 0 0"; }
trap 'unhold 2>/dev/null || :' EXIT
dm_swap slowmeta "0 $S delay /dev/ram2 0 2 /dev/ram2 0 60000"
# The discard goes through a linear device over dd1: blkdiscard holds its
# device node's locks for as long as the discard runs, which would hold
# up the dd below (its seek) however fast the target is.
dm_linear dview $DEV
blkdiscard -o 0 -l $((DMB * 1024 * 1024)) /dev/mapper/dview &
dpid=$!
sleep 2
kill -0 $dpid 2>/dev/null ||
	fail "the discard of $NB blocks ended while no commit could finish"
# A write of new data to the kept range.
dd if=/dev/urandom of=/tmp/w bs=$BS count=1 status=none
dd if=/tmp/w of=$DEV bs=$BS seek=$((MB * 256 - 1)) oflag=direct \
	conv=notrunc status=none &
watch_pid $! 10 "a write beside a waiting discard"
kill -0 $dpid 2>/dev/null || fail "the discard ended while the metadata was held"
# Counted while no commit can end: once released, the stuck commit and the
# next can both end before a status taken after the release (seen in CI).
c0=$(dedup_field dd1 commits)
unhold
trap - EXIT

# 2. The rest of the discard: over several commits.
wait $dpid || fail "blkdiscard failed"
dmsetup remove dview || fail "remove dview"
c1=$(dedup_field dd1 commits)
# Unmappings per generation: budget / (8 + 4) B.  Every generation
# the discard fills commits after c0 (the first was stuck at the hold)
# but the last, which no commit has asked for yet.
per=$((256 * 1024 / 12))
want=$(((NB + per - 1) / per - 1))
log "discard of $NB blocks: $((c1 - c0)) commits from the hold on (at least $want expected, $per blocks each)"
[ $((c1 - c0)) -ge "$want" ] ||
	fail "discard of $NB blocks spread over $((c1 - c0)) commits, expected >= $want"
[ "$(dedup_field dd1 longest_wait_us)" -lt 1000000 ] ||
	fail "writers waited $(dedup_field dd1 longest_wait_us) us for room"

# 3. The contents and the counts.
dmsetup message dd1 0 commit || fail "commit message"
dd if=/tmp/w of=/tmp/u bs=$BS seek=$(((MB - DMB) * 256 - 1)) conv=notrunc \
	status=none
dd if=$DEV bs=1M count=$DMB iflag=direct status=none |
	cmp -s -n $((DMB * 1048576)) - /dev/zero ||
	fail "the discarded range does not read zeroes"
dd if=$DEV of=/tmp/got bs=1M skip=$DMB count=$((MB - DMB)) iflag=direct \
	status=none
cmp -s /tmp/u /tmp/got || fail "contents after the discard differ"
rm -f /tmp/got
assert_eq "$(dedup_field dd1 mapped)" $((MB * 256 - NB)) "mapped blocks"
assert_eq "$(dedup_field dd1 unique)" $((MB * 256 - NB)) "unique blocks"
dedup_wait_field dd1 data_used $((MB * 256 - NB))

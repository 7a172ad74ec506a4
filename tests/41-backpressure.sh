#!/bin/sh
# Back-pressure: with a tiny open generation (max_open_mb 1) and a commit
# stuck in metadata I/O (the metadata device suspended), writers fill the open
# generation and then wait for room instead of failing or using more memory;
# meanwhile a read of committed blocks completes at once (issue 23, item 5:
# readers never queue behind writers waiting for room); once the metadata
# device is back, nothing has deadlocked, the waits are counted in status
# (bp_waits, longest_wait_us) and all the data is correct.  Metadata reads
# are delayed 2 ms throughout (dm-delay).
# timeout: 600
. /tests/lib.sh

load_dedup
mkbrd 2 512
dm_delay stuckmeta /dev/ram0 2
dedup_create dd1 /dev/mapper/stuckmeta /dev/ram1 4096 sha256 max_open_mb 1
DEV=/dev/mapper/dd1
DM=dm-$(dmsetup info -c --noheadings -o minor dd1)
MB=$(by_load 96 32)	# written and verified; 1 MiB fills the generation

# Warm the reader's cache of the committed trees (one leaf each while they
# are this small), so that writers need no metadata read while it is stuck:
# a few blocks past fio's range, committed, then one of them overwritten.
dd if=/dev/urandom of=/tmp/warm bs=4096 count=16 status=none
dd if=/tmp/warm of=$DEV bs=4096 seek=$((MB * 256)) oflag=direct \
	conv=notrunc status=none || fail "warm-up write failed"
dmsetup message dd1 0 commit || fail "commit message"
dd if=/tmp/warm of=$DEV bs=4096 count=1 seek=$((MB * 256 + 1)) \
	oflag=direct conv=notrunc status=none || fail "warm-up overwrite failed"

dm_hold stuckmeta
fio --name=bp --filename=$DEV --rw=write --bs=4k --size="${MB}m" \
	--ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
	--do_verify=1 --verify_fatal=1 --output=/tmp/fio.out &
fpid=$!

# writes_done: write requests completed by the dedup device so far.
writes_done() { awk '{ print $5 }' "/sys/block/$DM/stat"; }

# Wait until the writers make no progress for 4 s (all of them waiting; a
# host too busy to run the VM for that long is not the likely cause).
end=$(($(date +%s) + $(scaled 180)))
last=-1
same=0
while [ $same -lt 8 ]; do
	kill -0 $fpid 2>/dev/null ||
		{ cat /tmp/fio.out; fail "fio ended while the metadata device was suspended"; }
	[ "$(date +%s)" -le $end ] ||
		fail "writers never stopped"
	sleep 0.5
	now=$(writes_done)
	if [ "$now" = "$last" ]; then
		same=$((same + 1))
	else
		same=0
		last=$now
	fi
done
log "writers stalled after $last writes, commit_in_flight $(dedup_field dd1 commit_in_flight), bp_waits so far $(dedup_field dd1 bp_waits)"
assert_eq "$(dedup_field dd1 commit_in_flight)" 1 "commit in flight while stalled"
[ "$last" -lt $((MB * 256)) ] || fail "all writes done before the stall"
# Committed blocks read back while every writer waits for room.
# (Blocks 2..15 of the warm-up: block 1 was overwritten since.)
dd if=$DEV of=/tmp/warm.back bs=4096 count=14 skip=$((MB * 256 + 2)) \
	iflag=direct status=none &
watch_pid $! 5 "a read of committed blocks during back-pressure"
dd if=/tmp/warm of=/tmp/warm.want bs=4096 skip=2 status=none
cmp -s /tmp/warm.want /tmp/warm.back || fail "committed blocks read back wrong"

dm_release stuckmeta
wait $fpid || { cat /tmp/fio.out; fail "fio write/verify failed"; }

waits=$(dedup_field dd1 bp_waits)
longest=$(dedup_field dd1 longest_wait_us)
log "back-pressure waits: $waits, longest $longest us"
[ "$waits" -gt 0 ] || fail "back-pressure never engaged"
# The first writer to wait waited through the 4 s without progress (less
# the 0.5 s between samples).
[ "$longest" -ge 3500000 ] || fail "longest wait $longest us, expected >= 3.5 s"
dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 mapped)" $((MB * 256 + 16)) "mapped blocks"
fio --name=bp --filename=$DEV --rw=read --bs=4k --size="${MB}m" \
	--ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
	--verify_fatal=1 --verify_only=1 --output=/tmp/fio2.out ||
	{ cat /tmp/fio2.out; fail "verify after commit failed"; }

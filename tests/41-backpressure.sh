#!/bin/sh
# With a tiny open generation and slow metadata, writers wait for room
# (counted in status), nothing deadlocks, and the data is correct.
# timeout: 600
. /tests/lib.sh

load_dedup
mkbrd 2 512
MS=$(dev_sectors /dev/ram0)
# Every metadata write takes 2 s, so a commit outlasts the time the writers
# need to fill a 1 MiB open generation even on a slow, busy host.
dm_create slowmeta "0 $MS delay /dev/ram0 0 0 /dev/ram0 0 2000"
dedup_create dd1 /dev/mapper/slowmeta /dev/ram1 4096 sha256 max_open_mb 1
DEV=/dev/mapper/dd1

fio --name=bp --filename=$DEV --rw=write --bs=4k --size=96m \
	--ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
	--do_verify=1 --verify_fatal=1 --output=/tmp/fio.out ||
	{ cat /tmp/fio.out; fail "fio write/verify failed"; }

waits=$(dedup_field dd1 bp_waits)
log "back-pressure waits: $waits, longest $(dedup_field dd1 longest_wait_us) us"
[ "$waits" -gt 0 ] || fail "back-pressure never engaged"
dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 mapped)" 24576 "mapped blocks"
fio --name=bp --filename=$DEV --rw=read --bs=4k --size=96m \
	--ioengine=libaio --iodepth=16 --direct=1 --verify=crc32c \
	--verify_fatal=1 --verify_only=1 --output=/tmp/fio2.out ||
	{ cat /tmp/fio2.out; fail "verify after commit failed"; }

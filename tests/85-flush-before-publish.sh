#!/bin/sh
# A FLUSH completes once its generation is durable, not after the index
# update and publication that follow (issue 25, fdatasync latency).  The
# test-only test_publish_delay_ms holds each commit 8 s between its
# superblock and its publication; a 4 KiB write + fsync (dd conv=fsync)
# returns within 4 s (before: >= 8 s) with the commit still in flight.  At
# that moment the metadata device already holds the write (a copy of both
# devices, loaded as a second device: the crash image of the moment the
# fsync returned, reads it back) and the device reads it too (lookups
# still find the generation frozen).  Once published, a copy is a hit.
# Ends with dedup_check.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 4 32
DEV=/dev/mapper/fp
dedup_create fp $M $D $BS sha256 commit_period_ms 60000
rndfile /tmp/X $BS
dedup_knob test_publish_delay_ms "$(scaled 8)000"

uptime_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
start=$(uptime_ms)
dd if=/tmp/X of=$DEV bs=$BS count=1 oflag=direct conv=fsync,notrunc \
	status=none || fail "write + fsync"
ms=$(($(uptime_ms) - start))
log "write + fsync: $ms ms (publication held $(scaled 8) s)"
# The crash image of this moment, before the publication.
dd if=$M of=/dev/ram2 bs=1M status=none || fail "copy of the metadata"
dd if=$D of=/dev/ram3 bs=1M status=none || fail "copy of the data"
inflight=$(dedup_field fp commit_in_flight)
[ "$ms" -lt "$(scaled 4)000" ] ||
	fail "fsync took $ms ms: it waited for the publication"
assert_eq "$inflight" 1 "commit_in_flight when fsync returned"
readdev $DEV 0 $BS | cmp -s - /tmp/X || fail "LBN 0 while the commit is unpublished"

# The copy, loaded as a second device: the write is there.
dm_create fq "$(dedup_table /dev/ram2 /dev/ram3 $BS sha256 commit_period_ms 60000)"
dedup_register fq /dev/ram2
readdev /dev/mapper/fq 0 $BS | cmp -s - /tmp/X ||
	fail "the metadata written before fsync returned lacks the write"
expect_status fq "the crash image" mode=rw needs_check=- mapped=1 unique=1
dmsetup remove fq

dedup_wait_field fp commit_in_flight 0 60
dedup_knob test_publish_delay_ms 0
hits0=$(dedup_field fp dedup_hits)
put /tmp/X 0 $DEV $BS $BS
dedup_commit fp
assert_eq "$(($(dedup_field fp dedup_hits) - hits0))" 1 "hits of a copy after the publication"
expect_status fp "at the end" mode=rw needs_check=- mapped=2 unique=1
dedup_teardown

#!/bin/sh
# A commit whose flush of the data device fails (issue 23, item 10): the
# metadata is intact at the last commit, so the pool goes read-only
# WITHOUT needs_check, logs the data device's failure (not a metadata one),
# and once the data device is back a re-created device is rw with every
# committed block.  The data device is a virtio disk (it has a write cache,
# so flushes reach it) under dm-flakey.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 1 64
V=$(vdisk 1)
dm_linear ddata "$V" $((256 * 2048))
DEV=/dev/mapper/fe
rndfile /tmp/U $((128 * BS))

dedup_create fe $M /dev/mapper/ddata $BS sha256 commit_period_ms 60000
TABLE=$(dmsetup table fe)
put /tmp/U 0 $DEV 0 $((64 * BS))
dedup_commit fe
put /tmp/U $((64 * BS)) $DEV $((64 * BS)) $((64 * BS))
mark=$(new_mark)
dm_fault ddata error_writes
if dmsetup message fe 0 commit 2>/dev/null; then
	fail "a commit succeeded while the data device fails writes"
fi
expect_status fe "after the failed flush" mode=ro needs_check=-
klog=$(dmesg_since "$mark")
printf '%s\n' "$klog" | grep -q "flush data device failed" ||
	fail "the failed flush of the data device was not logged"
if printf '%s\n' "$klog" | grep -Eq "metadata operation|needs_check"; then
	printf '%s\n' "$klog" | tail -n 10
	fail "a data device flush error was treated as a metadata failure"
fi
if dput /tmp/U 0 $DEV $((200 * BS)) $BS 2>/dev/null; then
	fail "a write succeeded in ro mode"
fi
# A discard in ro mode fails if it would drop a block, and succeeds when
# it covers no whole block (it drops nothing, as in rw mode).
if blkdiscard -o 0 -l $BS $DEV 2>/dev/null; then
	fail "a discard of a whole block succeeded in ro mode"
fi
blkdiscard -o 512 -l 1024 $DEV ||
	fail "a discard of part of a block failed in ro mode"

dm_fault ddata linear
dmsetup remove fe
dm_create fe "$TABLE"
expect_status fe "re-created" mode=rw needs_check=- mapped=64
dd if=/tmp/U of=/tmp/U64 bs=$BS count=64 status=none
readdev $DEV 0 $((64 * BS)) | cmp -s - /tmp/U64 ||
	fail "committed blocks after the failed flush"

#!/bin/sh
# Metadata write errors (dm-flakey error_writes under the metadata device):
# a commit fails, the pool goes read-only, and since it cannot even write
# needs_check it goes on to fail mode (as dm-thin does): one kernel log line
# for the failed operation and one per mode change; writes, discards,
# commits and reads all fail.  After flakey is back to pass-through the
# metadata passes dedup_check and re-opens with the last committed state.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 2 32
SECT=$(dev_sectors /dev/ram0)
dm_linear mflakey /dev/ram0
M=/dev/mapper/mflakey
DEV=/dev/mapper/me
new_model $((1024 * BS))
dedup_create me $M $D $BS sha256 commit_period_ms 60000
TABLE=$(dmsetup table me)
rndfile /tmp/r $((1024 * BS))

# W1: committed (with duplicates and zeroes).
put /tmp/r 0 $DEV 0 $((256 * BS)) $MODEL
put /tmp/r 0 $DEV $((256 * BS)) $((32 * BS)) $MODEL
dd if=/dev/zero of=$DEV bs=$BS seek=300 count=8 oflag=direct conv=notrunc \
	status=none
dedup_commit me
committed=$(status_fields me mapped unique zero data_used)
expect_status me "committed" mode=rw mapped=288 unique=256 zero=8

dm_fault mflakey error_writes --nolockfs
if dd if=/dev/zero of=$M bs=4096 seek=$((SECT / 8 - 1)) count=1 \
	oflag=direct conv=notrunc 2>/dev/null; then
	fail "flakey with error_writes accepted a write"
fi
readdev $M 0 4096 > /dev/null || fail "flakey with error_writes fails reads"

# W2: data writes still succeed (the metadata is not written until commit).
mark=$(new_mark)
put /tmp/r $((512 * BS)) $DEV $((512 * BS)) $((64 * BS))
if dmsetup message me 0 commit; then
	fail "commit succeeded with the metadata device failing writes"
fi
assert_match "$(dedup_field me mode)" "^(ro|fail)$" "mode after the failed commit"

# Further writes, discards and commits fail.
if dput /tmp/r $((600 * BS)) $DEV $((600 * BS)) $BS 2>/dev/null; then
	fail "write succeeded in read-only mode"
fi
if dput /tmp/r 512 $DEV 512 512 2>/dev/null; then
	fail "partial write succeeded in read-only mode"
fi
if blkdiscard -o 0 -l $((8 * BS)) $DEV 2>/dev/null; then
	fail "discard succeeded in read-only mode"
fi
if dmsetup message me 0 commit 2>/dev/null; then
	fail "second commit succeeded in read-only mode"
fi

# needs_check cannot be written either: fail mode, where reads fail too.
dedup_wait_field me mode fail 30
if readdev $DEV 0 $BS > /dev/null 2>&1; then
	fail "a read succeeded in fail mode"
fi

klog=$(dmesg_since "$mark")
printf '%s\n' "$klog" | grep 'dedup' || true
name=$(dmsetup info -c --noheadings -o major,minor me)
n=$(printf '%s\n' "$klog" | grep -c "metadata operation '[a-z ]*' failed" || true)
assert_eq "$n" 1 "kernel log lines saying a metadata operation failed"
assert_match "$(printf '%s\n' "$klog" | grep "metadata operation")" \
	"dedup: $name: metadata operation '[a-z ]+' failed: error = -[0-9]+$" \
	"the failed-operation log line"
for m in ro fail; do
	n=$(printf '%s\n' "$klog" | grep -c "$name: switching to $m mode" || true)
	assert_eq "$n" 1 "kernel log lines saying 'switching to $m mode'"
done

# Back to pass-through, remove: the last committed state must be intact.
dm_fault mflakey linear --nolockfs
dedup_remove me
if command -v dedup_check >/dev/null 2>&1; then
	out=$(dedup_check $M 2>&1) || {
		printf '%s\n' "$out"
		fail "dedup_check after the metadata write errors"
	}
	printf '%s\n' "$out"
fi
dedup_create me $M $D $BS sha256 commit_period_ms 60000
log "re-created: $(dmsetup status me)"
assert_eq "$(status_fields me mapped unique zero data_used)" "$committed" \
	"counters after re-create (the last committed state)"
cmp_model $DEV $MODEL 0 $((512 * BS)) "committed data after re-create"

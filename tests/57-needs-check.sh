#!/bin/sh
# Metadata damage found by a lookup (a corrupt btree node) makes the pool
# read-only and sets needs_check on disk (writes still work there); a pool
# loaded with needs_check set is read-only from the start, and a refused
# write neither logs a metadata failure nor rewrites the superblock (issue
# 11, item 7), and a metadata device grown meanwhile is not written either
# (issue 23, item 10: its growth waits for the check).  The documented way back: repair (here: the damaged block put
# back), dedup_check --clear-needs-check-flag, load again: rw.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 3 64
DEV=/dev/mapper/nc
rndfile /tmp/U $((256 * BS))
dedup_create nc $M $D $BS sha256
put /tmp/U 0 $DEV 0 $((256 * BS))
dmsetup remove nc

# Damage the root of the LBN map (a btree node), keeping a copy.
root=$(dedup_dump $M | awk '$1 == "lbn" && $2 ~ /^[0-9]+$/ { print $2; exit }')
[ -n "$root" ] || fail "no lbn root in dedup_dump's output"
dd if=$M of=/tmp/node bs=4096 skip="$root" count=1 status=none
dd if=/dev/urandom of=$M bs=4096 seek="$root" count=1 conv=notrunc status=none

mark=$(new_mark)
dm_create nc "$(dedup_table $M $D $BS sha256)"
if readdev $DEV 0 $BS > /dev/null 2>&1; then
	fail "a read through a corrupt node succeeded"
fi
dedup_wait_field nc needs_check needs_check 30
assert_eq "$(dedup_field nc mode)" ro "mode after metadata damage"
dmesg_since "$mark" | grep -q "switching to ro mode" || fail "no mode change logged"
dmsetup remove nc

# Loaded with needs_check: read-only; a refused write changes nothing.
dm_create nc "$(dedup_table $M $D $BS sha256)"
assert_eq "$(dedup_field nc mode)" ro "mode at load with needs_check"
sb=$(dd if=$M bs=4096 count=1 status=none | md5sum)
mark=$(new_mark)
if dput /tmp/U 0 $DEV 0 $BS 2>/dev/null; then
	fail "a write succeeded in read-only mode"
fi
sleep 1
assert_eq "$(dd if=$M bs=4096 count=1 status=none | md5sum)" "$sb" \
	"superblock after a refused write"
if dmesg_since "$mark" | grep -q "metadata operation"; then
	dmesg_since "$mark"
	fail "a refused write logged a metadata failure"
fi
dmsetup remove nc

# The way back.
if dedup_check --clear-needs-check-flag $M > /tmp/out 2>&1; then
	cat /tmp/out
	fail "needs_check cleared on damaged metadata"
fi
dd if=/tmp/node of=$M bs=4096 seek="$root" count=1 conv=notrunc status=none
dedup_check --clear-needs-check-flag $M || fail "clearing needs_check"
dm_create nc "$(dedup_table $M $D $BS sha256)"
expect_status nc "after repair" mode=rw needs_check=- mapped=256
readdev $DEV 0 $((256 * BS)) | cmp -s - /tmp/U || fail "data after repair"
put /tmp/U 0 $DEV $((300 * BS)) $BS
dmsetup remove nc

# needs_check, and the metadata device grew while the pool was down:
# activation writes nothing to it.
dm_linear smeta /dev/ram2 8192
dm_linear sdata /dev/ram2 16384 65536
dedup_create ng /dev/mapper/smeta /dev/mapper/sdata $BS sha256
put /tmp/U 0 /dev/mapper/ng 0 $((16 * BS))
dmsetup remove ng
ddcorrupt /dev/mapper/smeta sb-set flags 1 || fail "setting needs_check"
dm_swap smeta "0 16384 linear /dev/ram2 0"
sum=$(dev_md5 /dev/mapper/smeta)
dm_create ng "$(dedup_table /dev/mapper/smeta /dev/mapper/sdata $BS sha256)"
expect_status ng "needs_check on a grown metadata device" mode=ro needs_check=needs_check
dd if=/tmp/U of=/tmp/U16 bs=$BS count=16 status=none
readdev /dev/mapper/ng 0 $((16 * BS)) | cmp -s - /tmp/U16 ||
	fail "data read with needs_check"
dmsetup remove ng
assert_eq "$(dev_md5 /dev/mapper/smeta)" "$sum" "grown metadata device after activation with needs_check"
ddcorrupt /dev/mapper/smeta sb-set flags 0 || fail "clearing needs_check"

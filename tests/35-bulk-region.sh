#!/bin/sh
# A metadata device larger than dm-persistent-data's 15.875 GiB metadata
# space map (a 17 GiB thin volume in the guest) gets a bulk region beyond
# that limit, where the array blocks go; data written through it reads back
# after remove + re-create, the metadata passes dedup_check, and dedup_dump
# shows blocks in use in the bulk region (issue 14).
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
# thin-pool: metadata on ram0, data on ram1; a 17 GiB thin volume.
thin_data bigmeta $((17 * GIB))
M=/dev/mapper/bigmeta
DEV=/dev/mapper/bulk
rndfile /tmp/U $((2048 * BS))
MODEL=/tmp/model
truncate -s $((8192 * BS)) $MODEL

dedup_create bulk $M /dev/ram2 $BS sha256
total=$(dedup_field bulk metadata_total)
log "metadata blocks: $total"
[ "$total" -gt 4161600 ] || fail "metadata_total $total: no bulk region"
put /tmp/U 0 $DEV 0 $((2048 * BS)) $MODEL 65536
put /tmp/U 0 $DEV $((4096 * BS)) $((1024 * BS)) $MODEL 65536
dedup_commit bulk
expect_status bulk "written" mapped=3072 unique=2048 mode=rw
dmsetup remove bulk
dedup_dump $M > /tmp/dump || fail "dedup_dump"
grep -E "bulk region from block 4161600: [1-9][0-9]* of" /tmp/dump ||
	{ cat /tmp/dump; fail "no blocks in use in the bulk region"; }
dedup_check $M || fail "dedup_check"
dm_create bulk "$(dedup_table $M /dev/ram2 $BS sha256)"
cmp_model $DEV $MODEL 0 $((8192 * BS)) "data after re-create"
put /tmp/U $((100 * BS)) $DEV $((6000 * BS)) $((100 * BS)) $MODEL 65536
dedup_commit bulk
cmp_model $DEV $MODEL 0 $((8192 * BS)) "data after more writes"

#!/bin/sh
# Memory and start-up by use, not by device size (issue 10): a dedup device
# on a 256 TiB data device (a thin volume) with a 1 PiB logical size loads
# fast, its module memory while empty stays under 64 MiB (kernel slab,
# vmalloc and per-CPU memory before and after the create), it takes unique,
# duplicate and overwrite writes spread over the whole logical range, and
# after remove + re-create everything reads back and dedup_check passes.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
thin_data bigdata $((256 * TIB))
DEV=/dev/mapper/huge
LOGICAL=$((1024 * TIB))

# Kernel memory in KiB: slab + vmalloc + per-CPU (/proc/meminfo).
kmem() {
	awk '/^(Slab|VmallocUsed|Percpu):/ { s += $2 } END { print s }' /proc/meminfo
}
echo 3 > /proc/sys/vm/drop_caches
m0=$(kmem)
t0=$(date +%s)
DEDUP_LEN=$LOGICAL dedup_create huge $M /dev/mapper/bigdata $BS sha256
t1=$(date +%s)
echo 3 > /proc/sys/vm/drop_caches
m1=$(kmem)
used=$(((m1 - m0) / 1024))
st=$(dmsetup message huge 0 stats)
log "created in $((t1 - t0)) s; kernel memory +$used MiB; index $(echo "$st" | sed -n 's/^index_ram_bytes=//p') B, allocator $(echo "$st" | sed -n 's/^allocator_ram_bytes=//p') B"
assert_eq "$(dedup_field huge data_total)" $((256 * TIB / 8)) "data blocks"
[ "$used" -le 64 ] || fail "module memory while empty: $used MiB (limit 64)"

# Writes spread over the whole logical range: start, middle, end.
rndfile /tmp/U $((64 * BS))
MODEL_OFFS="0 $((LOGICAL / 8 / 2)) $((LOGICAL / 8 - 64))"
for lbn in $MODEL_OFFS; do
	put /tmp/U 0 $DEV $((lbn * BS)) $((64 * BS))		# unique, then dups
done
put /tmp/U $((32 * BS)) $DEV $((LOGICAL / 8 / 2 * BS)) $((16 * BS))	# overwrite
dedup_commit huge
expect_status huge "written" mapped=192 unique=64 mode=rw
dmsetup remove huge
dm_create huge "0 $LOGICAL dedup $M /dev/mapper/bigdata $BS sha256"
for lbn in $MODEL_OFFS; do
	want=/tmp/U
	if [ "$lbn" = $((LOGICAL / 8 / 2)) ]; then
		dd if=/tmp/U bs=$BS skip=32 count=16 status=none > /tmp/w
		dd if=/tmp/U bs=$BS skip=16 count=48 status=none >> /tmp/w
		want=/tmp/w
	fi
	readdev $DEV $((lbn * BS)) $((64 * BS)) | cmp -s - $want ||
		fail "data at LBN $lbn after re-create"
done

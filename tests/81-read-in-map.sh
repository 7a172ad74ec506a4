#!/bin/sh
# Reads served in map() (issue 25): a read whose blocks no other bio holds
# or waits for, and whose mappings are in memory (the open generations, or
# the readers' caches of the published commit), is remapped as it is
# submitted, without a read worker (stats: reads_in_map, reads_in_worker).
# On a 1 TiB thin data device, the metadata device under dm-linear (which
# counts its reads): 1,024 blocks (unique runs, zeroes, duplicates, a
# hole) written and committed, then read whole twice in 4 KiB and 64 KiB
# O_DIRECT reads, each compared with the model. The second pass reads no
# metadata and serves every read in map(). After a re-create (cold caches)
# the first reads go to the worker and still compare. With the metadata
# device suspended under a commit that waits for it, reads of committed
# blocks and of a block the waiting commit carries still complete and
# compare. A writer giving one block a new content each time beside a
# reader: every read is one of the contents written, whole. 4 jobs of
# overlapping reads that all miss in map() (test-only test_map_miss)
# finish (when a missed read kept its cells, they could hold every read
# worker). Reads of 2-32 pieces whose split in map() fails (test-only
# test_fail_alloc) are finished by a worker and compare, also 4 jobs of
# them at once over the same blocks.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
NB=1024
thin_data mthin "$TIB"
dm_linear mmeta $M
DEV=/dev/mapper/rm
# commits only when asked (or for room): the test knows what each carries
dedup_create rm /dev/mapper/mmeta /dev/mapper/mthin $BS sha256 commit_period_ms 60000
MODEL=/tmp/rm.model
rndfile $MODEL $((NB * BS))
# blocks 256-319 zero, 320-383 a duplicate of 0-63, 384-447 never written
dd if=/dev/zero of=$MODEL bs=$BS seek=256 count=64 conv=notrunc status=none
dd if=$MODEL of=$MODEL bs=$BS count=64 seek=320 conv=notrunc status=none
dd if=/dev/zero of=$MODEL bs=$BS seek=384 count=64 conv=notrunc status=none
dd if=$MODEL of=$DEV bs=$BS count=384 oflag=direct status=none || fail "write 0-383"
dd if=$MODEL of=$DEV bs=$BS skip=448 seek=448 count=$((NB - 448)) oflag=direct \
	status=none || fail "write 448-$((NB - 1))"
dedup_commit rm
assert_eq "$(dedup_field rm unique)" $((384 - 64 - 64 + NB - 448)) "unique blocks"

meta_reads() {
	awk '{ print $1 }' "/sys/block/$(dmsetup info -c --noheadings -o blkdevname mmeta)/stat"
}

# read_all WHAT: the device in 4 KiB and in 64 KiB O_DIRECT reads, each
# pass compared with the model
read_all() {
	local bsz
	for bsz in 4096 65536; do
		dd if=$DEV of=/tmp/rm.got bs=$bsz count=$((NB * BS / bsz)) iflag=direct \
			status=none || fail "$1: read in $bsz-byte reads"
		cmp -s /tmp/rm.got $MODEL || fail "$1: $bsz-byte reads differ from the model"
	done
}
READS=$((NB + NB / 16))

m0=$(dedup_stat rm reads_in_map)
w0=$(dedup_stat rm reads_in_worker)
[ -n "$m0" ] && [ -n "$w0" ] || fail "no reads_in_map / reads_in_worker in stats"
read_all "first pass"
r0=$(meta_reads)
m1=$(dedup_stat rm reads_in_map)
w1=$(dedup_stat rm reads_in_worker)
read_all "second pass"
r1=$(meta_reads)
m2=$(dedup_stat rm reads_in_map)
w2=$(dedup_stat rm reads_in_worker)
log "first pass: $((m1 - m0)) reads in map(), $((w1 - w0)) in the worker; second: $((m2 - m1)) and $((w2 - w1)), $((r1 - r0)) metadata reads"
[ $((m2 - m1)) -ge $READS ] ||
	fail "$((m2 - m1)) of the second pass's $READS reads served in map()"
assert_eq $((w2 - w1)) 0 "reads the worker served in the second pass"
assert_eq $((r1 - r0)) 0 "metadata reads in the second pass"

# cold caches: the worker reads the mappings, and the data still compares
dedup_remove rm
dedup_create rm /dev/mapper/mmeta /dev/mapper/mthin $BS sha256 commit_period_ms 60000
read_all "after re-create"
w3=$(dedup_stat rm reads_in_worker)
[ "$w3" -ge 1 ] || fail "no read went to the worker with cold caches ($w3)"

# Reads that miss in map() (test_map_miss) give their cells back before
# they go to the read workers: 4 jobs x 16 reads in flight over 256 KiB
# (two cells' ranges) finish. When such a read kept its cells, a read
# queued before it that waited for them could hold every read worker.
m0=$(dedup_stat rm reads_in_map)
w0=$(dedup_stat rm reads_in_worker)
dedup_knob test_map_miss 1
timeout "$(scaled 120)" fio --name=overlap --filename=$DEV --direct=1 --rw=randread \
	--bs=4k --size=256k --iodepth=16 --numjobs=4 --ioengine=libaio --runtime=5 \
	--time_based --group_reporting --output=/tmp/rm.fio ||
	fail "overlapping reads that miss in map(): fio did not finish ($(cat /tmp/rm.fio))"
dedup_knob test_map_miss 0
m1=$(dedup_stat rm reads_in_map)
w1=$(dedup_stat rm reads_in_worker)
log "overlapping reads that miss in map(): $((w1 - w0)) by the workers, $((m1 - m0)) in map()"
assert_eq $((m1 - m0)) 0 "reads served in map() with test_map_miss"
[ $((w1 - w0)) -ge 1000 ] || fail "only $((w1 - w0)) reads in 5 s of fio"
read_all "after the overlapping reads"

# A commit waiting for the metadata device: reads go on. Block 500 is
# rewritten first (its write may read allocator metadata), so the waiting
# commit carries it.
rndfile /tmp/rm.new $BS
dd if=/tmp/rm.new of=$MODEL bs=$BS seek=500 conv=notrunc status=none
dd if=/tmp/rm.new of=$DEV bs=$BS seek=500 oflag=direct conv=notrunc status=none ||
	fail "write of block 500"
c0=$(dedup_field rm commits)
dm_hold mmeta
dmsetup message rm 0 commit &
SYNC=$!
dedup_wait_field rm commit_in_flight 1 60
assert_eq "$(dedup_field rm commits)" "$c0" "commits while the metadata device is suspended"
timeout "$(scaled 30)" dd if=$DEV of=/tmp/rm.got bs=65536 count=$((NB * BS / 65536)) \
	iflag=direct status=none || fail "reads with a commit waiting for the metadata device"
cmp -s /tmp/rm.got $MODEL || fail "reads with a commit waiting differ from the model"
dm_release mmeta
wait $SYNC || fail "the commit after the metadata device came back"

# A writer giving block 600 a new content each time (each overwrite frees
# the block before, and a commit every 20 writes lets the allocator reuse
# it), a reader beside it: every read is one of the contents written, whole.
NW=200
mkdir -p /tmp/rm.w
i=0
while [ $i -le $NW ]; do
	rndfile /tmp/rm.w/$i $BS
	i=$((i + 1))
done
md5sum /tmp/rm.w/* | awk '{ print $1 }' > /tmp/rm.sums
dd if=/tmp/rm.w/0 of=$DEV bs=$BS seek=600 oflag=direct conv=notrunc status=none ||
	fail "write of block 600"
(
	i=1
	while [ $i -le $NW ]; do
		dd if=/tmp/rm.w/$i of=$DEV bs=$BS seek=600 oflag=direct conv=notrunc status=none
		[ $((i % 20)) != 0 ] || dmsetup message rm 0 commit
		i=$((i + 1))
	done
) &
FLIP=$!
n=0
while kill -0 $FLIP 2>/dev/null; do
	dd if=$DEV of=/tmp/rm.one bs=$BS skip=600 count=1 iflag=direct status=none ||
		fail "read of block 600 beside the writer"
	grep -qx "$(md5sum < /tmp/rm.one | awk '{ print $1 }')" /tmp/rm.sums ||
		fail "read $n of block 600 is none of the contents written"
	n=$((n + 1))
done
wait $FLIP || fail "the writer of block 600"
log "$n reads of block 600 beside $NW writes of it, each one of the contents written"
[ $n -ge 20 ] || fail "only $n reads beside the writer"
dd if=/tmp/rm.w/$NW of=$MODEL bs=$BS seek=600 conv=notrunc status=none

# Reads in many pieces (every other block of 448-511 zeroed) whose split
# in map() fails (test_fail_alloc 2: every second allocation that has a
# fallback): map() leaves the rest of the read to the worker.
i=448
while [ $i -lt 512 ]; do
	dd if=/dev/zero of=$DEV bs=$BS seek=$i count=1 oflag=direct conv=notrunc \
		status=none || fail "zero write at block $i"
	dd if=/dev/zero of=$MODEL bs=$BS seek=$i count=1 conv=notrunc status=none
	i=$((i + 2))
done
dedup_commit rm
read_all "before the failed splits"
FA=/sys/module/dm_dedup/parameters/test_failed_allocs
f0=$(cat $FA)
w0=$(dedup_stat rm reads_in_worker)
dedup_knob test_fail_alloc 2
read_all "with failed splits"
dd if=$DEV of=/tmp/rm.got bs=131072 count=$((NB * BS / 131072)) iflag=direct \
	status=none || fail "read in 128 KiB reads with failed splits"
cmp -s /tmp/rm.got $MODEL || fail "128 KiB reads with failed splits differ from the model"
# and many at once over the same blocks: a read left with its cells held
# goes to a worker that waits for no cell, so all of them finish
timeout "$(scaled 120)" fio --name=pieces --filename=$DEV --direct=1 --rw=randread \
	--bs=64k --offset=$((448 * BS)) --size=256k --iodepth=16 --numjobs=4 \
	--ioengine=libaio --runtime=5 --time_based --group_reporting --output=/tmp/rm.fio ||
	fail "overlapping reads in pieces with failed splits: fio did not finish ($(cat /tmp/rm.fio))"
dedup_knob test_fail_alloc 0
f1=$(cat $FA)
w1=$(dedup_stat rm reads_in_worker)
log "failed splits: $((f1 - f0)) allocations failed, $((w1 - w0)) reads finished by the worker"
[ $((f1 - f0)) -ge 1 ] || fail "no split failed in map()"
[ $((w1 - w0)) -ge 1 ] || fail "no read finished by the worker after a failed split"
dedup_teardown

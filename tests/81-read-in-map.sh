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
# compare. A writer flipping one block between two contents beside a
# reader: every read is one of them, whole. Reads of 2-32 pieces whose
# split in map() fails (test-only test_fail_alloc) are finished by the
# worker and compare.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
NB=1024
thin_data mthin "$TIB"
dm_linear mmeta $M
DEV=/dev/mapper/rm
dedup_create rm /dev/mapper/mmeta /dev/mapper/mthin $BS sha256
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
dedup_create rm /dev/mapper/mmeta /dev/mapper/mthin $BS sha256
read_all "after re-create"
w3=$(dedup_stat rm reads_in_worker)
[ "$w3" -ge 1 ] || fail "no read went to the worker with cold caches ($w3)"

# A commit waiting for the metadata device: reads go on. Block 500 is
# rewritten first (its write may read allocator metadata), so the waiting
# commit carries it.
rndfile /tmp/rm.new $BS
dd if=/tmp/rm.new of=$MODEL bs=$BS seek=500 conv=notrunc status=none
dd if=/tmp/rm.new of=$DEV bs=$BS seek=500 oflag=direct conv=notrunc status=none ||
	fail "write of block 500"
dm_hold mmeta
dmsetup message rm 0 commit &
SYNC=$!
sleep 2
kill -0 $SYNC 2>/dev/null || fail "a commit completed with the metadata device suspended"
timeout "$(scaled 30)" dd if=$DEV of=/tmp/rm.got bs=65536 count=$((NB * BS / 65536)) \
	iflag=direct status=none || fail "reads with a commit waiting for the metadata device"
cmp -s /tmp/rm.got $MODEL || fail "reads with a commit waiting differ from the model"
dm_release mmeta
wait $SYNC || fail "the commit after the metadata device came back"

# a writer flipping block 600 between two contents, a reader beside it
rndfile /tmp/rm.a $BS
rndfile /tmp/rm.b $BS
dd if=/tmp/rm.a of=$DEV bs=$BS seek=600 oflag=direct conv=notrunc status=none ||
	fail "write of block 600"
(
	i=0
	while [ $i -lt 200 ]; do
		dd if=/tmp/rm.a of=$DEV bs=$BS seek=600 oflag=direct conv=notrunc status=none
		dd if=/tmp/rm.b of=$DEV bs=$BS seek=600 oflag=direct conv=notrunc status=none
		i=$((i + 1))
	done
) &
FLIP=$!
n=0
while kill -0 $FLIP 2>/dev/null; do
	dd if=$DEV of=/tmp/rm.one bs=$BS skip=600 count=1 iflag=direct status=none ||
		fail "read of block 600 beside the writer"
	cmp -s /tmp/rm.one /tmp/rm.a || cmp -s /tmp/rm.one /tmp/rm.b ||
		fail "read $n of block 600 is neither of the two contents written"
	n=$((n + 1))
done
wait $FLIP || fail "the writer of block 600"
log "$n reads of block 600 beside 400 writes of it, each one of the two contents"
[ $n -ge 20 ] || fail "only $n reads beside the writer"
dd if=/tmp/rm.b of=$MODEL bs=$BS seek=600 conv=notrunc status=none

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
dedup_knob test_fail_alloc 0
f1=$(cat $FA)
w1=$(dedup_stat rm reads_in_worker)
log "failed splits: $((f1 - f0)) allocations failed, $((w1 - w0)) reads finished by the worker"
[ $((f1 - f0)) -ge 1 ] || fail "no split failed in map()"
[ $((w1 - w0)) -ge 1 ] || fail "no read finished by the worker after a failed split"
dedup_teardown

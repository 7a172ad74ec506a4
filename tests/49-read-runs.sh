#!/bin/sh
# Multi-block reads (issue 25): a read of up to 32 blocks goes to the data
# device in one piece per run of blocks contiguous there, not one bio per
# block. On a 1 TiB thin data device (under dm-linear, whose reads are
# counted): 40 unique blocks written one at a
# time (contiguous on the data device), unmapped blocks, zero blocks,
# duplicates of a unique run (contiguous, elsewhere) and in reverse order
# (scattered), unique blocks with a discarded hole, more unique blocks.
# A 128 KiB read of the first 32 blocks costs the data device at most 2
# reads (it was 32); reads of every size and offset, aligned or not,
# across runs and partial blocks, return the model; and the same after
# remove + re-create.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
thin_data rthin "$TIB"
# dm-linear above it counts the reads it is sent (dm-thin splits its own
# at every 64 KiB thin block)
dm_linear rdata /dev/mapper/rthin
DEV=/dev/mapper/rr
dedup_create rr $M /dev/mapper/rdata $BS sha256
NB=96
MODEL=/tmp/rr.model
dd if=/dev/zero of=$MODEL bs=$BS count=$NB status=none
rndfile /tmp/U $((40 * BS))
rndfile /tmp/V $((8 * BS))
rndfile /tmp/W $((16 * BS))
dd if=/dev/zero of=/tmp/Z bs=$BS count=8 status=none

# block by block, in order: the allocator hands out ascending PBNs
i=0
while [ $i -lt 40 ]; do
	put /tmp/U $((i * BS)) $DEV $((i * BS)) $BS $MODEL
	i=$((i + 1))
done
# 40-47 never written
put /tmp/Z 0 $DEV $((48 * BS)) $((8 * BS)) $MODEL
put /tmp/U $((10 * BS)) $DEV $((56 * BS)) $((8 * BS)) $MODEL
i=0
while [ $i -lt 8 ]; do
	put /tmp/U $(((17 - i) * BS)) $DEV $(((64 + i) * BS)) $BS $MODEL
	i=$((i + 1))
done
put /tmp/V 0 $DEV $((72 * BS)) $((8 * BS)) $MODEL
blkdiscard -o $((74 * BS)) -l $((2 * BS)) $DEV || fail "discard of blocks 74-75"
dd if=/dev/zero of=$MODEL bs=$BS seek=74 count=2 conv=notrunc status=none
put /tmp/W 0 $DEV $((80 * BS)) $((16 * BS)) $MODEL
dedup_commit rr
assert_eq "$(dedup_field rr unique)" 62 "unique blocks (40 + 8 - 2 discarded + 16)"

# Reads completed by the data device (a dm device: it counts them).
data_reads() {
	awk '{ print $1 }' "/sys/block/$(dmsetup info -c --noheadings -o blkdevname rdata)/stat"
}

# read_at OFF LEN BSZ: LEN bytes at OFF, O_DIRECT in BSZ-byte reads,
# compared with the model
read_at() {
	dd if=$DEV bs="$3" iflag=direct,skip_bytes,count_bytes skip="$1" count="$2" \
		status=none > /tmp/rr.dev || fail "read of $2 bytes at $1 (bs $3)"
	dd if=$MODEL bs="$3" iflag=skip_bytes,count_bytes skip="$1" count="$2" \
		status=none > /tmp/rr.want
	cmp -s /tmp/rr.dev /tmp/rr.want || fail "read of $2 bytes at $1 (bs $3) differs from the model"
}

check_all() {
	local off
	read_at 0 $((NB * BS)) 131072
	read_at 0 $((NB * BS)) 1048576
	read_at 0 $((NB * BS)) 12288
	# unaligned: partial first and last blocks, across every kind of run
	for off in 512 3584 $((39 * BS + 512)) $((47 * BS + 3072)) \
		$((55 * BS + 1024)) $((63 * BS + 2560)) $((73 * BS + 512)); do
		read_at "$off" 67072 67072
		read_at "$off" 7680 7680
	done
}

r0=$(data_reads)
dd if=$DEV of=/dev/null bs=131072 count=1 iflag=direct status=none ||
	fail "read of the first 32 blocks"
r1=$(data_reads)
log "a 128 KiB read of 32 contiguous blocks: $((r1 - r0)) data device reads"
[ $((r1 - r0)) -le 2 ] ||
	fail "a 128 KiB read of 32 contiguous blocks took $((r1 - r0)) data device reads (at most 2)"
check_all
log "reads of the 96 blocks compare (data device reads: $(($(data_reads) - r1)))"

dedup_remove rr
dedup_create rr $M /dev/mapper/rdata $BS sha256
check_all
dedup_teardown

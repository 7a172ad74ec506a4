#!/bin/sh
# The readers' btree node cache outlives commits (issue 25): a retire
# forgets exactly the nodes the commit freed, not every node. On a 4 GiB
# thin data device, one unique block in each of ~1,000 lbn array blocks (2
# MiB apart: an lbn btree of a root and several leaves), committed. Then
# ROUNDS rounds of one unique 4 KiB write at LBN 1 + fdatasync (a commit
# that shadows the first lbn leaf and the root) and O_DIRECT reads of 48
# blocks 32 MiB apart in the other leaves, each compared with what was
# written. The metadata device, under dm-linear (which counts), serves at
# most 4 reads a round after the first (3.0 measured). When every retire
# dropped the node cache, each round read the root and every leaf the reads
# cross again (9.0 a round); with the node cache kept but the array blocks
# the commit wrote read back from disk by the next lookups, 5.0.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

ROUNDS=$(by_load 20 8)
BS=4096
thin_data nthin $((4 * GIB))
dm_linear nmeta $M
DEV=/dev/mapper/nc
dedup_create nc /dev/mapper/nmeta /dev/mapper/nthin $BS sha256

# one block every 2 MiB (512 LBNs; an lbn array block holds 508)
N=1024
rndfile /tmp/nc.src $((N * BS))
i=0
while [ $i -lt $N ]; do
	echo "$i"
	i=$((i + 1))
done | awk -v bs=$BS '{ printf "%d %d\n", $1 * bs, $1 * 512 * bs }' >/tmp/nc.map
while read -r src dst; do
	dd if=/tmp/nc.src of=$DEV bs=$BS count=1 iflag=skip_bytes oflag=seek_bytes,direct \
		skip="$src" seek="$dst" status=none || fail "write at $dst"
done </tmp/nc.map
dedup_commit nc
assert_eq "$(dedup_field nc unique)" $N "unique blocks written"

meta_reads() {
	awk '{ print $1 }' "/sys/block/$(dmsetup info -c --noheadings -o blkdevname nmeta)/stat"
}

# the blocks read each round: 48 of them 32 MiB apart, from 512 MiB on
# (past the first leaf), each with the offset of its copy in /tmp/nc.src
awk 'NR > 256 && (NR - 1) % 16 == 0' /tmp/nc.map >/tmp/nc.reads
assert_eq "$(wc -l </tmp/nc.reads)" 48 "blocks read a round"

round() {
	rndfile /tmp/nc.w $BS
	dd if=/tmp/nc.w of=$DEV bs=$BS seek=1 count=1 oflag=direct conv=fsync,notrunc \
		status=none || fail "round $1: write + fdatasync"
	while read -r src dst; do
		dd if=$DEV of=/tmp/nc.got bs=$BS count=1 iflag=skip_bytes,direct skip="$dst" \
			status=none || fail "round $1: read at $dst"
		dd if=/tmp/nc.src of=/tmp/nc.want bs=$BS count=1 iflag=skip_bytes skip="$src" \
			status=none
		cmp -s /tmp/nc.got /tmp/nc.want || fail "round $1: block at $dst differs"
	done </tmp/nc.reads
}

c0=$(dedup_field nc commits)
round 0
r0=$(meta_reads)
i=1
while [ $i -le "$ROUNDS" ]; do
	round $i
	i=$((i + 1))
done
r1=$(meta_reads)
c1=$(dedup_field nc commits)
reads=$((r1 - r0))
log "$ROUNDS rounds, $((c1 - c0)) commits: $reads metadata reads ($(awk -v r=$reads -v n="$ROUNDS" 'BEGIN { printf "%.1f", r / n }') a round)"
[ $((c1 - c0)) -ge $((ROUNDS + 1)) ] ||
	fail "$((c1 - c0)) commits in $((ROUNDS + 1)) rounds of write + fdatasync"
[ $reads -le $((4 * ROUNDS)) ] ||
	fail "$reads metadata reads in $ROUNDS rounds (at most $((4 * ROUNDS))): the readers' caches did not outlive the commits"

# the same reads after a re-create (a cold cache) still compare
dedup_remove nc
dedup_create nc /dev/mapper/nmeta /dev/mapper/nthin $BS sha256
round $((ROUNDS + 1))
dedup_teardown

#!/bin/sh
# Readers' copies of lbn array blocks (issue 25): a lookup of LBNs in the
# published commit reads the lbn array block from a copy kept by its
# location on the metadata device, without dm-bufio's client lock (stats:
# read_copies, read_copy_hits); and skips the generations' lock when they
# hold no LBN. On a 1 TiB thin data device and 2 MiB of metadata: 4,096
# blocks (9 lbn array blocks) written and committed, then read whole
# twice: the second pass is served from copies. 12 rounds of new
# contents for 64 random blocks, each read back before its commit (the
# open generation has them) and after it: every commit moves the lbn array
# blocks it changes and frees the old ones, which later commits reuse, so
# a copy kept past its block's free would give a stale mapping (with the
# forget disabled, the first pass already differs and dedup_check finds
# LBNs mapped to free blocks: the write path looks old mappings up too).
# With test_read_copies 4: at most 4 copies while all 9 blocks are read,
# and the reads still compare; with no memory for copies, reads go on
# without them.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
NB=4096
thin_data rc "$TIB"
# 2 MiB of metadata: the space map hands out freed blocks again every few
# commits (it allocates round the device)
dm_linear rcmeta $M 4096
META=/dev/mapper/rcmeta
DEV=/dev/mapper/rcd
dedup_create rcd $META /dev/mapper/rc $BS sha256 commit_period_ms 60000
MODEL=/tmp/rc.model
rndfile $MODEL $((NB * BS))
dd if=$MODEL of=$DEV bs=65536 oflag=direct status=none || fail "write of $NB blocks"
dedup_commit rcd

# read_all WHAT [BS]: the device in O_DIRECT reads, compared with the model
read_all() {
	dd if=$DEV of=/tmp/rc.got bs=${2:-4096} count=$((NB * BS / ${2:-4096})) \
		iflag=direct status=none || fail "$1: read"
	cmp -s /tmp/rc.got $MODEL || fail "$1: the reads differ from the model"
}

h0=$(dedup_stat rcd read_copy_hits)
[ -n "$h0" ] && [ -n "$(dedup_stat rcd read_copies)" ] ||
	fail "no read_copies / read_copy_hits in stats"
read_all "first pass"
h1=$(dedup_stat rcd read_copy_hits)
read_all "second pass"
h2=$(dedup_stat rcd read_copy_hits)
held=$(dedup_stat rcd read_copies)
log "lookups served by copies: $((h1 - h0)) in the first pass, $((h2 - h1)) in the second ($NB reads); $held copies"
[ $((h2 - h1)) -ge $NB ] || fail "only $((h2 - h1)) of the second pass's $NB lookups from copies"
[ "$held" -ge 9 ] || fail "$held copies after reading 9 lbn array blocks"

round=1
ROUNDS=12
while [ $round -le $ROUNDS ]; do
	for b in $(awk -v n=$NB -v s=$round 'BEGIN { srand(s); for (i = 0; i < 64; i++) print int(rand() * n) }'); do
		rndfile /tmp/rc.blk $BS
		dd if=/tmp/rc.blk of=$MODEL bs=$BS seek=$b conv=notrunc status=none
		dd if=/tmp/rc.blk of=$DEV bs=$BS seek=$b oflag=direct conv=notrunc \
			status=none || fail "round $round: write of block $b"
	done
	read_all "round $round, before its commit"
	dedup_commit rcd
	read_all "round $round, after its commit" 65536
	round=$((round + 1))
done
h3=$(dedup_stat rcd read_copy_hits)
log "$ROUNDS rounds: $((h3 - h2)) lookups from copies, $(dedup_stat rcd read_copies) copies"
[ $((h3 - h2)) -ge $((ROUNDS * NB)) ] ||
	fail "only $((h3 - h2)) lookups from copies in $ROUNDS rounds"

# few copies: the oldest go, reads still compare
dedup_remove rcd
dedup_knob test_read_copies 4
dedup_create rcd $META /dev/mapper/rc $BS sha256 commit_period_ms 60000
read_all "with at most 4 copies"
read_all "with at most 4 copies, again"
held=$(dedup_stat rcd read_copies)
log "test_read_copies 4: $held copies"
[ "$held" -ge 1 ] && [ "$held" -le 4 ] || fail "$held copies held with test_read_copies 4"

# no memory for copies (room for 300 M of them is more than kvcalloc
# gives): the device is created without them, and reads still compare
dedup_remove rcd
dedup_knob test_read_copies 300000000
dedup_create rcd $META /dev/mapper/rc $BS sha256 commit_period_ms 60000
read_all "without copies"
log "without memory for copies: $(dedup_stat rcd read_copies) copies, the reads compare"
assert_eq "$(dedup_stat rcd read_copies)" 0 "copies held without memory for them"
dedup_knob test_read_copies 0
dedup_teardown

#!/bin/sh
# The data block allocator at a size where its 16 windows must be evicted
# and chunks loaded again (issue 23, items 1 and 6): a 2 GiB data device
# (17 chunks of 32640 blocks, 16 windows) filled to 97 % with unique blocks,
# so that windows are evicted and chunks loaded again; 10 % of it
# discarded in 50 ranges spread over the device, then overwritten in
# random ranges, with metadata reads delayed 5 ms (dm-delay), 20 ms more
# between the refcount blocks of a window load (test_alloc_read_delay_ms), a
# commit every 100 ms and the release of freed blocks delayed 200 ms, so
# that window loads span publishes while frees are pending.  Every block reads
# back as the last generation written to it (or zeroes where discarded),
# no block is handed out twice (dedup_check at teardown, no WARN), and the
# pool stays rw.
# timeout: 900
. /tests/lib.sh

BS=4096
load_dedup
mkbrd 1 128
dm_delay slowmeta /dev/ram0 5
D=$(vdisk 1)
N=$(($(dev_sectors "$D") / 8))
[ "$N" -gt $((16 * 32640)) ] || fail "data device of $N blocks: not more than 16 chunks"
DEV=/dev/mapper/aw
dedup_knob test_release_delay_ms 200
dedup_knob test_alloc_read_delay_ms 20
dedup_create aw /dev/mapper/slowmeta "$D" $BS xxhash64 commit_period_ms 100

FILL=$((N * 97 / 100))
MODEL=/tmp/model		# "first count gen" lines, applied in order
t0=$(date +%s)
blkpat write-lbn $DEV $BS 0 $FILL 1 || fail "fill write failed"
echo "0 $FILL 1" > $MODEL
log "filled $FILL of $N blocks in $(($(date +%s) - t0)) s"

# 10 % discarded, in 50 ranges spread over the filled part.
step=$((FILL / 50))
len=$((N / 500))
i=0
while [ $i -lt 50 ]; do
	blkdiscard -o $((i * step * BS)) -l $((len * BS)) $DEV ||
		fail "discard of range $i failed"
	echo "$((i * step)) $len 0" >> $MODEL
	i=$((i + 1))
done

# Three passes of 20 random 8 MiB ranges, each a new generation.
pass=2
while [ $pass -le 4 ]; do
	awk -v seed=$pass -v n=$N -v len=2048 'BEGIN {
		srand(seed)
		for (i = 0; i < 20; i++)
			print int(rand() * (n - len))
	}' > /tmp/ranges
	while read -r first; do
		blkpat write-lbn $DEV $BS "$first" 2048 $pass ||
			fail "pass $pass: write at $first failed"
		echo "$first 2048 $pass" >> $MODEL
	done < /tmp/ranges
	log "pass $pass: $(dedup_field aw unique) unique blocks, mode $(dedup_field aw mode)"
	pass=$((pass + 1))
done
dmsetup message aw 0 commit || fail "commit"
assert_eq "$(dedup_field aw mode)" rw "mode"

# Every block: the model's last generation ("0": zeroes) for it.
blkpat read $DEV $BS 0 $N > /tmp/got || fail "read back failed"
awk -v fill=$FILL 'FILENAME == ARGV[1] {
		for (b = $1; b < $1 + $2; b++)
			want[b] = $3
		next
	}
	{
		g = ($1 in want) ? want[$1] : ($1 < fill ? 1 : 0)
		e = g == 0 ? "0" : "L" $1 ".G" g
		if ($2 != e) {
			if (bad++ < 10)
				printf "block %s: %s, expected %s\n", $1, $2, e
		}
		n++
	}
	END {
		printf "%d blocks read, %d wrong\n", n, bad
		exit bad > 0
	}' $MODEL /tmp/got || fail "data read back wrong"
used=$(dedup_field aw data_used)
log "data blocks in use: $used of $N; window loads over 17 chunks done"

#!/bin/sh
# Growth of a live device (issue 11, item 6): a data device grown underneath
# and taken in by reload + resume (no remove) ends out_of_data_space, shows
# its new size in status and takes unique writes into the new blocks; a
# reload that raises max_open_mb gives the generations larger hash tables
# (generation_buckets in stats) once they next commit.
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 2 64
DS=$(dev_sectors /dev/ram1)
half=$((DS / 2))
dm_linear gdata /dev/ram1 $half
DEV=/dev/mapper/go
n1=$((half / 8))
DEDUP_LEN=$DS dedup_create go /dev/ram0 /dev/mapper/gdata $BS sha256
TABLE=$(dmsetup table go)
rndfile /tmp/U $(((n1 + 64) * BS))
MODEL=/tmp/model
truncate -s $((DS * 512)) $MODEL

put /tmp/U 0 $DEV 0 $((n1 * BS)) $MODEL 65536
if dput /tmp/U $((n1 * BS)) $DEV $((n1 * BS)) $BS 2>/dev/null; then
	fail "a unique write beyond the data device succeeded"
fi
expect_status go "full" mode=out_of_data_space data_used=$n1 data_total=$n1

dedup_grow_under go gdata "0 $DS linear /dev/ram1 0"
expect_status go "after growing" mode=rw data_total=$((DS / 8))
put /tmp/U $((n1 * BS)) $DEV $((n1 * BS)) $((64 * BS)) $MODEL 65536
dedup_commit go
expect_status go "unique writes into the new blocks" data_used=$((n1 + 64))
cmp_model $DEV $MODEL 0 $((DS * 512)) "data after growing"

# max_open_mb up: larger generation tables after the next commits.
b0=$(dmsetup message go 0 stats | sed -n 's/^generation_buckets=//p')
BIG=$(echo "$TABLE" | sed 's/ sha256$/ sha256 2 max_open_mb 1024/')
dmsetup reload go --table "$BIG" || fail "reload with max_open_mb 1024"
dmsetup resume go
for i in 1 2; do
	dd if=/tmp/U of=$DEV bs=$BS count=1 seek=$((n1 + 100 + i)) oflag=direct status=none
	dedup_commit go
done
b1=$(dmsetup message go 0 stats | sed -n 's/^generation_buckets=//p')
log "generation buckets: $b0 with max_open_mb 64, $b1 with 1024"
[ "$b1" -gt "$b0" ] || fail "generation tables did not grow: $b0 -> $b1"

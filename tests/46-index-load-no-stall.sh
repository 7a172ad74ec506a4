#!/bin/sh
# Loading a saved fingerprint index never holds up commits (issue 23, item
# 4): metadata generated with 500,000 fingerprints (ddgen), the
# index rebuilt and saved by a clean remove, then activated again with
# metadata reads delayed 2 ms (dm-delay) and, from activation on, one 4 KiB
# write + fdatasync every 100 ms.  While the index loads (index_state
# loading, the committer's inserts queued for shards not loaded yet), the
# longest fdatasync is at most longest_commit_ms + 100 ms, and the index
# ends ready with every fingerprint.
# timeout: 600
. /tests/lib.sh

BS=4096
UNIQUE=$(by_load 500000 100000)
thin_data data $((4 * GIB))
DEV=/dev/mapper/il
ddgen --unique $UNIQUE --data-blocks $((4 * GIB / 8)) \
	-o $M -q || fail "ddgen"

dedup_create il $M /dev/mapper/data $BS sha256
dedup_wait_ready il 400
assert_eq "$(dedup_stat il index_entries)" $UNIQUE "entries after the rebuild"
# A commit after the rebuild, so that the remove saves the index.
dd if=/dev/urandom of=$DEV bs=$BS count=1 seek=$((UNIQUE + 10)) oflag=direct \
	status=none || fail "write"
dedup_save_remove il
dedup_forget il

dm_delay slowmeta $M 2
dedup_create il /dev/mapper/slowmeta /dev/mapper/data $BS sha256
assert_eq "$(dedup_stat il index_state)" loading "index state at activation"
fio --name=sync --filename=$DEV --rw=write --bs=4k --direct=1 \
	--ioengine=psync --fdatasync=1 --thinktime=100000 --offset=$((UNIQUE * BS + 65536)) \
	--size=4m --runtime=$(by_load 15 8) --time_based --output-format=json \
	--output=/tmp/fio.json || fail "fio"
loaded=$(dedup_stat il index_state)
# The longest fdatasync (fio's "sync" latency), in ms.
max=$(awk '/"sync" *: *\{/ { s = 1 } s && /"max" *:/ {
		gsub(/[^0-9.]/, "", $3); print int($3 / 1000000); exit }' /tmp/fio.json)
[ -n "$max" ] || fail "no fdatasync latency in fio's output"
# (fio 3.33 counts them in lat_ns's N, not in total_ios.)
n=$(awk '/"sync" *: *\{/ { s = 1 } s && /"N" *:/ {
		gsub(/[^0-9]/, "", $3); print $3; exit }' /tmp/fio.json)
longest=$(dedup_field il longest_commit_ms)
log "$n fdatasyncs, the longest $max ms; longest commit $longest ms; index $loaded after the probe"
[ "$n" -ge 20 ] || fail "only $n fdatasyncs"
[ "$max" -le $((longest + 100)) ] ||
	fail "an fdatasync took $max ms, the longest commit $longest ms"
dedup_wait_ready il 300
dmsetup message il 0 commit || fail "commit"
entries=$(dedup_stat il index_entries)
unique=$(dedup_field il unique)
assert_eq "$entries" "$unique" "index entries (one per unique block)"
assert_eq "$(dedup_field il mode)" rw "mode"

#!/bin/sh
# The saved fingerprint index is a cache (issue 23, item 3): one saved shard
# record damaged with a valid checksum (its entry count off by one) and met
# on the write path while the index loads, metadata reads delayed 20 ms so
# that writes reach it before the background loader does.  The pool stays
# rw without needs_check, every write succeeds, the damage is logged once,
# what the shard held is rebuilt (index_state rebuilding, then ready), and
# a rewrite afterwards dedups all of it.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
MB=$(by_load 16 4)
NB=$((MB * 256))
setup_ram 2 64
DEV=/dev/mapper/bs
rndfile /tmp/A $((MB * 1024 * 1024))
dedup_create bs $M $D $BS sha256
put /tmp/A 0 $DEV 0 $((NB * BS)) "" 65536
dedup_remove bs

out=$(ddcorrupt $M save-shard-last) || fail "no saved shard to damage"
# shellcheck disable=SC2086
set -- $out
log "saved shard $2 (array block $1): entries $3 -> $4"
dm_delay slowmeta $M 20
mark=$(new_mark)
dedup_create bs /dev/mapper/slowmeta $D $BS sha256
# At once: every fingerprint of A looked up, the damaged shard's on demand.
put /tmp/A 0 $DEV $((NB * BS)) $((NB * BS)) "" 65536
expect_status bs "after writing while the index loads" mode=rw needs_check=-

dedup_wait_ready bs
n=$(dmesg_since "$mark" | grep -c "saved shard $2 unusable" || true)
assert_eq "$n" 1 "times the damaged shard was logged"
dmesg_since "$mark" | grep -E "metadata operation|switching to ro" &&
	fail "the damaged cache failed the pool"
hits0=$(dedup_field bs dedup_hits)
put /tmp/A 0 $DEV $((2 * NB * BS)) $((NB * BS)) "" 65536
dmsetup message bs 0 commit || fail "commit"
assert_eq "$(($(dedup_field bs dedup_hits) - hits0))" $NB "hits of the rewrite after the rebuild"
expect_status bs "at the end" mode=rw needs_check=-
for i in 0 1 2; do
	readdev $DEV $((i * NB * BS)) $((NB * BS)) | cmp -s - /tmp/A ||
		fail "copy $i of the data"
done

#!/bin/sh
# A saved fingerprint index after an online grow across an index geometry
# boundary (issue 23, item 2), on thin data devices: written, grown online
# (table reloaded), written again, removed (the index saved), re-created.
# 256 GiB -> 512 GiB: the saved index keeps the geometry it was built with
# and loads (no rebuild); 1 TiB -> 2 TiB: it cannot address the grown device
# and is rebuilt.  Either way: rw, no index load error, no needs_check, the
# index ends ready, and rewrites of content written before and after the
# grow are all dedup hits.
# timeout: 400
. /tests/lib.sh
. /tests/data.inc

BS=4096
MB=$(by_load 16 4)		# written before and after the grow, each
load_dedup
mkbrd 3 160
thin_pool
M=/dev/ram2
DEV=/dev/mapper/gs
rndfile /tmp/A $((MB * 1024 * 1024))
rndfile /tmp/B $((MB * 1024 * 1024))
rndfile /tmp/C $((MB * 1024 * 1024 / 4))
NB=$((MB * 256))		# blocks in A (and in B)

# round ID FROM_GIB TO_GIB EXPECT: EXPECT is "load" (the saved index is
# used) or "rebuild" (it does not fit the grown device).
round() {
	local id=$1 from=$2 to=$3 expect=$4 table states hits0 hits mark got
	thin_volume "thin$id" "$id" $((from * GIB))
	wipe_superblock $M
	DEDUP_LEN=$((to * GIB)) dedup_create gs $M "/dev/mapper/thin$id" $BS sha256
	table=$(dmsetup table gs)
	put /tmp/A 0 $DEV 0 $((NB * BS)) "" 65536
	put /tmp/C 0 $DEV 0 $((NB * BS / 4)) "" 65536	# dead blocks: tombstones
	dedup_commit gs

	dedup_grow_under gs "thin$id" "0 $((to * GIB)) thin /dev/mapper/pool $id"
	assert_eq "$(dedup_field gs data_total)" $((to * GIB / 8)) "data blocks after the grow"
	put /tmp/B 0 $DEV $((NB * BS)) $((NB * BS)) "" 65536
	dedup_commit gs
	dedup_save_remove gs

	mark=$(new_mark)
	dm_create gs "$table"
	states=$(dedup_stat gs index_state)
	dedup_wait_ready gs
	log "$from -> $to GiB: index $states after the re-create"
	if dmesg_since "$mark" | grep -q "does not fit the data device"; then
		got=rebuild
	else
		got=load
		[ "$states" != rebuilding ] || got="load, but rebuilding"
	fi
	assert_eq "$got" "$expect" "$from -> $to GiB: the saved index"
	if dmesg_since "$mark" | grep -E "loading the saved one failed|unusable|metadata operation|rebuilding failed"; then
		fail "$from -> $to GiB: index load error"
	fi
	expect_status gs "re-created" mode=rw needs_check=-
	hits0=$(dedup_field gs dedup_hits)
	# Rewrites of A's surviving part and of B elsewhere: all duplicates.
	put /tmp/A $((NB * BS / 4)) $DEV $((2 * NB * BS)) $((NB * BS * 3 / 4)) "" 65536
	put /tmp/B 0 $DEV $((3 * NB * BS)) $((NB * BS)) "" 65536
	dedup_commit gs
	hits=$(($(dedup_field gs dedup_hits) - hits0))
	assert_eq "$hits" $((NB * 7 / 4)) "$from -> $to GiB: dedup hits of the rewrites"
	readdev $DEV $((3 * NB * BS)) $((NB * BS)) | cmp -s - /tmp/B ||
		fail "$from -> $to GiB: data of the rewrite"
	readdev $DEV $((NB * BS)) $((NB * BS)) | cmp -s - /tmp/B ||
		fail "$from -> $to GiB: data written after the grow"
	dedup_teardown
	dmsetup remove "thin$id"
	dmsetup message pool 0 "delete $id" || fail "delete $id"
}

round 0 256 512 load
round 1 1024 2048 rebuild
dmsetup remove pool

#!/bin/sh
# Saving the fingerprint index at removal (issue 23, item 8).  A metadata
# device of the size dedup_metadata_size gives for a 256 MiB data device
# (64 MiB with light workloads)
# takes that device filled with unique blocks and then the index save: the
# re-created device loads it (never rebuilds).  A removal stuck in its save
# (its metadata device suspended) holds up no other dedup device: another
# one is created, written and removed meanwhile; the stuck removal then
# ends and its index loads.  A discard on the full device waits for the
# commit that drops the saved copy, however late it looks.
# timeout: 400
. /tests/lib.sh

BS=4096
DMB=$(by_load 256 64)		# MiB of data device, filled
load_dedup
mkbrd 3 272
MSIZE=$(dedup_metadata_size -n -d ${DMB}M) || fail "dedup_metadata_size"
log "dedup_metadata_size -n -d ${DMB}M: $MSIZE bytes"
dm_linear ameta /dev/ram0 $((MSIZE / 512))
dm_linear adata /dev/ram1 $((DMB * 2048))
N=$((DMB * 256))
DEV=/dev/mapper/sa

dedup_create sa /dev/mapper/ameta /dev/mapper/adata $BS sha256
TABLE=$(dmsetup table sa)
blkpat write-lbn $DEV $BS 0 $N 1 || fail "filling the data device failed"
assert_eq "$(dedup_field sa data_used)" $N "data blocks in use"
used=$(dedup_field sa metadata_used)
log "metadata in use: $used of $(dedup_field sa metadata_total) blocks"
dedup_save_remove sa
mark=$(new_mark)
dm_create sa "$TABLE"
st=$(dedup_stat sa index_state)
case $st in
loading | ready) ;;
*) fail "index $st after a clean removal" ;;
esac
dedup_wait_ready sa
dmesg_since "$mark" | grep -q "rebuil" && fail "the index was rebuilt"
assert_eq "$(dedup_stat sa index_entries)" $N "index entries"
assert_eq "$(dedup_field sa mode)" rw "mode with the data device full"

# Room first: the data device is full.  The metadata device too, while the
# loaded index's saved copy is there: the first change asks for the commit
# that drops it, and gets its room.  The discard looks again 0.5 s after
# asking (test_admit_delay_ms), while that commit is written but held 1.5
# s before its publication (test_publish_delay_ms): it must wait for the
# room, not fail with ENOSPC (seen once under host load).
dedup_knob test_admit_delay_ms 500
dedup_knob test_publish_delay_ms 1500
blkdiscard -o 0 -l $((1024 * BS)) $DEV || fail "discard"
dedup_knob test_admit_delay_ms 0
dedup_knob test_publish_delay_ms 0
dmsetup message sa 0 commit || fail "commit"
[ "$(dedup_field sa metadata_used)" -le $((used + 16)) ] ||
	fail "the saved copy still holds room: $(dedup_field sa metadata_used) blocks in use (was $used)"
assert_eq "$(dedup_field sa mode)" rw "mode after the discard"

# A removal stuck in its save.
blkpat write-lbn $DEV $BS 0 256 2 || fail "write"
dmsetup suspend sa || fail "suspend sa"
dm_hold ameta
dmsetup remove sa &
rpid=$!
sleep 2
kill -0 $rpid 2>/dev/null || fail "the removal did not wait for its metadata device"

dm_linear bmeta /dev/ram2 $((16 * 2048))
dm_linear bdata /dev/ram2 $((64 * 2048)) $((16 * 2048))
timeout "$(scaled 30)" dmsetup create sb --table \
	"$(dedup_table /dev/mapper/bmeta /dev/mapper/bdata $BS sha256)" ||
	fail "creating another dedup device waited for the stuck removal"
dedup_register sb /dev/mapper/bmeta
dmsetup mknodes sb >/dev/null 2>&1 || :
blkpat write-lbn /dev/mapper/sb $BS 0 64 1 || fail "write to the other device"
timeout "$(scaled 30)" dmsetup remove sb ||
	fail "removing another dedup device waited for the stuck removal"
kill -0 $rpid 2>/dev/null || fail "the stuck removal ended early"

dm_release ameta
wait $rpid || fail "the removal failed"
mark=$(new_mark)
dm_create sa "$TABLE"
dedup_wait_ready sa
dmesg_since "$mark" | grep -q "rebuil" && fail "the index was rebuilt after the stuck save"
blkpat read $DEV $BS 0 256 | awk '$2 != "L" $1 ".G2" { bad++ } END { exit bad > 0 }' ||
	fail "data written before the stuck removal"

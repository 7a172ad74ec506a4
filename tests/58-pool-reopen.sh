#!/bin/sh
# A new table on a metadata device whose previous table is still being torn
# down (its final commit slowed by dm-delay) waits for that teardown: it
# never opens the metadata a second time (issue 11, item 7), so it sees
# every write of the previous table.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 2 64
dm_delay slow /dev/ram0 0 1500
M=/dev/mapper/slow
rndfile /tmp/U $((64 * BS))
dedup_create a $M $D $BS sha256 commit_period_ms 60000
put /tmp/U 0 /dev/mapper/a 0 $((64 * BS))
# The last writes are uncommitted: removing a commits them, slowly.
dmsetup remove a &
rpid=$!
dedup_forget a
# Until a is gone its table holds the metadata ("already in use"); then b
# must wait for its teardown to finish, not open the metadata beside it.
TB=$(dedup_table $M $D $BS sha256)
end=$(($(date +%s) + $(scaled 60)))
until dmsetup create b --table "$TB" 2>/dev/null; do
	[ "$(date +%s)" -le $end ] || fail "b could not be created"
	sleep 0.05
done
dedup_register b $M
wait $rpid || fail "remove of a"
expect_status b "the second table" mapped=64 unique=64
readdev /dev/mapper/b 0 $((64 * BS)) | cmp -s - /tmp/U || fail "data written through a"

#!/bin/sh
# Persistence: after writes that were never committed by hand (unique,
# duplicate, zero, overwrites, discards), remove + re-create on the same
# devices gives the same data and the same counters (data_used = unique
# once nothing is pending); a second remove +
# re-create with nothing written changes nothing at all (same status line,
# no extra commit). Two block sizes and hashes; features on the first
# table only.
# timeout: 150
. /tests/lib.sh
. /tests/data.inc

setup_ram 2 32
DEV=/dev/mapper/pers
MiB=1048576
# Fields that must survive a re-create. Not data_used: blocks freed by the
# open generation count as used until it is durable; after the re-create
# (nothing pending) it must equal unique.
F="mode needs_check data_total mapped unique dedup_hits zero"

for spec in "4096 sha256" "16384 xxhash64"; do
	set -- $spec
	BS=$1 HASH=$2
	wipe_superblock $M
	dedup_create pers $M $D "$BS" "$HASH" commit_period_ms 60000 verify
	plain=$(dedup_table $M $D "$BS" "$HASH")

	fio --output=/tmp/fio.out --name=mix --filename=$DEV --ioengine=libaio \
		--direct=1 --rw=randwrite --bs="$BS" --iodepth=8 --size=8M \
		--dedupe_percentage=40 --buffer_compress_percentage=0 ||
		fail "fio failed"
	dd if=/dev/zero of=$DEV bs=1M seek=12 count=2 oflag=direct status=none
	dd if=/dev/urandom of=$DEV bs=1M seek=4 count=2 oflag=direct status=none
	dd if=$DEV of=$DEV bs=1M skip=8 seek=18 count=4 iflag=direct \
		oflag=direct conv=notrunc status=none
	blkdiscard -o $((2 * MiB)) -l $((MiB + 3 * 512)) $DEV
	blkdiscard -o $((13 * MiB)) -l $((MiB / 2)) $DEV
	sum1=$(dev_md5 $DEV)
	st1=$(status_fields pers $F)
	log "$HASH/$BS before remove: $st1"
	assert_match "$st1" " mapped=[1-9]" "something mapped"
	assert_match "$st1" " zero=[1-9]" "some zero mappings"
	assert_match "$st1" " dedup_hits=[1-9]" "some dedup hits"
	c1=$(dedup_field pers commits)

	dmsetup remove pers
	dm_create pers "$plain"
	assert_eq "$(dev_md5 $DEV)" "$sum1" "$HASH/$BS: data after re-create"
	assert_eq "$(status_fields pers $F)" "$st1" "$HASH/$BS: counters after re-create"
	assert_eq "$(dedup_field pers data_used)" "$(dedup_field pers unique)" \
		"$HASH/$BS: data_used after re-create"
	c2=$(dedup_field pers commits)
	[ "$c2" -gt "$c1" ] || fail "remove did not commit ($c1 -> $c2 commits)"
	full=$(dmsetup status pers | cut -d' ' -f4-13)

	# Nothing written: the next remove commits nothing, changes nothing.
	dmsetup remove pers
	dm_create pers "$plain"
	assert_eq "$(dmsetup status pers | cut -d' ' -f4-13)" "$full" \
		"$HASH/$BS: status after an idle remove + re-create"
	assert_eq "$(dev_md5 $DEV)" "$sum1" "$HASH/$BS: data after second re-create"
	dedup_remove pers
	if command -v dedup_check >/dev/null 2>&1; then
		dedup_check $M || fail "$HASH/$BS: dedup_check"
	fi
done

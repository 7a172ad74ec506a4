#!/bin/sh
# Full data device (64 blocks), with and without error_if_no_space: unique
# writes beyond capacity fail with ENOSPC and change nothing (status mode
# out_of_data_space), duplicate and zero writes still succeed, data already
# written reads back; after discards + commit unique writes succeed again
# and mode returns to rw. Without error_if_no_space a write that finds only
# blocks freed by an uncommitted discard waits for a commit and succeeds;
# with it, it fails at once.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
NB=64
setup_ram 2 16
dm_linear dsmall /dev/ram1 $((NB * BS / 512))
D=/dev/mapper/dsmall
DEV=/dev/mapper/full
rndfile /tmp/U $((256 * BS))
dd if=/dev/zero of=/tmp/zero bs=$BS count=4 status=none

# nospace_write SRC_BLOCK LBN [COUNT]: a write that must fail with ENOSPC
# and leave the device's contents as they were.
nospace_write() {
	local out
	if out=$(dput /tmp/U $(($1 * BS)) $DEV $(($2 * BS)) $((${3:-1} * BS)) 2>&1); then
		fail "unique write of U[$1] to LBN $2 succeeded on a full device"
	fi
	assert_match "$out" "No space left on device" \
		"error of a unique write to a full device"
}

for eins in 0 1; do
	feats="commit_period_ms 60000"
	[ $eins = 1 ] && feats="$feats error_if_no_space"
	wipe_superblock $M
	new_model $((1024 * BS))
	# The logical device (1024 blocks) is larger than the data device.
	# shellcheck disable=SC2086
	TABLE=$(DEDUP_LEN=$((1024 * BS / 512)) dedup_table $M $D $BS sha256 $feats)
	mark=$(new_mark)
	if ! dmsetup create full --table "$TABLE"; then
		dmesg_since "$mark" | tail -n 5
		fail "a 1024-block device over 64 data blocks was refused: $TABLE"
	fi
	dedup_register full $M
	TABLE=$(dmsetup table full)
	log "--- $TABLE"
	assert_eq "$(dedup_field full data_total)" $NB "data blocks"

	# Fill: U[0..63] at LBN 0..63.
	put /tmp/U 0 $DEV 0 $((NB * BS)) $MODEL $BS
	expect_status full "filled" mode=rw data_used=64 unique=64 mapped=64

	# One more unique block: ENOSPC, nothing mapped.
	nospace_write 64 64
	expect_status full "after a refused write" mode=out_of_data_space \
		data_used=64 unique=64 mapped=64
	# One 4-block write, U[30] U[31] (duplicates) then U[65] U[66]: it
	# fails; the duplicate blocks go in, the unique ones stay unmapped.
	dd if=/tmp/U bs=$BS skip=30 count=2 status=none > /tmp/mix
	dd if=/tmp/U bs=$BS skip=65 count=2 status=none >> /tmp/mix
	if dput /tmp/mix 0 $DEV $((100 * BS)) $((4 * BS)) 2>/dev/null; then
		fail "4-block write with 2 unique blocks succeeded on a full device"
	fi
	dd if=/tmp/mix of=$MODEL bs=$BS count=2 seek=100 conv=notrunc status=none
	# Partial write into a mapped block needs a new block: refused, and
	# the block keeps its old contents.
	if dput /tmp/U $((2000 * 512)) $DEV $((10 * BS + 3 * 512)) 512 \
		2>/dev/null; then
		fail "partial write needing a new block succeeded on a full device"
	fi
	# Duplicates and zeroes still go in.
	put /tmp/U $((5 * BS)) $DEV $((200 * BS)) $BS $MODEL
	put /tmp/U 0 $DEV $((300 * BS)) $((16 * BS)) $MODEL
	put /tmp/zero 0 $DEV $((400 * BS)) $((4 * BS)) $MODEL
	put /tmp/zero 0 $DEV $((20 * BS)) $BS $MODEL		# frees U[20]
	dedup_commit full
	cmp_model $DEV $MODEL 0 $((1024 * BS)) "data on the full device"
	expect_status full "after duplicate and zero writes" mode=rw \
		data_used=63 unique=63 mapped=82 zero=5

	# U[20] came back with that commit: exactly one unique write fits.
	put /tmp/U $((70 * BS)) $DEV $((70 * BS)) $BS $MODEL
	nospace_write 71 71
	expect_status full "full again" mode=out_of_data_space data_used=64

	# Discard LBN 300..315 (second copies of U[0..15]), then LBN 0..7:
	# U[0..4], U[6], U[7] lose their last reference, U[5] is kept by 200.
	blkdiscard -o $((300 * BS)) -l $((16 * BS)) $DEV
	blkdiscard -o 0 -l $((8 * BS)) $DEV
	dd if=/dev/zero of=$MODEL bs=$BS seek=300 count=16 conv=notrunc status=none
	dd if=/dev/zero of=$MODEL bs=$BS count=8 conv=notrunc status=none
	if [ $eins = 1 ]; then
		nospace_write 72 72
		# Referenced blocks drop at once; the freed ones become
		# allocatable only with the commit.
		assert_eq "$(dedup_field full data_used)" 57 \
			"error_if_no_space: data_used before the commit"
		assert_eq "$(dmsetup message full 0 stats |
			sed -n 's/^data_allocatable_blocks=//p')" 0 \
			"error_if_no_space: allocatable blocks before the commit"
		dedup_commit full
		expect_status full "after discard + commit" mode=rw data_used=57
	else
		# The allocator commits to get the freed blocks back.
		put /tmp/U $((72 * BS)) $DEV $((72 * BS)) $BS $MODEL
		expect_status full "write after discard, no commit by hand" \
			mode=rw data_used=58
		dedup_commit full
	fi
	# Fill the rest, then one too many.
	used=$(dedup_field full data_used)
	free=$((NB - used))
	put /tmp/U $((100 * BS)) $DEV $((500 * BS)) $((free * BS)) $MODEL $BS
	nospace_write 180 180
	dedup_commit full
	expect_status full "refilled" mode=out_of_data_space data_used=64
	cmp_model $DEV $MODEL 0 $((1024 * BS)) "data after refill"

	# Everything persists.
	dmsetup remove full
	dm_create full "$TABLE"
	cmp_model $DEV $MODEL 0 $((1024 * BS)) "data after re-create"
	expect_status full "after re-create" data_used=64
	dedup_remove full
	command -v dedup_check >/dev/null 2>&1 && { dedup_check $M || fail "dedup_check"; }
done

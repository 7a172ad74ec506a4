#!/bin/sh
# A unique write to a full data device, while the only free block is freed
# by a commit that is durable but not yet released to the allocator (the
# release held back 5 s by the test-only test_release_delay_ms), waits for
# that release and succeeds: it never hangs (issue 11, item 1), whatever the
# open generation holds.  With error_if_no_space it fails at once instead.
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 2 16
NB=32		# the data device's blocks
dm_linear dsmall /dev/ram1 $((NB * BS / 512))
DEV=/dev/mapper/full
rndfile /tmp/U $(((NB + 8) * BS))

for eins in 0 1; do
	feats="commit_period_ms 60000"
	[ $eins = 1 ] && feats="$feats error_if_no_space"
	wipe_superblock $M
	# shellcheck disable=SC2086
	DEDUP_LEN=$((256 * BS / 512)) dedup_create full $M /dev/mapper/dsmall \
		$BS sha256 $feats
	put /tmp/U 0 $DEV 0 $((NB * BS))
	expect_status full "filled ($feats)" data_used=$NB unique=$NB
	if dput /tmp/U $((NB * BS)) $DEV $((NB * BS)) $BS 2>/dev/null; then
		fail "a unique write beyond capacity succeeded"
	fi
	assert_eq "$(dedup_field full mode)" out_of_data_space "mode when full"

	# Free block 0; its commit becomes durable, its release waits 5 s.
	dedup_knob test_release_delay_ms "$(scaled 5)000"
	blkdiscard -o 0 -l $BS $DEV || fail "discard"
	dedup_commit full
	assert_eq "$(dmsetup message full 0 stats | sed -n 's/^data_pending_free_blocks=//p')" 1 \
		"blocks freed but not yet released"
	t0=$(date +%s)
	if [ $eins = 0 ]; then
		# Waits for the release, then succeeds.
		dput /tmp/U $((NB * BS)) $DEV $((100 * BS)) $BS ||
			fail "the write during the release window failed"
		waited=$(($(date +%s) - t0))
		log "write during the release window completed after $waited s"
		dd if=/tmp/U bs=$BS skip=$NB count=1 status=none > /tmp/one
		readdev $DEV $((100 * BS)) $BS | cmp -s - /tmp/one ||
			fail "the block written during the release window differs"
		expect_status full "after the release" data_used=$NB mode=rw
	else
		if dput /tmp/U $((NB * BS)) $DEV $((100 * BS)) $BS 2>/dev/null; then
			fail "error_if_no_space: the write did not fail at once"
		fi
		# Once released, the block is allocatable.
		end=$(($(date +%s) + $(scaled 60)))
		while [ "$(dmsetup message full 0 stats | sed -n 's/^data_allocatable_blocks=//p')" != 1 ]; do
			[ "$(date +%s)" -le $end ] || fail "the freed block never became allocatable"
			sleep 0.2
		done
		assert_eq "$(dedup_field full mode)" rw "mode after the release"
		put /tmp/U $((NB * BS)) $DEV $((100 * BS)) $BS
	fi
	dedup_knob test_release_delay_ms 0
	dedup_remove full
	dedup_check $M || fail "dedup_check"
done

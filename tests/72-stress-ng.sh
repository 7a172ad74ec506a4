#!/bin/sh
# stress-ng's file stressors on ext4 and on XFS on a dedup device (issue
# 27): --iomix (mixed reads, writes, syncs, truncates), --hdd with
# --verify (every block written is read back and compared) and
# --sync-file (sync_file_range over random ranges), STRESS_SECONDS each
# (default 8; make check-crash: 120).  stress-ng reports no failure, the
# file system's checker is clean after, the files it left verify, and
# dedup_check passes.  Data on a 4 GiB thin volume.
# timeout: 900
. /tests/lib.sh

SECONDS_EACH=${STRESS_SECONDS:-8}
thin_data stdata $((4 * GIB)) 512
DEV=/dev/mapper/st
MNT=/mnt/st
mkdir -p $MNT
dedup_create st $M /dev/mapper/stdata 4096 sha256

for fs in ext4 xfs; do
	fs_mkfs $fs $DEV > /tmp/mkfs.out 2>&1 ||
		{ cat /tmp/mkfs.out; fail "mkfs.$fs failed"; }
	mount -t $fs $DEV $MNT || fail "mount $fs failed"
	# A file of duplicated contents beside it, read back after the run.
	dd if=/dev/urandom of=/tmp/seed bs=64k count=16 status=none
	for i in 1 2 3 4; do cat /tmp/seed; done > $MNT/dups
	sum=$(md5sum < $MNT/dups)
	if ! stress-ng --temp-path $MNT --iomix 2 --hdd 2 --hdd-bytes 64m \
		--sync-file 1 --sync-file-bytes 32m --verify \
		--timeout "${SECONDS_EACH}s" --metrics-brief > /tmp/stress.out 2>&1; then
		cat /tmp/stress.out
		fail "stress-ng failed on $fs"
	fi
	grep -E "passed|failed|skipped|iomix|hdd|sync-file" /tmp/stress.out |
		sed "s/^/$fs: /"
	! grep -qiE "fail(ed)?: [1-9]|verif.*(error|fail)" /tmp/stress.out ||
		fail "stress-ng reports failures on $fs"
	sync
	echo 3 > /proc/sys/vm/drop_caches
	[ "$(md5sum < $MNT/dups)" = "$sum" ] || fail "$fs: the duplicated file changed"
	umount $MNT || fail "umount $fs failed"
	fs_check $fs $DEV > /tmp/fsck.out 2>&1 ||
		{ cat /tmp/fsck.out; fail "the $fs checker finds errors"; }
	log "$fs: stress-ng ${SECONDS_EACH}s clean; status: $(dmsetup status st | cut -d' ' -f4-14)"
done

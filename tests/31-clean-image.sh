#!/bin/sh
# Saves a clean metadata image for the host-side tool tests: a device with
# unique, duplicate and zero data, overwrites, discards and several commits
# is removed, and its metadata device (8 MiB) and data device (16 MiB) are
# copied to /share/clean-meta.img and /share/clean-data.img (host:
# build/vm-share/), with the status of the committed state (re-opened once,
# counters equal to those before the remove) in /share/clean-meta.status
# (name=value lines) and its table in /share/clean-meta.table. The copies
# must equal the devices and pass dedup_check (also with --data-dev).
# timeout: 90
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 2 16
dm_linear cmeta /dev/ram0 16384	# 8 MiB
M=/dev/mapper/cmeta
DEV=/dev/mapper/clean

grep -q '^share /share 9p ' /proc/mounts || fail "/share is not the 9p share"
: > /share/.clean-probe || fail "/share is not writable"
rm -f /share/.clean-probe /share/clean-meta.img /share/clean-data.img \
	/share/clean-meta.status /share/clean-meta.table

dedup_create clean $M $D $BS sha256
rndfile /tmp/r $((512 * BS))
put /tmp/r 0 $DEV 0 $((512 * BS))				# 512 unique
put /tmp/r 0 $DEV $((512 * BS)) $((256 * BS))			# 256 duplicates
put /tmp/r 0 $DEV $((768 * BS)) $((8 * BS))			# 8 more, x3 refs
dd if=/dev/zero of=$DEV bs=$BS seek=1024 count=64 oflag=direct status=none
dedup_commit clean
fio --output=/tmp/fio.out --name=mix --filename=$DEV --ioengine=libaio \
	--direct=1 --rw=randwrite --bs=4k --iodepth=8 --offset=5M --size=3M \
	--dedupe_percentage=50 --buffer_compress_percentage=0 ||
	fail "fio failed"
dedup_commit clean
put /tmp/r $((100 * BS)) $DEV $((10 * BS)) $((20 * BS))	# overwrites
dd if=/dev/zero of=$DEV bs=$BS seek=40 count=10 oflag=direct conv=notrunc \
	status=none						# zero overwrites
blkdiscard -o $((300 * BS)) -l $((100 * BS)) $DEV		# discards
blkdiscard -o $((1030 * BS)) -l $((10 * BS)) $DEV		# zero discards
blkdiscard -o $((600 * BS + 512)) -l $((3 * BS)) $DEV		# unaligned
dedup_commit clean
put /tmp/r $((400 * BS)) $DEV $((2000 * BS)) $((16 * BS))	# left to remove
st=$(dedup_status_dump clean)
printf '%s\n' "$st"
dedup_remove clean

# Re-open once: the committed state has the same counters (data_used =
# unique once nothing is pending); its status goes next to the image.
dedup_create clean $M $D $BS sha256
F="mapped unique zero dedup_hits"
assert_eq "$(status_fields clean $F)" \
	"$(for f in $F; do printf '%s\n' "$st" | grep "^$f="; done | tr '\n' ' ' | sed 's/ $//')" \
	"counters after re-open"
assert_eq "$(dedup_field clean data_used)" "$(dedup_field clean unique)" \
	"data_used after re-open"
dedup_status_dump clean > /tmp/clean.status
table=$(dmsetup table clean)
dedup_remove clean

dd if=$M of=/share/clean-meta.img bs=1M iflag=direct status=none
dd if=$D of=/share/clean-data.img bs=1M iflag=direct status=none
cmp -s $M /share/clean-meta.img || fail "clean-meta.img differs from the device"
cmp -s $D /share/clean-data.img || fail "clean-data.img differs from the device"
cp /tmp/clean.status /share/clean-meta.status
echo "$table" > /share/clean-meta.table
sync
ls -l /share/clean-*

if command -v dedup_check >/dev/null 2>&1; then
	dedup_check /share/clean-meta.img || fail "dedup_check of clean-meta.img"
	dedup_check --data-dev /share/clean-data.img /share/clean-meta.img ||
		fail "dedup_check --data-dev of the clean images"
fi

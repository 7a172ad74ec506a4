#!/bin/sh
# make demo: a dedup device on two disks, fio data at dedupe_percentage=50
# plus an ext4 filesystem holding duplicated files; prints the savings, then
# removes and re-creates the device and shows the data reads back the same.
# timeout: 900
. /tests/lib.sh

say() { echo "$*" | tee -a /share/demo.txt; }
bytes() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }

rm -f /share/demo.txt
load_dedup
META=$(vdisk 0)
DATA=$(vdisk 1)
say "metadata disk $META, data disk $DATA (2 GiB virtio disks)"
DEDUP_LEN=$((1024 * 1024 * 2))	# a 1 GiB dedup device
dedup_create demo "$META" "$DATA" 4096 sha256
DEV=/dev/mapper/demo
say "table: $(dmsetup table demo)"

say "fio: 256 MiB of 4 KiB writes, dedupe_percentage=50, first 512 MiB"
fio --name=demo --filename=$DEV --rw=write --bs=4k --size=256m \
	--ioengine=libaio --iodepth=16 --direct=1 --dedupe_percentage=50 \
	--refill_buffers --buffer_compress_percentage=0 \
	--output=/tmp/fio.out || { cat /tmp/fio.out; fail "fio failed"; }
grep -E "WRITE:" /tmp/fio.out | sed 's/^/  /' | tee -a /share/demo.txt

say "ext4 on the second 512 MiB, with the same files copied 4 times"
dm_create demofs "0 1048576 linear $DEV 1048576"
mkfs.ext4 -q -F /dev/mapper/demofs
mkdir -p /mnt/demo
mount -t ext4 /dev/mapper/demofs /mnt/demo
dd if=/dev/urandom of=/tmp/payload bs=1M count=24 2>/dev/null
for i in 1 2 3 4; do
	mkdir /mnt/demo/copy$i
	cp /tmp/payload /mnt/demo/copy$i/payload
	cp -r /tests /mnt/demo/copy$i/tests
done
sync
(cd /mnt/demo && md5sum copy*/payload) > /tmp/fs.md5
umount /mnt/demo
dmsetup remove demofs
dmsetup message demo 0 commit

bs=4096
st=$(dmsetup status demo)
say "dmsetup status: $st"
mapped=$(dedup_field demo mapped)
unique=$(dedup_field demo unique)
zero=$(dedup_field demo zero)
hits=$(dedup_field demo dedup_hits)
say "logical data written: $(bytes $(((mapped + zero) * bs))) in $((mapped + zero)) blocks ($zero of them all-zero)"
say "physical data stored: $(bytes $((unique * bs))) in $unique blocks"
say "dedup hits: $hits writes shared an existing block"
say "$(awk -v m=$((mapped + zero)) -v u=$unique 'BEGIN {
	printf "dedup ratio %.2f : 1, %.1f %% of the space saved", m / u, 100 * (1 - u / m) }')"

say "checksum of the whole device, remove, re-create from the same disks"
sum1=$(md5sum < $DEV)
dmsetup remove demo
dedup_create demo "$META" "$DATA" 4096 sha256
sum2=$(md5sum < $DEV)
say "before: $sum1"
say "after:  $sum2"
assert_eq "$sum2" "$sum1" "device checksum after re-create"
dm_create demofs "0 1048576 linear $DEV 1048576"
mount -t ext4 -o ro /dev/mapper/demofs /mnt/demo
(cd /mnt/demo && md5sum -c /tmp/fs.md5) | sed 's/^/  /' | tee -a /share/demo.txt
umount /mnt/demo
dmsetup remove demofs
say "status after re-create: $(dmsetup status demo)"
say "the data reads back identically"

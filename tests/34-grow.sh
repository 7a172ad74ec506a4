#!/bin/sh
# The admin guide's "Growing it" recipes work: a live reload with a larger
# <length> grows the logical device (old data intact, the new range usable)
# and the data device, grown underneath (dm-linear) and then the dedup device
# removed and re-created, shows its new size in data_total, takes unique
# writes into the new blocks, and keeps the old data and counters.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 2 64
# The data device: the first half of ram1, then all of it.
half=$(($(dev_sectors /dev/ram1) / 2))
dm_linear gdata /dev/ram1 $half
D=/dev/mapper/gdata
DEV=/dev/mapper/grow
L1=$((half / 8 * 8))
DEDUP_LEN=$L1 dedup_create grow $M $D $BS sha256
n1=$((L1 / 8))			# logical blocks before growing

rndfile /tmp/a $((64 * BS))
put /tmp/a 0 $DEV 0 $((64 * BS))
put /tmp/a 0 $DEV $((64 * BS)) $((64 * BS))
dedup_commit grow
sum=$(readdev $DEV 0 $((128 * BS)) | md5sum)

# 1. the logical size, by a live reload
L2=$((L1 * 2))
TABLE=$(dmsetup table grow | awk -v l="$L2" '{ $2 = l; print }')
dmsetup reload grow --table "$TABLE" || fail "reload with length $L2"
dmsetup resume grow || fail "resume"
assert_eq "$(dev_sectors $DEV)" "$L2" "logical size after the reload"
assert_eq "$(readdev $DEV 0 $((128 * BS)) | md5sum)" "$sum" "old data after growing"
put /tmp/a 0 $DEV $(((L2 / 8 - 64) * BS)) $((64 * BS))	# at the new end
readdev $DEV $(((L2 / 8 - 64) * BS)) $((64 * BS)) | cmp -s - /tmp/a ||
	fail "data at the new end differs"
expect_status grow "after the reload" mapped=192 unique=64 dedup_hits=128 \
	data_total=$n1

# 2. the data device, grown underneath, then remove + re-create
dmsetup remove grow
dm_swap gdata "0 $((half * 2)) linear /dev/ram1 0"
DEDUP_LEN=$L2 dedup_create grow $M $D $BS sha256
expect_status grow "after growing the data device" mapped=192 unique=64 \
	data_total=$((half * 2 / 8))
assert_eq "$(readdev $DEV 0 $((128 * BS)) | md5sum)" "$sum" "old data after re-create"
# more unique blocks than the old data device could hold
more=$((n1 - 64 + 16))
rndfile /tmp/b $((more * BS))
put /tmp/b 0 $DEV $((256 * BS)) $((more * BS)) "" 1048576
dedup_commit grow
expect_status grow "unique writes into the new blocks" unique=$((64 + more)) mode=rw
readdev $DEV $((256 * BS)) $((more * BS)) | cmp -s - /tmp/b || fail "new unique data differs"

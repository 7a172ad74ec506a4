#!/bin/sh
# Records of uncommitted changes when memory is exhausted (issue 23, item
# 7): the pools they come from hold their smallest reserve (3 entries,
# test_pool_size) and the allocator behind them always fails
# (test_fail_gen_alloc), so every record takes entries from the reserves
# alone.  Eight concurrent writers of unique blocks, overwriting each other's
# earlier blocks, all finish (no forward-progress deadlock: a record takes
# its entries all at once, one waiter at a time) and verify.
# timeout: 300
. /tests/lib.sh

load_dedup
mkbrd 2 64
DEV=/dev/mapper/gp
dedup_knob test_pool_size 3
dedup_create gp /dev/ram0 /dev/ram1 4096 sha256
# After the create: a pool allocates its reserve when it is made.
dedup_knob test_fail_gen_alloc 1
KB=$(by_load 512 128)
# Two passes: the second overwrites, so records drop references too.
for pass in 1 2; do
	timeout "$(scaled 200)" fio --name=w --filename=$DEV --rw=randwrite \
		--bs=4k --numjobs=8 --offset_increment=${KB}k --size=${KB}k \
		--ioengine=libaio --iodepth=4 --direct=1 --randseed=$pass \
		--verify=crc32c --do_verify=1 --verify_fatal=1 \
		--output=/tmp/fio.out ||
		{ tail -n 20 /tmp/fio.out; fail "pass $pass: writers did not finish"; }
done
dedup_knob test_fail_gen_alloc 0
dmsetup message gp 0 commit || fail "commit"
assert_eq "$(dedup_field gp mode)" rw "mode"
assert_eq "$(dedup_field gp mapped)" $((8 * KB / 4)) "mapped blocks"

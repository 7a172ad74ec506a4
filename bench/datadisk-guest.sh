#!/bin/sh
# shellcheck shell=dash
# Writes bound by a slow data disk: dm-linear, dm-thin and dedup at 0, 50 and 90 % duplicates
# timeout: 7200
#
# datadisk-guest.sh - the in-guest half of `make bench-datadisk`
# (bench/README.md, issue 25): what a dedup target is deployed for, fewer
# writes to a disk that bounds the writers.
#
# Devices: /dev/vdc, the data disk, a virtio disk that QEMU throttles to
# BENCH_DATA_IOPS write IOPS and BENCH_DATA_BPS B/s; /dev/vdd, the same
# unthrottled (the "cpu" rows: what dedup does when the disk does not bind);
# metadata on a brd RAM disk (/dev/ram0, BENCH_META_MB). The data disk is
# discarded and the RAM disk made anew before each row.
# Rows (/tests/bench/rows.plan, one id a line): TARGET:DUP:PATTERN:DISK
#   TARGET   linear | thin (64 KiB blocks, skip_block_zeroing) | sha256 |
#            xxhash64 (dedup, 4 KiB blocks)
#   DUP      fio dedupe_percentage: 0, 50, 90
#   PATTERN  seq | rand (4 KiB writes, iodepth 32, one job, over the device)
#   DISK     slow (vdc) | cpu (vdd)
# Per row (ROW: the id with ':' as '_'), BENCH_SECONDS of write.fio:
# ROW.json, ROW.disk ("before"/"after" lines of the data disk's
# /sys/block/*/stat), dedup rows ROW.stats.
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

# shellcheck disable=SC2034 # S: the run time write_env gives every row
S=$BENCH_SECONDS
PLAN=/tests/bench/rows.plan
MDEV=/dev/ram0
for d in /dev/vdc /dev/vdd; do
	[ -b $d ] || fail "data disk $d missing"
done

rm -rf "${OUT:?}"/*
load_dedup
bench_env
echo "data=/dev/vdc $(dev_sectors /dev/vdc) sectors, throttled; /dev/vdd unthrottled" >> "$OUT/env"
: > "$OUT/rows"
# shellcheck disable=SC2034 # read by guest-lib.sh
BENCH_TRACE=0

n=0
total=$(wc -l < $PLAN)
while IFS=: read -r target dup pat disk <&3; do
	[ -n "$target" ] || continue
	n=$((n + 1))
	row=${target}_${dup}_${pat}_${disk}
	data=/dev/vdc
	[ "$disk" = slow ] || data=/dev/vdd
	rw=write
	[ "$pat" = seq ] || rw=randwrite
	blkdiscard -f "$data" 2>/dev/null || true
	mkbrd 1 "$BENCH_META_MB"
	sz=$(dev_sectors "$data")
	sz=$((sz / 128 * 128))
	target_create "$target" "$data" "$MDEV" "$sz" 4096
	say "row $n/$total $target:$dup:$pat:$disk"
	size=$(($(dev_sectors "$dev") * 512 / 4096 * 4096))
	write_env "$dev" "$rw" 4k 1 "$size" 1 "$dup"
	echo "before $(cat "/sys/block/${data#/dev/}/stat")" > "$OUT/$row.disk"
	run_fio "$row" write.fio
	target_remove "$target" "$row"
	# After the removal: dedup's last commit and flush are counted.
	echo "after $(cat "/sys/block/${data#/dev/}/stat")" >> "$OUT/$row.disk"
	echo "$target:$dup:$pat:$disk" >> "$OUT/rows"
done 3< $PLAN
say "all rows done"

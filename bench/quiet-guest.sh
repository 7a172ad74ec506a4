#!/bin/sh
# shellcheck shell=dash
# A quiet device: one 4 KiB write + fdatasync every 100 ms and nothing else
# timeout: 3600
#
# quiet-guest.sh - the in-guest half of `make bench-quiet` (bench/README.md,
# issue 25): what one small synchronous write costs when nothing else
# runs, and how many metadata blocks a commit that carries it writes.
# Devices as bench-stall's: data on brd (/dev/ram0), metadata on the
# QEMU-throttled disk /dev/vdc (dm-thin's and dedup's), both made afresh
# before each row. Rows: dm-linear, dm-thin (64 KiB blocks), dedup with
# blocking_commit, dedup (sha256, 4 KiB blocks, commit_period_ms 1000).
# Per row, for BENCH_SECONDS: syncprobe with a 100 ms period (ROW.sync),
# sysstat before and after (ROW.sys: the metadata disk's writes); dedup
# rows: ROW.before.stats and ROW.stats (commits).
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

S=$BENCH_SECONDS
DATA=/dev/ram0
META=/dev/vdc
PROBE_MB=64

# row ROW DEV: the probe alone for S seconds.
row() {
	local dev=$2 bytes
	bytes=$(($(dev_sectors "$dev") * 512))
	say "row $1: ${S}s"
	sysstat before > "$OUT/$1.sys"
	/tests/bench/syncprobe "$dev" $((bytes - PROBE_MB * 1048576)) $((PROBE_MB * 256)) \
		100 "$S" > "$OUT/$1.sync" 2> "$OUT/$1.sync.err" ||
		fail "syncprobe failed on $1: $(cat "$OUT/$1.sync.err")"
	sysstat after >> "$OUT/$1.sys"
	echo "$1" >> "$OUT/rows"
	say "row $1: done, $(wc -l < "$OUT/$1.sync") fdatasyncs"
}

throttled_start

dm_create bench-linear "0 $data_sz linear $DATA 0"
row dm-linear /dev/mapper/bench-linear
dmsetup remove bench-linear || fail "cannot remove bench-linear"

fresh_disks
thin_pool bench "$META" "$DATA" "$data_sz"
row dm-thin /dev/mapper/bench-vol
dmsetup remove bench-vol || fail "cannot remove bench-vol"
dmsetup remove bench-pool || fail "cannot remove bench-pool"

for r in dedup-blocking dedup; do
	fresh_disks
	if [ $r = dedup ]; then
		dedup_create bench-dedup "$META" "$DATA" 4096 sha256 commit_period_ms 1000
	else
		dedup_create bench-dedup "$META" "$DATA" 4096 sha256 commit_period_ms 1000 \
			blocking_commit
	fi
	dedup_stats bench-dedup "$r.before"
	row $r /dev/mapper/bench-dedup
	dedup_stats bench-dedup "$r"
	dedup_teardown
done
say "all rows done"

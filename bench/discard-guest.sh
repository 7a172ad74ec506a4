#!/bin/sh
# shellcheck shell=dash
# A large discard under load: write gaps, fdatasync latency, commit durations
# timeout: 3600
#
# discard-guest.sh - the in-guest half of `make bench-discard` (bench/README.md,
# issue 25). bench/run-vm.sh ships it with discard.fio, guest-lib.sh and
# syncprobe.
#
# Devices: data on a brd RAM disk of BENCH_DATA_MB (/dev/ram0), metadata on
# the QEMU-throttled virtio disk /dev/vdc (dm-thin's and dedup's), both made
# afresh before each row. Rows: dm-linear, dm-thin (64 KiB blocks,
# skip_block_zeroing), dedup (sha256, 4 KiB blocks, commit_period_ms 1000).
# Per row:
#   1. BENCH_FILL_MB of unique data written from offset 0 (unmeasured), then
#      committed (dedup: the commit message; dm-thin commits every second);
#   2. for BENCH_SECONDS, side by side: discard.fio (4 KiB random unique
#      writes, iodepth 16, over the BENCH_FILL_MB after the filled range:
#      ROW_lat.1.log, ROW.json), syncprobe (a 4 KiB write + fdatasync every
#      500 ms in the device's last 64 MiB: ROW.sync), the commit kprobes
#      (ROW.trace), a status sampler (ROW.samples);
#   3. BENCH_DISCARD_AT seconds into it, blkdiscard of the first
#      BENCH_DISCARD_MB: ROW.discard "start_ms end_ms" (CLOCK_MONOTONIC, the
#      clock of the fio log and the trace), or "- -" when the device takes
#      no discard (dm-linear over brd: 6.1's brd has no discard).
# dedup: ROW.status/ROW.stats after the row.
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

S=$BENCH_SECONDS
DATA=/dev/ram0
META=/dev/vdc
PROBE_MB=64
FILL=$BENCH_FILL_MB
[ $((2 * FILL + PROBE_MB)) -le "$BENCH_DATA_MB" ] ||
	fail "BENCH_DATA_MB $BENCH_DATA_MB < 2 x BENCH_FILL_MB + $PROBE_MB"
[ "$BENCH_DISCARD_MB" -le "$FILL" ] || fail "BENCH_DISCARD_MB > BENCH_FILL_MB"

# now_ms: CLOCK_MONOTONIC in ms (/proc/uptime: nothing suspends here).
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# row ROW DEV STATUS_NAME
row() {
	local row=$1 dev=$2 fpid t0 t1
	say "row $row: writing $FILL MiB first"
	prefill "$dev" 4k 1 $((FILL * 1048576))
	[ "$row" != dedup ] || dmsetup message "$3" 0 commit || fail "commit failed"
	sleep 2
	say "row $row: ${S}s, discard of $BENCH_DISCARD_MB MiB at ${BENCH_DISCARD_AT}s"
	probes_start "$row" "$dev" "$3"
	BENCH_DEV=$dev BENCH_RUNTIME=$S BENCH_LOG=$OUT/$row \
		BENCH_OFFSET=$((FILL * 1048576)) BENCH_SIZE=$((FILL * 1048576)) \
		run_fio "$row" discard.fio &
	fpid=$!
	sleep "$BENCH_DISCARD_AT"
	if [ "$(cat "/sys/block/dm-$(dmsetup info -c --noheadings -o minor "${dev#/dev/mapper/}")/queue/discard_max_bytes")" = 0 ]; then
		echo "- -" > "$OUT/$row.discard"
		say "row $row: takes no discard"
	else
		t0=$(now_ms)
		blkdiscard -o 0 -l $((BENCH_DISCARD_MB * 1048576)) "$dev" ||
			fail "blkdiscard failed on $row"
		t1=$(now_ms)
		echo "$t0 $t1" > "$OUT/$row.discard"
		say "row $row: discard took $((t1 - t0)) ms"
	fi
	wait $fpid || fail "fio failed on $row"
	probes_stop "$row"
	echo "$row" >> "$OUT/rows"
	say "row $row: done, $(wc -l < "$OUT/${row}_lat.1.log") completions," \
		"$(wc -l < "$OUT/$row.sync") fdatasyncs"
}

throttled_start
printf 'fill_mb=%s\ndiscard_mb=%s\ndiscard_at=%s\n' "$FILL" "$BENCH_DISCARD_MB" \
	"$BENCH_DISCARD_AT" >> "$OUT/env"

dm_create bench-linear "0 $data_sz linear $DATA 0"
row dm-linear /dev/mapper/bench-linear bench-linear
dmsetup remove bench-linear

fresh_disks
thin_pool bench-thin "$META" "$DATA" "$data_sz"
row dm-thin /dev/mapper/bench-thin-vol bench-thin-pool
dmsetup remove bench-thin-vol
dmsetup remove bench-thin-pool

fresh_disks
dedup_create bench-dedup "$META" "$DATA" 4096 sha256 commit_period_ms 1000
row dedup /dev/mapper/bench-dedup bench-dedup
dedup_stats bench-dedup dedup
say "all rows done"

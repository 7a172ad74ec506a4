#!/bin/sh
# shellcheck shell=dash
# Sustained unique writes: commit duration, FLUSH latency, metadata written and RAM over time
# timeout: 7200
#
# sustained-guest.sh - the in-guest half of `make bench-sustained`
# (bench/README.md; issue 10). bench/run-vm.sh ships it with stall.fio,
# guest-lib.sh and syncprobe (bench/syncprobe.c, built static on the host).
#
# Devices:
#   /dev/ram0 data: brd of BENCH_DATA_MB, re-created before each row
#   /dev/vdc  metadata: virtio disk throttled by QEMU (as in bench-stall);
#             discarded and its first MiB zeroed before each row. The
#             *-slowread rows put dm-delay on it (bench-mslow): reads
#             delayed BENCH_META_READ_DELAY_MS, writes and flushes not
#   /dev/vdd  only with BENCH_PREFILL=1: a copy of the pre-filled metadata
#             image (same throttle). Its row's data device is PREFILL_DATA_MB
#             of dm-zero (the blocks the image says are written: unique
#             writes never read them) followed by /dev/ram0.
# Rows: dm-linear, dm-thin (64 KiB blocks, metadata on vdc), dedup with
# blocking_commit, dedup, dedup-slowread (dedup, slow metadata reads),
# dedup-mix and dedup-mix-slowread (BENCH_OVERWRITE_MB written first, then
# overwritten with fio dedupe_percentage=50), dedup-load-slowread
# (BENCH_OVERWRITE_MB of unique data written first and the device removed,
# its index saved, and made again: the writer writes past that data while
# the index loads; ROW.loaded: the uptime in ms when it was ready), and
# dedup-prefilled when
# BENCH_PREFILL=1; dedup rows sha256, 4 KiB blocks, commit_period_ms 1000
# (dedup and dedup-slowread: BENCH_COMMIT_PERIOD_MS, default 1000).
# BENCH_ROWS (bench/run-vm.sh) picks them.
# Per row, for BENCH_SECONDS, side by side:
#   - stall.fio: 4 KiB sequential unique writes, iodepth 32, one latency log
#     line per completion (ROW_lat.1.log), ROW.json;
#   - syncprobe: every 500 ms one 4 KiB O_DIRECT write + fdatasync in the
#     last 64 MiB of the device (ROW.sync: start ms, write us, sync us);
#   - a sampler: uptime (= CLOCK_MONOTONIC here: nothing suspends) and
#     `dmsetup status` every second (ROW.samples; dm-thin: the pool's);
#   - kprobes on the commit paths (ROW.trace; dm-thin's commit durations);
#   - stallprobe: a 5 ms SCHED_FIFO timer pinned to each CPU; its wake-ups
#     more than 20 ms late (ROW.stalls: cpu, due ms, woke ms).
# ROW.sys: sysstat at "create" (before the device exists), "ready" (dedup
# rows: the device made), "before" and
# "after" the run; dedup rows: ROW.before.stats/.status and ROW.stats/.status.
# *-slowread rows: ROW.readlat, "delayed_ms plain_ms": the mean time of a
# 4 KiB O_DIRECT read of the metadata disk through dm-delay and without it
# (dm-delay counts jiffies). dedup-mix rows: ROW.workload, what was written.
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

S=${BENCH_SECONDS:-360}
DATA=/dev/ram0
META=/dev/vdc
PRE=/dev/vdd
PROBE_MB=64

[ "${BENCH_PREFILL:-0}" = 0 ] || [ -b "$PRE" ] || fail "pre-filled metadata disk $PRE missing"

# measure ROW DEV STATUS_NAME: the writer, the probe and the sampler, side by
# side for S seconds.
measure() {
	local row=$1 dev=$2 lpid
	say "row $row: ${S}s on $dev"
	# The probes are given a minute more than the writer and stopped
	# (SIGTERM) when it ends, so that they cover all of it: fio starts
	# writing a little after them.
	probes_start "$row" "$dev" "$3"
	# Late wake-ups (> 20 ms) of a 5 ms SCHED_FIFO timer on each CPU.
	/tests/bench/stallprobe 5 20 $((S + 60)) > "$OUT/$row.stalls" 2> "$OUT/$row.stalls.err" &
	lpid=$!
	# shellcheck disable=SC2086 # ROW_FIO: fio options, one a word
	BENCH_DEV=$dev BENCH_RUNTIME=$S BENCH_LOG=$OUT/$row run_fio "$row" stall.fio ${ROW_FIO:-}
	kill -TERM $lpid 2>/dev/null || true
	wait $lpid || fail "stallprobe failed on $row: $(cat "$OUT/$row.stalls.err")"
	probes_stop "$row"
	say "row $row: done, $(wc -l < "$OUT/${row}_lat.1.log") completions," \
		"$(wc -l < "$OUT/$row.sync") fdatasyncs"
}

# dedup_row ROW META DATA FEATURE...: one dedup row, sha256, 4 KiB blocks.
# With ROW_OFFSET (sectors), the writer writes past that offset (through a
# dm-linear on top), so that a pre-filled image's LBNs are not overwritten;
# the row then first waits for the fingerprint index to be ready (rebuilt
# from the image). With ROW_PREFILL_MB, that much is written first (unique
# data, unmeasured) and committed, for the writer to overwrite; ROW_FIO:
# options added to stall.fio's (measure).
dedup_row() {
	local row=$1 meta=$2 data=$3 dev=/dev/mapper/bench-dedup t0
	shift 3
	sysstat create > "$OUT/$row.sys.create"
	dedup_create bench-dedup "$meta" "$data" 4096 sha256 "$@"
	dmsetup table bench-dedup > "$OUT/$row.table"
	sysstat ready >> "$OUT/$row.sys.create"
	if [ -n "${ROW_OFFSET:-}" ]; then
		t0=$(date +%s)
		while [ "$(dmsetup message bench-dedup 0 stats | sed -n 's/^index_state=//p')" != ready ]; do
			sleep 2
		done
		say "row $row: index ready after $(($(date +%s) - t0)) s:" \
			"$(dmsetup message bench-dedup 0 stats | grep -E '^index_(entries|ram_bytes)=' | tr '\n' ' ')"
		dm_create bench-off "0 $data_sz linear /dev/mapper/bench-dedup $ROW_OFFSET"
		dev=/dev/mapper/bench-off
	fi
	if [ -n "${ROW_LOAD_MB:-}" ]; then
		say "row $row: writing $ROW_LOAD_MB MiB, then removing the device (its index saved) and making it again"
		prefill "$dev" 4k 1 $((ROW_LOAD_MB * 1048576))
		dmsetup message bench-dedup 0 commit || fail "commit of the data written first"
		dedup_save_remove bench-dedup
		dedup_create bench-dedup "$meta" "$data" 4096 sha256 "$@"
		dmsetup message bench-dedup 0 stats | grep -q '^index_state=loading$' ||
			fail "row $row: the index is not loading after the re-create"
		load_watch "$OUT/$row.loaded" &
		dm_create bench-off "0 $((data_sz - ROW_LOAD_MB * 2048)) linear /dev/mapper/bench-dedup $((ROW_LOAD_MB * 2048))"
		dev=/dev/mapper/bench-off
	fi
	if [ -n "${ROW_PREFILL_MB:-}" ]; then
		say "row $row: writing $ROW_PREFILL_MB MiB first"
		prefill "$dev" 4k 1 $((ROW_PREFILL_MB * 1048576))
		dmsetup message bench-dedup 0 commit || fail "commit after the prefill failed"
		echo "overwrite of $ROW_PREFILL_MB MiB written first, fio options: ${ROW_FIO:-none}" \
			> "$OUT/$row.workload"
	fi
	dedup_stats bench-dedup "$row.before"
	measure "$row" "$dev" bench-dedup
	[ -z "${ROW_OFFSET:-}${ROW_LOAD_MB:-}" ] || dmsetup remove bench-off
	dedup_stats bench-dedup "$row"
	sysstat end >> "$OUT/$row.sys"
	cat "$OUT/$row.sys.create" >> "$OUT/$row.sys"
	rm -f "$OUT/$row.sys.create"
	say "row $row: $(tr '\n' ' ' < "$OUT/$row.stats")"
}

# want ROW: whether BENCH_ROWS (an extended regex, default all) selects ROW.
want() {
	echo "$1" | grep -qE -- "${BENCH_ROWS:-.}"
}

# load_watch FILE: the uptime (ms) at which bench-dedup's index is ready,
# into FILE (polled every 200 ms)
load_watch() {
	while [ "$(dmsetup message bench-dedup 0 stats | sed -n 's/^index_state=//p')" != ready ]; do
		sleep 0.2
	done
	awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime > "$1"
}

# read_ms DEV: the mean time of 200 sequential 4 KiB O_DIRECT reads of DEV, ms
# (/proc/uptime counts 10 ms: 0.05 ms a read).
read_ms() {
	local t0 t1
	t0=$(cut -d' ' -f1 /proc/uptime)
	dd if="$1" of=/dev/null bs=4k count=200 iflag=direct 2>/dev/null || fail "cannot read $1"
	t1=$(cut -d' ' -f1 /proc/uptime)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) * 5 }'
}

# variant_row ROW: dedup as in the row "dedup"; ROW *-slowread: its metadata
# through dm-delay, reads delayed BENCH_META_READ_DELAY_MS (writes and
# flushes 0: the disk is write-throttled by QEMU already); ROW dedup-mix*:
# BENCH_OVERWRITE_MB written first, then overwritten with 50 % duplicates
# (stall.fio over that region only, looping).
variant_row() {
	local row=$1 meta=$META out
	fresh_disks
	case $row in
	*-slowread)
		# shellcheck disable=SC2154 # meta_sz: set by throttled_start
		dm_create bench-mslow "0 $meta_sz delay $META 0 $BENCH_META_READ_DELAY_MS $META 0 0"
		meta=/dev/mapper/bench-mslow
		echo "$(read_ms "$meta") $(read_ms "$META")" > "$OUT/$row.readlat"
		say "row $row: 4 KiB metadata read $(cut -d' ' -f1 "$OUT/$row.readlat") ms" \
			"through dm-delay, $(cut -d' ' -f2 "$OUT/$row.readlat") ms without" ;;
	esac
	case $row in
	dedup-load*)
		ROW_LOAD_MB=$BENCH_OVERWRITE_MB \
			dedup_row "$row" "$meta" "$DATA" commit_period_ms 1000 ;;
	dedup-mix*)
		ROW_PREFILL_MB=$BENCH_OVERWRITE_MB \
		ROW_FIO="--size=$((BENCH_OVERWRITE_MB * 1048576)) --dedupe_percentage=50" \
			dedup_row "$row" "$meta" "$DATA" commit_period_ms 1000 ;;
	*)
		dedup_row "$row" "$meta" "$DATA" commit_period_ms "${BENCH_COMMIT_PERIOD_MS:-1000}" ;;
	esac
	if [ "$meta" != "$META" ]; then
		# Removed with its reads still slow; the checker then reads the
		# disk itself, not through the delay.
		dmsetup remove --retry bench-dedup || fail "cannot remove bench-dedup"
		dedup_forget bench-dedup
		dmsetup remove bench-mslow || fail "cannot remove bench-mslow"
		out=$(dedup_check "$META" 2>&1) || fail "dedup_check $META failed: $out"
		echo "dedup_check $META: ok"
	fi
	dedup_teardown
	echo "$row" >> "$OUT/rows"
}

throttled_start
{
	echo "window=${BENCH_WINDOW:-60}"
	echo "prefill=${BENCH_PREFILL:-0}"
	echo "meta_read_delay_ms=$BENCH_META_READ_DELAY_MS"
	echo "overwrite_mb=$BENCH_OVERWRITE_MB"
} >> "$OUT/env"

# 1. dm-linear: the floor
if want dm-linear; then
	fresh_disks
	sysstat create > "$OUT/dm-linear.sys.create"
	# shellcheck disable=SC2154 # data_sz: set by throttled_start
	dm_create bench-linear "0 $data_sz linear $DATA 0"
	measure dm-linear /dev/mapper/bench-linear bench-linear
	sysstat end > "$OUT/dm-linear.sys.end"
	dmsetup remove bench-linear || fail "cannot remove bench-linear"
	cat "$OUT/dm-linear.sys.end" "$OUT/dm-linear.sys.create" >> "$OUT/dm-linear.sys"
	rm -f "$OUT"/dm-linear.sys.*
	echo dm-linear >> "$OUT/rows"
fi

# 2. dm-thin: the stock peer; its metadata on the same slow disk
if want dm-thin; then
	fresh_disks
	sysstat create > "$OUT/dm-thin.sys.create"
	thin_pool bench "$META" "$DATA" "$data_sz"
	dmsetup table bench-pool > "$OUT/dm-thin.table"
	measure dm-thin /dev/mapper/bench-vol bench-pool
	sysstat end > "$OUT/dm-thin.sys.end"
	dmsetup status bench-pool > "$OUT/dm-thin.status"
	dmsetup remove bench-vol || fail "cannot remove bench-vol"
	dmsetup remove bench-pool || fail "cannot remove bench-pool"
	cat "$OUT/dm-thin.sys.end" "$OUT/dm-thin.sys.create" >> "$OUT/dm-thin.sys"
	rm -f "$OUT"/dm-thin.sys.*
	echo dm-thin >> "$OUT/rows"
fi

# 3. and 4. dedup, blocking_commit then pipelined
load_dedup
if want dedup-blocking; then
	fresh_disks
	dedup_row dedup-blocking "$META" "$DATA" commit_period_ms 1000 blocking_commit
	dedup_teardown	# remove + dedup_check on the metadata
	echo dedup-blocking >> "$OUT/rows"
fi
! want dedup || variant_row dedup

# 5. to 7. the same with slow metadata reads; overwrites with 50 % duplicates,
# with fast and slow reads (not in the default BENCH_ROWS: bench/run-vm.sh)
for r in dedup-slowread dedup-mix dedup-mix-slowread dedup-load-slowread; do
	! want $r || variant_row $r
done

# 8. dedup on the pre-filled metadata
if [ "${BENCH_PREFILL:-0}" = 1 ] && ! want dedup-prefilled; then
	say "row dedup-prefilled skipped: BENCH_ROWS=$BENCH_ROWS"
elif [ "${BENCH_PREFILL:-0}" = 1 ]; then
	fresh_disks
	z=$((PREFILL_DATA_MB * 2048))
	printf '0 %s zero\n%s %s linear %s 0\n' "$z" "$z" "$data_sz" "$DATA" |
		dmsetup create bench-pdata || fail "cannot create the pre-filled data device"
	dmsetup mknodes bench-pdata >/dev/null 2>&1 || true
	META=$PRE	# what sysstat counts from here on
	# The image maps LBNs 0..PREFILL_DATA_MB MiB: write past them.
	DEDUP_LEN=$((z + data_sz)) ROW_OFFSET=$z \
		dedup_row dedup-prefilled "$PRE" /dev/mapper/bench-pdata commit_period_ms 1000
	# The checker is not run on it: a pass over tens of millions of entries
	# under TCG is the tests' job, not the benchmark's.
	dedup_forget bench-dedup
	dmsetup remove bench-dedup || fail "cannot remove bench-dedup"
	dmsetup remove bench-pdata || fail "cannot remove bench-pdata"
	echo dedup-prefilled >> "$OUT/rows"
else
	say "row dedup-prefilled skipped: no pre-filled metadata image (PREFILL_IMAGE / PREFILL_CMD)"
fi

say "all rows done"

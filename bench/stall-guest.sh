#!/bin/sh
# shellcheck shell=dash
# Write-completion stalls of dm-linear, dm-thin, dedup blocking_commit and dedup
# timeout: 900
#
# stall-guest.sh - the in-guest half of `make bench-stall` (bench/README.md).
# bench/run-vm.sh ships it as /tests/bench/stall-guest.sh and the harness
# (tests/harness/guest-run.sh) runs it like a test: timeout, teardown,
# dedup_check, kernel-log scan. /tests/bench/stall.conf sets BENCH_SECONDS and
# BENCH_META_MB and BENCH_DATA_MB.
#
# Devices, the same for every row:
#   /dev/ram0 data: brd of BENCH_DATA_MB, re-created (pages freed) before
#             each row (brd has no discard in 6.1). A virtio data disk showed gaps of 70-185 ms under plain
#             dm-linear (host-side I/O), too much noise for a 100 ms target.
#   /dev/vdc  metadata: virtio disk throttled by QEMU (write IOPS and bytes/s);
#             discarded and its first MiB zeroed before each row
# Rows: dm-linear on the data disk; dm-thin (pool: metadata on vdc, data on
# vda, 64 KiB blocks, skip_block_zeroing, one thin volume); dedup with
# blocking_commit; dedup (pipelined). fio writes its logs and JSON output to
# /share/bench; the host reduces them (bench/analyze.sh).
#
# Diagnosis: kprobe events (ftrace, trace_clock=mono) record when each commit
# and its phases ran: dedup's do_commit, dedup_meta_commit, the data-device
# flush and synchronize_srcu, and dm-thin's dm_pool_commit_metadata. They
# fire a few times a second, so they cost nothing measurable; a probe the
# kernel refuses is skipped (the trace is for diagnosis, not the table).
. /tests/lib.sh
. /tests/bench/stall.conf

S=${BENCH_SECONDS:-60}
DATA=/dev/ram0
META=/dev/vdc
OUT=/share/bench

say() {
	echo "# bench: $*"
	echo "# bench: $*" > /dev/console
}

[ -d /share ] && mkdir -p "$OUT" || fail "no 9p share at /share"
[ -b "$META" ] || fail "metadata disk $META missing"
meta_sz=$(dev_sectors "$META")
[ "$meta_sz" = $((BENCH_META_MB * 2048)) ] ||
	fail "$META has $meta_sz sectors, expected the ${BENCH_META_MB} MiB throttled disk"

# Before every row: nothing left of the previous one on either disk.
fresh_disks() {
	mkbrd 1 "$BENCH_DATA_MB"
	blkdiscard -f "$META" 2>/dev/null || true
	dd if=/dev/zero of="$META" bs=1M count=1 conv=fsync 2>/dev/null ||
		fail "cannot zero $META"
}

TR=/sys/kernel/tracing
[ -d $TR/events ] || mount -t tracefs nodev $TR 2>/dev/null ||
	TR=/sys/kernel/debug/tracing

# trace_start: arm the commit probes (modules loaded by now).
trace_start() {
	local p
	[ -w $TR/kprobe_events ] || { echo "no tracefs: no commit trace"; return 0; }
	echo 0 > $TR/tracing_on
	echo > $TR/kprobe_events
	echo mono > $TR/trace_clock
	for p in commit:dm_dedup:do_commit meta_commit:dm_dedup:dedup_meta_commit \
		flush:blkdev_issue_flush srcu_wait:synchronize_srcu \
		thin_commit:dm_thin_pool:dm_pool_commit_metadata; do
		echo "p:bench/${p%%:*}_in ${p#*:}" >> $TR/kprobe_events 2>/dev/null &&
		echo "r:bench/${p%%:*}_out ${p#*:}" >> $TR/kprobe_events 2>/dev/null ||
			echo "probe ${p#*:} refused"
	done
	echo > $TR/trace
	echo 1 > $TR/events/bench/enable 2>/dev/null || return 0
	echo 1 > $TR/tracing_on
}

# trace_stop ROW: save the trace as $OUT/ROW.trace, disarm.
trace_stop() {
	[ -w $TR/kprobe_events ] || return 0
	echo 0 > $TR/tracing_on
	cat $TR/trace > "$OUT/$1.trace"
	echo 0 > $TR/events/bench/enable 2>/dev/null || true
	echo > $TR/kprobe_events
	echo > $TR/trace
}

# sysstat TAG: the metadata disk's I/O counters and the guest's CPU time.
sysstat() {
	echo "$1 meta $(cat /sys/block/${META#/dev/}/stat)"
	echo "$1 $(head -n1 /proc/stat)"
}

# run_fio ROW DEV: one measured run; output in $OUT/ROW*.
run_fio() {
	local row=$1 dev=$2
	say "row $row: fio ${S}s on $dev"
	trace_start
	sysstat before > "$OUT/$row.sys"
	BENCH_DEV=$dev BENCH_RUNTIME=$S BENCH_LOG=$OUT/$row \
		fio --output-format=json --output="$OUT/$row.json" \
		/tests/bench/stall.fio || fail "fio failed on row $row"
	sysstat after >> "$OUT/$row.sys"
	trace_stop "$row"
	say "row $row: done, $(wc -l < "$OUT/${row}_lat.1.log") completions logged"
}

# dedup_row ROW FEATURE...: dedup over the same disks, sha256, 4 KiB blocks.
dedup_row() {
	local row=$1
	shift
	fresh_disks
	dedup_create bench-dedup "$META" "$DATA" 4096 sha256 "$@"
	dmsetup table bench-dedup > "$OUT/$row.table"
	run_fio "$row" /dev/mapper/bench-dedup
	dmsetup status bench-dedup > "$OUT/$row.status"
	dmsetup message bench-dedup 0 stats > "$OUT/$row.stats" ||
		fail "stats message failed"
	say "row $row: $(tr '\n' ' ' < "$OUT/$row.stats")"
	dedup_teardown	# remove + dedup_check on the metadata
}

rm -f "$OUT"/*
fresh_disks
data_sz=$(dev_sectors "$DATA")
data_sz=$((data_sz / 128 * 128))	# whole 64 KiB thin blocks
{
	echo "kernel=$(uname -r)"
	echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
	echo "sha256_drivers=$(awk '/^name/ { n = $3 } /^driver/ { d = $3 }
		/^priority/ && n == "sha256" { printf "%s(%s) ", d, $3 }' /proc/crypto)"
	echo "seconds=$S"
	echo "data=$DATA (brd) $(dev_sectors "$DATA") sectors"
	echo "data_bytes=$(($(dev_sectors "$DATA") * 512))"
	echo "meta=$META $meta_sz sectors"
} > "$OUT/env"
: > "$OUT/rows"

# 1. dm-linear: the floor
fresh_disks
dm_create bench-linear "0 $data_sz linear $DATA 0"
dmsetup table bench-linear > "$OUT/dm-linear.table"
run_fio dm-linear /dev/mapper/bench-linear
dmsetup remove bench-linear || fail "cannot remove bench-linear"
echo dm-linear >> "$OUT/rows"

# 2. dm-thin: the stock peer; its metadata on the same slow disk
fresh_disks
dm_create bench-pool "0 $data_sz thin-pool $META $DATA 128 0 1 skip_block_zeroing"
dmsetup message bench-pool 0 "create_thin 0" || fail "create_thin failed"
dm_create bench-thin "0 $data_sz thin /dev/mapper/bench-pool 0"
dmsetup table bench-pool > "$OUT/dm-thin.table"
run_fio dm-thin /dev/mapper/bench-thin
dmsetup status bench-pool > "$OUT/dm-thin.status"
dmsetup remove bench-thin || fail "cannot remove bench-thin"
dmsetup remove bench-pool || fail "cannot remove bench-pool"
echo dm-thin >> "$OUT/rows"

# 3. dedup, the old design: writers wait for every commit
load_dedup
dedup_row dedup-blocking commit_period_ms 1000 blocking_commit
echo dedup-blocking >> "$OUT/rows"

# 4. dedup, pipelined commit
dedup_row dedup commit_period_ms 1000
echo dedup >> "$OUT/rows"

say "all rows done"

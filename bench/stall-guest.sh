#!/bin/sh
# shellcheck shell=dash
# Write-completion stalls of dm-linear, dm-thin, dedup blocking_commit and dedup
# timeout: 900
#
# stall-guest.sh - the in-guest half of `make bench-stall` (bench/README.md).
# bench/run-vm.sh ships it as /tests/bench/stall-guest.sh and the harness
# (tests/harness/guest-run.sh) runs it like a test: timeout, teardown,
# dedup_check, kernel-log scan. /tests/bench/bench.conf sets BENCH_SECONDS,
# BENCH_META_MB and BENCH_DATA_MB; bench/guest-lib.sh has the shared pieces.
#
# Devices, the same for every row:
#   /dev/ram0 data: brd of BENCH_DATA_MB, re-created (pages freed) before
#             each row (brd has no discard in 6.1). A virtio data disk showed
#             gaps of 70-185 ms under plain dm-linear (host-side I/O), too
#             much noise for a 100 ms target.
#   /dev/vdc  metadata: virtio disk throttled by QEMU (write IOPS and bytes/s);
#             discarded and its first MiB zeroed before each row
# Rows: dm-linear on the data disk; dm-thin (pool: metadata on vdc, data on
# ram0, 64 KiB blocks, skip_block_zeroing, one thin volume); dedup with
# blocking_commit; dedup (pipelined). fio writes its logs and JSON output to
# /share/bench; the host reduces them (bench/analyze.sh).
#
# Diagnosis: kprobes on the commit paths (guest-lib.sh trace_start) record
# when each commit and its phases ran.
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

S=${BENCH_SECONDS:-60}
DATA=/dev/ram0
META=/dev/vdc

# stall_fio ROW DEV: one measured run of stall.fio; output in $OUT/ROW*.
stall_fio() {
	local row=$1
	say "row $row: fio ${S}s on $2"
	BENCH_DEV=$2 BENCH_RUNTIME=$S BENCH_LOG=$OUT/$row run_fio "$row" stall.fio
	say "row $row: done, $(wc -l < "$OUT/${row}_lat.1.log") completions logged"
}

# dedup_row ROW FEATURE...: dedup over the same disks, sha256, 4 KiB blocks.
dedup_row() {
	local row=$1
	shift
	fresh_disks
	dedup_create bench-dedup "$META" "$DATA" 4096 sha256 "$@"
	dmsetup table bench-dedup > "$OUT/$row.table"
	stall_fio "$row" /dev/mapper/bench-dedup
	dedup_stats bench-dedup "$row"
	say "row $row: $(tr '\n' ' ' < "$OUT/$row.stats")"
	dedup_teardown	# remove + dedup_check on the metadata
}

throttled_start

# 1. dm-linear: the floor
fresh_disks
# shellcheck disable=SC2154 # data_sz: set by throttled_start
dm_create bench-linear "0 $data_sz linear $DATA 0"
dmsetup table bench-linear > "$OUT/dm-linear.table"
stall_fio dm-linear /dev/mapper/bench-linear
dmsetup remove bench-linear || fail "cannot remove bench-linear"
echo dm-linear >> "$OUT/rows"

# 2. dm-thin: the stock peer; its metadata on the same slow disk
fresh_disks
thin_pool bench "$META" "$DATA" "$data_sz"
dmsetup table bench-pool > "$OUT/dm-thin.table"
stall_fio dm-thin /dev/mapper/bench-vol
dmsetup status bench-pool > "$OUT/dm-thin.status"
dmsetup remove bench-vol || fail "cannot remove bench-vol"
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

#!/bin/sh
# shellcheck shell=dash
# Write throughput of dm-linear, dm-thin and dedup per hash and workload, with the hash ceilings
# timeout: 14400
#
# throughput-guest.sh - the in-guest half of `make bench-throughput`
# (bench/README.md). bench/run-vm.sh ships it with /tests/bench/rows.plan,
# one row id a line: TARGET:WORKLOAD:BS:PATTERN:jN
#   TARGET    linear | thin | sha256 | blake2b-256 | xxhash64 (dedup, that hash)
#   WORKLOAD  unique | dup50 | dup100 (fio dedupe_percentage) | overwrite
#             (BENCH_OVERWRITE_MB written first, unmeasured; then new unique
#             data over the same blocks, looping) | read50 (BENCH_OVERWRITE_MB
#             written first in 4 KiB writes at dedupe_percentage 50, and
#             committed; then reads of it, looping)
#   BS        4k | 64k: every write (or read); dedup rows use it as their
#             block size, except read50 rows: 4 KiB
#   PATTERN   seq | rand
#   jN        fio numjobs; job i writes its own 1/N of the device
# Every row: fresh brd RAM disks of BENCH_DATA_MB (/dev/ram0 data,
# /dev/ram1 metadata: metadata I/O costs no waiting), the target made anew,
# BENCH_SECONDS of write.fio (iodepth 32). Output per row (ROW = the id with
# ':' as '_'): ROW.json, ROW.sys, dedup rows ROW.stats, ROW.before.stats.
#
# Hash ceilings first: tcrypt (Debian's tcrypt.ko, shipped beside this
# script) in hash speed mode, sec=1: one vCPU hashing 4 KiB (and 8 KiB) in
# one update, for each hash in the plan: tcrypt-HASH.txt.
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

# shellcheck disable=SC2034 # S: the run time write_env gives every row
S=${BENCH_SECONDS:-10}
DATA=/dev/ram0
MDEV=/dev/ram1
PLAN=/tests/bench/rows.plan

rm -rf "${OUT:?}"/*
load_dedup
mkbrd 2 "$BENCH_DATA_MB"
bench_env
echo "data=$DATA (brd) $(dev_sectors "$DATA") sectors" >> "$OUT/env"
: > "$OUT/rows"

# tcrypt ALG: its speed test (mode 300 = the hash named by alg=). tcrypt
# never stays loaded (init returns -EAGAIN); the figures are in the kernel log.
tcrypt() {
	local mark
	mark=$(new_mark)
	if [ -f /tests/bench/tcrypt.ko ]; then
		insmod /tests/bench/tcrypt.ko mode=300 alg="$1" sec=1 2>/dev/null || true
	else
		modprobe tcrypt mode=300 alg="$1" sec=1 2>/dev/null || true
	fi
	dmesg_since "$mark" > "$OUT/tcrypt-$1.txt"
	grep -q 'opers/sec' "$OUT/tcrypt-$1.txt" ||
		echo "tcrypt gave no figures for $1" >> "$OUT/tcrypt-$1.txt"
}
for h in sha256 blake2b-256 xxhash64; do
	grep -q "^$h:" $PLAN || continue
	say "tcrypt $h (about 25 s)"
	tcrypt "$h"
done

n=0
total=$(wc -l < $PLAN)
# shellcheck disable=SC2034 # read by guest-lib.sh
BENCH_TRACE=0	# no commit trace: rows are short, the figures are fio's
# The plan on fd 3: what the loop runs must not read it from stdin.
while IFS=: read -r target wl bs pat jobs <&3; do
	[ -n "$target" ] || continue
	n=$((n + 1))
	row=${target}_${wl}_${bs}_${pat}_${jobs}
	j=${jobs#j}
	rw="write"
	[ "$pat" = seq ] || rw=randwrite
	bsb=$((${bs%k} * 1024))
	dbs=$bsb
	if [ "$wl" = read50 ]; then
		rw="read"
		[ "$pat" = seq ] || rw=randread
		dbs=4096
	fi
	mkbrd 2 "$BENCH_DATA_MB"
	sz=$(dev_sectors "$DATA")
	sz=$((sz / 128 * 128))	# whole 64 KiB blocks for thin and 64k rows
	target_create "$target" "$DATA" "$MDEV" "$sz" "$dbs"
	size=$(($(dev_sectors "$dev") * 512 / j / bsb * bsb))
	dedupe=0
	case $wl in
	dup50) dedupe=50 ;;
	dup100) dedupe=100 ;;
	overwrite)
		size=$((BENCH_OVERWRITE_MB * 1048576 / j / bsb * bsb))
		prefill "$dev" "$bs" "$j" "$size" ;;
	read50)
		size=$((BENCH_OVERWRITE_MB * 1048576 / j / bsb * bsb))
		write_env "$dev" write 4k "$j" "$size" 0 50
		BENCH_RUNTIME=3600 fio --output=/dev/null /tests/bench/write.fio ||
			fail "writing the data of $row failed"
		[ "$dev" != /dev/mapper/bench-dedup ] ||
			dmsetup message bench-dedup 0 commit || fail "commit failed" ;;
	esac
	case $target in
	linear | thin) ;;
	*) dedup_stats bench-dedup "$row.before" ;;
	esac
	say "row $n/$total $target:$wl:$bs:$pat:$jobs"
	write_env "$dev" "$rw" "$bs" "$j" "$size" 1 "$dedupe"
	run_fio "$row" write.fio
	echo "size_per_job=$size" > "$OUT/$row.region"
	target_remove "$target" "$row"
	echo "$target:$wl:$bs:$pat:$jobs" >> "$OUT/rows"
done 3< $PLAN
say "all rows done"

#!/bin/sh
# shellcheck shell=dash
# Where dedup's CPU goes: perf profiles of dm-linear, and of unique, duplicate and overwrite writes
# timeout: 1800
#
# profile-guest.sh - the in-guest half of `make bench-profile`
# (bench/README.md). bench/run-vm.sh ships it as /tests/bench/profile-guest.sh
# with perf (and its libraries) added to the initramfs; the harness runs it
# like a test (timeout, teardown with dedup_check, kernel-log scan).
#
# Devices, fresh for every workload: brd RAM disks of BENCH_DATA_MB each,
# /dev/ram0 data, /dev/ram1 metadata (so metadata I/O costs no waiting);
# dedup with 4 KiB blocks, BENCH_HASH (default sha256), default features.
# Workloads (write.fio: 4 KiB sequential writes, iodepth 32, BENCH_JOBS
# jobs, BENCH_SECONDS s):
#   linear     unique data through dm-linear on the same RAM disk: what a
#              write costs without dedup, for reference
#   unique     unique data on a fresh device
#   dup100     every write the same block (fio dedupe_percentage=100) on a
#              fresh device: one miss, then hits
#   overwrite  BENCH_OVERWRITE_MB written first (unmeasured), then new unique
#              data over the same blocks, again and again: every write drops
#              a reference to the old block and allocates a new one
# and, when BENCH_WORKLOADS names them (4 KiB random reads, iodepth 32,
# BENCH_JOBS jobs, of BENCH_OVERWRITE_MB written first at fio
# dedupe_percentage 50 and committed, as bench-throughput's read50 rows):
#   linear-read50  through dm-linear, for reference
#   read50         through dedup
# BENCH_WORKLOADS (default "linear unique dup100 overwrite") picks and
# orders the workloads.
# Each measured run is `perf record -a -g -e cpu-clock` (TCG has no PMU:
# a software timer event) around fio: $OUT/W.perf.data, with W.json (fio),
# W.sys (CPU), W.stats and W.before.stats. At the end the guest's
# /proc/kallsyms (module symbols included) and /proc/modules: the host reads
# the samples with `perf script --kallsyms=...` (bench/analyze-profile.sh).
# The guest's modules are the host's own files (the VM boots the installed
# Debian kernel), except dm-dedup.ko, whose symbols come from kallsyms.
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

S=${BENCH_SECONDS:-20}
J=${BENCH_JOBS:-1}
H=${BENCH_HASH:-sha256}
DATA=/dev/ram0
MDEV=/dev/ram1
FREQ=${BENCH_PERF_FREQ:-999}

command -v perf >/dev/null || fail "perf is not in the initramfs"
echo 0 > /proc/sys/kernel/kptr_restrict
echo -1 > /proc/sys/kernel/perf_event_paranoid
rm -rf "${OUT:?}"/*
load_dedup
mkbrd 2 "$BENCH_DATA_MB"
bench_env
{
	echo "jobs=$J"
	echo "hash=$H"
	echo "perf_freq=$FREQ"
	echo "perf=$(perf version 2>&1)"
	echo "data=$DATA (brd) $(dev_sectors "$DATA") sectors"
	echo "meta=$MDEV (brd)"
} >> "$OUT/env"
: > "$OUT/rows"

for w in ${BENCH_WORKLOADS:-linear unique dup100 overwrite}; do
	case $w in
	linear | unique | dup100 | overwrite | linear-read50 | read50) ;;
	*) fail "unknown workload $w in BENCH_WORKLOADS" ;;
	esac
	mkbrd 2 "$BENCH_DATA_MB"
	if [ "${w%-read50}" = linear ]; then
		dm_create bench-linear "0 $(dev_sectors "$DATA") linear $DATA 0"
		dev=/dev/mapper/bench-linear
	else
		dedup_create bench-dedup "$MDEV" "$DATA" 4096 "$H"
		dev=/dev/mapper/bench-dedup
		dmsetup table bench-dedup > "$OUT/$w.table"
	fi
	size=$(($(dev_sectors "$dev") * 512 / J / 4096 * 4096))
	dedupe=0
	rw=write
	case $w in
	dup100) dedupe=100 ;;
	*read50)
		size=$((BENCH_OVERWRITE_MB * 1048576 / J / 4096 * 4096))
		say "$w: writing ${BENCH_OVERWRITE_MB} MiB at 50 % duplicates first"
		write_env "$dev" write 4k "$J" "$size" 0 50
		BENCH_RUNTIME=3600 fio --output=/dev/null /tests/bench/write.fio ||
			fail "writing the data of $w failed"
		[ $w = linear-read50 ] ||
			dmsetup message bench-dedup 0 commit || fail "commit failed"
		rw=randread
		;;
	overwrite)
		size=$((BENCH_OVERWRITE_MB * 1048576 / J / 4096 * 4096))
		say "$w: writing ${BENCH_OVERWRITE_MB} MiB first"
		prefill "$dev" 4k "$J" "$size"
		dmsetup message bench-dedup 0 commit || fail "commit failed"
		;;
	esac
	[ "${w%-read50}" = linear ] || dedup_stats bench-dedup "$w.before"
	say "$w: perf record over fio ${S}s"
	write_env "$dev" "$rw" 4k "$J" "$size" 1 "$dedupe"
	sysstat before > "$OUT/$w.sys"
	perf record -a -g -e cpu-clock -F "$FREQ" -N --no-buildid -q \
		-o /tmp/perf.data -- \
		fio --output-format=json --output="$OUT/$w.json" /tests/bench/write.fio ||
		fail "perf record / fio failed on $w"
	sysstat after >> "$OUT/$w.sys"
	[ $rw = randread ] || say "$w: $(fio_iops "$OUT/$w.json") IOPS"
	cp /tmp/perf.data "$OUT/$w.perf.data"
	rm -f /tmp/perf.data
	if [ "${w%-read50}" = linear ]; then
		dmsetup remove bench-linear || fail "cannot remove bench-linear"
	else
		dedup_stats bench-dedup "$w"
		dedup_teardown
	fi
	echo "$w" >> "$OUT/rows"
done
cat /proc/kallsyms > "$OUT/kallsyms"
cat /proc/modules > "$OUT/modules"
say "all workloads done"

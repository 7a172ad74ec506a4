#!/bin/sh
# Dedup exactness: fio with dedupe_percentage 0/50/90/100 (100 MiB of 4 KiB
# writes, incompressible, fresh device each) gives unique/mapped within 1 %
# of 1 - p, with mapped, data_used and dedup_hits consistent; all-zero data
# uses no data blocks. (Light load: 32 MiB each, within 2.5 %: fio picks
# duplicates at random, and the tolerance stays above 4 standard
# deviations of that choice.)
# timeout: 240
. /tests/lib.sh
. /tests/data.inc

setup_ram 2 160
DEV=/dev/mapper/ratio
N=$(by_load 25600 8192)	# 100 (32) MiB of 4 KiB blocks
TOL=$(by_load 0.01 0.025)

fresh() {
	wipe_superblock $M
	dedup_create ratio $M $D 4096 sha256
}

for p in 0 50 90 100; do
	fresh
	t0=$(date +%s)
	fio --output=/tmp/fio.out --name=dedupe$p --filename=$DEV \
		--ioengine=libaio --direct=1 --rw=write --bs=4k --iodepth=16 \
		--size=$((N * 4))k --dedupe_percentage=$p --dedupe_mode=repeat \
		--buffer_compress_percentage=0 --refill_buffers=1 ||
		{ tail -n 30 /tmp/fio.out; fail "fio dedupe_percentage=$p failed"; }
	t1=$(date +%s)
	dedup_commit ratio
	st=$(status_fields ratio mapped unique dedup_hits zero data_used)
	log "dedupe_percentage=$p: $st ($((t1 - t0)) s)"
	eval "$st"
	# shellcheck disable=SC2154
	{
		assert_eq "$mapped" "$N" "p=$p: mapped blocks"
		assert_eq "$zero" 0 "p=$p: zero blocks"
		assert_eq "$data_used" "$unique" "p=$p: data_used vs unique"
		assert_eq "$dedup_hits" $((mapped - unique)) "p=$p: dedup_hits"
		awk -v u="$unique" -v m="$mapped" -v p="$p" -v t="$TOL" 'BEGIN {
			r = u / m; e = 1 - p / 100; d = r - e
			printf "p=%d: unique/mapped %.4f, expected %.4f\n", p, r, e
			exit (d > t || d < -t)
		}' || fail "p=$p: unique/mapped off by more than $TOL"
	}
	dedup_remove ratio
	command -v dedup_check >/dev/null 2>&1 &&
		{ dedup_check $M || fail "dedup_check after p=$p"; }
done

# All-zero data: 32 MiB of zeroes on a fresh device, then over unique data.
fresh
dd if=/dev/zero of=$DEV bs=1M count=32 oflag=direct status=none ||
	fail "zero write failed"
dedup_commit ratio
expect_status ratio "32 MiB of zeroes" mapped=0 unique=0 zero=8192 \
	data_used=0 dedup_hits=0
fio --output=/tmp/fio.out --name=uniq --filename=$DEV --ioengine=libaio \
	--direct=1 --rw=write --bs=4k --iodepth=16 --size=16M --offset=32M \
	--buffer_compress_percentage=0 --refill_buffers=1 ||
	fail "fio unique write failed"
dedup_commit ratio
expect_status ratio "16 MiB unique after the zeroes" mapped=4096 \
	unique=4096 zero=8192 data_used=4096
dd if=/dev/zero of=$DEV bs=1M count=8 seek=36 oflag=direct status=none ||
	fail "zero overwrite failed"
dedup_commit ratio
expect_status ratio "8 MiB of the unique data zeroed" mapped=2048 \
	unique=2048 zero=10240 data_used=2048
cmp_zero $DEV 0 $((32 * 1048576)) "zeroed range"
cmp_zero $DEV $((36 * 1048576)) $((8 * 1048576)) "zero-overwritten range"

#!/bin/sh
# shellcheck shell=dash
# Dedup ratio on real data: ext4 on dm-dedup against btrfs + duperemove
# timeout: 21600
#
# ratio-guest.sh - the in-guest half of `make bench-ratio` (bench/README.md,
# issue 27): the same real inputs stored on ext4 on dm-dedup (4 KiB blocks,
# sha256) and on btrfs deduplicated by duperemove, with the bytes each
# keeps and the time each takes.
#
# Disks (bench/run-vm.sh): /dev/vdc the input disk, read-only (ext4 made
# by bench/ratio-inputs.sh: images/*.raw, linux-source-6.1/); /dev/vdd the
# data disk (BENCH_DATA_MB), discarded before each row; /dev/vde dm-dedup's
# metadata disk (BENCH_META_MB). The rows (BENCH_RATIO_ROWS):
#   dedup              ext4 on dm-dedup over vdd/vde
#   btrfs-4k           btrfs on vdd, then duperemove -dr -b 4096
#   btrfs-128k         btrfs on vdd, then duperemove -dr (its default 128 KiB)
#   btrfs-4k-partial   btrfs on vdd, then duperemove -dr -b 4096
#                      --dedupe-options=partial,same
# Each row copies the three inputs with GNU cp -a --sparse=always (zero
# 4 KiB blocks become holes, on every row alike) after dropping the page
# cache, then sync: that is the copy's time.
#
# Output in $OUT: env; inputs ("NAME files apparent_bytes allocated_bytes"
# per input, as on the input disk); read ("virtio|9p NAME seconds bytes":
# reading the inputs with cold caches; with BENCH_RATIO_9P, the tree's fs/
# over 9p and virtio); rows; per row ROW.copy (seconds),
# ROW.tree (files apparent allocated of the copy); dedup: dedup.empty.* (the
# status and stats after mkfs), dedup.* (after the copy and sync),
# dedup.umount.* (after umount: what the table uses), dedup.statfs; btrfs
# rows: ROW.before.usage / .du (after the copy, remounted), ROW.dedupe
# (duperemove's seconds), ROW.duperemove (its output), ROW.timedout (if it
# was stopped at BENCH_RATIO_DEDUPE_MAX s), ROW.usage / .du (after it,
# remounted).
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

IN=/dev/vdc
DATA=/dev/vdd
META=/dev/vde
SRC=/mnt/ratio-in
T=/mnt/ratio
CP=/tests/bench/bin/cp

now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f\n", b - a }'; }

# tree_bytes DIR: "files apparent_bytes allocated_bytes" of the regular
# files under DIR.
tree_bytes() {
	find "$1" -type f -exec stat -c '%s %b' {} + |
		awk '{ n++; s += $1; b += $2 * 512 } END { printf "%d %.0f %.0f\n", n, s, b }'
}

# read_all TAG NAME PATH: read every file under PATH with a cold cache.
read_all() {
	local t0 bytes
	sync
	echo 3 > /proc/sys/vm/drop_caches
	bytes=$(tree_bytes "$3" | cut -d' ' -f2)
	t0=$(now)
	find "$3" -type f -exec cat {} + > /dev/null || fail "reading $3 failed"
	echo "$1 $2 $(since "$t0") $bytes" >> "$OUT/read"
	say "read $2 over $1: $(tail -n1 "$OUT/read" | cut -d' ' -f3) s"
}

# fresh_data: the data disk discarded (a row starts on an empty disk).
fresh_data() {
	blkdiscard -f "$DATA" 2>/dev/null ||
		dd if=/dev/zero of="$DATA" bs=1M count=16 conv=fsync 2>/dev/null ||
		fail "cannot clear $DATA"
}

# copy_in ROW: the inputs into $T with a cold cache; ROW.copy: seconds of
# the copy and the sync after it.
copy_in() {
	local t0
	sync
	echo 3 > /proc/sys/vm/drop_caches
	say "row $1: copying"
	t0=$(now)
	$CP -a --sparse=always --reflink=never "$SRC/." "$T/" || fail "$1: copy failed"
	sync
	since "$t0" > "$OUT/$1.copy"
	say "row $1: copied in $(cat "$OUT/$1.copy") s"
}

row_dedup() {
	fresh_data
	blkdiscard -f "$META" 2>/dev/null || true
	dd if=/dev/zero of="$META" bs=1M count=1 conv=fsync 2>/dev/null ||
		fail "cannot zero $META"
	dedup_create bench-dedup "$META" "$DATA" 4096 sha256
	# Inode tables and journal zeroed now, not by ext4lazyinit during the
	# copy; zero blocks take no data block on dm-dedup.
	mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 /dev/mapper/bench-dedup ||
		fail "mkfs.ext4 on dedup failed"
	mount /dev/mapper/bench-dedup "$T" || fail "mount of ext4 on dedup failed"
	sync
	dedup_stats bench-dedup dedup.empty
	copy_in dedup
	dedup_stats bench-dedup dedup
	tree_bytes "$T" > "$OUT/dedup.tree"
	stat -f -c '%S %b %f' "$T" > "$OUT/dedup.statfs"
	umount "$T" || fail "umount of ext4 on dedup failed"
	dedup_stats bench-dedup dedup.umount
	dedup_teardown
}

# remount: every btrfs transaction committed and space freed before a
# measurement.
remount() {
	umount "$T" || fail "umount of btrfs failed"
	mount -t btrfs "$DATA" "$T" || fail "mount of btrfs failed"
}

# btrfs_space TAG: fi usage and fi du of $T.
btrfs_space() {
	btrfs filesystem usage -b "$T" > "$OUT/$1.usage" 2>&1 || fail "btrfs fi usage failed"
	btrfs filesystem du -s --raw "$T" > "$OUT/$1.du" 2>&1 || fail "btrfs fi du failed"
}

# row_btrfs ROW DUPEREMOVE_OPTION...
row_btrfs() {
	local row=$1 t0 rc
	shift
	fresh_data
	mkfs.btrfs -q -f "$DATA" > /dev/null || fail "mkfs.btrfs failed"
	mount -t btrfs "$DATA" "$T" || fail "mount of btrfs failed"
	copy_in "$row"
	remount
	btrfs_space "$row.before"
	rm -f "/tmp/$row.hash"
	say "row $row: duperemove -dr $*"
	t0=$(now)
	# A pass that runs past BENCH_RATIO_DEDUPE_MAX is stopped, and the row
	# measures what it did by then (ROW.timedout): the other rows still run.
	rc=0
	timeout "$BENCH_RATIO_DEDUPE_MAX" duperemove -dr "$@" --hashfile="/tmp/$row.hash" "$T" \
		> "$OUT/$row.duperemove" 2>&1 || rc=$?
	sync
	since "$t0" > "$OUT/$row.dedupe"
	if [ $rc != 0 ]; then
		awk -v t="$(cat "$OUT/$row.dedupe")" -v m="$BENCH_RATIO_DEDUPE_MAX" \
			'BEGIN { exit !(t >= m) }' ||
			fail "$row: duperemove failed ($rc): $(tail -n 5 "$OUT/$row.duperemove")"
		echo "$BENCH_RATIO_DEDUPE_MAX" > "$OUT/$row.timedout"
		say "row $row: duperemove stopped after $BENCH_RATIO_DEDUPE_MAX s"
	fi
	say "row $row: duperemove took $(cat "$OUT/$row.dedupe") s"
	rm -f "/tmp/$row.hash"
	remount
	btrfs_space "$row"
	tree_bytes "$T" > "$OUT/$row.tree"
	umount "$T" || fail "umount of btrfs failed"
}

rm -rf "${OUT:?}"/*
for d in $IN $DATA $META; do
	[ -b "$d" ] || fail "disk $d missing"
done
[ "$(dev_sectors "$DATA")" = $((BENCH_DATA_MB * 2048)) ] ||
	fail "$DATA is not the ${BENCH_DATA_MB} MiB data disk"
[ "$(dev_sectors "$META")" = $((BENCH_META_MB * 2048)) ] ||
	fail "$META is not the ${BENCH_META_MB} MiB metadata disk"
load_dedup
# btrfs and what it needs, in dependency order (bench/run-vm.sh ships them).
while read -r ko; do
	m=$(basename "$ko" .ko | tr - _)
	[ -d "/sys/module/$m" ] || insmod "/tests/bench/modules/$ko" ||
		fail "insmod $ko failed"
done < /tests/bench/modules/order
bench_env
{
	echo "ratio_rows=$BENCH_RATIO_ROWS"
	echo "duperemove=$(duperemove --version 2>&1 | head -n1)"
	echo "btrfs_progs=$(btrfs --version 2>&1 | head -n1)"
} >> "$OUT/env"
mkdir -p "$SRC" "$T"
mount -t ext4 -o ro,noload "$IN" "$SRC" || fail "cannot mount the input disk $IN"

: > "$OUT/inputs"
for p in "$SRC"/images/*.raw "$SRC"/linux-source-6.1; do
	echo "$(basename "$p") $(tree_bytes "$p")" >> "$OUT/inputs"
done
: > "$OUT/read"
for p in "$SRC"/images/*.raw "$SRC"/linux-source-6.1; do
	read_all virtio "$(basename "$p")" "$p"
done
# The same sample of the tree over the 9p share and from the virtio disk.
if [ -d /share/ratio-9p/fs ]; then
	read_all 9p linux-source-6.1/fs /share/ratio-9p/fs
	read_all virtio linux-source-6.1/fs "$SRC/linux-source-6.1/fs"
fi

: > "$OUT/rows"
for r in $BENCH_RATIO_ROWS; do
	case $r in
	dedup) row_dedup ;;
	btrfs-4k) row_btrfs "$r" -b 4096 ;;
	btrfs-128k) row_btrfs "$r" ;;
	btrfs-4k-partial) row_btrfs "$r" -b 4096 --dedupe-options=partial,same ;;
	*) fail "unknown row $r" ;;
	esac
	echo "$r" >> "$OUT/rows"
	say "row $r: done"
done
umount "$SRC"
say "all rows done"

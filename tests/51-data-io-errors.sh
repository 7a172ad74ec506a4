#!/bin/sh
# An I/O error of the data device fails the bio that met it and nothing
# else (issue 11, item 2): unique writes whose data write fails, partial
# writes whose read-modify-write read fails and duplicate writes whose
# verify read fails (xxhash64) all return EIO; the pool stays rw without
# needs_check, logs no metadata failure, and once the data device is back
# every write succeeds and all data written before reads back.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 2 64
M=/dev/ram0
DS=$(dev_sectors /dev/ram1)
dm_create ddata "0 $DS linear /dev/ram1 0"
DEV=/dev/mapper/dio
MODEL=/tmp/model
truncate -s $((1024 * BS)) $MODEL
rndfile /tmp/U $((512 * BS))

data_table() {	# linear | error_writes | all_errors
	case $1 in
	linear) t="0 $DS linear /dev/ram1 0" ;;
	error_writes) t="0 $DS flakey /dev/ram1 0 0 1 1 error_writes" ;;
	all_errors) t="0 $DS flakey /dev/ram1 0 0 1" ;;
	esac
	dmsetup suspend ddata && dmsetup load ddata --table "$t" &&
		dmsetup resume ddata || fail "data device: $1"
}
healthy() {	# WHAT
	expect_status dio "$1" mode=rw needs_check=-
}

for hash in sha256 xxhash64; do
	dd if=/dev/zero of=$M bs=4096 count=1 oflag=direct status=none
	dedup_create dio $M /dev/mapper/ddata $BS $hash
	mark=$(new_mark)
	put /tmp/U 0 $DEV 0 $((64 * BS)) $MODEL
	dedup_commit dio

	# Writes to the data device fail.
	data_table error_writes
	if dput /tmp/U $((100 * BS)) $DEV $((100 * BS)) $BS 2>/tmp/err; then
		fail "$hash: a unique write succeeded while data writes fail"
	fi
	assert_match "$(cat /tmp/err)" "Input/output error" "$hash: error of the unique write"
	healthy "$hash: after a failed data write"
	# A duplicate needs no data write (sha256); with xxhash64 it reads to
	# verify, which still works.
	put /tmp/U $((5 * BS)) $DEV $((200 * BS)) $BS $MODEL
	healthy "$hash: after a duplicate write"

	# Reads fail too: partial writes (read-modify-write) and, with
	# xxhash64, duplicates (verify) fail alone.
	data_table all_errors
	if dput /tmp/U $((300 * BS)) $DEV $((3 * BS + 1024)) 1024 2>/dev/null; then
		fail "$hash: a partial write succeeded while data reads fail"
	fi
	if [ $hash = xxhash64 ]; then
		if dput /tmp/U $((7 * BS)) $DEV $((201 * BS)) $BS 2>/dev/null; then
			fail "$hash: a duplicate write succeeded while verify reads fail"
		fi
	fi
	healthy "$hash: after failed data reads"

	# The data device is back: everything works, nothing was lost.
	data_table linear
	put /tmp/U $((100 * BS)) $DEV $((100 * BS)) $((32 * BS)) $MODEL
	put /tmp/U $((300 * BS)) $DEV $((3 * BS + 1024)) 1024 $MODEL
	dedup_commit dio
	healthy "$hash: after the data device came back"
	cmp_model $DEV $MODEL 0 $((1024 * BS)) "$hash: data"
	klog=$(dmesg_since "$mark")
	if printf '%s\n' "$klog" | grep -Eq "metadata operation|switching to (ro|fail)|needs_check"; then
		printf '%s\n' "$klog" | tail -n 20
		fail "$hash: a data device error was treated as a metadata failure"
	fi
	dmsetup remove dio
	dedup_forget dio
	dedup_check $M || fail "$hash: dedup_check"
done

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
setup_ram 2 64
dm_linear ddata /dev/ram1
DEV=/dev/mapper/dio
new_model $((1024 * BS))
rndfile /tmp/U $((512 * BS))

healthy() {	# WHAT
	expect_status dio "$1" mode=rw needs_check=-
}

for hash in sha256 xxhash64; do
	wipe_superblock $M
	dedup_create dio $M /dev/mapper/ddata $BS $hash
	mark=$(new_mark)
	put /tmp/U 0 $DEV 0 $((64 * BS)) $MODEL
	dedup_commit dio

	# Writes to the data device fail.
	dm_fault ddata error_writes
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
	dm_fault ddata all_errors
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
	dm_fault ddata linear
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
	dedup_remove dio
	dedup_check $M || fail "$hash: dedup_check"
done

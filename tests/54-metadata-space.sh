#!/bin/sh
# Running out of metadata space is not a dead end (issue 11, item 5): on a
# small metadata device, unique writes go on until there is no room for the
# metadata of one more write; first the low-water dm event fires, then the
# pool enters out_of_metadata_space (an event too): writes and discards fail
# with ENOSPC, reads work, nothing acknowledged is lost, needs_check stays
# clear.  Growing the metadata device underneath and reloading the table
# (reload + resume, no remove) takes the pool back to rw; the new space
# shows in status and writes succeed again.
# timeout: 600
. /tests/lib.sh
. /tests/data.inc

BS=4096
load_dedup
mkbrd 2 256
SMALL=$((1024 * 1024 / 512))
dm_linear smeta /dev/ram0 $SMALL
DEV=/dev/mapper/ms
dedup_create ms /dev/mapper/smeta /dev/ram1 $BS sha256
events() { dmsetup info -c --noheadings -o events ms | tr -d ' '; }
ev0=$(events)
mtotal=$(dedup_field ms metadata_total)
# readback WHEN: every MiB acknowledged so far (/tmp/ok.<i>) reads back.
readback() {
	local i=0
	while [ $i -lt $n ]; do
		dd if=$DEV bs=1M skip=$i count=1 iflag=direct status=none |
			cmp -s - /tmp/ok.$i || fail "MiB $i differs $1"
		i=$((i + 1))
	done
}

# Fill with unique data, 1 MiB at a time, until a write fails.
n=0
while :; do
	dd if=/dev/urandom of=/tmp/chunk bs=1M count=1 status=none
	if ! dd if=/tmp/chunk of=$DEV bs=1M seek=$n oflag=direct \
		status=none 2>/tmp/err; then
		break
	fi
	cp /tmp/chunk /tmp/ok.$n
	n=$((n + 1))
	[ $n -lt 200 ] || fail "metadata never ran out after 200 MiB"
done
log "out of metadata space after $n MiB: $(cat /tmp/err)"
assert_match "$(cat /tmp/err)" "No space left on device" "error of the refused write"
[ $n -gt 2 ] || fail "only $n MiB fitted on a 1 MiB metadata device"
assert_eq "$(dedup_field ms mode)" out_of_metadata_space "mode"
assert_eq "$(dedup_field ms needs_check)" - "needs_check"
ev1=$(events)
[ "$ev1" -ge $((ev0 + 2)) ] || fail "events: $ev0 before, $ev1 after (low water, mode)"
dmesg_test | grep -q "reached low water mark for metadata device" ||
	fail "no low-water message"
# Discards need metadata too.
if blkdiscard -o 0 -l $BS $DEV 2>/dev/null; then
	fail "a discard succeeded out of metadata space"
fi
# Everything acknowledged reads back.
readback "out of metadata space"

# Grow the metadata device underneath, then reload the same table.
dedup_grow_under ms smeta "0 $((SMALL * 4)) linear /dev/ram0 0"
assert_eq "$(dedup_field ms mode)" rw "mode after growing"
[ "$(dedup_field ms metadata_total)" -gt "$mtotal" ] ||
	fail "metadata_total did not grow"
dd if=/tmp/chunk of=$DEV bs=1M seek=$n oflag=direct status=none ||
	fail "a write after growing failed"
cp /tmp/chunk /tmp/ok.$n
n=$((n + 1))
dedup_commit ms
readback "after growing"

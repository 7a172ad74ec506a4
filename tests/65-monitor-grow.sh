#!/bin/sh
# dedup_setup monitor against the kernel's own events (issue 26): on a
# 1 MiB metadata device filled with unique data, the target raises the
# metadata low-water dm event; the monitor, polling only once a minute,
# sees it through its dmsetup wait child, logs it as a warning, runs the
# grow command (which grows the metadata device underneath) and reloads
# the dedup device; the pool takes the new space (or leaves
# out_of_metadata_space if it got there first), the writer goes on, and
# everything written reads back.
# timeout: 600
. /tests/lib.sh

BS=4096
load_dedup
mkbrd 2 256
SMALL=$((1024 * 1024 / 512))
BIG=$((64 * 1024 * 1024 / 512))
dm_linear smeta /dev/ram0 $SMALL
DEV=/dev/mapper/ms
dedup_create ms /dev/mapper/smeta /dev/ram1 $BS sha256
mtotal=$(dedup_field ms metadata_total)
# dedup_setup grow finds the data device of a device that has no deduptab
# entry by its major:minor under /dev/block, which udev makes (not here).
mkdir -p /dev/block
ln -sf /dev/ram1 "/dev/block/$(cat /sys/block/ram1/dev)"

cat > /tmp/grow <<GROW
#!/bin/sh
echo "grow \$DEDUP_NAME \$DEDUP_GROW" >> /tmp/grown
dmsetup suspend smeta && dmsetup load smeta --table "0 $BIG linear /dev/ram0 0" &&
	dmsetup resume smeta
GROW
chmod +x /tmp/grow
DEDUP_GROW_DIR=/tmp/none dedup_setup monitor --interval 60 --warn-metadata 100 \
	--warn-data 100 --grow-command /tmp/grow ms > /tmp/mon.log 2>&1 &
mpid=$!
stop_monitor() { kill "$mpid" 2>/dev/null || :; }
trap stop_monitor EXIT
sleep 1

# Unique data, 1 MiB at a time; a write refused with ENOSPC (the pool got
# to out_of_metadata_space before the grow) is retried for up to 60 s.
n=0
NMB=24
while [ $n -lt $NMB ]; do
	dd if=/dev/urandom of=/tmp/ok.$n bs=1M count=1 status=none
	tries=0
	until dd if=/tmp/ok.$n of=$DEV bs=1M seek=$n oflag=direct status=none \
		2>/tmp/err; do
		assert_match "$(cat /tmp/err)" "No space left on device" "error of a refused write"
		tries=$((tries + 1))
		[ $tries -lt "$(scaled 60)" ] || { cat /tmp/mon.log; fail "MiB $n refused for 60 s"; }
		sleep 1
	done
	n=$((n + 1))
done
cat /tmp/mon.log
grep -q '^<6>ms: monitoring: mode rw' /tmp/mon.log || fail "the monitor did not start watching ms"
grep -q '^<4>ms: dm event [0-9]*: metadata low-water mark reached' /tmp/mon.log ||
	fail "the monitor did not report the low-water event"
grep -q '^<6>ms: reloaded after the grow command' /tmp/mon.log ||
	fail "the monitor did not reload ms after growing it"
assert_eq "$(cat /tmp/grown)" "grow ms metadata" "grow commands run"
dmesg_test | grep -q "reached low water mark for metadata device" ||
	fail "the kernel logged no low-water event"
assert_eq "$(dedup_field ms mode)" rw "mode"
[ "$(dedup_field ms metadata_total)" -gt "$mtotal" ] ||
	fail "metadata_total $(dedup_field ms metadata_total), was $mtotal"
i=0
while [ $i -lt $NMB ]; do
	dd if=$DEV bs=1M skip=$i count=1 iflag=direct status=none |
		cmp -s - /tmp/ok.$i || fail "MiB $i differs"
	i=$((i + 1))
done
stop_monitor
wait "$mpid" 2>/dev/null || :

#!/bin/sh
# activation-guest.sh - the guest half of `make bench-activation` (issue 10):
# how long `dmsetup create` takes, and how much of the metadata device it
# reads, for an empty device and for the pre-filled image after a clean
# remove (the fingerprint index saved then, loaded in the background after).
#
# Disks: /dev/vdc the pre-filled metadata image (not throttled); data: a
# dm-zero prefix of PREFILL_DATA_MB (the image's blocks) + a RAM disk.
# Output: $OUT/activation.txt, "ROW key=value ...".
# timeout: 7200
. /tests/lib.sh
. /tests/bench/bench.conf
. /tests/bench/guest-lib.sh

PRE=/dev/vdc
[ -b $PRE ] || fail "pre-filled metadata disk $PRE missing"
load_dedup
mkdir -p "$OUT"
: > "$OUT/activation.txt"
bench_env
mkbrd 2 "$BENCH_DATA_MB"
z=$((PREFILL_DATA_MB * 2048))
printf '0 %s zero\n%s %s linear /dev/ram1 0\n' "$z" "$z" "$(dev_sectors /dev/ram1)" |
	dmsetup create adata || fail "data device"
D=/dev/mapper/adata

# sectors read from DEV so far (/sys/block/*/stat field 3)
rd() { awk '{ print $3 }' "/sys/block/${1##*/}/stat"; }
ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
# activate ROW META: create, time it, count the metadata sectors it read.
activate() {
	local row=$1 meta=$2 dev=${2##*/} r0 t0 t1
	[ -e "/sys/block/$dev/stat" ] || dev=$(basename "$(readlink -f "$2")")
	sync
	echo 3 > /proc/sys/vm/drop_caches
	r0=$(rd "$dev")
	t0=$(ms)
	dmsetup create act --table "0 $(dev_sectors $D) dedup $meta $D 4096 sha256" ||
		fail "$row: create"
	t1=$(ms)
	echo "$row ms=$((t1 - t0)) read_kib=$((($(rd "$dev") - r0) / 2)) $(dmsetup message act 0 stats | grep -E '^index_(state|entries)=' | tr '\n' ' ')" |
		tee -a "$OUT/activation.txt"
	say "$(tail -n1 "$OUT/activation.txt")"
}
wait_ready() {
	local t0
	t0=$(ms)
	while [ "$(dmsetup message act 0 stats | sed -n 's/^index_state=//p')" != ready ]; do
		sleep 1
	done
	echo "$1 ready_after_ms=$(($(ms) - t0)) $(dmsetup message act 0 stats | grep -E '^index_(entries|ram_bytes)=' | tr '\n' ' ')" |
		tee -a "$OUT/activation.txt"
	say "$(tail -n1 "$OUT/activation.txt")"
}

# An empty device: three activations (format, then two of an empty pool).
dd if=/dev/zero of=/dev/ram0 bs=1M count=1 status=none
for i in 1 2 3; do
	activate empty-$i /dev/ram0
	dmsetup remove act
done
# The pre-filled image: the first activation rebuilds the index (no saved
# index yet), a clean remove saves it; then three activations load it.
activate prefilled-first $PRE
wait_ready prefilled-first
t0=$(ms)
dmsetup remove act
echo "prefilled-save remove_ms=$(($(ms) - t0))" | tee -a "$OUT/activation.txt"
for i in 1 2 3; do
	activate prefilled-$i $PRE
	wait_ready prefilled-$i
	dmsetup remove act
done
dedup_check $PRE || fail "dedup_check of the pre-filled image"
say "done"

#!/bin/bash
# run-vm.sh - host side of `make bench-stall` (bench/README.md).
#
# Boots the test VM once (scripts/vm-lib.sh: same kernel, initramfs and QEMU
# line as `make check`) with one extra virtio disk, the slow metadata disk,
# throttled by QEMU. The harness inside runs bench/stall-guest.sh as its only
# "test" (timeout, teardown with dedup_check, kernel-log scan). Then
# bench/analyze.sh turns what came back over the 9p share into
# build/bench/stall.txt and build/bench/stall.png.
#
# Settings (environment):
#   BENCH_SECONDS     seconds per row (default 60; four rows)
#   BENCH_META_IOPS   write IOPS limit of the metadata disk (default 200)
#   BENCH_META_BPS    write bytes/s limit of the metadata disk (default 4 MiB)
#   BENCH_META_MB     size of the metadata disk (default 1024)
#   BENCH_DATA_MB     size of the data disk, a brd RAM disk in the guest
#                     (default 4096; the VM gets BENCH_DATA_MB + 2048 MiB)
#   BENCH_GUEST       guest script (default bench/stall-guest.sh; another
#                     script with the same outputs, for experiments)
# and those of scripts/vm-lib.sh. Exit status: 0 when all four rows ran and
# were analysed (PASS/MISS are measurements and do not change it).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
BENCH_SECONDS=${BENCH_SECONDS:-60}
BENCH_META_IOPS=${BENCH_META_IOPS:-200}
BENCH_META_BPS=${BENCH_META_BPS:-4194304}
BENCH_META_MB=${BENCH_META_MB:-1024}
out=$top/build/bench
BENCH_DATA_MB=${BENCH_DATA_MB:-4096}
# Disks, share and scratch files are the bench's own: a test run's are left
# alone. The data disk is a RAM disk in the guest: room for it.
export VM_MEM=$((BENCH_DATA_MB + 2048))
export VM_DIR=$out/vm
export VM_SHARE=$out/share
# shellcheck source=scripts/vm-lib.sh
. "$top/scripts/vm-lib.sh"

case $BENCH_SECONDS$BENCH_DATA_MB in
'' | *[!0-9]*) echo "bench: BENCH_SECONDS and BENCH_DATA_MB must be numbers" >&2; exit 2 ;;
esac
[ -f "$INITRD_BASE" ] || { echo "bench: $INITRD_BASE missing (make initramfs)" >&2; exit 1; }

mkdir -p "$out" "$VM_DIR"
vm_lock bench

rm -rf "$VM_SHARE" "$out/plan"
mkdir -p "$VM_SHARE" "$out/plan/harness" "$out/plan/tests/bench"
rm -f "$out/meta.img" "$out/stall.txt" "$out/stall.png" "$out/other-vms"
truncate -s "${BENCH_META_MB}M" "$out/meta.img"

# The guest side travels in a cpio appended to the initramfs, with a one-line
# plan for tests/harness/guest-run.sh.
guest_tmo=$((4 * (BENCH_SECONDS + 90) + 60))
install -m 0755 "${BENCH_GUEST:-$top/bench/stall-guest.sh}" "$out/plan/tests/bench/stall-guest.sh"
install -m 0644 "$top/bench/stall.fio" "$out/plan/tests/bench/stall.fio"
printf 'BENCH_SECONDS=%s\nBENCH_META_MB=%s\nBENCH_DATA_MB=%s\n' \
	"$BENCH_SECONDS" "$BENCH_META_MB" "$BENCH_DATA_MB" \
	> "$out/plan/tests/bench/stall.conf"
printf '1\tbench/stall-guest.sh\t%s\n' "$guest_tmo" > "$out/plan/harness/plan"
(cd "$out/plan" && find . | cpio -o -H newc --quiet -R 0:0) > "$out/plan.cpio"
cat "$INITRD_BASE" "$out/plan.cpio" > "$out/initrd.cpio"

VM_QEMU_ARGS="-drive file=$out/meta.img,if=none,id=vdmeta,format=raw,cache=unsafe,discard=unmap,throttling.iops-write=$BENCH_META_IOPS,throttling.bps-write=$BENCH_META_BPS -device virtio-blk-pci,drive=vdmeta"
export VM_QEMU_ARGS

console=$out/console.log
echo "bench: $BENCH_SECONDS s per row, 4 rows; metadata disk throttled to" \
	"$BENCH_META_IOPS write IOPS, $BENCH_META_BPS B/s; console: $console"
vm_start "$out/initrd.cpio" "$console"
deadline=$(($(date +%s) + $(scale $((guest_tmo + 240)))))
verdict=
while IFS= read -r line; do
	line=${line%$'\r'}
	case $line in
	"# bench: "*) echo "$line" ;;
	"ok 1 "* | "not ok 1 "*) verdict=$line; echo "$line" ;;
	"#   "*) [ -z "$verdict" ] || echo "$line" ;;
	esac
done < <(
	tail -n +1 -s 0.5 -F --pid="$VM_PID" "$console" 2>/dev/null &
	tpid=$!
	others=0
	while kill -0 "$VM_PID" 2>/dev/null; do
		# Other VMs on this host compete for its cores: note the most seen.
		n=$(($(pgrep -c -x qemu-system-x86 || true) - 1))
		if [ "$n" -gt "$others" ]; then
			others=$n
			echo "$others" > "$out/other-vms"
		fi
		if [ "$(date +%s)" -gt "$deadline" ]; then
			echo "bench: VM still running after its deadline; killed" >&2
			kill "$VM_PID" 2>/dev/null || true
			sleep 1
			kill -9 "$VM_PID" 2>/dev/null || true
		fi
		sleep 1
	done
	sleep 1
	kill "$tpid" 2>/dev/null || true
)
wait "$VM_PID" 2>/dev/null || true

case $verdict in
"ok 1 "*) ;;
*)
	echo "bench: the guest run failed (${verdict:-no result}); console tail:" >&2
	tail -n 40 "$console" | tr -d '\r' | sed 's/^/    /' >&2
	log=$(ls "$VM_SHARE"/.harness/logs/*.log 2>/dev/null | head -n1 || true)
	[ -z "$log" ] || { echo "guest log ($log):" >&2; tail -n 40 "$log" >&2; }
	exit 1 ;;
esac

# What was measured: the module is built from the work tree.
rev=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$top" status --porcelain -- 'dm-dedup-*.c' include 2>/dev/null)" ]; then
	rev="$rev + uncommitted module changes"
fi
BENCH_REV=$rev BENCH_OTHER_VMS=$(cat "$out/other-vms" 2>/dev/null || echo 0) \
	"$top/bench/analyze.sh" "$VM_SHARE/bench" "$out"

#!/bin/bash
# run-vm.sh - host side of the benchmarks (bench/README.md).
#
# Usage: bench/run-vm.sh [stall|profile|throughput|sustained|activation|discard|datadisk|quiet|ratio]
#        (default stall)
#
# Boots the test VM once (scripts/vm-lib.sh: same kernel, initramfs and QEMU
# line as `make check`), with the benchmark's guest script as the harness's
# only "test" (timeout, teardown with dedup_check, kernel-log scan). Then
# the benchmark's analyzer turns what came back over the 9p share into
# build/bench/NAME.txt (and a plot where it makes one).
#
#   stall       bench/stall-guest.sh, bench/analyze.sh: write stalls, four
#               rows; the metadata disk is a virtio disk throttled by QEMU
#   profile     bench/profile-guest.sh, bench/analyze-profile.sh: perf in the
#               guest (added to the initramfs here) over three workloads
#   throughput  bench/throughput-guest.sh, bench/analyze-throughput.sh: the
#               matrix of rows planned here (BENCH_ROWS filters it)
#   sustained   bench/sustained-guest.sh, bench/analyze-sustained.sh: long
#               rows on the throttled metadata disk, fdatasync probe beside
#   discard     bench/discard-guest.sh, bench/analyze-discard.sh: a large
#               discard beside random writes and an fdatasync probe, on the
#               throttled metadata disk
#   datadisk    bench/datadisk-guest.sh, bench/analyze-datadisk.sh: writes
#               bound by a throttled data disk (metadata on a RAM disk),
#               beside the same rows on an unthrottled one
#   quiet       bench/quiet-guest.sh, bench/analyze-quiet.sh: a 4 KiB write +
#               fdatasync every 100 ms on an idle device, metadata on the
#               throttled disk
#   ratio       bench/ratio-guest.sh, bench/analyze-ratio.sh: the dedup
#               ratio on real data (bench/ratio-inputs.sh builds the input
#               disk first) against btrfs + duperemove, which are added to
#               the initramfs here with GNU cp
#
# Settings (environment):
#   BENCH_SECONDS     seconds per row (defaults: stall 60, profile 20,
#                     throughput 10, sustained 360, discard 60, datadisk 20,
#                     quiet 60)
#   BENCH_DATA_IOPS, BENCH_DATA_BPS
#                     datadisk: write IOPS and bytes/s of the throttled data
#                     disk (2000, 8 MiB/s)
#   BENCH_FILL_MB, BENCH_DISCARD_MB, BENCH_DISCARD_AT
#                     discard: unique data written first (1024 MiB), how
#                     much of it is then discarded (768 MiB), and when (10 s
#                     into the measured run)
#   BENCH_META_IOPS   write IOPS limit of the throttled metadata disk (200)
#   BENCH_META_BPS    write bytes/s limit of that disk (default 4 MiB)
#   BENCH_META_MB     size of the metadata disk (default 1024; a brd slice
#                     for profile and throughput)
#   BENCH_META_READ_DELAY_MS  sustained: the read delay of the *-slowread
#                     rows, dm-delay in the guest on the metadata disk (5)
#   BENCH_COMMIT_PERIOD_MS  sustained: commit_period_ms of the dedup and
#                     dedup-slowread rows (1000)
#   BENCH_DATA_MB     size of the data disk, a brd RAM disk in the guest
#                     (default 4096, sustained 16384: 360 s at 11,000 IOPS
#                     writes 15 GiB; the VM gets it + 2-3 GiB);
#                     ratio: a sparse virtio disk (default 10240)
#   BENCH_ROWS        throughput: extended regex on the row ids
#                     (target:workload:bs:pattern:jobs, e.g. sha256:unique:4k:seq:j1);
#                     sustained: extended regex on the row names (dm-linear,
#                     dm-thin, dedup-blocking, dedup, dedup-slowread,
#                     dedup-mix, dedup-mix-slowread, dedup-load-slowread,
#                     dedup-prefilled; default all but the two dedup-mix
#                     rows and dedup-load-slowread); ratio: on its row
#                     names (dedup, btrfs-4k, btrfs-128k, btrfs-4k-partial;
#                     default all but btrfs-4k-partial)
#   BENCH_RATIO_9P    ratio: 1 also times reading a sample of the tree (its
#                     fs/, 46 MiB) over the 9p share (hard links in
#                     VM_SHARE) and from the virtio disk
#   BENCH_RATIO_DEDUPE_MAX  ratio: seconds a duperemove pass may take
#                     before it is stopped and its row measured as it is
#                     (default 1800)
#   BENCH_RATIO_INPUTS  ratio: an input disk of the same layout to use
#                     instead of bench/ratio-inputs.sh's (e.g. a small one
#                     for a quick try of the benchmark itself)
#   BENCH_OVERWRITE_MB  profile/throughput/sustained: the region an overwrite
#                     row writes first and then rewrites (default 64;
#                     sustained: 1024, the dedup-mix rows, and what
#                     dedup-load-slowread writes before its re-create)
#   BENCH_JOBS        profile: fio numjobs (default 1)
#   BENCH_HASH        profile: dedup's hash (default sha256)
#   BENCH_WORKLOADS   profile: the workloads, in order (default "linear
#                     unique dup100 overwrite"; also linear-read50, read50)
#   BENCH_WINDOW      sustained: seconds per "minute" of the per-window
#                     commit figures (default 60; shorter for short runs)
#   PREFILL_IMAGE     sustained: a metadata image pre-filled with a large
#                     index for the row "dedup-prefilled"; or PREFILL_CMD, a
#                     command run as `$PREFILL_CMD OUT_IMAGE` that builds one.
#                     PREFILL_DATA_MB: the data blocks that image references
#                     (default 98304: a dm-zero prefix in the guest)
#   PREFILL_ENTRIES   sustained: build that image with tools/ddgen:
#                     this many unique blocks mapped once (e.g. 20000000);
#                     activation: the same (default 20000000)
#   BENCH_GUEST       guest script (default bench/NAME-guest.sh; another
#                     script with the same outputs, for experiments)
# and those of scripts/vm-lib.sh. Exit status: 0 when all rows ran and were
# analysed (PASS/MISS/FAIL verdicts are measurements and do not change it).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
bench=${1:-stall}
case $bench in
stall) def_s=60 ;;
profile) def_s=20 ;;
throughput) def_s=10 ;;
sustained) def_s=360 ;;
activation) def_s=0 ;;
discard) def_s=60 ;;
datadisk) def_s=20 ;;
quiet) def_s=60 ;;
ratio) def_s=0 ;;
*) echo "usage: bench/run-vm.sh [stall|profile|throughput|sustained|activation|discard|datadisk|quiet|ratio]" >&2; exit 2 ;;
esac
BENCH_SECONDS=${BENCH_SECONDS:-$def_s}
BENCH_META_IOPS=${BENCH_META_IOPS:-200}
BENCH_META_BPS=${BENCH_META_BPS:-4194304}
BENCH_META_MB=${BENCH_META_MB:-1024}
BENCH_META_READ_DELAY_MS=${BENCH_META_READ_DELAY_MS:-5}
BENCH_COMMIT_PERIOD_MS=${BENCH_COMMIT_PERIOD_MS:-1000}
BENCH_JOBS=${BENCH_JOBS:-1}
BENCH_HASH=${BENCH_HASH:-sha256}
case $BENCH_HASH in
sha256 | blake2b-256 | xxhash64) ;;
*) echo "bench: BENCH_HASH must be sha256, blake2b-256 or xxhash64" >&2; exit 2 ;;
esac
BENCH_WINDOW=${BENCH_WINDOW:-60}
BENCH_FILL_MB=${BENCH_FILL_MB:-1024}
BENCH_DISCARD_MB=${BENCH_DISCARD_MB:-768}
BENCH_DISCARD_AT=${BENCH_DISCARD_AT:-10}
BENCH_DATA_IOPS=${BENCH_DATA_IOPS:-2000}
BENCH_DATA_BPS=${BENCH_DATA_BPS:-8388608}
PREFILL_DATA_MB=${PREFILL_DATA_MB:-98304}
if [ "$bench" = sustained ]; then
	BENCH_DATA_MB=${BENCH_DATA_MB:-16384}
	BENCH_OVERWRITE_MB=${BENCH_OVERWRITE_MB:-1024}
	# The rows of sustained-guest.sh; the dedup-mix rows only when asked for.
	sustained_rows="dm-linear dm-thin dedup-blocking dedup dedup-slowread dedup-mix
		dedup-mix-slowread dedup-load-slowread dedup-prefilled"
	BENCH_ROWS=${BENCH_ROWS:-^(dm-linear|dm-thin|dedup-blocking|dedup|dedup-slowread|dedup-prefilled)\$}
elif [ "$bench" = ratio ]; then
	# A virtio disk that holds the inputs' copy, not a RAM disk.
	BENCH_DATA_MB=${BENCH_DATA_MB:-10240}
	BENCH_OVERWRITE_MB=${BENCH_OVERWRITE_MB:-64}
else
	BENCH_DATA_MB=${BENCH_DATA_MB:-4096}
	BENCH_OVERWRITE_MB=${BENCH_OVERWRITE_MB:-64}
fi
out=$top/build/bench
# Disks, share and scratch files are the bench's own: a test run's are left
# alone. The data disk is a RAM disk in the guest: room for it (and, for
# profile and throughput, for the metadata RAM disk and perf).
case $bench in
profile | throughput) export VM_MEM=$((BENCH_DATA_MB + 3072)) ;;
datadisk) export VM_MEM=$((BENCH_META_MB + 2048)) ;;
ratio) export VM_MEM=6144 ;;
*) export VM_MEM=$((BENCH_DATA_MB + 2048)) ;;
esac
export VM_DIR=$out/vm
export VM_SHARE=$out/$bench
# QEMU's monitor: the translation-cache flushes (bench/tcg-flushes.pl).
export VM_MONITOR=$out/vm/monitor.sock
# shellcheck source=scripts/vm-lib.sh
. "$top/scripts/vm-lib.sh"

for v in BENCH_SECONDS BENCH_DATA_MB BENCH_META_MB BENCH_OVERWRITE_MB BENCH_JOBS \
	BENCH_WINDOW PREFILL_DATA_MB BENCH_META_READ_DELAY_MS BENCH_FILL_MB \
	BENCH_COMMIT_PERIOD_MS BENCH_DISCARD_MB BENCH_DISCARD_AT BENCH_DATA_IOPS BENCH_DATA_BPS; do
	case ${!v} in
	'' | *[!0-9]*) echo "bench: $v must be a number" >&2; exit 2 ;;
	esac
done
[ -f "$INITRD_BASE" ] || { echo "bench: $INITRD_BASE missing (make initramfs)" >&2; exit 1; }

# throughput_plan: the row ids of the throughput matrix, BENCH_ROWS applied.
throughput_plan() {
	local bs pat j h w
	(for bs in 4k 64k; do
		for pat in seq rand; do
			for j in 1 2; do
				echo "linear:unique:$bs:$pat:j$j"
				echo "thin:unique:$bs:$pat:j$j"
				for h in sha256 blake2b-256 xxhash64; do
					for w in unique dup50 dup100 overwrite; do
						echo "$h:$w:$bs:$pat:j$j"
					done
				done
			done
		done
	done
	# Reads of data written at 50 % duplicates: 4 KiB random, 64 KiB sequential.
	for bs in 4k:rand 64k:seq; do
		for h in linear thin sha256; do
			echo "$h:read50:${bs%:*}:${bs#*:}:j2"
		done
	done) | grep -E -- "${BENCH_ROWS:-.}" || true
}

# datadisk_plan: the rows of bench-datadisk, BENCH_ROWS applied
# (TARGET:DUP:PATTERN:DISK, bench/datadisk-guest.sh).
datadisk_plan() {
	local pat h d
	for pat in seq rand; do
		echo "linear:0:$pat:slow"
		echo "thin:0:$pat:slow"
		for h in sha256 xxhash64; do
			for d in 0 50 90; do
				echo "$h:$d:$pat:slow"
				echo "$h:$d:$pat:cpu"
			done
		done
	done | grep -E -- "${BENCH_ROWS:-.}" || true
}

# overlay_bins DIR FILE...: executables with the libraries ldd lists, into
# DIR (a cpio appended to the initramfs). Directories are resolved as on the
# host (merged /usr), so nothing lands on a symlink of the base initramfs.
overlay_bins() {
	local dir=$1 f lib d
	shift
	for f in "$@"; do
		for lib in "$f" $(ldd "$f" 2>/dev/null | grep -o '/[^ ]*'); do
			d=$(realpath "$(dirname "$lib")")
			mkdir -p "$dir$d"
			cp -L "$lib" "$dir$d/$(basename "$lib")"
		done
	done
}

# build_prefill: $out/prefill.img with PREFILL_ENTRIES unique blocks, each
# mapped once, at PBNs and LBNs 0.., for a data device of the
# PREFILL_DATA_MB prefix plus the RAM disk (tools/ddgen); sets prefill.
build_prefill() {
	local start
	[ "$PREFILL_ENTRIES" -le $((PREFILL_DATA_MB * 256)) ] ||
		{ echo "bench: PREFILL_ENTRIES exceeds PREFILL_DATA_MB" >&2; exit 1; }
	echo "bench: building a pre-filled image of $PREFILL_ENTRIES fingerprints"
	start=$(date +%s)
	rm -f "$out/prefill.img"
	"$top/tools/ddgen" --hash sha256 \
		--unique "$PREFILL_ENTRIES" --logical "$PREFILL_ENTRIES" \
		--data-blocks $(((PREFILL_DATA_MB + BENCH_DATA_MB) * 256)) \
		--metadata-size "$((BENCH_META_MB + PREFILL_ENTRIES * 64 / 1048576))M" \
		-o "$out/prefill.img" ||
		{ echo "bench: ddgen failed" >&2; exit 1; }
	echo "bench: image built in $(($(date +%s) - start)) s"
	prefill=$out/prefill.img
}

mkdir -p "$out" "$VM_DIR"
# The input disk of bench-ratio is built (or found in the cache) before
# the VM lock is taken: a first build takes many minutes and no VM.
if [ "$bench" = ratio ]; then
	if [ -n "${BENCH_RATIO_INPUTS:-}" ]; then
		ratio_in=$BENCH_RATIO_INPUTS ratio_src=
		[ -f "$ratio_in" ] || { echo "bench: BENCH_RATIO_INPUTS=$ratio_in not found" >&2; exit 1; }
	else
		ratio_paths=$("$top/bench/ratio-inputs.sh") || { echo "bench: no input disk" >&2; exit 1; }
		{ read -r ratio_in; read -r ratio_src; } <<<"$ratio_paths"
	fi
fi
vm_lock "bench-$bench"

plan=$out/plan
rm -rf "$VM_SHARE" "$plan"
mkdir -p "$VM_SHARE" "$plan/harness" "$plan/tests/bench"
rm -f "$out/meta.img" "$out/prefill.img" "$out/$bench.txt" "$out/$bench.png" "$out/other-vms" \
	"$out/tcg-flushes"

# The guest side travels in a cpio appended to the initramfs, with a one-line
# plan for tests/harness/guest-run.sh.
guest=${BENCH_GUEST:-$top/bench/$bench-guest.sh}
install -m 0755 "$guest" "$plan/tests/bench/$bench-guest.sh"
install -m 0644 "$top/bench/guest-lib.sh" "$top"/bench/*.fio "$plan/tests/bench/"
VM_QEMU_ARGS=
throttle="throttling.iops-write=$BENCH_META_IOPS,throttling.bps-write=$BENCH_META_BPS"
prefill=
case $bench in
stall)
	rows=4 per_row=$((BENCH_SECONDS + 90)) ;;
profile)
	# perf: bookworm's linux-perf is one ELF binary, /usr/bin/perf; older
	# packagings made /usr/bin/perf a wrapper script running perf_<major.minor>.
	perf=$(command -v perf || true)
	[ -n "$perf" ] || { echo "bench: perf missing (scripts/deps.sh installs linux-perf)" >&2; exit 1; }
	if ! head -c4 "$perf" | grep -q ELF; then
		kv=${KVER%%-*}
		perf=/usr/bin/perf_${kv%.*}
		[ -x "$perf" ] || { echo "bench: $(command -v perf) is a script and $perf is missing" >&2; exit 1; }
	fi
	overlay_bins "$plan" "$perf"
	[ "$(basename "$perf")" = perf ] || mv "$plan/usr/bin/$(basename "$perf")" "$plan/usr/bin/perf"
	# Prefill + perf report take their time too.
	rows=$(echo "${BENCH_WORKLOADS:-linear unique dup100 overwrite}" | wc -w)
	per_row=$((2 * BENCH_SECONDS + 240)) ;;
throughput)
	throughput_plan > "$plan/tests/bench/rows.plan"
	rows=$(wc -l < "$plan/tests/bench/rows.plan")
	[ "$rows" -gt 0 ] || { echo "bench: BENCH_ROWS='${BENCH_ROWS:-}' selects no row" >&2; exit 2; }
	per_row=$((BENCH_SECONDS + 60))
	# tcrypt.ko is not in the base initramfs: the hash ceilings need it.
	tc=${GUEST_MODROOT:-/}/lib/modules/$KVER/kernel/crypto/tcrypt.ko
	if [ -f "$tc" ]; then
		cp "$tc" "$plan/tests/bench/"
	else
		echo "bench: $tc not found: no hash ceilings (tcrypt)" >&2
	fi
	echo "bench: $rows throughput rows planned" ;;
sustained)
	gcc -O2 -Wall -Wextra -static -o "$plan/tests/bench/syncprobe" "$top/bench/syncprobe.c"
	gcc -O2 -Wall -Wextra -static -pthread -o "$plan/tests/bench/stallprobe" "$top/bench/stallprobe.c"
	# The rows BENCH_ROWS selects (dedup-prefilled: counted below).
	# shellcheck disable=SC2086 # one row name a word
	rows=$(printf '%s\n' $sustained_rows | grep -v '^dedup-prefilled$' | grep -cE -- "$BENCH_ROWS" || true)
	per_row=$((BENCH_SECONDS + 420))
	if [ -n "${PREFILL_IMAGE:-}" ]; then
		[ -f "$PREFILL_IMAGE" ] || { echo "bench: PREFILL_IMAGE=$PREFILL_IMAGE not found" >&2; exit 1; }
		echo "bench: pre-filled row on a copy of $PREFILL_IMAGE"
		cp --sparse=always "$PREFILL_IMAGE" "$out/prefill.img"
		prefill=$out/prefill.img
	elif [ -n "${PREFILL_CMD:-}" ]; then
		echo "bench: building the pre-filled image: $PREFILL_CMD $out/prefill.img"
		$PREFILL_CMD "$out/prefill.img" || { echo "bench: PREFILL_CMD failed" >&2; exit 1; }
		prefill=$out/prefill.img
	elif [ "${PREFILL_ENTRIES:-0}" -gt 0 ]; then
		build_prefill
	else
		echo "bench: row dedup-prefilled skipped: set PREFILL_ENTRIES (e.g. 20000000)," \
			"PREFILL_IMAGE or PREFILL_CMD"
	fi
	if [ -n "$prefill" ] && echo dedup-prefilled | grep -qE -- "$BENCH_ROWS"; then
		rows=$((rows + 1))
	fi
	[ "$rows" -gt 0 ] || { echo "bench: BENCH_ROWS='$BENCH_ROWS' selects no row" >&2; exit 2; }
	if [ -n "$prefill" ]; then
		VM_QEMU_ARGS="-drive file=$prefill,if=none,id=vdpre,format=raw,cache=unsafe,discard=unmap,$throttle -device virtio-blk-pci,drive=vdpre"
	fi ;;
quiet)
	gcc -O2 -Wall -Wextra -static -o "$plan/tests/bench/syncprobe" "$top/bench/syncprobe.c"
	rows=4 per_row=$((BENCH_SECONDS + 120)) ;;
discard)
	gcc -O2 -Wall -Wextra -static -o "$plan/tests/bench/syncprobe" "$top/bench/syncprobe.c"
	# Each row first writes BENCH_FILL_MB (minutes under TCG).
	rows=3 per_row=$((BENCH_SECONDS + 600)) ;;
datadisk)
	datadisk_plan > "$plan/tests/bench/rows.plan"
	rows=$(wc -l < "$plan/tests/bench/rows.plan")
	[ "$rows" -gt 0 ] || { echo "bench: BENCH_ROWS='${BENCH_ROWS:-}' selects no row" >&2; exit 2; }
	per_row=$((BENCH_SECONDS + 120))
	rm -f "$out/data-slow.img" "$out/data-cpu.img"
	truncate -s "${BENCH_DATA_MB}M" "$out/data-slow.img" "$out/data-cpu.img"
	VM_QEMU_ARGS="-drive file=$out/data-slow.img,if=none,id=vdslow,format=raw,cache=unsafe,discard=unmap,throttling.iops-write=$BENCH_DATA_IOPS,throttling.bps-write=$BENCH_DATA_BPS -device virtio-blk-pci,drive=vdslow"
	VM_QEMU_ARGS="$VM_QEMU_ARGS -drive file=$out/data-cpu.img,if=none,id=vdcpu,format=raw,cache=unsafe,discard=unmap -device virtio-blk-pci,drive=vdcpu"
	echo "bench: $rows datadisk rows planned; data disk throttled to $BENCH_DATA_IOPS write IOPS, $BENCH_DATA_BPS B/s" ;;
ratio)
	# btrfs-4k-partial only when asked for: under TCG its compare phase
	# had not ended 16 minutes in (doc/performance.md).
	ratio_rows=$(printf '%s\n' dedup btrfs-4k btrfs-128k btrfs-4k-partial |
		grep -E -- "${BENCH_ROWS:-^(dedup|btrfs-4k|btrfs-128k)\$}" | paste -sd' ' || true)
	rows=$(echo "$ratio_rows" | wc -w)
	[ "$rows" -gt 0 ] || { echo "bench: BENCH_ROWS='${BENCH_ROWS:-}' selects no row" >&2; exit 2; }
	# A copy of a few GiB and a dedupe pass (stopped at
	# BENCH_RATIO_DEDUPE_MAX) under TCG.
	BENCH_RATIO_DEDUPE_MAX=${BENCH_RATIO_DEDUPE_MAX:-1800}
	case $BENCH_RATIO_DEDUPE_MAX in
	'' | *[!0-9]*) echo "bench: BENCH_RATIO_DEDUPE_MAX must be a number" >&2; exit 2 ;;
	esac
	per_row=$((BENCH_RATIO_DEDUPE_MAX + 1800))
	# btrfs and its dependencies, in load order, from the guest's modules.
	mkdir -p "$plan/tests/bench/modules"
	modprobe -d "${GUEST_MODROOT:-/}" -S "$KVER" --show-depends btrfs |
		awk '$1 == "insmod" { print $2 }' | while read -r ko; do
		cp "$ko" "$plan/tests/bench/modules/"
		basename "$ko" >> "$plan/tests/bench/modules/order"
	done
	[ -s "$plan/tests/bench/modules/order" ] || { echo "bench: no btrfs module for $KVER" >&2; exit 1; }
	for b in mkfs.btrfs btrfs duperemove cp; do
		command -v "$b" >/dev/null || { echo "bench: $b missing (scripts/deps.sh)" >&2; exit 1; }
	done
	overlay_bins "$plan" "$(command -v mkfs.btrfs)" "$(command -v btrfs)" \
		"$(command -v duperemove)" /usr/bin/cp
	# GNU cp for --sparse=always, beside busybox's cp, not over it.
	mkdir -p "$plan/tests/bench/bin"
	mv "$plan/usr/bin/cp" "$plan/tests/bench/bin/cp"
	if [ "${BENCH_RATIO_9P:-0}" = 1 ] && [ -n "$ratio_src" ]; then
		mkdir -p "$VM_SHARE/ratio-9p"
		cp -al "$ratio_src/linux-source-6.1/fs" "$VM_SHARE/ratio-9p/"
	fi
	rm -f "$out/ratio-data.img" "$out/ratio-meta.img"
	truncate -s "${BENCH_DATA_MB}M" "$out/ratio-data.img"
	truncate -s "${BENCH_META_MB}M" "$out/ratio-meta.img"
	# /dev/vdc the inputs (read-only), /dev/vdd data, /dev/vde metadata.
	VM_QEMU_ARGS="-drive file=$ratio_in,if=none,id=vdin,format=raw,readonly=on -device virtio-blk-pci,drive=vdin"
	VM_QEMU_ARGS="$VM_QEMU_ARGS -drive file=$out/ratio-data.img,if=none,id=vddata,format=raw,cache=unsafe,discard=unmap -device virtio-blk-pci,drive=vddata"
	VM_QEMU_ARGS="$VM_QEMU_ARGS -drive file=$out/ratio-meta.img,if=none,id=vdrmeta,format=raw,cache=unsafe,discard=unmap -device virtio-blk-pci,drive=vdrmeta"
	echo "bench: ratio rows: $ratio_rows; inputs: $ratio_in" ;;
activation)
	[ "${PREFILL_ENTRIES:-0}" -gt 0 ] || PREFILL_ENTRIES=20000000
	build_prefill
	# Not throttled: activation is read I/O, and the save at remove is timed.
	rows=1 per_row=5400
	VM_QEMU_ARGS="-drive file=$prefill,if=none,id=vdpre,format=raw,cache=unsafe,discard=unmap -device virtio-blk-pci,drive=vdpre" ;;
esac
case $bench in
stall | sustained | discard | quiet)
	truncate -s "${BENCH_META_MB}M" "$out/meta.img"
	# The metadata disk comes before the pre-filled one: /dev/vdc, /dev/vdd.
	VM_QEMU_ARGS="-drive file=$out/meta.img,if=none,id=vdmeta,format=raw,cache=unsafe,discard=unmap,$throttle -device virtio-blk-pci,drive=vdmeta $VM_QEMU_ARGS" ;;
esac
export VM_QEMU_ARGS

guest_tmo=$((rows * per_row + 600))
{
	for v in BENCH_SECONDS BENCH_META_MB BENCH_DATA_MB BENCH_OVERWRITE_MB \
		BENCH_JOBS BENCH_HASH BENCH_WINDOW PREFILL_DATA_MB BENCH_META_READ_DELAY_MS \
		BENCH_FILL_MB BENCH_DISCARD_MB BENCH_DISCARD_AT BENCH_DATA_IOPS BENCH_DATA_BPS; do
		echo "$v=${!v}"
	done
	[ "$bench" != sustained ] || printf 'BENCH_ROWS=%q\n' "${BENCH_ROWS:-.}"
	echo "BENCH_COMMIT_PERIOD_MS=$BENCH_COMMIT_PERIOD_MS"
	[ "$bench" != profile ] || [ -z "${BENCH_WORKLOADS:-}" ] ||
		printf 'BENCH_WORKLOADS=%q\n' "$BENCH_WORKLOADS"
	if [ "$bench" = ratio ]; then
		printf 'BENCH_RATIO_ROWS=%q\n' "$ratio_rows"
		echo "BENCH_RATIO_DEDUPE_MAX=$BENCH_RATIO_DEDUPE_MAX"
	fi
	echo "BENCH_PREFILL=$([ -n "$prefill" ] && echo 1 || echo 0)"
} > "$plan/tests/bench/bench.conf"
printf '1\tbench/%s-guest.sh\t%s\n' "$bench" "$guest_tmo" > "$plan/harness/plan"
(cd "$plan" && find . | cpio -o -H newc --quiet -R 0:0) > "$out/plan.cpio"
# What is measured: the module the initrd holds, built from the work tree;
# name the last commit that changed its sources (and the tree's HEAD, if
# later), read now: the tree may change while the VM runs.
mrev=$(git -C "$top" log -1 --format=%h -- 'dm-dedup-*.c' include Kbuild 2>/dev/null || true)
head=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
rev="module commit ${mrev:-unknown}"
[ "$mrev" = "$head" ] || rev="$rev (tree at $head)"
if [ -n "$(git -C "$top" status --porcelain -- 'dm-dedup-*.c' include Kbuild 2>/dev/null)" ]; then
	rev="$rev + uncommitted module changes"
fi
cat "$INITRD_BASE" "$out/plan.cpio" > "$out/initrd.cpio"

console=$out/console-$bench.log
if [ "$bench" = ratio ]; then
	echo "bench $bench: $rows rows; console: $console"
else
	echo "bench $bench: $BENCH_SECONDS s per row, $rows rows; console: $console"
fi
case $bench in
stall | sustained | discard | quiet)
	echo "bench $bench: metadata disk throttled to $BENCH_META_IOPS write IOPS, $BENCH_META_BPS B/s" ;;
esac
[ "$bench" != sustained ] ||
	echo "bench $bench: rows '$BENCH_ROWS'; *-slowread rows: metadata reads delayed $BENCH_META_READ_DELAY_MS ms (dm-delay)"
vm_start "$out/initrd.cpio" "$console"
deadline=$(($(date +%s) + $(scale $((guest_tmo + 240)))))
verdict=
while IFS= read -r line; do
	line=${line%$'\r'}
	case $line in
	"# bench: row "*": done"* | "# bench: all rows done"*)
		# The flush count after each row ("?" if unread): not while a
		# row runs, as `info jit` holds the vCPUs up for a few ms.
		printf '%s\t%s\n' "$("$top/bench/tcg-flushes.pl" "$VM_MONITOR" || echo '?')" \
			"${line#\# bench: }" >> "$out/tcg-flushes"
		echo "$line" ;;
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
rm -rf "$VM_SHARE/ratio-9p"

case $verdict in
"ok 1 "*) ;;
*)
	echo "bench: the guest run failed (${verdict:-no result}); console tail:" >&2
	tail -n 40 "$console" | tr -d '\r' | sed 's/^/    /' >&2
	log=$(ls "$VM_SHARE"/.harness/logs/*.log 2>/dev/null | head -n1 || true)
	[ -z "$log" ] || { echo "guest log ($log):" >&2; tail -n 40 "$log" >&2; }
	exit 1 ;;
esac

analyzer=$top/bench/analyze-$bench.sh
[ "$bench" != stall ] || analyzer=$top/bench/analyze.sh
export BENCH_META_IOPS BENCH_META_BPS BENCH_WINDOW BENCH_DATA_IOPS BENCH_DATA_BPS
BENCH_REV=$rev BENCH_OTHER_VMS=$(cat "$out/other-vms" 2>/dev/null || echo 0) \
	BENCH_TCG_FLUSHES=$out/tcg-flushes "$analyzer" "$VM_SHARE/bench" "$out"
# A flush of QEMU's translation cache stops the whole guest for ~0.1 s.
if [ -s "$out/tcg-flushes" ] && [ -f "$out/$bench.txt" ]; then
	n=$(tail -n1 "$out/tcg-flushes" | cut -f1)
	echo "QEMU TCG translation-cache flushes during the run (each stops every vCPU ~0.1 s): $n" |
		tee -a "$out/$bench.txt"
fi

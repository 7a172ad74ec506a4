#!/bin/bash
# analyze-datadisk.sh IN_DIR OUT_DIR - the table of `make bench-datadisk`
# (bench/README.md): per row, write IOPS, the ratio to dm-linear's on the
# same pattern, p99 latency, and the bytes written to the data disk per
# logical byte written (the disk's write sectors, counted until the device
# was removed, over fio's bytes). For each dedup row on the throttled disk
# (slow) the bound of issue 25: 0.8 x min(dm-linear / (1 - duplicate
# share), the same row on the unthrottled disk (cpu)), saying which term
# binds; and bytes per logical byte <= 1 - duplicate share + 0.02.
# Output: OUT_DIR/datadisk.txt.
set -eu
# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze-datadisk "$@"
command -v jq >/dev/null || { echo "analyze-datadisk: jq missing" >&2; exit 1; }

declare -A iops p99 bpl
for id in "${rows[@]}"; do
	f=$in/${id//:/_}
	iops[$id]=$(fio_w "$f.json" '.iops | floor')
	p99[$id]=$(fio_w "$f.json" '(.lat_ns.percentile."99.000000" // 0) / 1000000 * 100 | floor / 100')
	bytes=$(fio_w "$f.json" .io_bytes)
	# /sys/block/*/stat: field 7 is sectors written.
	sect=$(awk '$1 == "before" { b = $8 } $1 == "after" { a = $8 } END { print a - b }' "$f.disk")
	bpl[$id]=$(awk -v s="$sect" -v b="$bytes" 'BEGIN { if (b > 0) printf "%.3f", s * 512 / b; else print "-" }')
done

{
	echo "bench-datadisk: 4 KiB writes, iodepth 32, $(envf seconds) s per row; data disk throttled to"
	echo "${BENCH_DATA_IOPS:-?} write IOPS and ${BENCH_DATA_BPS:-?} B/s (slow) or not (cpu); metadata on a RAM disk."
	built_from
	echo
	printf '%-24s %8s %8s %8s %10s %26s\n' row IOPS "x linear" "p99 ms" "B/logical" "bound (0.8 x min) verdict"
	for id in "${rows[@]}"; do
		IFS=: read -r t d pat disk <<< "$id"
		lin=${iops[linear:0:$pat:slow]:-}
		ratio=-
		[ -z "$lin" ] || ratio=$(awk -v a="${iops[$id]}" -v b="$lin" 'BEGIN { printf "%.2f", a / b }')
		verdict=
		if [ "$disk" = slow ] && [ "$t" != linear ] && [ "$t" != thin ] && [ -n "$lin" ]; then
			cpu=${iops[$t:$d:$pat:cpu]:-}
			verdict=$(awk -v i="${iops[$id]}" -v l="$lin" -v d="$d" -v c="$cpu" -v bp="${bpl[$id]}" 'BEGIN {
				disk = l / (1 - d / 100); bound = disk; by = "disk"
				if (c != "" && c < disk) { bound = c; by = "cpu" }
				v = i >= 0.8 * bound ? "PASS" : "MISS"
				w = (bp != "-" && bp <= 1 - d / 100 + 0.02) ? "PASS" : "MISS"
				printf "%.0f (%s) %s, bytes %s", 0.8 * bound, by, v, w }')
		fi
		printf '%-24s %8s %8s %8s %10s %26s\n' "$id" "${iops[$id]}" "$ratio" "${p99[$id]}" "${bpl[$id]}" "$verdict"
	done
} > "$out/datadisk.txt"
cat "$out/datadisk.txt"

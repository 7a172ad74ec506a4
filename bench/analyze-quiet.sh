#!/bin/bash
# analyze-quiet.sh IN_DIR OUT_DIR - the table of `make bench-quiet`
# (bench/README.md): per row, fdatasync p50/p99/max of a 4 KiB write +
# fdatasync every 100 ms on an otherwise idle device, the metadata disk's
# writes per second, and for dedup rows the commits and the metadata
# blocks (4 KiB) written per commit. Verdict (issue 25): dedup's p99 <=
# 2 x dm-thin's. Output: OUT_DIR/quiet.txt.
set -eu
# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze-quiet "$@"

declare -A p50 p99 pmax mw per
secs=$(envf seconds)
for r in "${rows[@]}"; do
	read -r "p50[$r]" "p99[$r]" "pmax[$r]" < <(cut -d' ' -f3 "$in/$r.sync" | sort -n |
		awk '{ v[NR] = $1 / 1000 }
		function rank(p,  k) { k = int(NR * p); if (k < NR * p) k++; return v[k] }
		END { if (!NR) { print "- - -"; exit }
			printf "%.1f %.1f %.1f\n", rank(0.5), rank(0.99), v[NR] }')
	read -r _ _ w ws < <(sys_meta "$in/$r.sys")
	mw[$r]=$(awk -v w="$w" -v s="$secs" 'BEGIN { printf "%.1f", w / s }')
	per[$r]=-
	if [ -f "$in/$r.stats" ]; then
		c0=$(kv "$in/$r.before.stats" commits)
		c1=$(kv "$in/$r.stats" commits)
		[ "$c1" -le "$c0" ] ||
			per[$r]="$((c1 - c0)) commits, $(awk -v s="$ws" -v c=$((c1 - c0)) \
				'BEGIN { printf "%.1f", s / 8 / c }') blocks each"
	fi
done

{
	echo "bench-quiet: one 4 KiB O_DIRECT write + fdatasync every 100 ms, nothing else, $secs s a row;"
	echo "metadata on a disk throttled to ${BENCH_META_IOPS:-?} write IOPS and ${BENCH_META_BPS:-?} B/s; data on a RAM disk."
	built_from
	echo
	printf '%-16s %26s %16s  %s\n' row "fdatasync p50/p99/max ms" "meta writes/s" "commits"
	for r in "${rows[@]}"; do
		printf '%-16s %26s %16s  %s\n' "$r" "${p50[$r]}/${p99[$r]}/${pmax[$r]}" "${mw[$r]}" "${per[$r]}"
	done
	if [ -n "${p99[dedup]:-}" ] && [ -n "${p99[dm-thin]:-}" ]; then
		echo
		awk -v d="${p99[dedup]}" -v t="${p99[dm-thin]}" 'BEGIN {
			printf "fdatasync p99, dedup <= 2 x dm-thin (%.1f ms): %.1f ms %s\n",
				2 * t, d, d <= 2 * t ? "PASS" : "MISS" }'
	fi
} > "$out/quiet.txt"
cat "$out/quiet.txt"

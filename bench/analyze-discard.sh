#!/bin/bash
# analyze-discard.sh IN_DIR OUT_DIR - the table of `make bench-discard`
# (bench/README.md): per row, how long the discard took, the longest gap
# between the writer's completions and the gaps over 100 ms, the fdatasync
# probe's median, p99 and max, and the longest commit during the discard
# and outside it (kprobe trace: dedup_cow_do_commit, dm_pool_commit_metadata);
# dedup: its back-pressure waits. Verdicts (issue 25): dedup's longest gap
# <= 2x dm-thin's, its fdatasync p99 <= 2x dm-thin's + 20 ms, its longest
# commit during the discard <= 2x its longest commit outside it.
# Output: OUT_DIR/discard.txt.
set -eu
# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze-discard "$@"

declare -A took gap ngap p50 p99 pmax cin cout
for r in "${rows[@]}"; do
	log=$in/${r}_lat.1.log
	[ -s "$log" ] || { echo "analyze-discard: no latency log for $r" >&2; exit 1; }
	read -r d0 d1 < "$in/$r.discard"
	if [ "$d0" = - ]; then
		took[$r]="none"
		d0=-1 d1=-1
	else
		took[$r]=$((d1 - d0))
	fi
	t0=$(lat_t0 "$log")
	read -r _ "gap[$r]" _ "ngap[$r]" < <(lat_gaps "$log" "$t0" /dev/null /dev/null)
	read -r "p50[$r]" "p99[$r]" "pmax[$r]" < <(cut -d' ' -f3 "$in/$r.sync" | sort -n |
		awk '{ v[NR] = $1 / 1000 }
		function rank(p,  k) { k = int(NR * p); if (k < NR * p) k++; return v[k] }
		END { if (!NR) { print "- - -"; exit }
			printf "%.0f %.0f %.0f\n", rank(0.5), rank(0.99), v[NR] }')
	# Commits overlapping [d0, d1] count as during the discard.
	cin[$r]=-
	cout[$r]=-
	if [ -s "$in/$r.trace" ]; then
		read -r "cin[$r]" "cout[$r]" < <(trace_phases "$in/$r.trace" 0 |
			awk -v d0="$d0" -v d1="$d1" '$1 == "commit" || $1 == "thin_commit" {
				ms = $3 - $2
				if ($3 >= d0 && $2 <= d1) { if (ms > a) a = ms } else if (ms > b) b = ms
				n++ }
			END { if (!n) print "- -"; else printf "%.0f %.0f\n", a, b }')
	fi
done

{
	echo "bench-discard: $(envf fill_mb) MiB of unique data written, then $(envf seconds) s of"
	echo "4 KiB random unique writes (iodepth 16) beside a 4 KiB write + fdatasync every"
	echo "500 ms; $(envf discard_at) s in, blkdiscard of the first $(envf discard_mb) MiB. Metadata on a disk"
	echo "throttled to ${BENCH_META_IOPS:-?} write IOPS and ${BENCH_META_BPS:-?} B/s; data on a RAM disk."
	built_from
	echo
	printf '%-10s %10s %12s %8s %24s %22s\n' row "discard ms" "longest gap" ">100ms" \
		"fdatasync p50/p99/max" "commit ms during/else"
	for r in "${rows[@]}"; do
		printf '%-10s %10s %12s %8s %24s %22s\n' "$r" "${took[$r]}" "${gap[$r]}" \
			"${ngap[$r]}" "${p50[$r]}/${p99[$r]}/${pmax[$r]}" "${cin[$r]}/${cout[$r]}"
	done
	if [ -f "$in/dedup.stats" ]; then
		echo
		echo "dedup after the row: $(grep -E '^(commits|longest_commit_ms|backpressure_waits|longest_wait_us)=' \
			"$in/dedup.stats" | tr '\n' ' ')"
	fi
	if [ -n "${gap[dedup]:-}" ] && [ -n "${gap[dm-thin]:-}" ]; then
		echo
		v() { if [ "$1" = - ] || [ "$2" = - ]; then echo "n/a"; elif [ "$1" -le "$2" ]; then echo PASS; else echo MISS; fi; }
		echo "longest gap, dedup <= 2 x dm-thin ($((2 * gap[dm-thin])) ms): ${gap[dedup]} ms $(v "${gap[dedup]}" $((2 * gap[dm-thin])))"
		echo "fdatasync p99, dedup <= 2 x dm-thin + 20 ($((2 * p99[dm-thin] + 20)) ms): ${p99[dedup]} ms $(v "${p99[dedup]}" $((2 * p99[dm-thin] + 20)))"
		if [ "${cout[dedup]}" != - ]; then
			echo "longest commit during the discard <= 2 x outside it ($((2 * cout[dedup])) ms): ${cin[dedup]} ms $(v "${cin[dedup]}" $((2 * cout[dedup])))"
		fi
	fi
} > "$out/discard.txt"
cat "$out/discard.txt"

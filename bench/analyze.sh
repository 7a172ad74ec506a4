#!/bin/bash
# analyze.sh - host-side reduction of a `make bench-stall` run (bench/README.md).
#
# Usage: bench/analyze.sh IN_DIR OUT_DIR
#   IN_DIR   what bench/stall-guest.sh left on the share: rows, env, and per
#            row ROW_lat.1.log (fio, one line per completion: "msec, lat_ns,
#            ...", msec since the job started), ROW.json (fio), for dedup rows
#            ROW.stats (`dmsetup message <dev> 0 stats`)
#   OUT_DIR  gets stall.txt (the table), stall.png (completions per 100 ms),
#            stall-ROW.dat (the plotted buckets)
#
# Per row:
#   IOPS       fio's write IOPS (JSON)
#   gap        largest difference between neighbouring completion times, all
#              completions of the row sorted; only between completions: the
#              time before the first completion and after the last one is
#              not counted. Resolution 1 ms (fio logs msec).
#   gaps>100   number of such differences over 100 ms
#   p99.9/max  total write latency (submission to completion) from the same
#              log, nearest rank
# Nothing is filtered or smoothed; every completion in the log counts.
set -euo pipefail

# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze "$@"
stat() { kv "$in/$1.stats" "$2"; }

declare -A iops gap gapat ngap p999 lmax ncompl passes diag
for r in "${rows[@]}"; do
	log=$in/${r}_lat.1.log
	[ -s "$log" ] || { echo "analyze: $log missing or empty" >&2; exit 1; }
	iops[$r]=$(jq -r '.jobs[0].write.iops' "$in/$r.json")
	# How many times the row wrote the whole data disk (fio wraps around).
	passes[$r]=$(jq -r --arg d "$(envf data_bytes)" \
		'.jobs[0].write.io_bytes / ($d | tonumber) * 100 | floor / 100' "$in/$r.json")
	# Log times are CLOCK_MONOTONIC msec. The row starts at its earliest
	# submission (completion time - latency); times below are relative to it.
	t0=$(lat_t0 "$log")
	# Completion times, sorted: gaps and 100 ms buckets (zeros included).
	read -r "ncompl[$r]" "gap[$r]" "gapat[$r]" "ngap[$r]" < <(
		lat_gaps "$log" "$t0" "$out/stall-$r.dat" "$out/stall-$r.gaps")
	# Latencies (ns), sorted: nearest-rank p99.9 and the maximum, in ms.
	read -r "p999[$r]" "lmax[$r]" < <(lat_pct "$log")
	# Commit trace (kprobes, ftrace mono clock): intervals per phase, then
	# which gaps fall in a commit.
	: > "$out/stall-$r.phases"
	if [ -s "$in/$r.trace" ]; then
		trace_phases "$in/$r.trace" "$t0" > "$out/stall-$r.phases"
	fi
	awk '$1 == "commit" || $1 == "thin_commit" { printf "%.4f 0\n%.4f 1\n%.4f 1\n%.4f 0\n",
		$2 / 1000, $2 / 1000, $3 / 1000, $3 / 1000 }' "$out/stall-$r.phases" > "$out/stall-$r.commits"
	diag[$r]="no commit trace"
	[ -s "$out/stall-$r.phases" ] && diag[$r]=$(awk '
		FNR == NR { n++; name[n] = $1; s[n] = $2; e[n] = $3
			if ($1 ~ /commit$/ && $1 != "meta_commit") { nc++; if ($3 - $2 > lc) lc = $3 - $2 }
			next }
		$1 == "longest" { g0 = $2; g1 = $3; next }
		{ ng++; for (i = 1; i <= n; i++)
			if (name[i] ~ /commit$/ && name[i] != "meta_commit" && s[i] < $2 && e[i] > $1) { in_c++; break } }
		END {
			if (!n) { print "no commit trace"; exit }
			printf "trace: %d commits, longest %.0f ms; %d of %d gaps > 100 ms fall in a commit", nc, lc, in_c, ng
			printf "; longest gap %.0f-%.0f ms overlaps:", g0, g1
			k = 0
			for (i = 1; i <= n; i++) if (s[i] < g1 && e[i] > g0) {
				printf " %s %.0f-%.0f (%.0f ms)", name[i], s[i], e[i], e[i] - s[i]; k++ }
			if (!k) printf " no traced phase"
		}' "$out/stall-$r.phases" "$out/stall-$r.gaps")
done

has() { local r; for r in "${rows[@]}"; do [ "$r" = "$1" ] && return 0; done; return 1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "inf" }'; }
verdict() { awk -v c="$1" 'BEGIN { print (c ? "PASS" : "MISS") }'; }

{
	echo "dm-dedup stall benchmark: 4K sequential writes of unique data, iodepth 32, libaio, direct,"
	echo "$(envf seconds) s per row, one VM run ($(envf kernel), $(envf cpus) vCPUs, QEMU TCG); data on $(envf data),"
	echo "metadata on $(envf meta) (virtio, QEMU-throttled: ${BENCH_META_IOPS:-200} write IOPS, ${BENCH_META_BPS:-4194304} B/s)."
	built_from
	echo "gap = longest time between two neighbouring write completions (1 ms resolution; the time"
	echo "before the first completion is not counted). Latency = submission to completion."
	echo
	printf '%-15s %8s %8s %9s %8s %9s %8s %12s\n' row IOPS gap_ms "gaps>100" p99.9_ms max_ms commits longest_cmt
	for r in "${rows[@]}"; do
		c=- lc=-
		if [ -f "$in/$r.stats" ]; then c=$(stat "$r" commits); lc="$(stat "$r" longest_commit_ms) ms"; fi
		printf '%-15s %8.0f %8s %9s %8s %9s %8s %12s\n' "$r" "${iops[$r]}" "${gap[$r]}" \
			"${ngap[$r]}" "${p999[$r]}" "${lmax[$r]}" "$c" "$lc"
	done
	echo
	echo "details:"
	for r in "${rows[@]}"; do
		printf '  %-15s %s completions, %sx the data disk written, longest gap starts at %s s' \
			"$r" "${ncompl[$r]}" "${passes[$r]}" "${gapat[$r]}"
		if [ -s "$in/$r.sys" ]; then
			read -r mr mrs mw mws < <(sys_meta "$in/$r.sys")
			read -r busy tot iow < <(sys_cpu "$in/$r.sys")
			awk -v r="$mr" -v rs="$mrs" -v w="$mw" -v ws="$mws" -v b="$busy" -v t="$tot" -v io="$iow" \
				'BEGIN { printf ", metadata disk %d reads (%.1f MiB) %d writes (%.1f MiB)", r, rs / 2048, w, ws / 2048
				if (t > 0) printf ", guest CPU busy %.0f%% (iowait %.0f%%)", 100 * b / t, 100 * io / t }'
		fi
		if [ -f "$in/$r.stats" ]; then
			printf ', dedup_hits=%s unique=%s mapped=%s backpressure_waits=%s longest_wait_us=%s' \
				"$(stat "$r" dedup_hits)" "$(stat "$r" unique_blocks)" "$(stat "$r" mapped_blocks)" \
				"$(stat "$r" backpressure_waits)" "$(stat "$r" longest_wait_us)"
		fi
		echo
	done
	echo "commit phases (kprobes; times in ms from the row's start; commit = do_commit, meta_commit ="
	echo "dedup_meta_commit, flush = data-device flush, srcu_wait = synchronize_srcu, thin_commit ="
	echo "dm_pool_commit_metadata):"
	for r in "${rows[@]}"; do
		[ "$r" = dm-linear ] || echo "  $r: ${diag[$r]}"
	done
	for r in "${rows[@]}"; do
		if [ "$r" != dm-linear ] && awk -v p="${passes[$r]}" 'BEGIN { exit !(p > 1) }'; then
			echo "  WARNING: $r wrapped around the data disk: its later writes were overwrites (raise BENCH_DATA_MB)"
		fi
		[ -f "$in/$r.stats" ] || continue
		h=$(stat "$r" dedup_hits)
		if [ "$h" != 0 ]; then
			echo "  WARNING: $r saw dedup_hits=$h: the data was not all unique"
		fi
	done
	echo
	if has dedup && has dedup-blocking; then
		gr=$(ratio "${gap[dedup]}" "${gap[dedup-blocking]}")
		ir=$(ratio "${iops[dedup]}" "${iops[dedup-blocking]}")
		echo "pipelined vs blocking_commit:"
		printf '  longest gap %s ms / %s ms = %s  (target <= 0.050 and <= 100 ms): %s\n' \
			"${gap[dedup]}" "${gap[dedup-blocking]}" "$gr" \
			"$(verdict "$(awk -v g="${gap[dedup]}" -v b="${gap[dedup-blocking]}" \
				'BEGIN { print (g * 20 <= b && g <= 100) }')")"
		printf '  IOPS %.0f / %.0f = %s  (target >= 1.5): %s\n' \
			"${iops[dedup]}" "${iops[dedup-blocking]}" "$ir" \
			"$(verdict "$(awk -v a="${iops[dedup]}" -v b="${iops[dedup-blocking]}" \
				'BEGIN { print (a >= 1.5 * b) }')")"
	fi
	echo
	echo "hashing ceiling: every unique 4K write is hashed (sha256; guest drivers: $(envf sha256_drivers))."
	echo "  Under TCG sha256 runs ~17.5k 4K blocks/s per vCPU (testing.md, tcrypt), so $(envf cpus) vCPUs cap"
	echo "  unique writes at ~$(( $(envf cpus) * 17500 ))/s before fio and the rest of the I/O path take their share;"
	printf '  dm-linear did %.0f IOPS here. A dedup row near that cap is bounded by hashing, not by commits.\n' \
		"${iops[dm-linear]:-0}"
} > "$out/stall.txt"

# Completions per 100 ms, one panel per row, same time axis.
n=${#rows[@]}
{
	echo "set terminal pngcairo size 1200,$((220 * n + 80)) font 'sans,10'"
	echo "set output '$out/stall.png'"
	echo "set multiplot layout $n,1 title 'write completions per 100 ms (4K seq unique, iodepth 32; metadata on throttled disk)'"
	echo "set xlabel 'time (s)'"
	echo "set ylabel 'completions / 100 ms'"
	echo "set yrange [0:*]"
	echo "set xrange [0:$(envf seconds)]"
	echo "set grid"
	echo "set key top right opaque"
	echo "set offsets 0, 0, graph 0.25, 0"	# headroom for the key
	i=0
	for r in "${rows[@]}"; do
		i=$((i + 1))
		echo "set y2range [0:8]; unset y2tics"
		if [ -s "$out/stall-$r.commits" ]; then
			echo "plot '$out/stall-$r.commits' using 1:2 axes x1y2 with filledcurves y1=0 fc rgb '#cccccc' title 'commit in flight', \\"
			echo "  '$out/stall-$r.dat' using 1:2 with steps lw 1.2 lc $i title '$r: longest gap ${gap[$r]} ms, ${ngap[$r]} gaps > 100 ms'"
			continue
		fi
		echo "plot '$out/stall-$r.dat' using 1:2 with steps lw 1.2 lc $i title '$r: longest gap ${gap[$r]} ms, ${ngap[$r]} gaps > 100 ms'"
	done
	echo "unset multiplot"
} | gnuplot

cat "$out/stall.txt"
echo "table: $out/stall.txt  plot: $out/stall.png"

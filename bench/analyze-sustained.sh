#!/bin/bash
# analyze-sustained.sh - host-side reduction of a `make bench-sustained` run
# (bench/README.md; issue 10).
#
# Usage: bench/analyze-sustained.sh IN_DIR OUT_DIR
#   IN_DIR   what bench/sustained-guest.sh left on the share (its header
#            lists the files)
#   OUT_DIR  gets sustained.txt (table, per-window commits, PASS/FAIL),
#            sustained.png (commit duration and fdatasync latency over time,
#            one line per row), sustained-ROW.commits / .sync (the plotted
#            points: seconds from the row's start, ms)
#
# Per row:
#   IOPS           fio's write IOPS
#   gap_ms, >100   longest time between neighbouring write completions and
#                  the number over 100 ms (bench/analyze-lib.sh lat_gaps)
#   sync p50/p99/max  fdatasync latency of the probe (nearest rank), ms, and
#                  how many probes completed
#   commit ms per window  the longest commit that ended in each window of
#                  BENCH_WINDOW s (default 60: "per minute"), from the kprobe
#                  trace, every commit: dedup rows dedup_cow_do_commit,
#                  dm-thin dm_pool_commit_metadata. A dedup row whose trace
#                  lost events falls back to the status samples (a change of
#                  `commits` ends a commit of last_commit_ms; a rise of
#                  longest_commit_ms between two samples is a commit of that
#                  length), which see about one commit a second
#   meta MiB/GiB   metadata disk MiB written (sectors written, /sys/block stat)
#                  per GiB of unique data: dedup = new unique blocks x 4 KiB
#                  (dedup-mix rows, which overwrite: blocks written by fio and
#                  the probe minus dedup hits), dm-thin = bytes fio and the
#                  probe wrote
#   B/unique blk   the same as bytes per unique 4 KiB block
#   RAM MiB        from before the device was made to the end of the run:
#                  slab + vmalloc + percpu (meminfo) + dm-bufio's cache
#                  (current_allocated_bytes); index RAM if stats reports one
# Below the table, per row: the metadata disk's reads while fio ran (what a
# slow-reading disk makes writers wait for), and for each *-slowread row
# (reads delayed by dm-delay in the guest) its IOPS over those of the same
# row without the delay (dedup-slowread / dedup, dedup-mix-slowread /
# dedup-mix), with the read latency measured through dm-delay and without.
# Verdicts (issue 10, "Done when"), for dedup and dedup-prefilled:
#   commit flat: longest commit in the last two windows <= 1.5 x the longest
#   in window 2; fdatasync p99 <= 1 s and max <= 3 s; longest write gap <=
#   100 ms; pre-filled IOPS >= 90 % of dedup's; metadata written per unique
#   block <= 256 bytes.
set -euo pipefail

# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze-sustained "$@"
W=$(envf window)
secs=$(envf seconds)
nwin=$((secs / W))
fields=$(status_fields)

declare -A over iops gap ngap sp50 sp99 smax nsync wins mpg bpu ram ram0 rpt rnb late tcg nlate mrd dup
# QEMU TCG translation-cache flushes, read after each row (bench/run-vm.sh):
# "COUNT<tab>row NAME: done, ..."; a row's are those since the previous
# reading (the first row's: since boot).
if [ -s "${BENCH_TCG_FLUSHES:-}" ]; then
	while IFS=$'\t' read -r n what; do
		case $what in "row "*": done"*) ;; *) continue ;; esac
		what=${what#row }
		tcg[${what%%:*}]=$n
	done < "$BENCH_TCG_FLUSHES"
fi
for r in "${rows[@]}"; do
	log=$in/${r}_lat.1.log
	[ -s "$log" ] || { echo "analyze-sustained: $log missing or empty" >&2; exit 1; }
	iops[$r]=$(fio_w "$in/$r.json" .iops)
	t0=$(lat_t0 "$log")
	read -r _ "gap[$r]" _ "ngap[$r]" < <(lat_gaps "$log" "$t0" /dev/null "$out/sustained-$r.gaps")
	# What the kprobes saw during the longest gap (bench/guest-lib.sh).
	over[$r]="no trace"
	if [ -s "$in/$r.trace" ]; then
		over[$r]=$(trace_phases "$in/$r.trace" "$t0" | awk -v g="$out/sustained-$r.gaps" '
			BEGIN { while ((getline l < g) > 0) { split(l, f, " ")
				if (f[1] == "longest") { g0 = f[2]; g1 = f[3] } } }
			$2 < g1 && $3 > g0 { if (!($1 in n)) o[++k] = $1
				if (!($1 in a) || $2 < a[$1]) a[$1] = $2
				n[$1]++; if ($3 > b[$1]) b[$1] = $3 }
			END { for (i = 1; i <= k; i++) printf "%s%s %.0f-%.0f%s", (i > 1 ? ", " : ""),
					o[i], a[o[i]], b[o[i]], (n[o[i]] > 1 ? " (x" n[o[i]] ")" : "")
				if (!k) printf "no traced phase"; printf " (gap %.0f-%.0f ms)", g0, g1 }')
	fi
	# CPUs that did not run the stall probe's timer during the gap, and
	# over the row: the longest late wake-up per CPU, and how long CPUs 0
	# and 1 (the VM has two) were late together (the VM not running, or
	# both CPUs held).
	late[$r]="no stall probe"
	if [ -f "$in/$r.stalls" ]; then
		late[$r]=$(awk -v t0="$t0" -v g="$out/sustained-$r.gaps" -v ncpu="$(envf cpus)" '
			BEGIN { while ((getline l < g) > 0) { split(l, f, " ")
				if (f[1] == "longest") { g0 = f[2]; g1 = f[3] } } }
			{ a = $2 - t0; b = $3 - t0; if (b - a > m[$1]) m[$1] = b - a
				if (a < g1 && b > g0) { o = o sprintf("%scpu%d %.0f-%.0f", o == "" ? "" : ", ", $1, a, b) }
				s[NR] = a; e[NR] = b; c[NR] = $1 }
			END {
				# all CPUs late at once: intersect intervals of different CPUs
				for (i = 1; i <= NR; i++) for (j = 1; j <= NR; j++)
					if (c[i] == 0 && c[j] == 1) {
						x = s[i] > s[j] ? s[i] : s[j]; y = e[i] < e[j] ? e[i] : e[j]
						if (y - x > all) all = y - x }
				for (k = 0; k < ncpu; k++) w = w sprintf("%scpu%d %.0f", k ? ", " : "", k, m[k] + 0)
				printf "longest late wake-up (ms): %s; both CPUs late together: %.0f ms; during the longest gap: %s",
					w, all, o == "" ? "none" : o }' "$in/$r.stalls")
	fi
	# fdatasync probe: "start_ms write_us sync_us"
	awk -v t0="$t0" '{ printf "%.3f %.3f\n", ($1 - t0) / 1000, $3 / 1000 }' \
		"$in/$r.sync" > "$out/sustained-$r.sync"
	read -r "nsync[$r]" "sp50[$r]" "sp99[$r]" "smax[$r]" < <(
		cut -d' ' -f3 "$in/$r.sync" | sort -n | awk '{ v[NR] = $1 / 1000 }
		function rank(p,  k) { k = int(NR * p); if (k < NR * p) k++; if (k < 1) k = 1; return v[k] }
		END { if (!NR) { print "0 - - -"; exit }
			printf "%d %.1f %.1f %.1f\n", NR, rank(0.5), rank(0.99), v[NR] }')
	# Commits: "seconds_from_start duration_ms", one line per commit seen.
	: > "$out/sustained-$r.commits"
	case $r in dm-thin) cname=thin_commit ;; *) cname=commit ;; esac
	if [ "$r" != dm-linear ] && trace_complete "$in/$r.trace"; then
		trace_phases "$in/$r.trace" "$t0" | awk -v c="$cname" '$1 == c {
			printf "%.3f %.1f\n", $3 / 1000, $3 - $2 }' > "$out/sustained-$r.commits"
	fi
	if [ "$r" != dm-thin ] && [ ! -s "$out/sustained-$r.commits" ] &&
		[ -s "$in/$r.samples" ] && [ -f "$in/$r.stats" ]; then
		awk -v t0="$t0" -v names="$fields" '
		BEGIN { n = split(names, nm, " ") }
		$4 != "dedup" { next }
		{
			k = 0
			for (i = 5; i <= NF; i++) { m = split($i, part, "/"); for (j = 1; j <= m; j++) v[nm[++k]] = part[j] }
			t = ($1 * 1000 - t0) / 1000
			if (seen && v["commits"] != pc) {
				d = v["last_commit_ms"]
				if (v["longest_commit_ms"] > pl) d = (d > v["longest_commit_ms"] ? d : v["longest_commit_ms"])
				printf "%.3f %s\n", t, d
			}
			seen = 1; pc = v["commits"]; pl = v["longest_commit_ms"]
		}' "$in/$r.samples" > "$out/sustained-$r.commits"
	fi
	# The run is the writer with the probe beside it: a commit that ended
	# after the probe's last period (runs before the guest stopped the probe
	# when fio ended gave it SECONDS from its own start, so it could end a
	# second before the writer) carried a generation twice the usual size
	# and is set apart, counted in nlate[r].
	plast=$(awk 'END { if (NR) print $1 + 0.5 }' "$out/sustained-$r.sync")
	nlate[$r]=0
	if [ -n "$plast" ] && [ -s "$out/sustained-$r.commits" ]; then
		awk -v e="$plast" '$1 > e' "$out/sustained-$r.commits" > "$out/sustained-$r.commits-after-probe"
		nlate[$r]=$(wc -l < "$out/sustained-$r.commits-after-probe")
		awk -v e="$plast" '$1 <= e' "$out/sustained-$r.commits" > "$out/sustained-$r.commits.tmp"
		mv "$out/sustained-$r.commits.tmp" "$out/sustained-$r.commits"
	fi
	# Longest commit per window (only whole windows of the run).
	wins[$r]=$(awk -v w="$W" -v n="$nwin" '{ k = int($1 / w) + 1; if (k >= 1 && k <= n && $2 > m[k]) m[k] = $2; any = 1 }
		END { if (!any) { print "-"; exit }
			for (k = 1; k <= n; k++) printf "%s%s", (k > 1 ? "/" : ""), (k in m ? sprintf("%.0f", m[k]) : "-") }' \
		"$out/sustained-$r.commits")
	# Metadata read while fio ran; written per unique data.
	read -r mr mrs _ mws < <(sys_meta "$in/$r.sys")
	wr=$(fio_w "$in/$r.json" .total_ios)
	mrd[$r]=$(awk -v n="$mr" -v s="$mrs" -v w="$wr" \
		'BEGIN { printf "%d reads, %.1f MiB, %.2f per 1000 writes", n, s / 2048, w ? n * 1000 / w : 0 }')
	ub=
	if [ -f "$in/$r.workload" ]; then
		# Overwrites free blocks as they allocate: count what was written
		# (fio's and the probe's 4 KiB writes) less what deduplicated.
		h1=$(kv "$in/$r.stats" dedup_hits); h0=$(kv "$in/$r.before.stats" dedup_hits)
		ub=$(( (wr + $(wc -l < "$in/$r.sync") - (${h1:-0} - ${h0:-0})) * 4096 ))
		dup[$r]=$(awk -v h="$(( ${h1:-0} - ${h0:-0} ))" -v w="$wr" 'BEGIN { printf "%.1f", w ? h * 100 / w : 0 }')
	elif [ -f "$in/$r.stats" ]; then
		u1=$(kv "$in/$r.stats" unique_blocks); u0=$(kv "$in/$r.before.stats" unique_blocks)
		ub=$(( (${u1:-0} - ${u0:-0}) * 4096 ))
	elif [ "$r" = dm-thin ]; then
		ub=$(( $(fio_w "$in/$r.json" .io_bytes) + $(wc -l < "$in/$r.sync") * 4096 ))
	fi
	mpg[$r]=- bpu[$r]=-
	if [ -n "$ub" ] && [ "$ub" -gt 0 ]; then
		mpg[$r]=$(awk -v s="$mws" -v u="$ub" 'BEGIN { printf "%.1f", s * 512 / 1048576 / (u / 1073741824) }')
		bpu[$r]=$(awk -v s="$mws" -v u="$ub" 'BEGIN { printf "%.0f", s * 512 / (u / 4096) }')
	fi
	# RAM from "create" to "end".
	read -r slab _ vm pc bufio < <(sys_mem "$in/$r.sys" create end)
	ram[$r]=$(awk -v s="$slab" -v v="$vm" -v p="$pc" -v b="$bufio" \
		'BEGIN { printf "%.1f (bufio %.1f)", (s + v + p) / 1024 + b / 1048576, b / 1048576 }')
	if [ -f "$in/$r.stats" ]; then
		idx=$(grep -Ei '^[a-z_]*(ram|mem)[a-z_]*=' "$in/$r.stats" | tr '\n' ' ' || true)
		[ -z "$idx" ] || ram[$r]="${ram[$r]}; stats: $idx"
		# What it holds at the end beyond dm-bufio's cache, and the unique
		# data stored: "MiB TiB" (for the slope below), and as a sentence.
		u1=$(kv "$in/$r.stats" unique_blocks)
		bs=$(kv "$in/$r.stats" data_block_size)
		rnb[$r]=$(awk -v s="$slab" -v v="$vm" -v p="$pc" -v u="${u1:-0}" -v bs="${bs:-4096}" \
			'BEGIN { printf "%.3f %.6f", (s + v + p) / 1024, u * bs / 2^40 }')
		rpt[$r]=$(awk -v r="${rnb[$r]}" -v b="$bufio" 'BEGIN { split(r, x, " "); if (x[2] <= 0) exit
			printf "%.1f MiB beyond dm-bufio'"'"'s cache (%.1f MiB) for %.1f GiB of unique data: %.2f GiB per TiB",
				x[1], b / 1048576, x[2] * 1024, x[1] / 1024 / x[2] }')
	fi
	# Module RAM while empty: "create" to "ready".
	if grep -q '^ready mem ' "$in/$r.sys"; then
		read -r slab _ vm pc bufio < <(sys_mem "$in/$r.sys" create ready)
		ram0[$r]=$(awk -v s="$slab" -v v="$vm" -v p="$pc" -v b="$bufio" \
			'BEGIN { printf "%.1f", (s + v + p) / 1024 + b / 1048576 }')
	fi
done

has() { local r; for r in "${rows[@]}"; do [ "$r" = "$1" ] && return 0; done; return 1; }
pf() { awk -v c="$1" 'BEGIN { print (c ? "PASS" : "FAIL") }'; }

{
	echo "dm-dedup sustained benchmark (issue 10): 4K sequential unique writes, iodepth 32, beside them one"
	echo "4 KiB O_DIRECT write + fdatasync every 500 ms; $secs s per row, one VM run ($(envf kernel), $(envf cpus) vCPUs,"
	echo "QEMU TCG); data on $(envf data); metadata on $(envf meta) (virtio, QEMU-throttled: ${BENCH_META_IOPS:-200}"
	echo "write IOPS, ${BENCH_META_BPS:-4194304} B/s)."
	if printf '%s\n' "${rows[@]}" | grep -q -- '-slowread$'; then
		echo "Rows *-slowread: the same, the metadata disk behind dm-delay in the guest: reads delayed"
		echo "$(envf meta_read_delay_ms) ms (dm-delay counts jiffies, see below), writes and flushes not delayed."
	fi
	if printf '%s\n' "${rows[@]}" | grep -q '^dedup-mix'; then
		echo "Rows dedup-mix*: $(envf overwrite_mb) MiB written first (unique, unmeasured, committed), then overwritten,"
		echo "looping, with fio dedupe_percentage=50; B/block counts the blocks written less the dedup hits."
	fi
	built_from
	[ "$(envf prefill)" = 1 ] || echo "Row dedup-prefilled not run: no pre-filled metadata image (PREFILL_IMAGE / PREFILL_CMD)."
	echo
	printf '%-18s %7s %7s %5s %6s %8s %8s %8s %7s %8s %s\n' row IOPS gap_ms '>100' syncs 'sync_p50' 'sync_p99' 'sync_max' \
		'MiB/GiB' 'B/block' 'RAM MiB'
	for r in "${rows[@]}"; do
		printf '%-18s %7.0f %7s %5s %6s %8s %8s %8s %7s %8s %s\n' "$r" "${iops[$r]}" "${gap[$r]}" "${ngap[$r]}" \
			"${nsync[$r]}" "${sp50[$r]}" "${sp99[$r]}" "${smax[$r]}" "${mpg[$r]}" "${bpu[$r]}" "${ram[$r]}"
	done
	echo
	echo "metadata disk reads while fio ran:"
	for r in "${rows[@]}"; do
		[ "$r" = dm-linear ] || printf '  %-18s %s\n' "$r" "${mrd[$r]}"
	done
	for r in "${rows[@]}"; do
		[ -z "${dup[$r]:-}" ] || printf '  (%s: dedup hits %s %% of fio'"'"'s writes, 50 asked)\n' "$r" "${dup[$r]}"
	done
	if printf '%s\n' "${rows[@]}" | grep -q -- '-slowread$'; then
		echo
		echo "slow metadata reads ($(envf meta_read_delay_ms) ms asked; mean 4 KiB O_DIRECT read of the metadata disk through dm-delay / without):"
		for r in "${rows[@]}"; do
			case $r in *-slowread) ;; *) continue ;; esac
			t=${r%-slowread}
			[ "$t" != dedup-load ] || t=dedup
			rl=$(awk '{ printf "%s / %s ms", $1, $2 }' "$in/$r.readlat" 2>/dev/null || echo "not measured")
			if has "$t"; then
				printf '  %-18s IOPS %.0f = %s x %s'"'"'s %.0f (read %s)\n' "$r" "${iops[$r]}" \
					"$(awk -v a="${iops[$r]}" -v b="${iops[$t]}" 'BEGIN { printf "%.2f", b ? a / b : 0 }')" \
					"$t" "${iops[$t]}" "$rl"
			else
				printf '  %-18s IOPS %.0f; row %s not run: no ratio (read %s)\n' "$r" "${iops[$r]}" "$t" "$rl"
			fi
		done
	fi
	if printf '%s\n' "${rows[@]}" | grep -q -- '^dedup-load'; then
		echo
		echo "while the saved index loads (dedup-load-*: the device removed and made again over $(envf overwrite_mb) MiB of data; issue 25: fdatasync max <= longest_commit_ms + 100):"
		for r in "${rows[@]}"; do
			case $r in dedup-load*) ;; *) continue ;; esac
			if [ ! -s "$in/$r.loaded" ]; then
				echo "  $r: FAIL (the index was not ready by the row's end)"
				continue
			fi
			awk -v ready="$(cat "$in/$r.loaded")" -v r="$r" \
				-v lc="$(sed -n 's/^longest_commit_ms=//p' "$in/$r.stats")" '
				NR == 1 { first = $1 }
				$1 < ready { n++; if ($3 > m) m = $3 }
				END {
					m /= 1000
					printf "  %s: index ready %.1f s after the first fdatasync; %d fdatasyncs began before, the longest %.1f ms; longest_commit_ms %s: %s\n",
						r, (ready - first) / 1000, n, m, lc,
						!n ? "n/a (no fdatasync during the load)" : m <= lc + 100 ? "PASS" : "FAIL" }' "$in/$r.sync"
		done
	fi
	echo
	echo "longest commit (ms) in each ${W} s window (window 1/2/...; - = no commit ended in it):"
	for r in "${rows[@]}"; do
		[ "$r" = dm-linear ] || printf '  %-18s %s\n' "$r" "${wins[$r]}"
	done
	for r in "${rows[@]}"; do
		[ "${nlate[$r]:-0}" -gt 0 ] || continue
		printf '  (%s: %s commit(s) ended after the probe had stopped and are not counted: %s ms)\n' "$r" "${nlate[$r]}" \
			"$(awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $2 }' "$out/sustained-$r.commits-after-probe")"
	done
	echo
	echo "traced phases (kprobes, ms from the row's start) during each row's longest write gap:"
	for r in "${rows[@]}"; do
		printf '  %-18s %s\n' "$r" "${over[$r]}"
	done
	echo
	echo "CPU stall probe (a 5 ms SCHED_FIFO timer per CPU; wake-ups > 20 ms late, ms from the row's start):"
	for r in "${rows[@]}"; do
		printf '  %-18s %s\n' "$r" "${late[$r]}"
	done
	if [ ${#tcg[@]} -gt 0 ]; then
		prev=0 line=
		for r in "${rows[@]}"; do
			n=${tcg[$r]:-?}
			if [ "$n" = "?" ] || [ "$prev" = "?" ]; then
				line="$line $r ?,"
			else
				line="$line $r $((n - prev)),"
			fi
			prev=$n
		done
		echo "QEMU TCG translation-cache flushes (each stops every vCPU ~0.1 s), per row:${line%,}"
	fi
	for r in "${rows[@]}"; do
		if [ "$r" != dm-linear ] && [ ! -f "$in/$r.workload" ] && awk -v b="$(fio_w "$in/$r.json" .io_bytes)" -v d="$(envf data_bytes)" \
			'BEGIN { exit !(b > d) }'; then
			echo "  WARNING: $r wrote more than the data disk: later writes were overwrites (raise BENCH_DATA_MB)"
		fi
	done
	echo
	mt=$(envf mem_total_kb)
	if [ -n "$mt" ]; then
		echo "dm-bufio's cache (all its clients) is capped at 2 % of the guest's RAM, $(awk -v k="$mt" 'BEGIN { printf "%.0f", k * 0.02 / 1024 }') MiB here, and shrinks under memory pressure: it is counted apart."
		echo
	fi
	echo "issue 10 \"Done when\" (as measured; n/a = not measurable in this run):"
	for r in dedup dedup-prefilled; do
		has "$r" || continue
		if [ "$nwin" -ge 4 ]; then
			read -r m2 ml < <(awk -v w="$W" -v n="$nwin" '{ k = int($1 / w) + 1
				if (k == 2 && $2 > a) a = $2; if (k >= n - 1 && k <= n && $2 > b) b = $2 }
				END { print a + 0, b + 0 }' "$out/sustained-$r.commits")
			v=$(pf "$(awk -v a="$m2" -v b="$ml" 'BEGIN { print (b <= 1.5 * a) }')")
			echo "  $r: longest commit in the last two windows $ml ms <= 1.5 x window 2's $m2 ms: $v"
		else
			echo "  $r: commit flatness: n/a (the run has $nwin whole windows of $W s; needs 4)"
		fi
		if [ "${nsync[$r]}" -gt 0 ]; then
			echo "  $r: fdatasync p99 ${sp99[$r]} ms <= 1000 and max ${smax[$r]} ms <= 3000: $(pf "$(awk -v p="${sp99[$r]}" -v m="${smax[$r]}" 'BEGIN { print (p <= 1000 && m <= 3000) }')")"
		else
			echo "  $r: fdatasync: FAIL (no probe completed)"
		fi
		echo "  $r: longest write gap ${gap[$r]} ms <= 100: $(pf "$((gap[$r] <= 100))")"
		if [ "${bpu[$r]}" != - ]; then
			echo "  $r: metadata written per unique block ${bpu[$r]} B <= 256: $(pf "$((bpu[$r] <= 256))")"
		fi
		if [ "$r" = dedup ] && [ -n "${ram0[$r]:-}" ]; then
			echo "  $r: module RAM while empty (slab + vmalloc + percpu + dm-bufio, create to ready) ${ram0[$r]} MiB <= 64: $(pf "$(awk -v m="${ram0[$r]}" 'BEGIN { print (m <= 64) }')")"
		fi
		[ -z "${rpt[$r]:-}" ] || echo "  $r: RAM at the end: ${rpt[$r]} (all of it, fixed costs included)"
	done
	if [ -n "${rnb[dedup]:-}" ] && [ -n "${rnb[dedup-prefilled]:-}" ]; then
		# Growth with the data stored: both rows end with the same write
		# load, so what differs is what the larger index holds.
		read -r g v < <(awk -v a="${rnb[dedup]}" -v b="${rnb[dedup-prefilled]}" 'BEGIN {
			split(a, x, " "); split(b, y, " "); d = y[2] - x[2]
			if (d <= 0) { print "- 0"; exit }
			g = (y[1] - x[1]) / 1024 / d; printf "%.2f %d\n", g, g <= 2 }')
		echo "  RAM growth beyond dm-bufio's cache, dedup-prefilled's end over dedup's: $g GiB per TiB of unique data <= 2: $(pf "$v")"
	fi
	if has dedup && has dedup-prefilled; then
		echo "  dedup-prefilled IOPS $(printf %.0f "${iops[dedup-prefilled]}") >= 90% of dedup's $(printf %.0f "${iops[dedup]}"): $(pf "$(awk -v a="${iops[dedup-prefilled]}" -v b="${iops[dedup]}" 'BEGIN { print (a >= 0.9 * b) }')")"
	else
		echo "  dedup-prefilled IOPS >= 90% of dedup's: n/a (no pre-filled row)"
	fi
} > "$out/sustained.txt"

# panel SUFFIX FLOOR STYLE: one gnuplot plot command, a line per row that has
# a sustained-ROW.SUFFIX file; the same colour for a row in every panel;
# values below FLOOR drawn at FLOOR (log scale).
panel() {
	local sep="plot" i=0 r
	for r in "${rows[@]}"; do
		i=$((i + 1))
		[ -s "$out/sustained-$r.$1" ] || continue
		printf "%s '%s' using 1:(\$2 > %s ? \$2 : %s) with %s lc %d title '%s'" \
			"$sep" "$out/sustained-$r.$1" "$2" "$2" "$3" "$i" "$r"
		sep=", \\
 "
	done
	[ "$sep" != plot ] || printf "plot %s title 'no data' lc rgb 'white'" "$2"
	echo
}

# Commit duration and fdatasync latency over time, one line per row.
{
	echo "set terminal pngcairo size 1200,800 font 'sans,10'"
	echo "set output '$out/sustained.png'"
	echo "set multiplot layout 2,1 title 'sustained 4K writes; metadata on a write-throttled disk$(
		printf '%s\n' "${rows[@]}" | grep -q -- '-slowread$' && echo ' (*-slowread: reads delayed too)')'"
	echo "set xlabel 'time (s)'"
	echo "set xrange [0:$secs]"
	echo "set logscale y"
	echo "set grid"
	echo "set key top left"
	echo "set ylabel 'commit duration (ms)'"
	panel commits 1 "linespoints pt 7 ps 0.4"
	echo "set ylabel 'fdatasync latency (ms)'"
	panel sync 0.01 lines
	echo "unset multiplot"
} | gnuplot

cat "$out/sustained.txt"
echo "table: $out/sustained.txt  plot: $out/sustained.png"

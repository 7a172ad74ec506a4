#!/bin/bash
# analyze-throughput.sh - host-side reduction of a `make bench-throughput`
# run (bench/README.md).
#
# Usage: bench/analyze-throughput.sh IN_DIR OUT_DIR
#   IN_DIR   what bench/throughput-guest.sh left on the share: rows, env,
#            tcrypt-HASH.txt, per row ROW.json ROW.sys ROW.region, dedup rows
#            ROW.stats ROW.before.stats (ROW = the row id, ':' as '_')
#   OUT_DIR  gets throughput.txt
#
# Per row:
#   IOPS, MiB/s   fio (all jobs together)
#   p99 ms        total write latency (submission to completion), fio's p99
#   CPU us/write  guest CPU busy time (/proc/stat: all but idle and iowait,
#                 both vCPUs) over the row / writes completed
#   busy          that busy time / the time of both vCPUs
#   hits          dedup rows: dedup hits during the row / writes (what the
#                 workload asked for: unique 0 %, dup50 ~50 %, dup100 ~100 %)
#   bound         the row's yardstick: dm-linear's IOPS in the same
#                 (bs, pattern, jobs) and, for dedup rows, the hash ceiling x
#                 vCPUs, whichever is lower (L = dm-linear, H = hash)
#   ratio         IOPS / bound
# Hash ceiling: tcrypt's hashes/s for one 4 KiB block in one update, on one
# vCPU; for 64 KiB blocks, its 8 KiB bytes/s / 65536.
set -euo pipefail

# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze-throughput "$@"
cpus=$(envf cpus)

# tcrypt_figure FILE BLOCK: "ops/s bytes/s" of the BLOCK-byte one-update test.
tcrypt_figure() {
	awk -v b="$2" '
	pend && /opers\/sec/ { line = line " " $0; pend = 0 }
	$0 ~ "\\( *" b " byte blocks, *" b " bytes per update" { line = $0; pend = ($0 !~ /opers\/sec/) }
	END { if (match(line, /[0-9]+ opers\/sec, +[0-9]+ bytes/)) {
		split(substr(line, RSTART, RLENGTH), f, /[^0-9]+/); print f[1], f[2] } }' "$1"
}

declare -A c4 c64 drv iops ratio cpu
for h in sha256 blake2b-256 xxhash64; do
	f=$in/tcrypt-$h.txt
	[ -f "$f" ] || continue
	read -r o4 _ < <(tcrypt_figure "$f" 4096) || true
	read -r _ b8 < <(tcrypt_figure "$f" 8192) || true
	drv[$h]=$(sed -n 's/.*testing speed of .* (\(.*\))$/\1/p' "$f" | head -n1)
	[ -z "${o4:-}" ] || c4[$h]=$o4
	[ -z "${b8:-}" ] || c64[$h]=$((b8 / 65536))
	o4='' b8=''
done

# fio_io ID JSON EXPR: EXPR of the half of the job the row measures
# (reads for read50 rows).
fio_io() { case $1 in *:read50:*) fio_r "$2" "$3" ;; *) fio_w "$2" "$3" ;; esac; }

# First pass: IOPS of every row, for the dm-linear yardstick.
for id in "${rows[@]}"; do
	iops[$id]=$(fio_io "$id" "$in/${id//:/_}.json" .iops)
done

wrapped=
{
	echo "dm-dedup throughput: fio write.fio (libaio, O_DIRECT, iodepth 32), $(envf seconds) s per row, one VM run"
	echo "($(envf kernel), $cpus vCPUs, QEMU TCG); data and metadata on brd RAM disks, fresh for every row;"
	echo "dedup rows use the write size as their block size, default features. dm-thin: 64 KiB blocks, skip_block_zeroing."
	built_from
	echo
	echo "Hash ceilings (tcrypt in the guest, one vCPU, one update per block):"
	echo
	echo "| hash | driver | 4 KiB hashes/s per vCPU | 64 KiB hashes/s per vCPU (from 8 KiB) | 4 KiB x $cpus vCPUs |"
	echo "|---|---|---:|---:|---:|"
	for h in sha256 blake2b-256 xxhash64; do
		[ -f "$in/tcrypt-$h.txt" ] || continue
		printf '| %s | %s | %s | %s | %s |\n' "$h" "${drv[$h]:--}" "${c4[$h]:-none}" "${c64[$h]:-none}" \
			"$([ -n "${c4[$h]:-}" ] && echo $((c4[$h] * cpus)) || echo -)"
	done
	echo
	echo "Rows (target:workload:block size:pattern:jobs). bound: L = dm-linear of the same bs/pattern/jobs,"
	echo "H = hash ceiling x $cpus vCPUs, the lower of the two; ratio = IOPS / bound."
	echo
	echo "| row | IOPS | MiB/s | p99 ms | CPU us/write | busy % | hits % | bound | ratio |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
	for id in "${rows[@]}"; do
		f=$in/${id//:/_}
		IFS=: read -r t w bs pat j <<<"$id"
		lin=${iops[linear:unique:$bs:$pat:$j]:-}
		[ "$w" != read50 ] || lin=${iops[linear:read50:$bs:$pat:$j]:-}
		ceil=
		case $t:$w in
		linear:* | thin:* | *:read50) ;;
		*) if [ "$bs" = 4k ]; then ceil=${c4[$t]:-}; else ceil=${c64[$t]:-}; fi
			[ -z "$ceil" ] || ceil=$((ceil * cpus)) ;;
		esac
		read -r busy tot _ < <(sys_cpu "$f.sys")
		ios=$(fio_io "$id" "$f.json" .total_ios)
		bytes=$(fio_io "$id" "$f.json" .io_bytes)
		p99=$(fio_io "$id" "$f.json" '.lat_ns.percentile."99.000000" // 0')
		hits=-
		if [ -f "$f.stats" ]; then
			h1=$(kv "$f.stats" dedup_hits); h0=$(kv "$f.before.stats" dedup_hits)
			hits=$(awk -v a="${h1:-0}" -v b="${h0:-0}" -v n="$ios" 'BEGIN { printf "%.1f", n ? 100 * (a - b) / n : 0 }')
		fi
		per=$(kv "$f.region" size_per_job)
		n=${j#j}
		if [ "$w" != overwrite ] && [ "$w" != read50 ] && [ -n "$per" ] && [ "$bytes" -gt $((per * n)) ]; then
			wrapped="$wrapped $id"
		fi
		cpu[$id]=$(awk -v b="$busy" -v n="$ios" 'BEGIN { printf "%.1f", (n > 0 ? b * 10000 / n : 0) }')
		read -r bound "ratio[$id]" < <(awk -v i="${iops[$id]}" -v l="$lin" -v c="$ceil" 'BEGIN {
			bound = l; k = "L"
			if (c != "" && (bound == "" || c + 0 < bound + 0)) { bound = c; k = "H" }
			if (bound == "" || bound + 0 == 0) print "- -"
			else printf "%.0f_%s %.2f\n", bound, k, i / bound }')
		awk -v id="$id" -v i="${iops[$id]}" -v by="$bytes" -v s="$(envf seconds)" -v p="$p99" \
			-v b="$busy" -v t="$tot" -v n="$ios" -v h="$hits" -v bd="${bound/_/ }" -v r="${ratio[$id]}" 'BEGIN {
			printf "| %s | %.0f | %.1f | %.2f | %.0f | %.0f | %s | %s | %s |\n", id, i,
				(s > 0 ? by / 1048576 / s : 0), p / 1e6, (n > 0 ? b * 10000 / n : 0),
				(t > 0 ? 100 * b / t : 0), h, bd, r }'
	done
	[ -z "$wrapped" ] || echo "WARNING: these rows wrote more than their region (later writes were overwrites; raise BENCH_DATA_MB):$wrapped"
	echo
	echo "Issue 12 targets, 4 KiB sequential rows (PASS/MISS as measured; - = row not run):"
	ratio_of() { # ratio A B: IOPS of row A / IOPS of row B
		if [ -n "${iops[$1]:-}" ] && [ -n "${iops[$2]:-}" ]; then
			awk -v a="${iops[$1]}" -v b="${iops[$2]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'
		fi
	}
	verdict() { [ -n "$1" ] || { echo -; return; }; awk -v r="$1" -v m="$2" 'BEGIN { print (r >= m ? "PASS" : "MISS") }'; }
	for j in j1 j2; do
		min=0.70; [ $j = j2 ] && min=0.80
		r=${ratio[sha256:unique:4k:seq:$j]:-}
		[ "$r" != - ] || r=
		echo "  sha256 unique, $j: ratio to bound ${r:--} (target >= $min): $(verdict "$r" $min)"
		r=$(ratio_of "xxhash64:unique:4k:seq:$j" "linear:unique:4k:seq:$j")
		echo "  xxhash64 unique / dm-linear, $j: ${r:--} (target >= 0.50): $(verdict "$r" 0.50)"
		for h in sha256 blake2b-256 xxhash64; do
			r=$(ratio_of "$h:dup100:4k:seq:$j" "$h:unique:4k:seq:$j")
			echo "  $h dup100 / unique, $j: ${r:--} (target >= 1.2): $(verdict "$r" 1.2)"
			r=$(ratio_of "$h:overwrite:4k:seq:$j" "$h:unique:4k:seq:$j")
			echo "  $h overwrite / unique, $j: ${r:--} (target >= 1.0): $(verdict "$r" 1.0)"
		done
	done
	echo
	echo "Issue 25: the CPU we own per 4 KiB write = our CPU us/write - (dm-linear's + the hash's, 1e6 / tcrypt's"
	echo "4 KiB hashes/s on one vCPU), unique sequential rows of the same jobs (lines, half the issue's first figures:"
	echo "<= 26 us sha256, <= 18 us blake2b-256, <= 19 us xxhash64):"
	for j in j1 j2; do
		for h in sha256 blake2b-256 xxhash64; do
			d=${cpu[$h:unique:4k:seq:$j]:-} l=${cpu[linear:unique:4k:seq:$j]:-} c=${c4[$h]:-}
			[ -n "$d" ] && [ -n "$l" ] && [ -n "$c" ] || continue
			awk -v h="$h" -v j="$j" -v d="$d" -v l="$l" -v c="$c" 'BEGIN {
				hash = 1e6 / c; own = d - l - hash
				lim = h == "sha256" ? 26 : h == "xxhash64" ? 19 : 18
				printf "  %s, %s: %.1f - (%.1f + %.1f) = %.1f us%s\n", h, j, d, l, hash, own,
					lim ? sprintf(" (line %d: %s)", lim, own <= lim ? "PASS" : "MISS") : "" }'
		done
	done
	echo
	echo "Issue 25 targets, reads of data written at 50 % duplicates (dedup: 4 KiB blocks):"
	for r in 4k:rand 64k:seq; do
		b=${r%:*} p=${r#*:}
		v=$(ratio_of "sha256:read50:$b:$p:j2" "linear:read50:$b:$p:j2")
		echo "  $b $p reads, dedup / dm-linear: ${v:--} (target >= 0.90): $(verdict "$v" 0.90)"
	done
} > "$out/throughput.txt"
cat "$out/throughput.txt"
echo "table: $out/throughput.txt"

# shellcheck shell=bash
# analyze-lib.sh - host-side helpers shared by the benchmark analyzers
# (bench/analyze*.sh). Sourced; reads what the guest scripts leave on the
# share (bench/guest-lib.sh says what each file holds).
#
#   analyze_init NAME IN_DIR OUT_DIR
#                    the common start: sets in, out, rows (from IN_DIR/rows),
#                    LC_ALL=C; envf KEY reads IN_DIR/env
#   built_from       the line "dm-dedup.ko built from REV, DATE." and, when
#                    other VMs ran beside this one, a warning line
#   sys_cpu SYS      "busy total iowait" deltas (USER_HZ ticks, all vCPUs)
#                    of a ROW.sys file (sysstat before/after)
#   sys_meta SYS     "reads read_sectors writes write_sectors" deltas of the
#                    metadata disk
#   sys_mem SYS [FROM TO]
#                    "slab_kB sunreclaim_kB vmalloc_kB percpu_kB bufio_bytes"
#                    deltas between the sysstat lines tagged FROM and TO
#                    (default before, after)
#   kv FILE KEY      the value of KEY=value in FILE (a stats message), or
#                    nothing
#   lat_gaps LOG T0 DAT GAPS
#                    from a fio latency log (one line per completion, msec
#                    in CLOCK_MONOTONIC): completion times sorted, relative
#                    to T0; prints "completions longest_gap_ms gap_start_s
#                    gaps_over_100ms", writes 100 ms buckets to DAT and the
#                    gaps > 100 ms (+ a "longest" line) to GAPS
#   lat_t0 LOG       the earliest submission time (completion - latency), ms
#   lat_pct LOG      "p99.9_ms max_ms" of the latencies in LOG, nearest rank
#   trace_complete TRACE  true when the kprobe trace lost no event
#   trace_phases TRACE T0
#                    kprobe trace (ftrace mono clock) to "name start_ms
#                    end_ms" lines, times relative to T0 ms
#   fio_w JSON EXPR  jq EXPR applied to the write half of the first job
#   fio_r JSON EXPR  the same for its read half
#   status_fields    the status field names of a dedup line, from
#                    tests/lib.sh's DEDUP_STATUS_FIELDS (the test suite's list)
#   status_get FILE NAME
#                    the field NAME (a status_fields name) of the dedup
#                    line saved in FILE (`dmsetup status`), or nothing

bench_top=${bench_top:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}

analyze_init() {
	in=${2:?usage: $1.sh IN_DIR OUT_DIR}
	out=${3:?usage: $1.sh IN_DIR OUT_DIR}
	mkdir -p "$out"
	export LC_ALL=C
	[ -s "$in/rows" ] || { echo "$1: no rows in $in" >&2; exit 1; }
	# shellcheck disable=SC2034 # rows: the analyzer's
	mapfile -t rows < "$in/rows"
}

envf() { kv "$in/env" "$1"; }

built_from() {
	echo "dm-dedup.ko built from ${BENCH_REV:-an unknown tree}, $(date -u '+%Y-%m-%d %H:%M UTC')."
	if [ "${BENCH_OTHER_VMS:-0}" -gt 0 ]; then
		echo "WARNING: up to ${BENCH_OTHER_VMS} other QEMU process(es) ran on this host during the run: rows compete for its cores."
	fi
}

sys_cpu() {
	awk '$2 == "cpu" { t = 0; for (i = 3; i <= NF; i++) t += $i
		tot[$1] = t; idle[$1] = $6; iow[$1] = $7 }
	END { dt = tot["after"] - tot["before"]
		di = idle["after"] - idle["before"]; dw = iow["after"] - iow["before"]
		print dt - di - dw, dt, dw }' "$1"
}

sys_meta() {
	awk '$2 == "meta" { r[$1] = $3; rs[$1] = $5; w[$1] = $7; ws[$1] = $9 }
	END { print r["after"] - r["before"], rs["after"] - rs["before"],
		w["after"] - w["before"], ws["after"] - ws["before"] }' "$1"
}

sys_mem() {
	awk -v a="${2:-before}" -v b="${3:-after}" '$2 == "mem" { for (i = 3; i <= 8; i++) v[$1, i] = $i }
	END { print v[b, 3] - v[a, 3], v[b, 4] - v[a, 4], v[b, 5] - v[a, 5],
		v[b, 6] - v[a, 6], v[b, 8] - v[a, 8] }' "$1"
}

kv() { [ -f "$1" ] || return 0; sed -n "s/^$2=//p" "$1" | head -n1; }

lat_t0() {
	awk -F, 'NR == 1 || $1 - $2 / 1e6 < m { m = $1 - $2 / 1e6 }
		END { printf "%.3f", m }' "$1"
}

lat_gaps() {
	cut -d, -f1 "$1" | sort -n | awk -v t0="$2" -v dat="$3" -v gaps="$4" '
	{ t = $1 - t0; b = int(t / 100); cnt[b]++; if (b > maxb) maxb = b }
	NR > 1 { d = t - prev; if (d > max) { max = d; at = prev }
		if (d > 100) { n++; printf "%.0f %.0f\n", prev, t > gaps } }
	{ prev = t }
	END {
		for (i = 0; i <= maxb; i++)
			printf "%.1f %d\n", i / 10, cnt[i] + 0 > dat
		printf "longest %.0f %.0f\n", at, at + max > gaps
		printf "%d %.0f %.3f %d\n", NR, max, at / 1000, n
	}'
}

lat_pct() {
	cut -d, -f2 "$1" | sort -n | awk '{ v[NR] = $1 }
	END { k = int(NR * 0.999); if (k < NR * 0.999) k++
		printf "%.2f %.2f\n", v[k] / 1e6, v[NR] / 1e6 }'
}

# trace_complete TRACE: the kprobe trace exists and its ring buffer lost
# no event ("entries-in-buffer/entries-written: N/N").
trace_complete() {
	[ -s "$1" ] && awk '/entries-in-buffer\/entries-written:/ {
		split($3, n, "/"); ok = n[1] == n[2] && n[1] > 0 } END { exit !ok }' "$1"
}

trace_phases() {
	awk -v t0="$2" '
	/^#/ { next }
	{
		for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+\.[0-9]+:$/) break
		if (i >= NF || !match($0, /-[0-9]+ +\[[0-9]+\]/)) next
		pid = substr($0, RSTART + 1, RLENGTH); sub(/ .*/, "", pid)
		ts = substr($i, 1, length($i) - 1) * 1000 - t0
		ev = $(i + 1); sub(/:$/, "", ev)
		name = ev; sub(/_(in|out)$/, "", name)
		if (ev ~ /_in$/) st[name, pid] = ts
		else if ((name, pid) in st) {
			printf "%s %.1f %.1f\n", name, st[name, pid], ts
			delete st[name, pid]
		}
	}' "$1"
}

fio_w() { jq -r ".jobs[0].write | $2" "$1"; }
fio_r() { jq -r ".jobs[0].read | $2" "$1"; }

status_fields() {
	sed -n '/^DEDUP_STATUS_FIELDS="/,/"$/p' "$bench_top/tests/lib.sh" |
		sed 's/^DEDUP_STATUS_FIELDS="//; s/"$//' | tr -s ' \n' '  '
}

status_get() {
	awk -v names="$(status_fields)" -v want="$2" '
	BEGIN { split(names, nm, " ") }
	$3 == "dedup" { k = 0
		for (i = 4; i <= NF; i++) { m = split($i, part, "/")
			for (j = 1; j <= m; j++) if (nm[++k] == want) { print part[j]; exit } } }' "$1"
}

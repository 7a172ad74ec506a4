#!/bin/bash
# analyze-profile.sh - host-side reduction of a `make bench-profile` run
# (bench/README.md).
#
# Usage: bench/analyze-profile.sh IN_DIR OUT_DIR [STAGES]
#   IN_DIR   what bench/profile-guest.sh left on the share: rows, env,
#            kallsyms (the guest's), and per workload W: W.perf.data,
#            W.json (fio), W.sys, W.stats, W.before.stats
#   OUT_DIR  gets profile.txt: per workload a markdown table of stages;
#            profile-W.script (perf script: every sample with its call
#            chain) and profile-W.callgraph (perf report, callers of the top
#            symbols), for reading
#   STAGES   the rules file (default bench/profile-stages.txt)
#
# The samples are read here with the host's perf (the guest runs the same
# binary) and the guest's kallsyms: `perf script --kallsyms=IN_DIR/kallsyms`.
# Per stage: its share of all samples (both vCPUs, idle included), the CPU
# time it cost per write (samples x sample period / writes completed), and
# its top symbols with their own share. The stage of a sample is the first
# rule of STAGES that matches its comm, or the symbol (or module) it is
# charged to: its leaf frame, or past "through" frames (the points where
# interrupts come back on) the first caller that is not one.
set -euo pipefail

here=$(dirname "$0")
# shellcheck source=bench/analyze-lib.sh
. "$here/analyze-lib.sh"
analyze_init analyze-profile "${1:-}" "${2:-}"
stages=${3:-$here/profile-stages.txt}
freq=$(envf perf_freq)

# stage_table SCRIPT WRITES: the markdown table of one workload, from
# `perf script -F comm,ip,sym,dso` output (a line with the comm, then one
# line per frame, leaf first: "<ip> <sym> (<dso>)").
stage_table() {
	awk -v writes="$2" -v freq="$freq" '
	function flush(   k, i, s, sym, more, d) {
		if (comm == "" || nf == 0) { comm = ""; nf = 0; return }
		# Charge the sample to the leaf, or past "through" frames to the
		# first caller that is not one (kernel frames only).
		k = 1
		do {
			more = 0
			if (k < nf && fk[k] && fk[k + 1])
				for (i = 1; i <= nr; i++)
					if (kind[i] == "through" && fs[k] ~ re[i]) { k++; more = 1; break }
		} while (more)
		s = ""
		for (i = 1; i <= nr && s == ""; i++) {
			if (kind[i] == "comm" && comm ~ re[i]) s = stage[i]
			else if (kind[i] == "sym" && fk[k] && fs[k] ~ re[i]) s = stage[i]
			else if (kind[i] == "dso" && fk[k] && fd[k] ~ re[i]) s = stage[i]
		}
		if (s == "") s = (fk[k] ? "other kernel" : "user space")
		sym = fs[k]
		if (!fk[k]) { d = fd[k]; sub(/.*\//, "", d); sym = sym " (" d ")" }
		tot++; ss[s]++; sym_n[s, sym]++
		if (!((s, sym) in listed)) { listed[s, sym] = 1; syms[s] = syms[s] SUBSEP sym }
		comm = ""; nf = 0
	}
	FNR == NR {
		if ($0 ~ /^[ \t]*(#|$)/) next
		nr++; kind[nr] = $1; re[nr] = $2
		st = $0; sub(/^[ \t]*[^ \t]+[ \t]+[^ \t]+[ \t]*/, "", st); sub(/[ \t]+$/, "", st)
		stage[nr] = st
		if (kind[nr] != "through" && !(st in seen)) { seen[st] = 1; order[++ns] = st }
		next
	}
	/^$/ { flush(); next }
	/^[^ \t]/ { flush(); comm = $0; sub(/ +$/, "", comm); next }
	{
		line = $0; sub(/^[ \t]+/, "", line)
		ip = line; sub(/ .*/, "", ip)
		dso = line; sub(/.*\(/, "", dso); sub(/\)$/, "", dso)
		sym = line; sub(/^[0-9a-f]+ /, "", sym); sub(/ \([^()]*\)$/, "", sym)
		nf++; fs[nf] = sym; fd[nf] = dso; fk[nf] = (length(ip) == 16 && ip ~ /^ffff/)
	}
	END {
		flush()
		order[++ns] = "other kernel"; order[++ns] = "user space"
		if (!tot) { print "no samples"; exit }
		printf "| stage | %% of samples | CPU us per write | top symbols (%% of samples) |\n"
		printf "|---|---:|---:|---|\n"
		for (k = 1; k <= ns; k++) {
			s = order[k]
			if (!(s in ss)) { printf "| %s | 0.0 | 0 | |\n", s; continue }
			m = split(substr(syms[s], 2), l, SUBSEP); top = ""
			for (t = 1; t <= 4 && t <= m; t++) {
				best = ""; bn = -1
				for (j = 1; j <= m; j++)
					if (!(l[j] in used) && sym_n[s, l[j]] > bn) { bn = sym_n[s, l[j]]; best = l[j] }
				used[best] = 1
				if (100 * bn / tot < 0.1) break
				top = top sprintf("%s`%s` %.1f", (top == "" ? "" : ", "), best, 100 * bn / tot)
			}
			delete used
			us = (writes > 0 && freq > 0) ? ss[s] * 1e6 / freq / writes : 0
			printf "| %s | %.1f | %.0f | %s |\n", s, 100 * ss[s] / tot, us, top
		}
		printf "\n%d samples\n", tot
	}' "$stages" "$1"
}

{
	echo "dm-dedup CPU profile: perf record -a -g -e cpu-clock -F $freq in the guest"
	echo "($(envf kernel), $(envf cpus) vCPUs, QEMU TCG; $(envf perf)); dedup 4 KiB blocks, $(envf hash),"
	echo "data and metadata on brd RAM disks; fio 4 KiB sequential writes, iodepth 32, numjobs $(envf jobs),"
	echo "$(envf seconds) s per workload. \"linear\" is dm-linear over the same RAM disk, unique writes:"
	echo "the cost of a write without dedup, for reference. The *read50 workloads are 4 KiB random"
	echo "reads instead (of data written at 50 % duplicates; linear-read50 through dm-linear): there"
	echo "\"write\" below means a read."
	built_from
	echo "Stages: $(basename "$stages") (first matching rule wins; a sample is charged to its leaf symbol, or past"
	echo "\"through\" frames to their caller). % of all samples of both vCPUs, idle included."
	echo "CPU us per write = samples x $(awk -v f="$freq" 'BEGIN { printf "%.0f", 1e6 / f }') us / writes completed."
	for w in "${rows[@]}"; do
		fio_x=fio_w
		[ "${w%read50}" = "$w" ] || fio_x=fio_r
		writes=$($fio_x "$in/$w.json" .total_ios)
		iops=$($fio_x "$in/$w.json" .iops)
		read -r busy tot _ < <(sys_cpu "$in/$w.sys")
		h0=$(kv "$in/$w.before.stats" dedup_hits); h1=$(kv "$in/$w.stats" dedup_hits)
		u0=$(kv "$in/$w.before.stats" unique_blocks); u1=$(kv "$in/$w.stats" unique_blocks)
		echo
		echo "### $w"
		echo
		awk -v w="$writes" -v i="$iops" -v b="$busy" -v t="$tot" -v h="$((${h1:-0} - ${h0:-0}))" \
			-v u="$((${u1:-0} - ${u0:-0}))" 'BEGIN {
			printf "%d writes, %.0f IOPS; guest CPU busy %.0f%% (/proc/stat), %.0f us of CPU per write;", w, i,
				(t > 0 ? 100 * b / t : 0), (w > 0 ? b * 10000 / w : 0)
			printf " dedup hits %d (%.1f%% of writes), unique blocks %+d\n", h, (w > 0 ? 100 * h / w : 0), u }'
		echo
		perf script -i "$in/$w.perf.data" --kallsyms="$in/kallsyms" -F comm,ip,sym,dso \
			2>/dev/null > "$out/profile-$w.script"
		stage_table "$out/profile-$w.script" "$writes"
		perf report -i "$in/$w.perf.data" --kallsyms="$in/kallsyms" --no-children --sort sym \
			-g graph,0.3,callee,function,percent --stdio --percent-limit 1 \
			> "$out/profile-$w.callgraph" 2>/dev/null || true
	done
} > "$out/profile.txt"
cat "$out/profile.txt"
echo "table: $out/profile.txt  call graphs: $out/profile-*.callgraph  perf.data: $in/*.perf.data"

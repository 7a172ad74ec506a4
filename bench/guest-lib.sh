# shellcheck shell=dash
# guest-lib.sh - helpers shared by the in-guest halves of the benchmarks
# (bench/*-guest.sh, busybox ash). bench/run-vm.sh ships it as
# /tests/bench/guest-lib.sh; a guest script sources /tests/lib.sh, then
# /tests/bench/bench.conf (the BENCH_* settings of the run), then this file.
#
# Results go to $OUT (default /share/bench, the host's 9p share); the host
# side (bench/analyze*.sh) reads them from there.
#
#   say MSG              "# bench: MSG" on stdout and on the console (the
#                        host prints those lines as the run goes)
#   bench_env            facts about the guest for the table headers: $OUT/env
#   sysstat TAG          the metadata disk's I/O counters ($META, if set),
#                        the guest's CPU time, memory (slab, vmalloc,
#                        percpu, dm-bufio's cache): one line each, "TAG ..."
#   fresh_disks          before a row: the data RAM disk (/dev/ram0,
#                        BENCH_DATA_MB) made anew, the metadata disk $META
#                        discarded and its first MiB zeroed
#   throttled_start      the start of a run on the throttled metadata disk
#                        (bench-stall, bench-sustained): $META must be the
#                        BENCH_META_MB disk; empties $OUT, fresh_disks,
#                        writes env and an empty rows file; sets data_sz
#                        (the data disk in whole 64 KiB blocks) and meta_sz
#   trace_start | trace_stop ROW
#                        kprobes on the commit paths (ftrace mono clock)
#                        while a row runs; saved as $OUT/ROW.trace
#   run_fio ROW JOB [OPTION...]
#                        one measured fio run with JOB (a /tests/bench/*.fio
#                        file; BENCH_* variables set by the caller; OPTIONs,
#                        e.g. --dedupe_percentage=50, added to its global
#                        section), the commit trace and sysstat around it:
#                        $OUT/ROW.json, ROW.sys, ROW.trace (+ the logs JOB
#                        asks for)
#   write_env DEV RW BS JOBS SIZE TIMED DEDUPE
#                        export the BENCH_* variables of write.fio
#                        (BENCH_RUNTIME: $S)
#   prefill DEV BS JOBS SIZE
#                        write.fio once over each job's region, unique data,
#                        unmeasured: what an overwrite row then rewrites
#   fio_iops JSON        write IOPS from fio's JSON output (no jq here)
#   dedup_stats NAME ROW dmsetup status and the stats message of dedup
#                        device NAME: $OUT/ROW.status, ROW.stats
#   thin_pool NAME META DATA SECTORS
#                        a thin-pool (64 KiB blocks, skip_block_zeroing)
#                        with one thin volume NAME-vol of SECTORS
#   sampler NAME FILE    uptime + `dmsetup status NAME` every second into
#                        FILE, until /tmp/sampling goes away
#   probes_start ROW DEV NAME | probes_stop ROW
#                        in the background for $S + 60 s, the sampler of
#                        NAME (ROW.samples) and syncprobe: a 4 KiB write +
#                        fdatasync every 500 ms in DEV's last $PROBE_MB MiB
#                        (ROW.sync); stopped by probes_stop, which fails the
#                        row if syncprobe failed
#   target_create TARGET DATA META SECTORS BS
#                        the device of a row: linear | thin (thin_pool
#                        "bench") | a dedup hash (dedup, block size BS);
#                        sets dev
#   target_remove TARGET ROW
#                        removes it; a dedup device's status and stats
#                        first (dedup_stats bench-dedup ROW)

OUT=${OUT:-/share/bench}

say() {
	echo "# bench: $*"
	echo "# bench: $*" > /dev/console
}

[ -d /share ] && mkdir -p "$OUT" || fail "no 9p share at /share"

bench_env() {
	{
		echo "kernel=$(uname -r)"
		echo "cpus=$(grep -c ^processor /proc/cpuinfo)"
		echo "sha256_drivers=$(awk '/^name/ { n = $3 } /^driver/ { d = $3 }
			/^priority/ && n == "sha256" { printf "%s(%s) ", d, $3 }' /proc/crypto)"
		echo "seconds=${BENCH_SECONDS:-}"
		echo "mem_total_kb=$(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo)"
	} > "$OUT/env"
}

fresh_disks() {
	mkbrd 1 "$BENCH_DATA_MB"
	blkdiscard -f "$META" 2>/dev/null || true
	dd if=/dev/zero of="$META" bs=1M count=1 conv=fsync 2>/dev/null ||
		fail "cannot zero $META"
}

throttled_start() {
	[ -b "$META" ] || fail "metadata disk $META missing"
	meta_sz=$(dev_sectors "$META")
	[ "$meta_sz" = $((BENCH_META_MB * 2048)) ] ||
		fail "$META has $meta_sz sectors, expected the ${BENCH_META_MB} MiB throttled disk"
	rm -f "$OUT"/*
	fresh_disks
	data_sz=$(dev_sectors "$DATA")
	data_sz=$((data_sz / 128 * 128))	# whole 64 KiB thin blocks
	bench_env
	{
		echo "data=$DATA (brd) $(dev_sectors "$DATA") sectors"
		echo "data_bytes=$(($(dev_sectors "$DATA") * 512))"
		echo "meta=$META $meta_sz sectors"
	} >> "$OUT/env"
	: > "$OUT/rows"
}

TR=/sys/kernel/tracing
[ -d $TR/events ] || mount -t tracefs nodev $TR 2>/dev/null ||
	TR=/sys/kernel/debug/tracing

# The commit paths traced: dedup's dedup_cow_do_commit, dedup_meta_commit,
# the data-device flush and synchronize_srcu, and dm-thin's
# dm_pool_commit_metadata; and what may hold writers up outside a commit:
# the allocator reading a chunk's refcount blocks when it moves to a new
# chunk (alloc_read), an index shard allocated to grow (index_grow), a
# generation cleared (gen_clear); and the retire step after a publish
# (retire) with the readers' node-cache drop in it (forget). They fire at
# most a few hundred times a second, so they cost nothing measurable; a
# probe the kernel refuses (a
# function renamed or not loaded) is skipped: the trace is for diagnosis.
[ -n "${BENCH_PROBES:-}" ] || BENCH_PROBES="commit:dm_dedup:dedup_cow_do_commit
meta_commit:dm_dedup:dedup_meta_commit flush:blkdev_issue_flush
srcu_wait:synchronize_srcu thin_commit:dm_thin_pool:dm_pool_commit_metadata
alloc_read:dm_dedup:read_refcounts index_grow:dm_dedup:shard_alloc
gen_clear:dm_dedup:dedup_gen_clear retire:dm_dedup:dedup_meta_retire
forget:dm_bufio:dm_bufio_forget_buffers"

# trace_start: arm the commit probes (modules loaded by now); BENCH_TRACE=0
# turns tracing off.
trace_start() {
	local p
	[ "${BENCH_TRACE:-1}" = 1 ] || return 0
	[ -w $TR/kprobe_events ] || { echo "no tracefs: no commit trace"; return 0; }
	echo 0 > $TR/tracing_on
	echo > $TR/kprobe_events
	echo mono > $TR/trace_clock
	for p in $BENCH_PROBES; do
		echo "p:bench/${p%%:*}_in ${p#*:}" >> $TR/kprobe_events 2>/dev/null &&
		echo "r:bench/${p%%:*}_out ${p#*:}" >> $TR/kprobe_events 2>/dev/null ||
			echo "probe ${p#*:} refused"
	done
	echo > $TR/trace
	echo 1 > $TR/events/bench/enable 2>/dev/null || return 0
	echo 1 > $TR/tracing_on
}

# trace_stop ROW: save the trace as $OUT/ROW.trace, disarm.
trace_stop() {
	[ "${BENCH_TRACE:-1}" = 1 ] && [ -w $TR/kprobe_events ] || return 0
	echo 0 > $TR/tracing_on
	cat $TR/trace > "$OUT/$1.trace"
	echo 0 > $TR/events/bench/enable 2>/dev/null || true
	echo > $TR/kprobe_events
	echo > $TR/trace
}

# sysstat TAG: "TAG meta <the 11+ fields of /sys/block/<META>/stat>" (when
# META is set), "TAG cpu <user nice system idle iowait ...>" (USER_HZ),
# "TAG mem <Slab kB> <SUnreclaim kB> <VmallocUsed kB> <Percpu kB> <MemFree kB>
# <dm-bufio bytes>".
sysstat() {
	[ -z "${META:-}" ] || echo "$1 meta $(cat "/sys/block/${META#/dev/}/stat")"
	echo "$1 $(head -n1 /proc/stat)"
	echo "$1 mem $(awk '{ v[$1] = $2 } END { printf "%d %d %d %d %d",
		v["Slab:"], v["SUnreclaim:"], v["VmallocUsed:"], v["Percpu:"], v["MemFree:"] }' \
		/proc/meminfo) $(cat /sys/module/dm_bufio/parameters/current_allocated_bytes \
		2>/dev/null || echo 0)"
}

# run_fio ROW JOB [OPTION...]: fio with /tests/bench/JOB, between two sysstat
# lines. Options before the job file are fio's global options.
run_fio() {
	local row=$1 job=$2
	shift 2
	trace_start
	sysstat before > "$OUT/$row.sys"
	fio --output-format=json --output="$OUT/$row.json" "$@" "/tests/bench/$job" ||
		fail "fio failed on row $row"
	sysstat after >> "$OUT/$row.sys"
	trace_stop "$row"
}

write_env() {
	export BENCH_DEV=$1 BENCH_RW=$2 BENCH_BS=$3 BENCH_JOBS=$4 BENCH_SIZE=$5 \
		BENCH_TIMED=$6 BENCH_DEDUPE=$7 BENCH_RUNTIME=$S
}

prefill() {
	write_env "$1" write "$2" "$3" "$4" 0 0
	BENCH_RUNTIME=3600 fio --output=/dev/null /tests/bench/write.fio ||
		fail "prefill of $1 failed"
}

fio_iops() {
	awk '/"write" *: *\{/ { w = 1 } w && /"iops" *:/ {
		sub(/.*: */, ""); sub(/,.*/, ""); printf "%.0f\n", $0; exit }' "$1"
}

dedup_stats() {
	dmsetup status "$1" > "$OUT/$2.status" || fail "status of $1 failed"
	dmsetup message "$1" 0 stats > "$OUT/$2.stats" || fail "stats message failed"
}

thin_pool() {
	local name=$1 meta=$2 data=$3 len=$4
	dm_create "$name-pool" "0 $len thin-pool $meta $data 128 0 1 skip_block_zeroing"
	dmsetup message "$name-pool" 0 "create_thin 0" || fail "create_thin failed"
	dm_create "$name-vol" "0 $len thin /dev/mapper/$name-pool 0"
}

sampler() {
	while [ -e /tmp/sampling ]; do
		echo "$(cut -d' ' -f1 /proc/uptime) $(dmsetup status "$1" 2>/dev/null)"
		sleep 1
	done > "$2"
}

probes_start() {
	local bytes
	bytes=$(($(dev_sectors "$2") * 512))
	: > /tmp/sampling
	sampler "$3" "$OUT/$1.samples" &
	spid=$!
	/tests/bench/syncprobe "$2" $((bytes - PROBE_MB * 1048576)) $((PROBE_MB * 256)) \
		500 $((S + 60)) > "$OUT/$1.sync" 2> "$OUT/$1.sync.err" &
	ppid=$!
}

probes_stop() {
	kill -TERM "$ppid" 2>/dev/null || true
	wait "$ppid" || fail "syncprobe failed on $1: $(cat "$OUT/$1.sync.err")"
	rm -f /tmp/sampling
	wait "$spid"
}

target_create() {
	case $1 in
	linear)
		dm_create bench-linear "0 $4 linear $2 0"
		dev=/dev/mapper/bench-linear ;;
	thin)
		thin_pool bench "$3" "$2" "$4"
		dev=/dev/mapper/bench-vol ;;
	*)
		dedup_create bench-dedup "$3" "$2" "$5" "$1"
		dev=/dev/mapper/bench-dedup ;;
	esac
}

target_remove() {
	case $1 in
	linear) dmsetup remove bench-linear || fail "cannot remove bench-linear" ;;
	thin)
		dmsetup remove bench-vol || fail "cannot remove bench-vol"
		dmsetup remove bench-pool || fail "cannot remove bench-pool" ;;
	*)
		dedup_stats bench-dedup "$2"
		dedup_teardown ;;
	esac
}

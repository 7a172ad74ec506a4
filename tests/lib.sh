# shellcheck shell=sh
# tests/lib.sh - helpers for the guest tests (busybox ash; owned by the test
# infrastructure). Every tests/NN-name.sh starts with
#
#     #!/bin/sh
#     # <one line: the behaviour this test checks>
#     # timeout: 120            (optional, seconds; default 300)
#     . /tests/lib.sh
#
# and exits 0 on success, starting with an empty /tmp (the runner clears
# it). lib.sh turns on `set -eu`, so any failing command
# fails the test. Exit 77 (skip "why") reports "ok N - name # SKIP why".
# After every test the runner calls dedup_teardown, removes every dm device,
# rmmods dm-dedup (a failure there fails the test) and brd, and fails the
# test if the kernel log since it began matches an oops/warning pattern.
#
# Helpers:
#   fail MSG | skip MSG | log MSG
#   assert_eq ACTUAL EXPECTED WHAT | assert_ne A B WHAT
#   assert_match STRING ERE WHAT
#   by_load FULL LIGHT         print FULL, or LIGHT when the run asked for
#                              light workloads (HARNESS_LOAD=light, from
#                              VM_LOAD; make check-debug): the same code
#                              paths with less data, fewer rounds
#   scaled SECONDS             SECONDS times the run's timeout scale
#                              (HARNESS_SCALE, from VM_TIMEOUT_SCALE),
#                              rounded up: for time limits inside a test
#   kmsg TEXT                  write TEXT to the kernel log
#   new_mark                   write a unique marker to the kernel log, print
#                              it and leave it in $_lib_mark
#   dmesg_since MARK           kernel log lines after the last MARK
#   dmesg_test                 kernel log since this test started
#   watch_pid PID S WHAT       wait up to S seconds (scaled) for the
#                              background command PID to end, then wait
#                              for its status; fails if it is still
#                              running ("WHAT did not complete within S s")
#                              or failed.  For I/O that may hang in the
#                              kernel: it is watched, never killed
#
# Setup:
#   load_dedup | unload_dedup  modprobe / rmmod dm-dedup (fail on error)
#   mkbrd N SIZE_MB            RAM disks /dev/ram0../dev/ram(N-1)
#   setup_ram N SIZE_MB        load_dedup + mkbrd N SIZE_MB, and set
#                              M=/dev/ram0 and (N >= 2) D=/dev/ram1: the
#                              metadata and data devices of most tests
#   vdisk 0|1                  discard a 2 GiB virtio disk, print /dev/vda|vdb
#   dev_sectors DEV            size in 512-byte sectors
#   dm_create NAME TABLE       dmsetup create (+ nodes); fails the test on error
#   dm_swap NAME TABLE [SUSPEND_OPTION...]
#                              replace the live table of NAME: dmsetup
#                              suspend (with the options, e.g. --noflush
#                              --nolockfs), load, resume; fails on error
#
# Device stacks under a dedup device (each makes the dm device NAME):
#   dm_linear NAME DEV [SECTORS [OFFSET]]
#                              linear map of DEV (default: all of it, from
#                              sector 0): a data or metadata device that can
#                              be grown or shrunk (dm_swap) or faulted
#   dm_delay NAME DEV READ_MS [WRITE_MS]
#                              dm-delay over all of DEV: reads delayed
#                              READ_MS ms, writes WRITE_MS (default 0)
#   thin_pool                  dm-thin pool "pool": metadata /dev/ram0, data
#                              /dev/ram1, 64 KiB blocks
#   thin_volume NAME ID SECTORS
#                              thin volume ID of that pool, SECTORS long:
#                              a large sparse device
#   thin_data NAME SECTORS [MB] load_dedup, 3 RAM disks of MB, thin_pool and
#                              a thin volume NAME; M=/dev/ram2
#   fs_mkfs FS DEV | fs_check FS DEV
#                              make ext4 or xfs on DEV; its checker, repairing
#                              nothing
#   umount_retry MNT WHAT      unmount MNT, retrying for 5 s (a cut leaves
#                              it busy a moment); fail "WHAT: ..." if not
#   fs_recover FS DEV MNT WHAT after a cut: mount (the journal's replay),
#                              unmount, the checker clean, mount again; fail
#                              "WHAT: ..." at the first step that does not
#
# Faults:
#   dm_fault NAME MODE [SUSPEND_OPTION...]
#                              swap the one-segment linear or flakey table of
#                              NAME for MODE over the same range: linear
#                              (pass-through), error_writes or drop_writes
#                              (dm-flakey; reads pass), all_errors (every
#                              I/O fails); suspends as dm_swap does
#   dm_hold NAME               suspend NAME --noflush --nolockfs, so that its
#                              I/O waits (a commit stuck in metadata I/O);
#                              it is resumed however the test ends (an EXIT
#                              trap: a teardown's final commit would wait for
#                              it forever). dm_release NAME resumes it
#   dedup_knob NAME VALUE      set a test-only module parameter of dm-dedup
#                              (doc/dm-dedup.rst "Module parameters");
#                              dedup_teardown sets it back to 0, so a test
#                              needs no trap of its own
#   dedup_param NAME           print a module parameter (test_failed_allocs)
#
# Dedup devices:
#   expect_table_error TABLE TEXT
#                              loading TABLE must fail and the kernel log must
#                              show "dedup: TEXT (" (the exact ti->error)
#   dedup_table META DATA BS HASH [FEATURE...]
#                              print a table line; length = DEDUP_LEN sectors,
#                              default the data device rounded down to BS
#   dedup_create NAME META DATA BS HASH [FEATURE...]
#                              create /dev/mapper/NAME and register META for
#                              the checker; features are words, counted here
#   dedup_on_ram NAME SIZE_MB BS HASH [FEATURE...]
#                              the usual rig: setup_ram 2 SIZE_MB, then
#                              dedup_create NAME $M $D BS HASH FEATURE...;
#                              sets M, D and DEV=/dev/mapper/NAME
#   dedup_register NAME META   register a dedup device created otherwise
#                              (by dmsetup) for dedup_teardown
#   dedup_forget NAME          unregister (a test that corrupts on purpose)
#   dedup_remove NAME          dmsetup remove NAME, then dedup_forget it
#   dedup_save_remove NAME     dmsetup remove NAME (it stays registered): the
#                              clean remove saves the fingerprint index;
#                              fails if the kernel log says it could not
#   wipe_superblock DEV        zero the first 4 KiB of a metadata device
#                              (O_DIRECT): the next create formats it afresh
#   dedup_grow_under NAME LOWER TABLE
#                              take in a device grown (or changed) beneath
#                              the live dedup device NAME: suspend NAME,
#                              dm_swap LOWER TABLE, reload NAME's own table,
#                              resume
#   dedup_teardown             remove registered dedup devices, then run
#                              dedup_check (if installed) on each metadata
#                              device; fails if removal or a check fails
#
# Status:
#   dedup_field NAME FIELD     one status field by name (README "Status"):
#                              mode needs_check transaction_id data_used
#                              data_total metadata_used metadata_total mapped
#                              unique dedup_hits zero commits last_commit_ms
#                              longest_commit_ms last_commit_blocks
#                              commit_in_flight bp_waits longest_wait_us
#   dedup_status_dump NAME     all status fields as name=value lines
#   dedup_parse_status         the same for a status line on stdin
#   dedup_stat NAME KEY        one key of "dmsetup message NAME 0 stats"
#   dedup_wait_ready NAME [S]  wait (S seconds, scaled; default 120) until
#                              the index_state of NAME is ready; fails after
#   dedup_wait_field NAME FIELD VALUE [S]
#                              wait (S seconds, scaled; default 30) until
#                              status FIELD of NAME is VALUE; fails after
#
# tests/data.inc (data, models, status snapshots) and tests/README (number
# bands, adding a test, running one) say the rest.

set -eu

HARNESS_STATE=${HARNESS_STATE:-/run/harness}
DEDUP_REG=$HARNESS_STATE/dedup.reg
DEDUP_KNOBS=$HARNESS_STATE/dedup.knobs
DEDUP_STATUS_FIELDS="mode needs_check transaction_id data_used data_total
metadata_used metadata_total mapped unique dedup_hits zero commits
last_commit_ms longest_commit_ms last_commit_blocks commit_in_flight
bp_waits longest_wait_us"
mkdir -p "$HARNESS_STATE"

log() { echo "$*"; }
# fail prints the kernel log of the test's last moments (dedup lines only).
fail() {
	echo "FAIL: $*" >&2
	dmesg_test 2>/dev/null | grep -E "device-mapper|dedup" | tail -n 20 |
		sed 's/^/  kmsg: /' >&2 || true
	exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

scaled() {
	awk -v s="$1" -v f="${HARNESS_SCALE:-1}" \
		'BEGIN { printf "%d\n", s * f + 0.999 }'
}

by_load() {
	if [ "${HARNESS_LOAD:-full}" = light ]; then
		echo "$2"
	else
		echo "$1"
	fi
}

assert_eq() {
	[ "$1" = "$2" ] || fail "${3:-value}: got '$1', expected '$2'"
}

assert_ne() {
	[ "$1" != "$2" ] || fail "${3:-value}: got '$1', expected anything else"
}

assert_match() {
	printf '%s\n' "$1" | grep -Eq -- "$2" ||
		fail "${3:-value}: '$1' does not match /$2/"
}

kmsg() { echo "$*" > /dev/kmsg; }

_lib_marks=0
new_mark() {
	_lib_marks=$((_lib_marks + 1))
	_lib_mark="lib-mark ${HARNESS_ID:-0}.$$.$_lib_marks"
	kmsg "$_lib_mark"
	echo "$_lib_mark"
}

dmesg_since() {
	dmesg | awk -v m="$1" 'index($0, m) { buf = ""; on = 1; next }
		on { buf = buf $0 "\n" } END { printf "%s", buf }'
}

dmesg_test() { dmesg_since "${HARNESS_MARK:-harness: begin}"; }

load_dedup() {
	modprobe dm-dedup || fail "modprobe dm-dedup failed"
	grep -q '^dm_dedup ' /proc/modules || fail "dm_dedup not in /proc/modules"
}

unload_dedup() {
	rmmod dm-dedup || fail "rmmod dm-dedup failed: $(grep '^dm_dedup ' /proc/modules)"
}

mkbrd() {
	local n=$1 mb=$2
	if grep -q '^brd ' /proc/modules; then
		rmmod brd || fail "brd is loaded and busy"
	fi
	modprobe brd rd_nr="$n" rd_size=$((mb * 1024)) max_part=0 ||
		fail "modprobe brd failed"
	[ -b "/dev/ram$((n - 1))" ] || fail "/dev/ram$((n - 1)) did not appear"
}

# M and D are for the test that calls it.
# shellcheck disable=SC2034
setup_ram() {
	load_dedup
	mkbrd "$1" "$2"
	M=/dev/ram0
	[ "$1" -lt 2 ] || D=/dev/ram1
}

vdisk() {
	local dev
	case $1 in
	0) dev=/dev/vda ;;
	1) dev=/dev/vdb ;;
	*) fail "vdisk: no disk $1" ;;
	esac
	[ -b "$dev" ] || fail "vdisk: $dev missing"
	blkdiscard -f "$dev" >/dev/null 2>&1 || blkdiscard -f -z "$dev" ||
		fail "vdisk: cannot clear $dev"
	echo "$dev"
}

dev_sectors() { blockdev --getsz "$1"; }

dm_create() {
	local name=$1
	shift
	dmsetup create "$name" --table "$*" || fail "dmsetup create $name '$*' failed"
	dmsetup mknodes "$name" >/dev/null 2>&1 || true
}

dm_swap() {
	local name=$1 table=$2
	shift 2
	dmsetup suspend "$@" "$name" || fail "suspend $name"
	dmsetup load "$name" --table "$table" || fail "load $name '$table'"
	dmsetup resume "$name" || fail "resume $name"
}

dm_linear() {
	dm_create "$1" "0 ${3:-$(dev_sectors "$2")} linear $2 ${4:-0}"
}

dm_fault() {
	local name=$1 mode=$2 start len target dev off rest table
	shift 2
	table=$(dmsetup table "$name") || fail "dm_fault: no device $name"
	read -r start len target dev off rest <<-EOF
	$table
	EOF
	case $target in
	linear | flakey) ;;
	*) fail "dm_fault: $name is $target, not linear or flakey" ;;
	esac
	case $mode in
	linear) table="$start $len linear $dev $off" ;;
	error_writes | drop_writes) table="$start $len flakey $dev $off 0 1 1 $mode" ;;
	all_errors) table="$start $len flakey $dev $off 0 1" ;;
	*) fail "dm_fault: no mode $mode" ;;
	esac
	dm_swap "$name" "$table" "$@"
}

dm_delay() {
	local s
	s=$(dev_sectors "$2")
	dm_create "$1" "0 $s delay $2 0 $3 $2 0 ${4:-0}"
}

_lib_held=""
_lib_resume_held() {
	local name
	for name in $_lib_held; do
		dmsetup resume "$name" 2>/dev/null || :
	done
}

dm_hold() {
	_lib_held="$_lib_held $1"
	trap _lib_resume_held EXIT
	trap 'exit 143' TERM
	dmsetup suspend --noflush --nolockfs "$1" || fail "suspend $1"
}

dm_release() {
	dmsetup resume "$1" || fail "resume $1"
}

thin_pool() {
	dm_create pool "0 $(dev_sectors /dev/ram1) thin-pool /dev/ram0 /dev/ram1 128 0"
}

thin_volume() {
	dmsetup message pool 0 "create_thin $2" || fail "create_thin $2"
	dm_create "$1" "0 $3 thin /dev/mapper/pool $2"
}

# Sectors per GiB and per TiB, for thin volumes of real sizes.
GIB=$((1024 * 1024 * 2))
TIB=$((1024 * GIB))

# thin_data NAME SECTORS [MB]: the dedup module loaded, 3 RAM disks of MB
# (default 128) MiB, and a thin volume NAME of SECTORS (pool on /dev/ram0
# and /dev/ram1); M=/dev/ram2 is left for dedup's metadata.
thin_data() {
	load_dedup
	mkbrd 3 "${3:-128}"
	thin_pool
	thin_volume "$1" 0 "$2"
	M=/dev/ram2
}

# fs_mkfs FS DEV: a file system of the tests (ext4 or xfs) on DEV, as a
# user would make it but without discard and without lazy initialisation
# (ext4: 8192 inodes, a 16 MiB journal, written now, not by a thread later).
fs_mkfs() {
	case $1 in
	ext4) mkfs.ext4 -q -F -b 4096 -N 8192 -J size=16 \
		-E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$2" ;;
	xfs) mkfs.xfs -q -f -K "$2" ;;
	*) echo "fs_mkfs: no file system $1" >&2; return 1 ;;
	esac
}

# fs_check FS DEV: the file system's checker on unmounted DEV, repairing
# nothing (e2fsck -fn, xfs_repair -n).
fs_check() {
	case $1 in
	ext4) e2fsck -fn "$2" ;;
	xfs) xfs_repair -n "$2" ;;
	*) echo "fs_check: no file system $1" >&2; return 1 ;;
	esac
}

umount_retry() {
	local n=0
	until umount "$1" 2>/dev/null; do
		n=$((n + 1))
		[ $n -lt 50 ] || fail "$2: cannot unmount $1 after the cut"
		usleep 100000
	done
}

fs_recover() {
	mount -t "$1" "$2" "$3" ||
		{ dmesg_test | tail -n 20; fail "$4: mount (journal replay) failed"; }
	umount "$3" || fail "$4: umount after the replay failed"
	if ! fs_check "$1" "$2" > /tmp/fsck.out 2>&1; then
		cat /tmp/fsck.out
		fail "$4: the $1 checker finds errors"
	fi
	mount -t "$1" "$2" "$3" || fail "$4: mount after the check failed"
}

expect_table_error() {
	local table=$1 text=$2 dev="xfail$$" mark out klog
	new_mark >/dev/null
	mark=$_lib_mark
	if out=$(dmsetup create "$dev" --table "$table" 2>&1); then
		dmsetup remove "$dev" >/dev/null 2>&1 || true
		fail "table accepted, expected '$text': $table"
	fi
	dmsetup remove "$dev" >/dev/null 2>&1 || true
	klog=$(dmesg_since "$mark")
	if ! printf '%s\n' "$klog" | grep -Fq "dedup: $text ("; then
		echo "dmsetup said: $out" >&2
		echo "kernel log:" >&2
		printf '%s\n' "$klog" | tail -n 5 >&2
		fail "table '$table': expected ti->error 'dedup: $text'"
	fi
	echo "refused as expected ($text): $table"
}

dedup_table() {
	local meta=$1 data=$2 bs=$3 hash=$4 len spb
	shift 4
	spb=$((bs / 512))
	[ "$spb" -gt 0 ] || spb=1
	len=${DEDUP_LEN:-$(($(dev_sectors "$data") / spb * spb))}
	if [ $# -gt 0 ]; then
		echo "0 $len dedup $meta $data $bs $hash $# $*"
	else
		echo "0 $len dedup $meta $data $bs $hash"
	fi
}

dedup_create() {
	local name=$1 meta=$2 table
	shift
	table=$(dedup_table "$@")
	dm_create "$name" "$table"
	dedup_register "$name" "$meta"
}

dedup_register() {
	echo "$1 $2" >> "$DEDUP_REG"
}

# DEV is for the test that calls it.
# shellcheck disable=SC2034
dedup_on_ram() {
	local name=$1
	setup_ram 2 "$2"
	shift 2
	dedup_create "$name" "$M" "$D" "$@"
	DEV=/dev/mapper/$name
}

dedup_forget() {
	[ -f "$DEDUP_REG" ] || return 0
	awk -v n="$1" '$1 != n' "$DEDUP_REG" > "$DEDUP_REG.new"
	mv "$DEDUP_REG.new" "$DEDUP_REG"
}

dedup_remove() {
	dmsetup remove "$1" || fail "cannot remove $1"
	dedup_forget "$1"
}

dedup_save_remove() {
	local mark
	mark=$(new_mark)
	dmsetup remove "$1" || fail "cannot remove $1"
	dmesg_since "$mark" | grep -q "could not save" &&
		fail "$1: the index was not saved"
	return 0
}

wipe_superblock() {
	dd if=/dev/zero of="$1" bs=4096 count=1 oflag=direct status=none ||
		fail "cannot wipe the superblock of $1"
}

dedup_grow_under() {
	local name=$1 table
	table=$(dmsetup table "$name") || fail "no device $name"
	dmsetup suspend "$name" || fail "suspend $name"
	dm_swap "$2" "$3"
	dmsetup reload "$name" --table "$table" || fail "reload $name after changing $2"
	dmsetup resume "$name" || fail "resume $name after changing $2"
}

dedup_teardown() {
	local rc=0 name meta out knob
	if [ -s "$DEDUP_KNOBS" ]; then
		for knob in $(sort -u "$DEDUP_KNOBS"); do
			echo 0 > "/sys/module/dm_dedup/parameters/$knob" 2>/dev/null || :
		done
		rm -f "$DEDUP_KNOBS"
	fi
	[ -s "$DEDUP_REG" ] || { rm -f "$DEDUP_REG"; return 0; }
	while read -r name meta; do
		dmsetup info "$name" >/dev/null 2>&1 || continue
		dmsetup resume "$name" >/dev/null 2>&1 || true
		if ! dmsetup remove --retry "$name"; then
			echo "dedup_teardown: cannot remove $name"
			rc=1
		fi
	done < "$DEDUP_REG"
	if command -v dedup_check >/dev/null 2>&1; then
		for meta in $(awk '{ print $2 }' "$DEDUP_REG" | sort -u); do
			if [ ! -b "$meta" ]; then
				echo "dedup_teardown: $meta is gone, not checked"
				continue
			fi
			if out=$(dedup_check "$meta" 2>&1); then
				echo "dedup_check $meta: ok"
			else
				echo "dedup_check $meta FAILED:"
				printf '%s\n' "$out" | sed 's/^/    /'
				rc=1
			fi
		done
	fi
	rm -f "$DEDUP_REG"
	[ "$rc" = 0 ] || fail "dedup_teardown failed"
}

dedup_status_dump() {
	local line
	line=$(dmsetup status "$1") || fail "dmsetup status $1 failed"
	printf '%s\n' "$line" | dedup_parse_status || fail "cannot parse status of $1"
}

# dedup_parse_status: a "dmsetup status" line on stdin -> name=value lines.
dedup_parse_status() {
	# shellcheck disable=SC2086
	awk -v names="$(echo $DEDUP_STATUS_FIELDS)" '
	{
		if ($3 != "dedup") {
			print "not a dedup status line: " $0 > "/dev/stderr"
			exit 2
		}
		n = 0
		for (i = 4; i <= NF; i++) {
			k = split($i, part, "/")
			for (j = 1; j <= k; j++)
				v[++n] = part[j]
		}
		m = split(names, nm, " ")
		if (n != m) {
			print "status has " n " fields, lib.sh knows " m ": " $0 > "/dev/stderr"
			exit 2
		}
		for (i = 1; i <= m; i++)
			print nm[i] "=" v[i]
	}'
}

dedup_field() {
	local v
	v=$(dedup_status_dump "$1" | awk -F= -v f="$2" '$1 == f { print $2; found = 1 }
		END { exit !found }') || fail "no status field '$2'"
	echo "$v"
}

dedup_stat() {
	dmsetup message "$1" 0 stats | sed -n "s/^$2=//p"
}

dedup_wait_ready() {
	local end st
	end=$(($(date +%s) + $(scaled "${2:-120}")))
	while st=$(dedup_stat "$1" index_state) && [ "$st" != ready ]; do
		[ "$(date +%s)" -le "$end" ] || fail "$1: index still $st"
		sleep 0.2
	done
}

dedup_wait_field() {
	local end v
	end=$(($(date +%s) + $(scaled "${4:-30}")))
	while v=$(dedup_field "$1" "$2") && [ "$v" != "$3" ]; do
		[ "$(date +%s)" -le "$end" ] || fail "$1: $2 is $v, expected $3"
		sleep 0.1
	done
}

watch_pid() {
	local end
	end=$(($(date +%s) + $(scaled "$2")))
	while kill -0 "$1" 2>/dev/null && [ "$(date +%s)" -le $end ]; do
		sleep 0.1
	done
	! kill -0 "$1" 2>/dev/null || fail "$3 did not complete within $2 s"
	wait "$1" || fail "$3 failed"
}

dedup_knob() {
	echo "$2" > "/sys/module/dm_dedup/parameters/$1" ||
		fail "cannot set module parameter $1 to $2"
	echo "$1" >> "$DEDUP_KNOBS"
}

dedup_param() {
	cat "/sys/module/dm_dedup/parameters/$1" ||
		fail "cannot read module parameter $1"
}

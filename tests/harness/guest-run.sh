#!/bin/sh
# guest-run.sh - the in-VM half of the test runner (busybox ash; owned by
# the test infrastructure). Started by /init with /harness/plan, whose lines
# are "<id> <path under /tests> <timeout seconds>" (tab separated).
#
# Per test:
#   1. "# harness: begin <id> <name>" on the console (the host's watchdog and
#      crash attribution key off it) and a marker in the kernel log;
#   2. run the test in its own session with a timeout, output to a log;
#   3. dedup_teardown from tests/lib.sh (remove registered dedup devices,
#      run dedup_check on their metadata devices);
#   4. generic cleanup: kill leftovers, unmount, remove all dm devices,
#      rmmod dm-dedup (must succeed: a leaked reference fails the test),
#      rmmod brd, detach loop devices, kmemleak scan where available;
#   5. scan the kernel log since the marker for oops/warning patterns;
#   6. print "ok <id> - <name>" or "not ok <id> - <name>" and, for a failure,
#      the reasons and the test output indented by "#   ".
# Logs are also copied to /share/.harness/logs/ for the host.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export DM_DISABLE_UDEV=1
export HARNESS_STATE=/run/harness
PATTERN='BUG:|WARNING:|Oops|hung_task|general protection|KASAN|kmemleak|possible circular locking|INFO: lockdep|UBSAN:'
TAB=$(printf '\t')
mkdir -p "$HARNESS_STATE" /tmp/harness
logdir=/tmp/harness
[ -d /share ] && mkdir -p /share/.harness/logs 2>/dev/null && logdir=/share/.harness/logs

kmsg() { echo "$*" > /dev/kmsg; }

# Lines of the kernel log after the last line containing $1 (literal).
dmesg_after() {
	dmesg | awk -v m="$1" 'index($0, m) { buf = ""; on = 1; next }
		on { buf = buf $0 "\n" } END { printf "%s", buf }'
}

# kmemleak reports an object only when it is older than 5 s and its
# contents did not change between two scans (a first scan only records a
# checksum). Scan, let 5 s pass since the scan began, scan again: a leak is
# then reported in the test that made it, not in the next one.
kmemleak_scan() {
	local t0 now
	t0=$(cut -d. -f1 /proc/uptime)
	echo scan > /sys/kernel/debug/kmemleak
	now=$(cut -d. -f1 /proc/uptime)
	[ $((now - t0)) -ge 6 ] || sleep $((6 - (now - t0)))
	echo scan > /sys/kernel/debug/kmemleak
}

# Undo whatever a test left behind. Prints problems; returns 1 on a leak.
cleanup() {
	local rc=0 dev mnt i
	# Anything mounted from a test device.
	awk '$1 ~ "^/dev/(mapper/|dm-|ram|loop|vd)" || $2 ~ "^/mnt/" { print $2 }' \
		/proc/mounts | sort -r | while read -r mnt; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt"
	done
	# Suspended devices would block removal.
	for dev in $(dmsetup info -c --noheadings -o name,suspended 2>/dev/null |
		awk -F: '$2 == "Suspended" { print $1 }'); do
		dmsetup resume "$dev" 2>/dev/null
	done
	if [ -n "$(dmsetup ls 2>/dev/null | grep -v 'No devices found')" ]; then
		dmsetup remove_all -f >/dev/null 2>&1
		dmsetup remove_all -f >/dev/null 2>&1
		if [ -n "$(dmsetup ls 2>/dev/null | grep -v 'No devices found')" ]; then
			echo "cleanup: dm devices left that cannot be removed:"
			dmsetup ls
			rc=1
		fi
	fi
	for i in /dev/loop[0-9]*; do
		[ -b "$i" ] && losetup -d "$i" 2>/dev/null
	done
	if grep -q '^dm_dedup ' /proc/modules; then
		if ! rmmod dm-dedup 2>/tmp/harness/rmmod.err; then
			echo "cleanup: rmmod dm-dedup failed (leaked reference?):" \
				"$(cat /tmp/harness/rmmod.err)"
			grep '^dm_dedup ' /proc/modules
			rc=1
		fi
	fi
	grep -q '^dedup_warn_test ' /proc/modules && rmmod dedup_warn_test
	if grep -q '^brd ' /proc/modules && ! rmmod brd 2>/dev/null; then
		echo "cleanup: rmmod brd failed (a RAM disk is still open)"
		rc=1
	fi
	if [ -w /sys/kernel/debug/kmemleak ]; then
		kmemleak_scan
		# (debugfs files have size 0: read, do not test -s.)
		leaks=$(cat /sys/kernel/debug/kmemleak)
		if [ -n "$leaks" ]; then
			echo "kmemleak: suspected leaks:"
			echo "$leaks" | head -n 60
			rc=1
		fi
		echo clear > /sys/kernel/debug/kmemleak
	fi
	return $rc
}

# What is stuck: the blocked tasks (sysrq w) and a backtrace of every CPU
# (sysrq l), from the kernel log, into $1 and at once on the console, where
# the host shows it if the guest then stops answering (a bio that never
# completes hangs the teardown after the test's timeout). $2: why.
dump_stuck() {
	local m
	m="harness: stuck $id $(cut -d' ' -f1 /proc/uptime)"
	kmsg "$m"
	echo w > /proc/sysrq-trigger 2>/dev/null
	echo l > /proc/sysrq-trigger 2>/dev/null
	sleep 1
	dmesg_after "$m" | head -n 300 > "$1"
	echo "# harness: stuck in $id ($2); blocked tasks and CPUs:"
	sed 's/^/# harness: stuck: /' "$1"
}

# The test and its children run in a session of their own so a timeout can
# kill all of them. Sets rc and timed_out.
run_one() {
	local path=$1 tmo=$2 log=$3 tpid wpid
	rm -f /tmp/harness/timed_out /tmp/harness/stuck
	mkdir -p "/tmp/t$id"
	(cd "/tmp/t$id" && exec setsid sh "/tests/$path") >"$log" 2>&1 </dev/null &
	tpid=$!
	(
		sleep "$tmo"
		: > /tmp/harness/timed_out
		dump_stuck /tmp/harness/stuck "timed out after ${tmo}s"
		kill -TERM -"$tpid" 2>/dev/null || kill -TERM "$tpid" 2>/dev/null
		sleep 5
		kill -KILL -"$tpid" 2>/dev/null || kill -KILL "$tpid" 2>/dev/null
	) &
	wpid=$!
	wait "$tpid"
	rc=$?
	kill "$wpid" 2>/dev/null
	wait "$wpid" 2>/dev/null
	kill -KILL -"$tpid" 2>/dev/null	# leftovers in the test's session
	timed_out=0
	[ -e /tmp/harness/timed_out ] && timed_out=1
	return 0
}

# Debug kernel: what boot leaked (or kmemleak wrongly suspects) is not the
# first test's fault; report it once here and start from a clean slate.
if [ -w /sys/kernel/debug/kmemleak ]; then
	kmemleak_scan
	n=$(grep -c '^unreferenced object' /sys/kernel/debug/kmemleak)
	echo "# harness: kmemleak: $n suspected leak(s) at boot, cleared"
	echo clear > /sys/kernel/debug/kmemleak
fi
echo "# harness: start kernel $(uname -r) scale ${HARNESS_SCALE:-1} load ${HARNESS_LOAD:-full}"
if [ -r /proc/lockdep_stats ]; then
	echo "# harness: lockdep: $(grep -E '^ *debug_locks:' /proc/lockdep_stats | tr -s ' ')"
fi
while IFS="$TAB" read -r id path tmo; do
	[ -n "$id" ] || continue
	name=${path%.sh}
	log=$logdir/$id-$(echo "$name" | tr / _).log
	echo "# harness: begin $id $name"
	t0=$(cut -d' ' -f1 /proc/uptime)
	mark="harness: begin $id $name"
	kmsg "$mark"
	export HARNESS_ID=$id HARNESS_TEST=$name HARNESS_MARK="$mark"
	rm -f "$HARNESS_STATE/dedup.reg"
	# Every test starts with an empty /tmp (the harness keeps its own).
	for f in /tmp/* /tmp/.[!.]*; do
		case $f in
		/tmp/harness | "/tmp/*" | "/tmp/.[!.]*") ;;
		*) rm -rf "$f" ;;
		esac
	done

	run_one "$path" "$tmo" "$log"
	reasons=
	if [ "$timed_out" = 1 ]; then
		reasons="timed out after ${tmo}s"
	elif [ "$rc" = 77 ]; then
		:
	elif [ "$rc" -gt 128 ]; then
		reasons="exit status $rc (SIG$(kill -l $((rc - 128)) 2>/dev/null))"
	elif [ "$rc" != 0 ]; then
		reasons="exit status $rc"
	fi

	# Teardown: registered dedup devices + dedup_check, then the rest.
	# A teardown that takes minutes is stuck somewhere: say where (only
	# a dump; the host's watchdog decides).
	(
		sleep $((60 * ${HARNESS_SCALE:-1}))
		dump_stuck /tmp/harness/stuck-teardown "teardown still running"
	) &
	tdw=$!
	if ! (. /tests/lib.sh && dedup_teardown) >>"$log" 2>&1 </dev/null; then
		reasons="${reasons:+$reasons; }teardown (dedup_teardown/dedup_check) failed"
	fi
	if ! cleanup >>"$log" 2>&1 </dev/null; then
		reasons="${reasons:+$reasons; }cleanup found leftovers"
	fi
	kill "$tdw" 2>/dev/null
	wait "$tdw" 2>/dev/null

	kmsg "harness: end $id $name"
	hits=$(dmesg_after "$mark" | grep -E "$PATTERN")
	if [ -n "$hits" ]; then
		reasons="${reasons:+$reasons; }kernel log shows: $(echo "$hits" |
			grep -oE "$PATTERN" | sort -u | tr '\n' ' ')"
	fi

	# Lockdep turns itself off for good after its first report: from then
	# on no test would be checked, so every one of them says so.
	if [ -r /proc/lockdep_stats ] &&
	   grep -Eq '^ *debug_locks: *0$' /proc/lockdep_stats; then
		reasons="${reasons:+$reasons; }lockdep is off (debug_locks 0)"
	fi

	secs=$(awk -v a="$t0" '{ printf "%.0f", $1 - a }' /proc/uptime)
	if [ -z "$reasons" ]; then
		if [ "$rc" = 77 ]; then
			why=$(grep '^SKIP:' "$log" | tail -n1 | sed 's/^SKIP: *//')
			echo "ok $id - $name # SKIP ${why:-skipped}"
		else
			echo "ok $id - $name"
		fi
		echo "#   time: $secs s (with teardown)"
	else
		echo "not ok $id - $name"
		echo "#   reason: $reasons"
		echo "#   time: $secs s (with teardown)"
		if [ -n "$hits" ]; then
			echo "#   kernel log since the test started (matches marked >>):"
			# From the first match on: a lockdep or KASAN report
			# is longer than 80 lines and starts with the match.
			dmesg_after "$mark" | grep -v "harness: end $id " |
				awk -v p="$PATTERN" '$0 ~ p { on = 1 } !on { next }
					n++ >= 200 { exit }
					$0 ~ p { print "#   >> " $0; next }
					{ print "#      " $0 }'
		fi
		faults=$(dmesg_after "$mark" | grep -E 'segfault at|traps:|killed by|Out of memory' || true)
		if [ -n "$faults" ]; then
			echo "#   user-space faults in the kernel log:"
			echo "$faults" | tail -n 20 | sed 's/^/#     /'
		fi
		echo "#   test output (last 100 lines):"
		tail -n 100 "$log" | sed 's/^/#     /'
		if [ -s /tmp/harness/stuck ]; then
			echo "#   blocked tasks and CPUs at the timeout (sysrq w, l):"
			head -n 150 /tmp/harness/stuck | sed 's/^/#     /'
		fi
	fi
done < /harness/plan
echo "# harness: done"

#!/bin/bash
# run-tests.sh - host side of the test runner (owned by the test
# infrastructure); `make check` calls it after building the initramfs.
#
# Boots ONE VM that runs the guest tests in order (tests/harness/guest-run.sh
# inside), streams its "ok/not ok" lines, and watches it: a test that runs
# past its timeout (plus a margin) gets the VM killed; a VM that dies while a
# test runs (panic_on_oops) marks that test "not ok" with the console's tail.
# Either way a fresh VM continues with the remaining tests. Then the host
# tests run. Last line: exactly "N passed, N failed"; exit status 1 if any
# failed.
#
# Usage: scripts/run-tests.sh [--guest GLOB...] [--host GLOB...] [--no-host]
#          [--results FILE] [--logs DIR]
#   defaults: guest tests/*.sh (not lib.sh); host tests/host/*.sh and
#   tests/harness/selftest.sh. T=<regex> (env) selects by path under tests/.
# A test's timeout is "# timeout: N" in its first 20 lines (default 300 s),
# times VM_TIMEOUT_SCALE. A boot that never reaches the harness is tried
# again, at most VM_BOOT_RETRIES (2) times a run.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/vm-lib.sh
. "$top/scripts/vm-lib.sh"

guest_globs=()
host_globs=()
explicit_guest=0 explicit_host=0 no_host=0
results=$top/build/logs/results.tap
logs=$top/build/logs
while [ $# -gt 0 ]; do
	case $1 in
	--guest) explicit_guest=1; guest_globs+=("$2"); shift 2 ;;
	--host) explicit_host=1; host_globs+=("$2"); shift 2 ;;
	--no-host) no_host=1; shift ;;
	--results) results=$2; shift 2 ;;
	--logs) logs=$2; shift 2 ;;
	*) echo "run-tests: unknown argument $1" >&2; exit 2 ;;
	esac
done
[ $explicit_guest = 1 ] || guest_globs=("*.sh")
[ $explicit_host = 1 ] || host_globs=("host/*.sh" "harness/selftest.sh")
[ $no_host = 0 ] || host_globs=()

# list GLOB...: test paths relative to tests/, sorted within each glob,
# globs in the order given, filtered by $T.
list() {
	local g f
	for g in "$@"; do
		for f in "$top"/tests/$g; do
			[ -f "$f" ] || continue
			f=${f#"$top"/tests/}
			[ "$f" = lib.sh ] && continue
			if [ -n "${T:-}" ] && ! grep -Eq -- "$T" <<<"$f"; then
				continue
			fi
			echo "$f"
		done | LC_ALL=C sort
	done | awk '!seen[$0]++'
}

test_timeout() {
	local t
	t=$(head -n 20 "$top/tests/$1" | sed -n 's/^# *timeout: *\([0-9][0-9]*\).*/\1/p' | head -n1)
	scale "${t:-300}"
}

mapfile -t guest_tests < <(list "${guest_globs[@]}")
host_tests=()
[ ${#host_globs[@]} = 0 ] || mapfile -t host_tests < <(list "${host_globs[@]}")
total=$((${#guest_tests[@]} + ${#host_tests[@]}))
if [ "$total" = 0 ]; then
	echo "run-tests: no test selected${T:+ by T=$T}" >&2
	echo "0 passed, 0 failed"
	exit 1
fi

mkdir -p "$logs" "$VM_DIR" "$(dirname "$results")"
vm_lock run-tests
: > "$results"
passed=0 failed=0
echo "1..$total"

# record ID VERDICT NAME [DETAIL...]: count and remember one result.
record() {
	local id=$1 verdict=$2 name=$3
	if [ "$verdict" = ok ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
	printf '%s\t%s\t%s\n' "$id" "$verdict" "$name" >> "$results"
}

# ---- guest tests: as many VM boots as crashes require --------------------
declare -A tmo_of name_of result_of
ids=()
for i in "${!guest_tests[@]}"; do
	id=$((i + 1))
	ids+=("$id")
	name_of[$id]=${guest_tests[$i]}
	tmo_of[$id]=$(test_timeout "${guest_tests[$i]}")
done

# A boot takes ~10 s (the debug kernel ~40 s, scaled 4x): a boot that has
# not reached the harness by then has hung.
boot_timeout=$(scale 120)
# Boots that never reached the harness, retried up to this many times a run.
boot_retries=${VM_BOOT_RETRIES:-2}
# Grace period after a test's own timeout before the host kills the VM.
margin=$(scale "${VM_HOST_MARGIN:-90}")
boot=0
boot_retried=0
pending=("${ids[@]}")
if [ ${#guest_tests[@]} -gt 0 ]; then
	[ -f "$INITRD_BASE" ] || { echo "run-tests: $INITRD_BASE missing (make initramfs)" >&2; exit 1; }
	rm -rf "$VM_SHARE"
	mkdir -p "$VM_SHARE"
fi
while [ ${#pending[@]} -gt 0 ]; do
	boot=$((boot + 1))
	console=$logs/console-$boot.log
	# The plan travels in a second cpio archive appended to the initramfs.
	rm -rf "$VM_DIR/plan"
	mkdir -p "$VM_DIR/plan/harness"
	for id in "${pending[@]}"; do
		printf '%s\t%s\t%s\n' "$id" "${name_of[$id]}" "${tmo_of[$id]}"
	done > "$VM_DIR/plan/harness/plan"
	(cd "$VM_DIR/plan" && find . | cpio -o -H newc --quiet -R 0:0) > "$VM_DIR/plan.cpio"
	cat "$INITRD_BASE" "$VM_DIR/plan.cpio" > "$VM_DIR/initrd.cpio"

	vm_start "$VM_DIR/initrd.cpio" "$console"
	current= started=0 done=0 killed= partial=
	deadline=$(($(date +%s) + boot_timeout))
	in_diag=0
	while :; do
		if IFS= read -r -t 1 line; then
			line=$partial$line
			partial=
		else
			status=$?
			if [ $status -gt 128 ]; then
				partial=$partial$line	# timed out mid-line: keep the piece
				line=
			else
				break			# EOF: QEMU is gone
			fi
		fi
		if [ -n "$line" ]; then
			line=${line%$'\r'}
			case $line in
			"# harness: start"*)
				started=1 ;;
			"# harness: begin "*)
				set -- $line
				current=$4
				deadline=$(($(date +%s) + ${tmo_of[$current]} + margin)) ;;
			"# harness: done"*)
				done=1 current=
				deadline=$(($(date +%s) + 30)) ;;
			"ok "* | "not ok "*)
				id=${line#not }; id=${id#ok }; id=${id%% *}
				if [ -n "${name_of[$id]:-}" ] && [ -z "${result_of[$id]:-}" ]; then
					echo "$line"
					v=ok; [ "${line#not ok}" = "$line" ] || v="not ok"
					result_of[$id]=$v
					record "$id" "$v" "${name_of[$id]%.sh}"
					in_diag=1 current=
				fi ;;
			"#"*)
				[ $in_diag = 0 ] || echo "$line" ;;
			*)
				in_diag=0 ;;
			esac
		fi
		if [ "$(date +%s)" -gt "$deadline" ] && kill -0 "$VM_PID" 2>/dev/null; then
			if [ $done = 1 ]; then
				killed="did not power off"
			elif [ -n "$current" ]; then
				killed="no result within $((tmo_of[$current] + margin))s"
			else
				killed="no progress within the timeout"
			fi
			kill "$VM_PID" 2>/dev/null || true
			sleep 1
			kill -9 "$VM_PID" 2>/dev/null || true
		fi
	done < <(tail -n +1 -s 0.2 -F --pid="$VM_PID" "$console" 2>/dev/null)
	wait "$VM_PID" 2>/dev/null || true

	# Whatever was planned and has no result yet: attribute or retry.
	rest=()
	for id in "${pending[@]}"; do
		[ -z "${result_of[$id]:-}" ] || continue
		if [ "$id" = "$current" ]; then
			if [ -n "$killed" ]; then
				how="guest hung during test ${name_of[$id]%.sh} ($killed), VM killed"
			else
				how="guest died during test ${name_of[$id]%.sh}: $(grep -m1 -o 'Kernel panic - not syncing:.*' "$console" | tr -d '\r' || true)"
			fi
			echo "not ok $id - ${name_of[$id]%.sh}"
			echo "#   $how"
			# What the guest dumped when the test timed out or
			# its teardown dragged on (guest-run.sh dump_stuck).
			stuck=$(tr -d '\r' < "$console" |
				awk -v b="# harness: begin $id " 'index($0, b) == 1 { s = "" }
					/^# harness: stuck/ { s = s $0 "\n" }
					END { printf "%s", s }' | head -n 200)
			if [ -n "$stuck" ]; then
				echo "#   the guest's dump of what was stuck ($console):"
				echo "$stuck" | sed 's/^# harness: stuck: /#     /; s/^# harness: /#   /'
			fi
			echo "#   console tail ($console):"
			tail -n 40 "$console" | tr -d '\r' | sed 's/^/#     /'
			result_of[$id]="not ok"
			record "$id" "not ok" "${name_of[$id]%.sh}"
		else
			rest+=("$id")
		fi
	done
	if [ ${#rest[@]} -gt 0 ] && [ -z "$current" ] && [ "$started" = 0 ] &&
	   [ "$boot_retried" -lt "$boot_retries" ]; then
		# The kernel never got to the harness: a boot that hung (seen
		# in 2026-12-07's make check-debug, once, then twice in a row,
		# the next boot of the same kernel and initramfs fine) is no
		# test's result.
		boot_retried=$((boot_retried + 1))
		echo "# VM ${killed:-exited} before the harness started; console tail ($console):"
		tail -n 10 "$console" | tr -d '\r' | sed 's/^/#     /'
		echo "# booting once more"
	elif [ ${#rest[@]} -gt 0 ] && [ -z "$current" ]; then
		# Nothing was running, yet tests are left: the VM never got going
		# (or stopped between tests). Do not loop: fail them all.
		why="VM ${killed:-exited} before running them (started=$started)"
		echo "# $why; console tail ($console):"
		tail -n 40 "$console" | tr -d '\r' | sed 's/^/#     /'
		for id in "${rest[@]}"; do
			echo "not ok $id - ${name_of[$id]%.sh}"
			echo "#   $why"
			result_of[$id]="not ok"
			record "$id" "not ok" "${name_of[$id]%.sh}"
		done
		rest=()
	fi
	pending=("${rest[@]+"${rest[@]}"}")
	[ ${#pending[@]} = 0 ] || echo "# starting a fresh VM for the ${#pending[@]} remaining test(s)"
done

# ---- host tests -----------------------------------------------------------
id=${#guest_tests[@]}
for t in "${host_tests[@]+"${host_tests[@]}"}"; do
	id=$((id + 1))
	name=${t%.sh}
	log=$logs/host-$(tr / _ <<<"$name").log
	tmo=$(test_timeout "$t")
	rc=0
	(cd "$top" && TOP=$top VM_SHARE=$VM_SHARE BUILD=$top/build \
		timeout -k 10 "$tmo" bash "$top/tests/$t") >"$log" 2>&1 </dev/null || rc=$?
	if [ $rc = 0 ]; then
		echo "ok $id - $name"
		record "$id" ok "$name"
	elif [ $rc = 77 ]; then
		why=$(grep '^SKIP:' "$log" | tail -n1 | sed 's/^SKIP: *//')
		echo "ok $id - $name # SKIP ${why:-skipped}"
		record "$id" ok "$name"
	else
		echo "not ok $id - $name"
		if [ $rc = 124 ]; then echo "#   reason: timed out after ${tmo}s"
		else echo "#   reason: exit status $rc"; fi
		echo "#   output (last 100 lines, $log):"
		tail -n 100 "$log" | sed 's/^/#     /'
		record "$id" "not ok" "$name"
	fi
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]

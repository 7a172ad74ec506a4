#!/bin/bash
# selftest.sh - the harness checks itself (owned by the test
# infrastructure). `make check-harness` runs it alone; `make check` runs it
# as one of its host-side tests.
#
# Runs tests/harness/guest/*.sh through the real runner in the VM and
# requires: the control test "ok"; a test whose only fault is a WARN_ON in
# the kernel log (tests/modules/dedup_warn_test.ko) "not ok" with the warning
# quoted; a failed assertion "not ok" with its message; a hung test killed by
# its timeout, with the blocked tasks and CPUs the guest dumped then (also
# shown for a guest that stops answering after that); a guest crash
# reported as "guest died" and followed by a fresh VM that runs the last
# test (which also writes through the 9p share); the closing line
# "3 passed, 5 failed" and a non-zero exit status. Then a VM whose kernel
# has no init: booted once more, then its test fails, no loop.
# timeout: 600
set -eu

top=$(cd "$(dirname "$0")/../.." && pwd)
out=$top/build/logs/selftest
mkdir -p "$out"
share=$top/build/vm-share-selftest

rc=0
env -u T VM_SHARE="$share" VM_HOST_MARGIN=10 "$top/scripts/run-tests.sh" \
	--guest 'harness/guest/*.sh' --no-host \
	--results "$out/results.tap" --logs "$out" > "$out/run.txt" 2>&1 || rc=$?
cat "$out/run.txt"
echo "--- checking the harness's verdicts"

bad=0
check() {
	if eval "$2"; then
		echo "ok: $1"
	else
		echo "WRONG: $1"
		bad=1
	fi
}
verdict() { awk -F'\t' -v n="harness/guest/$1" '$3 == n { print $2 }' "$out/results.tap"; }
run=$out/run.txt

check "runner exits non-zero" '[ $rc != 0 ]'
check "control test passes" '[ "$(verdict 01-clean)" = ok ]'
check "WARN_ON caught from dmesg" \
	'[ "$(verdict 02-warn)" = "not ok" ] && grep -q "^#   >> .*WARNING:.*dedup_warn_test" "$run"'
check "failed assertion reported with its message" \
	'[ "$(verdict 03-fail)" = "not ok" ] && grep -q "deliberate mismatch" "$run"'
check "hung test killed by its timeout" \
	'[ "$(verdict 04-timeout)" = "not ok" ] && grep -Eq "timed out after [0-9]+s" "$run"'
check "hung guest killed by the host's watchdog" \
	'[ "$(verdict 05-hang)" = "not ok" ] && grep -q "guest hung during test harness/guest/05-hang" "$run"'
check "timed-out test's report has the guest's task dump" \
	'grep -q "^#   blocked tasks and CPUs at the timeout" "$run" && grep -q "^#     .*sysrq: Show Blocked State" "$run"'
check "hung guest's report has what it dumped at the timeout" \
	'grep -q "^#   the guest.s dump of what was stuck" "$run" && grep -Eq "^#   stuck in [0-9]+ \(timed out" "$run"'
check "guest crash attributed to its test" \
	'[ "$(verdict 06-crash)" = "not ok" ] && grep -q "guest died during test harness/guest/06-crash" "$run"'
check "fresh VM runs the rest" '[ "$(verdict 07-after-crash)" = ok ]'
check "lib.sh self-test passes" '[ "$(verdict 08-lib)" = ok ]'
check "9p share carries files to the host" '[ -s "$share/selftest-marker" ]'
check "final line" '[ "$(tail -n1 "$run")" = "3 passed, 5 failed" ]'

# A VM whose kernel never gets to the harness (here: no init to run, so
# it panics) is booted again (twice: VM_BOOT_RETRIES), then its tests
# fail, without looping.
rc2=0
env -u T VM_SHARE="$share" VM_APPEND="rdinit=/no-such-init" \
	"$top/scripts/run-tests.sh" --guest 'harness/guest/01-clean.sh' --no-host \
	--results "$out/noinit.tap" --logs "$out/noinit" > "$out/noinit.txt" 2>&1 || rc2=$?
cat "$out/noinit.txt"
check "a boot that never reaches the harness is retried twice, then fails" \
	'[ $rc2 != 0 ] && [ "$(grep -c "^# booting once more" "$out/noinit.txt")" = 2 ] &&
	 grep -q "^not ok 1 - harness/guest/01-clean" "$out/noinit.txt" &&
	 [ "$(tail -n1 "$out/noinit.txt")" = "0 passed, 1 failed" ]'

if [ $bad = 0 ]; then
	echo "harness self-test: PASS"
else
	echo "harness self-test: FAIL"
fi
exit $bad

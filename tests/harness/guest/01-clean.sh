#!/bin/sh
# Harness self-test, control case: the test module loads quietly (warn=0),
# so the harness must report this test "ok".
# timeout: 60
. /tests/lib.sh
modprobe dedup_warn_test warn=0 || fail "cannot load dedup_warn_test"
rmmod dedup_warn_test

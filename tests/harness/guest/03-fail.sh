#!/bin/sh
# Harness self-test: a failing assertion must give "not ok" with its message.
# timeout: 60
. /tests/lib.sh
assert_eq "1" "2" "deliberate mismatch"

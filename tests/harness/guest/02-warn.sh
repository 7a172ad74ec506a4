#!/bin/sh
# Harness self-test: the test itself succeeds, but the module's WARN_ON(1)
# lands in the kernel log; the harness must report "not ok".
# timeout: 60
. /tests/lib.sh
modprobe dedup_warn_test warn=1 || fail "cannot load dedup_warn_test"
log "loaded with warn=1; exiting 0 on purpose"

#!/bin/sh
# The module loads, registers the "dedup" target with a version, unloads
# with no reference left, and loads again.
# timeout: 120
. /tests/lib.sh

load_dedup
line=$(dmsetup targets | grep '^dedup ' || true)
assert_match "$line" '^dedup +v[0-9]+\.[0-9]+\.[0-9]+$' "dmsetup targets line"
log "registered: $line"
refs=$(awk '$1 == "dm_dedup" { print $3 }' /proc/modules)
assert_eq "$refs" 0 "dm_dedup reference count after load"

unload_dedup
if grep -q '^dm_dedup ' /proc/modules; then fail "dm_dedup still loaded"; fi
if dmsetup targets | grep -q '^dedup '; then fail "dedup target still registered"; fi

load_dedup
dmsetup targets | grep -q '^dedup ' || fail "dedup target missing after reload"
unload_dedup

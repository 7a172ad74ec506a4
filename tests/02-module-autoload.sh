#!/bin/sh
# Loading a table that names the dedup target autoloads dm-dedup through
# /sbin/modprobe (device-mapper requests "dm-dedup"), as on a real system.
# timeout: 120
. /tests/lib.sh

if grep -q '^dm_dedup ' /proc/modules; then fail "dm_dedup loaded before the test"; fi
mkbrd 1 16
# Too few arguments: refused, but only after the target type was found.
expect_table_error "0 8 dedup /dev/ram0" "Invalid argument count"
grep -q '^dm_dedup ' /proc/modules || fail "dm-dedup was not autoloaded"
unload_dedup

#!/bin/sh
# Check-debug seeded bug: two mutexes taken in both orders; lockdep must report it (expected not ok)
# Run only by make check-debug-seeded (debug kernel); the module comes from
# tests/modules/debug.
# timeout: 60
. /tests/lib.sh
modprobe dedup_debug_seed bug=lockdep || fail "cannot load dedup_debug_seed bug=lockdep"
rmmod dedup_debug_seed || fail "cannot unload dedup_debug_seed"
log "dedup_debug_seed bug=lockdep loaded and unloaded; exiting 0 on purpose"

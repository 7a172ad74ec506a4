#!/bin/sh
# Check-debug control: the seeded-bug module loads and unloads with no bug; must pass
# Run only by make check-debug-seeded (debug kernel); the module comes from
# tests/modules/debug.
# timeout: 60
. /tests/lib.sh
modprobe dedup_debug_seed || fail "cannot load dedup_debug_seed"
rmmod dedup_debug_seed || fail "cannot unload dedup_debug_seed"
log "dedup_debug_seed loaded and unloaded; exiting 0 on purpose"

#!/bin/sh
# FLUSH waits for durability: 20 power cuts (light load: 6) at random points
# of a write and flush workload lose no block that was acknowledged and
# flushed.
# timeout: 600
. /tests/lib.sh
CUTS=$(by_load 20 6) RANGE=96 PER_ROUND=16 DISCARDS=0 FEATURES=
. /tests/powercut.inc

#!/bin/sh
# FLUSH waits for durability: FLUSH_CUTS power cuts (default 10, light
# load 6; make check-crash: 40) at random points of a write and flush
# workload lose no block that was acknowledged and flushed.
# timeout: 600
. /tests/lib.sh
CUTS=${FLUSH_CUTS:-$(by_load 10 6)} RANGE=96 PER_ROUND=16 DISCARDS=0 FEATURES=
. /tests/powercut.inc

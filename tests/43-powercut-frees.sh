#!/bin/sh
# Deferred frees: heavy overwrites and discards across many commits, with
# power cuts between them (12, light load: 4), never reuse a block a durable
# mapping references.
# timeout: 600
. /tests/lib.sh
CUTS=$(by_load 12 4) RANGE=32 PER_ROUND=24 DISCARDS=1 FEATURES="max_open_mb 1"
. /tests/powercut.inc

#!/bin/sh
# Deferred frees: heavy overwrites and discards across many commits, with
# power cuts between them, never reuse a block a durable mapping references.
# timeout: 600
. /tests/lib.sh
CUTS=12 RANGE=32 PER_ROUND=24 DISCARDS=1 FEATURES="max_open_mb 1"
. /tests/powercut.inc

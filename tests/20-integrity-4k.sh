#!/bin/sh
# Data integrity with 4096-byte blocks (sha256): sequential, concurrent,
# partial (512/1536 bytes at odd sectors), overlapping and racing writes, and
# fio verify jobs all read back right, before and after remove + re-create.
# timeout: 150
. /tests/lib.sh
BS=4096
HASH=sha256
FEATURES=""
. /tests/integrity.inc

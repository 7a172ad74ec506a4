#!/bin/sh
# Data integrity with 65536-byte blocks (xxhash64): sequential, concurrent,
# partial (512/1536 bytes at odd sectors), overlapping and racing writes, and
# fio verify jobs all read back right, before and after remove + re-create.
# timeout: 150
. /tests/lib.sh
BS=65536
HASH=xxhash64
FEATURES=""
. /tests/integrity.inc

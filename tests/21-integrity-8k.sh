#!/bin/sh
# Data integrity with 8192-byte blocks (blake2b-256, verify): sequential, concurrent,
# partial (512/1536 bytes at odd sectors), overlapping and racing writes, and
# fio verify jobs all read back right, before and after remove + re-create.
# timeout: 150
. /tests/lib.sh
BS=8192
HASH=blake2b-256
FEATURES="verify"
. /tests/integrity.inc

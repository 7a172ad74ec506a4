#!/bin/sh
# ext4 on a dedup device survives power cuts (tests/fspowercut.inc): a
# file workload with fsync is cut at a random moment, EXT4_ROUNDS times
# (default 3, light load 1; make check-crash: 20). After each cut
# dedup_check passes, the journal replays, e2fsck -fn is clean, and every
# file whose fsync returned before the cut is intact.
# timeout: 600
. /tests/lib.sh

FS=ext4
ROUNDS=${EXT4_ROUNDS:-$(by_load 3 1)}
setup_ram 2 256
. /tests/fspowercut.inc

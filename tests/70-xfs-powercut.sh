#!/bin/sh
# XFS on a dedup device survives power cuts (tests/fspowercut.inc), as
# ext4 does in 45: a file workload with fsync is cut at a random moment,
# XFS_ROUNDS times (default 3, light load 1; make check-crash: 20). After
# each cut dedup_check passes, the log replays, xfs_repair -n is clean,
# and every file whose fsync returned before the cut is intact.  Data on
# a 4 GiB thin volume (mkfs.xfs wants 300 MiB at least), formatted with
# mkfs.xfs's defaults (without discard, like 45).
# timeout: 600
. /tests/lib.sh

FS=xfs
ROUNDS=${XFS_ROUNDS:-$(by_load 3 1)}
thin_data xdata $((4 * GIB)) 256
D=/dev/mapper/xdata
. /tests/fspowercut.inc

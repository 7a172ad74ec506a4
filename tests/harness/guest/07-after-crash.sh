#!/bin/sh
# Harness self-test: runs in the fresh VM after the crash; also proves the 9p
# share works by leaving a file for the host.
# timeout: 60
. /tests/lib.sh
grep -q ' /share 9p ' /proc/mounts || fail "/share is not mounted"
echo "written by $(uname -r)" > /share/selftest-marker

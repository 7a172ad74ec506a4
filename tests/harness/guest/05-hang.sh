#!/bin/sh
# Harness self-test: the guest stops answering during this test (here: the
# in-VM runner is stopped with SIGSTOP, so no verdict ever comes). The host's
# watchdog must kill the VM, report this test "not ok" and go on in a fresh
# VM. (The self-test shortens the host's grace period with VM_HOST_MARGIN.)
# timeout: 3
. /tests/lib.sh
kill -STOP "$PPID"

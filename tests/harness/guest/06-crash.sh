#!/bin/sh
# Harness self-test: the guest kernel crashes during this test; the host must
# report it "not ok" (guest died) and boot a fresh VM for the rest.
# timeout: 60
. /tests/lib.sh
echo c > /proc/sysrq-trigger
sleep 30

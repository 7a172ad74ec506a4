#!/bin/sh
# Harness self-test: a test that runs past its timeout must be killed and
# reported "not ok", and the run must go on.
# timeout: 3
. /tests/lib.sh
sleep 600

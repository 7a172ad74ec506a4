#!/bin/bash
# kver.sh - print the kernel release the build and the test VM use by
# default: the newest installed linux-headers-*-amd64 whose linux-image is
# installed too (scripts/kpick.sh kp_kver). Empty if no headers are
# installed yet (scripts/deps.sh installs them).
# shellcheck source=scripts/kpick.sh
. "$(dirname "$0")/kpick.sh"
kp_kver

#!/bin/bash
# vm-shell.sh - boot the test VM interactively (owned by the test
# infrastructure): same kernel, initramfs, disks and 9p share as `make
# check`, but /init starts a shell on the console instead of running tests.
# Tests are under /tests (run one with: sh /tests/01-module-load.sh).
# Leave with `poweroff -f` (or Ctrl-A X).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/vm-lib.sh
. "$top/scripts/vm-lib.sh"
[ -f "$INITRD_BASE" ] || { echo "vm-shell: $INITRD_BASE missing (make initramfs)" >&2; exit 1; }
mkdir -p "$VM_SHARE"
vm_start "$INITRD_BASE" /dev/null interactive

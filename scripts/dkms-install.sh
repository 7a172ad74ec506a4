#!/bin/bash
# dkms-install.sh - `make dkms-install`: register this source tree's module
# with DKMS as dm-dedup/<VERSION> (source in /usr/src/dm-dedup-<VERSION>),
# build and install it for every installed kernel that has its headers
# (/lib/modules/<release>/build), and let DKMS rebuild it after kernel
# updates (dkms.conf: AUTOINSTALL). A dm-dedup/<VERSION> already registered
# is removed first, so the source installed is always this tree's.
#
# `scripts/dkms-install.sh --remove` (make dkms-uninstall) removes every
# version from DKMS and /usr/src.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(cat "$top/VERSION")
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

if [ "${1:-}" = --remove ]; then
	for v in $(dkms status -m dm-dedup 2>/dev/null | sed -n 's|^dm-dedup/\([^,]*\),.*|\1|p' | sort -u); do
		$SUDO dkms remove -m dm-dedup -v "$v" --all
		$SUDO rm -rf "/usr/src/dm-dedup-$v"
	done
	exit 0
fi

if dpkg-query -W -f='${Status}' dm-dedup-dkms 2>/dev/null | grep -q ' installed$'; then
	echo "dkms-install: package dm-dedup-dkms is installed; remove it first" >&2
	exit 1
fi
if [ -n "$(dkms status -m dm-dedup -v "$ver" 2>/dev/null)" ]; then
	$SUDO dkms remove -m dm-dedup -v "$ver" --all
fi
$SUDO rm -rf "/usr/src/dm-dedup-$ver"
$SUDO "$top/scripts/dkms-src.sh" "/usr/src/dm-dedup-$ver"
$SUDO dkms add -m dm-dedup -v "$ver"

built=0
for d in /lib/modules/*/; do
	k=$(basename "$d")
	if [ ! -d "/lib/modules/$k/build" ]; then
		echo "dkms-install: $k: no headers (/lib/modules/$k/build), skipped"
		continue
	fi
	if ! [[ $k =~ ^6\.1\. ]]; then
		echo "dkms-install: $k: not a 6.1 kernel, skipped"
		continue
	fi
	$SUDO dkms build -m dm-dedup -v "$ver" -k "$k"
	$SUDO dkms install -m dm-dedup -v "$ver" -k "$k"
	built=$((built + 1))
done
[ "$built" -gt 0 ] || { echo "dkms-install: no 6.1 kernel with headers installed" >&2; exit 1; }
dkms status -m dm-dedup -v "$ver"

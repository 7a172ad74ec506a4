#!/bin/bash
# deps.sh - install, from Debian's packages, whatever the build and the VM
# harness need and is missing. Idempotent: prints what it installs, and
# nothing else when all is present.
#
# The linux-source-6.1 package must carry the same Debian version as the
# linux-headers package we build against (we extract persistent-data headers
# and checkpatch.pl from it).
set -euo pipefail

PKGS="linux-image-amd64 linux-headers-amd64 linux-source-6.1 qemu-system-x86
busybox-static fio dmsetup kmod cpio xz-utils gcc make libc6-dev bc
e2fsprogs gnuplot-nox util-linux"
# debug kernel build (make debug-kernel)
PKGS="$PKGS flex bison libelf-dev libssl-dev"
# host-side tool tests (tests/host: valgrind, python3 for the JSON checks)
PKGS="$PKGS valgrind python3"
# make checkpatch (checkpatch.pl needs more than perl-base)
PKGS="$PKGS perl"
# make bench-stall (bench/analyze.sh reads fio's JSON; gnuplot-nox above)
PKGS="$PKGS jq"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# The source tarball must match the headers' Debian version.
hv=$(dpkg-query -W -f='${Version}' linux-headers-amd64 2>/dev/null || true)
kv=$(ls -d /usr/src/linux-headers-*-amd64 2>/dev/null | sort -V | tail -n1)
kv=${kv#/usr/src/linux-headers-}
if [ -n "$kv" ]; then
	hpkg=$(dpkg-query -W -f='${Version}' "linux-headers-$kv" 2>/dev/null || true)
	spkg=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
	if [ -n "$hpkg" ] && [ "$hpkg" != "$spkg" ]; then
		echo "deps: installing linux-source-6.1=$hpkg to match headers $kv"
		$SUDO apt-get install -y -qq --no-install-recommends \
			"linux-source-6.1=$hpkg" >/dev/null
	fi
fi
exit 0

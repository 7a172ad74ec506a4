#!/bin/sh
# dkms-make.sh - the MAKE command of dkms.conf: build dm-dedup.ko in the
# current directory (DKMS's copy of /usr/src/dm-dedup-<version>) for one
# kernel. DKMS logs its output to make.log.
#
# The persistent-data headers come from /usr/src/linux-source-6.1.tar.xz
# (package linux-source-6.1), extracted by scripts/ksrc.sh into ./build/,
# which warns when the tarball is of another upstream release than the
# kernel's headers. DKMS copies the source afresh for every kernel, so each
# build extracts from the tarball installed at that time.
#
# Usage: sh scripts/dkms-make.sh KERNELVER KERNEL_SOURCE_DIR
set -eu
kver=${1:?kernel release}
kdir=${2:?kernel source directory}

echo "dkms-make: dm-dedup $(cat VERSION 2>/dev/null) for $kver ($kdir)"
ksrc=$(bash scripts/ksrc.sh "$kver")
[ -f "$ksrc/drivers/md/persistent-data/dm-btree.h" ] || {
	echo "dkms-make: no persistent-data headers in $ksrc" >&2
	exit 1
}
# Headers packages carry no vmlinux: no BTF for modules (as the Makefile).
btf=
[ -e "$kdir/vmlinux" ] || btf=CONFIG_DEBUG_INFO_BTF_MODULES=
exec make -C "$kdir" M="$(pwd)" KERNELRELEASE="$kver" DEDUP_KSRC="$ksrc" \
	DEDUP_WERROR=0 $btf modules

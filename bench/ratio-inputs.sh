#!/bin/bash
# ratio-inputs.sh - build (once per key, cached under build/ratio/) the
# read-only input disk of `make bench-ratio`; print its path, then the
# cache entry of the extracted linux-source tree (its linux-source-6.1/).
#
# The disk is a raw ext4 filesystem image holding the three inputs:
#   images/minimal.raw  a raw VM disk image (GPT, one partition at 1 MiB
#                       holding an ext4 root filesystem): Debian bookworm
#                       --variant=minbase with systemd-sysv and Debian's
#                       kernel (linux-image-amd64)
#   images/server.raw   the same kind of disk with --variant=standard plus
#                       openssh-server, postgresql, python3, build-essential
#                       and the kernel
#   linux-source-6.1/   the extracted /usr/src/linux-source-6.1.tar.xz
# Both disk images are sparse files: what mke2fs -d did not write is a hole.
#
# Cache entries (each with .complete written last, and info: what it holds):
#   build/ratio/img-NAME-KEY/disk.raw   KEY: hash of the recipe, the
#       package spec, the disk size and the apt source files' contents (not
#       the archive's state: remove the entry to rebuild from a newer one)
#   build/ratio/linux-source-VER/       VER: the installed package's version
#   build/ratio/inputs-KEY.img          KEY: hash of the entries above
# Older entries are left in place (remove build/ratio to reclaim the space).
#
# Environment: RATIO_MINIMAL_MB, RATIO_SERVER_MB (the disk images' sizes,
# default 2048 and 4096), RATIO_SOURCES (apt source files for mmdebstrap;
# default: the host's that name bookworm). Needs root (mmdebstrap
# --mode=root); everything else runs as any user on files.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/cache-lib.sh
. "$top/scripts/cache-lib.sh"
die() { echo "ratio-inputs: $*" >&2; exit 1; }

# Bump when the steps below change what an image holds.
RECIPE=1
MINIMAL_MB=${RATIO_MINIMAL_MB:-2048}
SERVER_MB=${RATIO_SERVER_MB:-4096}
# name|size MiB|mmdebstrap variant|packages included
IMAGES="minimal|$MINIMAL_MB|minbase|linux-image-amd64,systemd-sysv
server|$SERVER_MB|standard|linux-image-amd64,openssh-server,postgresql,python3,build-essential"
TARBALL=${RATIO_TARBALL:-/usr/src/linux-source-6.1.tar.xz}

cache=$top/build/ratio
mkdir -p "$cache"
exec 8>"$cache/.lock"
if ! flock -n 8; then
	echo "ratio-inputs: another build holds $cache/.lock; waiting" >&2
	flock 8
fi

sources=()
bookworm_sources sources "${RATIO_SOURCES:-}" ||
	die "no apt source of bookworm on this host (set RATIO_SOURCES)"

# unmounted DIR: true when nothing is mounted under DIR (mmdebstrap mounts
# /proc, /sys and /dev in its chroot; a tree removed with those mounted
# would take the host's with it).
unmounted() {
	! awk '{ print $2 }' /proc/mounts | grep -q "^$1/"
}

# build_disk DIR NAME MB VARIANT PACKAGES: DIR/disk.raw, its rootfs made
# by mmdebstrap first (kept, with rootfs.done, until the disk is made: a
# failed disk step does not download again). Output to the caller's log.
build_disk() {
	local dir=$1 name=$2 mb=$3 variant=$4 pkgs=$5 root=$1/rootfs part_start part_sectors
	if [ ! -e "$dir/rootfs.done" ]; then
		unmounted "$root" || { echo "mounts left under $root" >&2; return 1; }
		rm -rf "$root"
		mmdebstrap --mode=root --variant="$variant" --format=directory \
			--include="$pkgs" \
			--customize-hook="echo $name >\"\$1/etc/hostname\"" \
			--customize-hook="printf 'LABEL=root / ext4 errors=remount-ro 0 1\n' >\"\$1/etc/fstab\"" \
			--customize-hook="chroot \"\$1\" dpkg-query -W >'$dir/packages'" \
			bookworm "$root" "${sources[@]}" || return 1
		touch "$dir/rootfs.done"
	fi
	# A VM's disk: a GPT with one Linux partition from 1 MiB to the end,
	# its ext4 filesystem written in place by mke2fs (offset).
	rm -f "$dir/disk.raw"
	truncate -s "${mb}M" "$dir/disk.raw" || return 1
	printf 'label: gpt\nstart=2048, type=linux\n' | sfdisk -q "$dir/disk.raw" || return 1
	read -r part_start part_sectors < <(sfdisk -d "$dir/disk.raw" |
		sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\).*/\1 \2/p')
	[ -n "$part_sectors" ] || return 1
	mkfs.ext4 -q -F -L root -E offset=$((part_start * 512)) -d "$root" \
		"$dir/disk.raw" $((part_sectors / 2))k || return 1
	rm -rf "$root" "$dir/rootfs.done"
}

# disk_image NAME MB VARIANT PACKAGES: the cache entry's directory, built
# if missing.
disk_image() {
	local name=$1 mb=$2 variant=$3 pkgs=$4 key dir start
	key=$({ echo "recipe $RECIPE $name $mb $variant $pkgs"; cat "${sources[@]}"; } |
		sha256sum | cut -c1-16)
	dir=$cache/img-$name-$key
	echo "$dir"
	[ ! -e "$dir/.complete" ] || return 0
	[ "$(id -u)" = 0 ] || die "building $dir needs root (mmdebstrap --mode=root)"
	for t in mmdebstrap sfdisk mkfs.ext4; do
		command -v "$t" >/dev/null || die "$t missing (scripts/deps.sh)"
	done
	unmounted "$dir" || die "mounts left under $dir: unmount them first"
	[ -e "$dir/rootfs.done" ] || rm -rf "$dir"
	mkdir -p "$dir"
	start=$(date +%s)
	echo "ratio-inputs: building $name ($variant + $pkgs, $mb MiB disk); log $dir/build.log" >&2
	build_disk "$dir" "$name" "$mb" "$variant" "$pkgs" >>"$dir/build.log" 2>&1 ||
		{ tail -n 30 "$dir/build.log" >&2; die "building $name failed"; }
	{
		echo "name=$name"
		echo "spec=--variant=$variant --include=$pkgs"
		echo "packages=$(wc -l <"$dir/packages")"
		echo "disk_mb=$mb"
		echo "allocated_bytes=$(($(stat -c %b "$dir/disk.raw") * 512))"
		echo "build_seconds=$(($(date +%s) - start))"
	} >"$dir/info"
	touch "$dir/.complete"
	echo "ratio-inputs: $name built in $(($(date +%s) - start)) s" >&2
}

# linux_source: the extracted tree's cache entry, extracted if missing.
linux_source() {
	local ver dir
	[ -f "$TARBALL" ] || die "$TARBALL missing (scripts/deps.sh installs linux-source-6.1)"
	ver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
	[ -n "$ver" ] || ver=$(stat -c %s-%Y "$TARBALL")
	dir=$cache/linux-source-$ver
	echo "$dir"
	[ ! -e "$dir/.complete" ] || return 0
	echo "ratio-inputs: extracting $TARBALL" >&2
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -xJf "$TARBALL" -C "$dir" || die "cannot extract $TARBALL"
	[ -d "$dir/linux-source-6.1" ] || die "$TARBALL holds no linux-source-6.1/"
	echo "version=$ver" >"$dir/info"
	touch "$dir/.complete"
}

entries=()
while IFS='|' read -r name mb variant pkgs; do
	entries+=("$(disk_image "$name" "$mb" "$variant" "$pkgs")")
done <<<"$IMAGES"
src=$(linux_source)
entries+=("$src")

key=$(for e in "${entries[@]}"; do basename "$e"; done | sha256sum | cut -c1-16)
disk=$cache/inputs-$key.img
if [ ! -e "$disk.complete" ]; then
	echo "ratio-inputs: making the input disk $disk" >&2
	stage=$cache/stage-$key
	rm -rf "$stage" "$disk"
	mkdir -p "$stage/images"
	for e in "${entries[@]}"; do
		[ -f "$e/disk.raw" ] || continue
		ln "$e/disk.raw" "$stage/images/$(sed -n 's/^name=//p' "$e/info").raw"
	done
	cp -al "$src/linux-source-6.1" "$stage/"
	# Room for the data, the tree's inodes and directories, and slack.
	mb=$(du -s -B1M "$stage" | cut -f1)
	mkfs.ext4 -q -F -L ratio-inputs -N 200000 -d "$stage" "$disk" "$((mb * 11 / 10 + 512))M" >&2 ||
		die "mkfs.ext4 -d of the input disk failed"
	rm -rf "$stage"
	touch "$disk.complete"
fi
echo "$disk"
echo "$src"

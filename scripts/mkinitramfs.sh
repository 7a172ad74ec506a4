#!/bin/bash
# mkinitramfs.sh - build the test VM's initramfs (owned by the test
# infrastructure). Output: build/initramfs-$KVER.cpio (uncompressed newc:
# under TCG, copying is much cheaper than decompressing).
#
# Contents:
#   busybox-static with a symlink per applet (what `busybox --install -s`
#   makes), /sbin/modprobe included: the kernel autoloads crypto through it;
#   dmsetup, fio, mke2fs/mkfs.ext4, e2fsck, blkdiscard, mkfs.xfs,
#   xfs_repair, sqlite3, stress-ng + the libraries ldd
#   lists; guest kernel modules (with dependencies, paths kept) + depmod -b;
#   dm-dedup.ko and tests/modules/*.ko in lib/modules/$KVER/updates;
#   executables of tools/, tests/tools/ and build/host (test-only tools) in
#   /usr/local/bin; tests/ in /tests; the guest side of the harness (/init,
#   /harness/guest-run.sh).
#
# Environment: KVER (required), GUEST_MODROOT (default /: the root holding
# lib/modules/$KVER), OUT (default build/initramfs-$KVER.cpio; staged in
# ${OUT%.cpio}.d), DEDUP_KO (default ./dm-dedup.ko; "installed": the one
# depmod finds for $KVER under GUEST_MODROOT, e.g. DKMS's in
# updates/dkms), TEST_KO_DIRS (directories whose *.ko are added; default
# tests/modules), TOOLS_DIR (where the tools come from; default tools/, or
# e.g. a directory of the packaged ones).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
: "${KVER:?KVER not set}"
modroot=${GUEST_MODROOT:-/}
moddir=${modroot%/}/lib/modules/$KVER
out=${OUT:-$top/build/initramfs-$KVER.cpio}
root=${out%.cpio}.d

# Guest kernel modules. Busybox modprobe ignores softdeps, so crc32c_generic
# and crc32c-intel are listed explicitly (libcrc32c needs one of them).
MODULES="dm-mod dm-bufio dm-persistent-data dm-bio-prison dm-thin-pool
dm-flakey dm-delay dm-log-writes dm-zero dm-snapshot brd loop
virtio_pci virtio_blk crc32c_generic crc32c-intel libcrc32c
sha256-ssse3 sha256_generic blake2b_generic xxhash_generic
ext4 xfs 9p 9pnet 9pnet_virtio"
# Without these the VM cannot run the harness at all.
REQUIRED="dm-mod dm-persistent-data virtio_pci virtio_blk 9p 9pnet_virtio brd"

BINARIES="/usr/sbin/dmsetup /usr/bin/fio /usr/sbin/mke2fs /usr/sbin/e2fsck
/usr/sbin/blkdiscard /usr/sbin/mkfs.xfs /usr/sbin/xfs_repair /usr/bin/sqlite3
/usr/bin/stress-ng"

[ -d "$moddir" ] || { echo "mkinitramfs: no modules at $moddir" >&2; exit 1; }
[ -x /bin/busybox ] || { echo "mkinitramfs: busybox-static missing" >&2; exit 1; }

# Concurrent builds of one output would share the staging directory.
mkdir -p "$(dirname "$out")"
exec 9>"$out.lock"
flock 9

rm -rf "$root"
mkdir -p "$root"
cd "$root"
# Merged-/usr layout, like the host, so ldd's paths can be copied verbatim.
mkdir -p usr/bin usr/sbin usr/lib usr/lib64 usr/local/bin usr/local/sbin \
	etc proc sys dev run tmp mnt share tests harness root
ln -s usr/bin bin
ln -s usr/sbin sbin
ln -s usr/lib lib
ln -s usr/lib64 lib64

# --- busybox and its applets -------------------------------------------
cp /bin/busybox usr/bin/busybox
/bin/busybox --list-full | while read -r applet; do
	[ -e "$applet" ] || [ -L "$applet" ] || ln -s /bin/busybox "$applet"
done
[ -e sbin/modprobe ] || ln -s /bin/busybox sbin/modprobe

# --- ELF binaries with their libraries ---------------------------------
copy_libs() {
	local lib
	for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
		[ -e ".$lib" ] && continue
		mkdir -p ".$(dirname "$lib")"
		cp -L "$lib" ".$lib"
	done
}

# install_bin SRC DEST: copy an executable, replacing any busybox applet of
# the same name anywhere in PATH so the real one is always found.
install_bin() {
	local src=$1 dest=$2 name d
	name=$(basename "$dest")
	for d in bin sbin usr/bin usr/sbin; do
		if [ -L "$d/$name" ] && [ "$(readlink "$d/$name")" = /bin/busybox ]; then
			rm -f "$d/$name"
		fi
	done
	mkdir -p ".$(dirname "$dest")"
	cp -L "$src" ".$dest"
	if head -c4 "$src" | grep -q ELF; then
		copy_libs "$src"
	fi
}

for b in $BINARIES; do
	install_bin "$b" "$b"
done
for alias in mkfs.ext4 mkfs.ext2 mkfs.ext3; do
	rm -f "usr/sbin/$alias" "usr/bin/$alias"
	ln -s mke2fs "usr/sbin/$alias"
done
for alias in fsck.ext4 fsck.ext2 fsck.ext3 e2fsck; do
	[ "$alias" = e2fsck ] && continue
	rm -f "usr/sbin/$alias" "usr/bin/$alias"
	ln -s e2fsck "usr/sbin/$alias"
done
[ -e /etc/mke2fs.conf ] && cp /etc/mke2fs.conf etc/
cp /etc/ld.so.cache etc/ 2>/dev/null || true
echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd
echo 'root:x:0:' > etc/group

# --- userspace tools (tools/): every executable file at its top level ----
ntools=0
tools_dir=${TOOLS_DIR:-$top/tools}
if [ -d "$tools_dir" ]; then
	for t in "$tools_dir"/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		case "$t" in *.sh | *.py | *.pl) ;; *) head -c4 "$t" | grep -q ELF || continue ;; esac
		install_bin "$t" "/usr/local/bin/$(basename "$t")"
		ntools=$((ntools + 1))
	done
fi

# --- test-only tools (tests/tools, and tests/host helpers such as ddcorrupt
# built into build/host): every executable at their top level ------------
for t in "$top"/tests/tools/* "$top"/build/host/*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	head -c4 "$t" | grep -q ELF || continue
	install_bin "$t" "/usr/local/bin/$(basename "$t")"
	ntools=$((ntools + 1))
done

# --- kernel modules -----------------------------------------------------
dest=lib/modules/$KVER
mkdir -p "$dest"
missing=
for m in $MODULES; do
	if ! deps=$(modprobe -d "$modroot" -S "$KVER" --show-depends "$m" 2>/dev/null); then
		missing="$missing $m"
		continue
	fi
	echo "$deps" | while read -r kind path _; do
		[ "$kind" = insmod ] || continue	# "builtin <name>": nothing to copy
		rel=${path#"$moddir"/}
		mkdir -p "$dest/$(dirname "$rel")"
		cp "$path" "$dest/$rel"
	done
done
for m in $missing; do
	case " $(echo $REQUIRED) " in
	*" $m "*) echo "mkinitramfs: required module $m not found in $moddir" >&2; exit 1 ;;
	esac
	echo "mkinitramfs: warning: module $m not available for $KVER, skipped" >&2
done
for f in modules.builtin modules.builtin.modinfo modules.order; do
	[ -e "$moddir/$f" ] && cp "$moddir/$f" "$dest/"
done
mkdir -p "$dest/updates"
dedup_ko=${DEDUP_KO:-$top/dm-dedup.ko}
if [ "$dedup_ko" = installed ]; then
	dedup_ko=$(modinfo -b "$modroot" -k "$KVER" -n dm-dedup 2>/dev/null) ||
		{ echo "mkinitramfs: no dm-dedup installed for $KVER under $modroot" >&2; exit 1; }
fi
[ -f "$dedup_ko" ] && cp "$dedup_ko" "$dest/updates/dm-dedup.ko"
for d in ${TEST_KO_DIRS:-$top/tests/modules}; do
	for ko in "$d"/*.ko; do
		[ -f "$ko" ] && cp "$ko" "$dest/updates/"
	done
done
depmod -b "$root" "$KVER"

# --- tests and the guest side of the harness ----------------------------
(cd "$top/tests" && find . -path ./modules -prune -o -path ./host -prune -o \
	-path ./tools -prune -o -type f -print | cpio -pdm --quiet "$root/tests")
install -m 0755 "$top/tests/harness/init.sh" init
install -m 0755 "$top/tests/harness/guest-run.sh" harness/guest-run.sh
echo "$KVER" > harness/kver

# --- archive ----------------------------------------------------------
find . -print0 | LC_ALL=C sort -z | cpio -o -H newc --null --quiet -R 0:0 > "$out.tmp"
mv "$out.tmp" "$out"
echo "initramfs: $(du -h "$out" | cut -f1) $out (kernel $KVER, $ntools tools," \
	"dm-dedup.ko $([ -f "$dedup_ko" ] && echo "$dedup_ko" || echo MISSING))"

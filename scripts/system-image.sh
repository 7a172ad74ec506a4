#!/bin/bash
# system-image.sh - build (once per key) and locate the Debian bookworm guest
# of `make check-system`: a root filesystem image with systemd, udev,
# e2fsprogs, xfsprogs, kmod, dmsetup, lvm2, postgresql-15 and Debian's
# kernel for KVER (the
# release the module is built for, scripts/kver.sh), made with mmdebstrap
# from the host's apt sources, booted by QEMU with the image's own kernel
# and initramfs-tools initrd (root=/dev/vda, console on ttyS0).
#
# The image lives outside git, in $DM_DEDUP_CACHE (default
# /var/cache/dm-dedup) under system-image-<key>, key = hash of the package
# list, the kernel package and its version (KVER), the guest's driver below
# and RECIPE (bumped when the steps change). Layout of that directory:
#   root.img      raw ext4 image of the root filesystem (sparse, 3 GiB):
#                 boot it through a qcow2 overlay, never write it
#   vmlinuz, initrd.img   the image's /boot/vmlinuz-KVER, initrd.img-KVER
#   packages      dpkg -l of the image
#   build-seconds wall time of the build that produced it
#   build.log     mmdebstrap's output
#   .complete     written last; without it the cache entry is not usable
#
# The guest runs, at every boot, the one-shot check-system-driver.service:
# if QEMU shares a 9p directory tagged "share", it is mounted at /share and
# /share/guest.sh runs (scripts/check-system-guest.sh); otherwise nothing.
#
# Usage:
#   system-image.sh          build if needed, then print the variables below
#   system-image.sh --env    print them only if the image exists (else exit 1)
#   system-image.sh --dir    print the cache directory for this key
# Printed variables (shell syntax, for eval):
#   SYSTEM_IMAGE_DIR ROOT_IMAGE KERNEL_IMAGE INITRD_IMAGE KERNEL_RELEASE
# Environment: DM_DEDUP_CACHE, KVER, SYSTEM_IMAGE_SOURCES (apt source files
# for mmdebstrap; default: the host's that name bookworm suites).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cache-lib.sh
. "$here/cache-lib.sh"
cache_root=${DM_DEDUP_CACHE:-/var/cache/dm-dedup}
die() { echo "system-image: $*" >&2; exit 1; }

KVER=${KVER:-$("$here/kver.sh")}
[ -n "$KVER" ] || die "no kernel release (run scripts/deps.sh)"

# What the guest needs: an init and udev, the filesystems and device-mapper
# tools, the kernel the module is built for (its initramfs-tools initrd),
# dbus for logind, mawk for the guest script, lvm2 for the device that the
# monitor grows with lvextend, PostgreSQL 15 for the database that must
# keep every acknowledged commit across hard resets. No compiler: the module is
# built on the host for the same KVER (scripts/check-system.sh).
# Bump when the steps below change in a way that changes the image.
RECIPE=1

PACKAGES="systemd systemd-sysv udev dbus e2fsprogs xfsprogs kmod dmsetup
lvm2 initramfs-tools mawk postgresql-15"

# The guest's side of the driver: run /share/guest.sh if the host shares it.
DRIVER=$(cat <<'EOF'
#!/bin/sh
# check-system-driver - at boot, run the test script the host shares over
# 9p (make check-system); nothing when there is no share.
modprobe -q 9pnet_virtio 2>/dev/null
modprobe -q 9p 2>/dev/null
mkdir -p /share
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share 2>/dev/null || exit 0
[ -x /share/guest.sh ] || exit 0
exec /share/guest.sh
EOF
)
DRIVER_UNIT=$(cat <<'EOF'
[Unit]
Description=check-system test driver (runs /share/guest.sh if shared)
After=multi-user.target

[Service]
Type=exec
ExecStart=/usr/local/sbin/check-system-driver
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
)

# The kernel: the host's linux-image-KVER version (the headers the module
# is built against), if the archive still has it; else the archive's
# newest of the same release, whose vermagic is the same.
kpkg=linux-image-$KVER
hostver=$(dpkg-query -W -f='${Version}' "linux-headers-$KVER" 2>/dev/null || true)
kver_pin=
if [ -n "$hostver" ] &&
   apt-cache madison "$kpkg" 2>/dev/null | awk -F'|' '{ gsub(/ /, "", $2); print $2 }' |
	grep -qxF "$hostver"; then
	kver_pin=$hostver
fi
kernel_spec=$kpkg${kver_pin:+=$kver_pin}

key=$({ echo "recipe $RECIPE"; echo "packages $PACKAGES"; echo "kernel $kernel_spec"
	echo "$DRIVER"; echo "$DRIVER_UNIT"; } |
	sha256sum | cut -c1-16)
dir=$cache_root/system-image-$key

print_env() {
	echo "SYSTEM_IMAGE_DIR=$dir"
	echo "ROOT_IMAGE=$dir/root.img"
	echo "KERNEL_IMAGE=$dir/vmlinuz"
	echo "INITRD_IMAGE=$dir/initrd.img"
	echo "KERNEL_RELEASE=$KVER"
}

case "${1:-}" in
--dir) echo "$dir"; exit 0 ;;
--env)
	[ -e "$dir/.complete" ] || exit 1
	print_env; exit 0 ;;
"") ;;
*) die "unknown argument $1" ;;
esac

if [ -e "$dir/.complete" ]; then
	print_env
	exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (mmdebstrap --mode=root, mkfs.ext4 -d)"
# What only this target needs, installed here rather than by scripts/deps.sh
# for every make target.
for t in mmdebstrap:mmdebstrap qemu-img:qemu-utils; do
	command -v "${t%%:*}" >/dev/null && continue
	echo "system-image: installing ${t#*:}" >&2
	apt-get install -y -qq "${t#*:}" >/dev/null || die "cannot install ${t#*:}"
done
for t in mmdebstrap qemu-img mkfs.ext4; do
	command -v "$t" >/dev/null || die "$t missing"
done
if [ -z "$(apt-cache madison "$kpkg" 2>/dev/null)" ]; then
	echo "system-image: apt knows no $kpkg; apt-get update" >&2
	apt-get update -qq
	apt-cache madison "$kpkg" | grep -q . ||
		die "the archive has no $kpkg (the module's KVER): update the headers (scripts/deps.sh)"
fi
[ -n "$kver_pin" ] || echo "system-image: $kpkg $hostver is gone from the archive; using its newest (same vermagic)" >&2

sources=()
bookworm_sources sources "${SYSTEM_IMAGE_SOURCES:-}" ||
	die "no apt source of bookworm on this host (set SYSTEM_IMAGE_SOURCES)"

mkdir -p "$cache_root"
if cache_claim "$dir" system-image; then
	print_env
	exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
log=$dir/build.log
start=$(date +%s)
echo "system-image: building $dir (log: $log), kernel $kernel_spec, sources ${sources[*]}" >&2

echo "$DRIVER" >"$dir/driver"
echo "$DRIVER_UNIT" >"$dir/driver.service"
rootdir=$dir/rootfs
{
	mmdebstrap --mode=root --variant=apt --format=directory \
		--include="$(echo "$PACKAGES" | tr -s ' \n' ',')$kernel_spec" \
		--customize-hook="echo dedup-guest >\"\$1/etc/hostname\"" \
		--customize-hook="printf '/dev/vda / ext4 errors=remount-ro 0 1\n' >\"\$1/etc/fstab\"" \
		--customize-hook="chroot \"\$1\" passwd -d root" \
		--customize-hook="mkdir -p \"\$1/var/log/journal\" \"\$1/usr/local/sbin\"" \
		--customize-hook="install -m 0755 '$dir/driver' \"\$1/usr/local/sbin/check-system-driver\"" \
		--customize-hook="install -m 0644 '$dir/driver.service' \"\$1/etc/systemd/system/check-system-driver.service\"" \
		--customize-hook="chroot \"\$1\" systemctl enable check-system-driver.service" \
		--customize-hook="chroot \"\$1\" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer" \
		--customize-hook="chroot \"\$1\" dpkg -l >'$dir/packages'" \
		bookworm "$rootdir" "${sources[@]}"
	cp "$rootdir/boot/vmlinuz-$KVER" "$dir/vmlinuz"
	cp "$rootdir/boot/initrd.img-$KVER" "$dir/initrd.img"
	# mke2fs copies the tree in: no loop device, no mount.
	rm -f "$dir/root.img"
	mkfs.ext4 -q -L root -d "$rootdir" "$dir/root.img" 3G
	rm -rf "$rootdir"
} >>"$log" 2>&1 || { tail -n 30 "$log" >&2; die "build failed; see $log"; }

end=$(date +%s)
echo $((end - start)) >"$dir/build-seconds"
touch "$dir/.complete"
echo "system-image: built in $((end - start)) s ($(du -sh "$dir/root.img" | cut -f1) used of 3 GiB)" >&2
print_env

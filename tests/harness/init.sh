#!/bin/sh
# /init of the test VM (busybox ash; owned by the test infrastructure).
# Mounts the pseudo filesystems and the host share, loads the base kernel
# modules, then hands over to /harness/guest-run.sh, which runs the tests
# listed in /harness/plan. With no plan it starts a shell on the console
# (make vm-shell). Powers the VM off at the end; QEMU runs with -no-reboot and
# the kernel with panic=-1, so a crash also ends QEMU at once.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=vt100
# No udev in the VM: let libdevmapper create /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /dev/mapper
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs tmpfs /run
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
hostname dedup-vm
echo /sbin/modprobe > /proc/sys/kernel/modprobe

# Busybox modprobe ignores softdeps: order matters here.
# crc32c-intel first where the CPU has it, as on real machines.
for m in crc32c-intel crc32c_generic virtio_pci virtio_blk 9pnet_virtio 9p dm-mod \
	dm-persistent-data; do
	modprobe "$m" || echo "# init: modprobe $m failed"
done
# Crypto the module asks for by name; load the fast sha256 explicitly.
for m in sha256-ssse3 blake2b_generic xxhash_generic; do
	modprobe "$m" 2>/dev/null
done

if mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 share /share; then
	:
else
	echo "# init: could not mount the 9p share at /share"
fi

if [ -s /harness/plan ]; then
	/harness/guest-run.sh
else
	echo "# init: no test plan; shell on the console, 'poweroff -f' to quit"
	setsid cttyhack sh
fi
sync
poweroff -f

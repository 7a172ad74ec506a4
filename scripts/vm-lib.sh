# shellcheck shell=bash
# vm-lib.sh - sourced by the host-side scripts that boot the test VM (owned
# by the test infrastructure). One place for the QEMU command line.
#
# Settings (environment):
#   KVER              guest kernel release (default: scripts/kver.sh)
#   GUEST_KERNEL      kernel image (default /boot/vmlinuz-$KVER)
#   VM_ACCEL          tcg (default) or kvm
#   VM_MEM, VM_SMP    3072 MiB, 2 CPUs
#   VM_DISK_SIZE      size of the two sparse virtio disks (default 2G)
#   VM_TIMEOUT_SCALE  multiplies every timeout (default 1)
#   VM_LOAD           full (default) or light: the size of the tests'
#                     workloads (tests/lib.sh by_load; light for the slow
#                     debug kernel)
#   VM_LOCK           the machine-wide lock file (see vm_lock)
#   VM_APPEND         extra kernel arguments
#   VM_QEMU_ARGS      extra QEMU arguments (e.g. throttled drives)
#   VM_MONITOR        a path: QEMU's human monitor listens on that unix
#                     socket (bench/tcg-flushes.pl reads it)
#   VM_DIR            scratch files of the VM (default build/vm)
#   INITRD_BASE       initramfs (default build/initramfs-$KVER.cpio)
# Files: $VM_DIR/disk0.img, disk1.img (recreated per boot), the 9p share
# VM_SHARE (default build/vm-share; mounted at /share in the guest, emptied
# when a run starts, kept between its boots for the host tests).

top=${top:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
if [ -z "${KVER:-}" ]; then
	KVER=$("$top/scripts/kver.sh")
fi
GUEST_KERNEL=${GUEST_KERNEL:-/boot/vmlinuz-$KVER}
VM_ACCEL=${VM_ACCEL:-tcg}
VM_MEM=${VM_MEM:-3072}
VM_SMP=${VM_SMP:-2}
VM_DISK_SIZE=${VM_DISK_SIZE:-2G}
VM_TIMEOUT_SCALE=${VM_TIMEOUT_SCALE:-1}
VM_LOAD=${VM_LOAD:-full}
VM_DIR=${VM_DIR:-$top/build/vm}
VM_SHARE=${VM_SHARE:-$top/build/vm-share}
INITRD_BASE=${INITRD_BASE:-$top/build/initramfs-$KVER.cpio}

# scale SECONDS: apply VM_TIMEOUT_SCALE (may be fractional).
scale() {
	awk -v s="$1" -v f="$VM_TIMEOUT_SCALE" 'BEGIN { printf "%d\n", s * f + 0.999 }'
}

# vm_lock WHO: one VM run at a time on this machine (VM_LOCK, default
# /tmp/dm-dedup-vm.lock, shared by every checkout): the VM's disks, plan and
# share are per tree, but two TCG VMs on a small machine slow each other
# down enough to turn timeouts and benchmarks into noise. Waits (saying so,
# as WHO) while another run holds it; a nested run (the harness self-test)
# inherits the lock. The lock is held on fd 9 until the calling script exits.
vm_lock() {
	[ -z "${DEDUP_VM_LOCK_HELD:-}" ] || return 0
	exec 9>"${VM_LOCK:-/tmp/dm-dedup-vm.lock}"
	if ! flock -n 9; then
		echo "$1: another VM run holds ${VM_LOCK:-/tmp/dm-dedup-vm.lock}; waiting" >&2
		flock 9
	fi
	export DEDUP_VM_LOCK_HELD=1
}

# The kernel image may be readable by root only (Debian installs 0600).
vm_kernel() {
	if [ -r "$GUEST_KERNEL" ]; then
		echo "$GUEST_KERNEL"
	else
		sudo cat "$GUEST_KERNEL" > "$VM_DIR/vmlinuz"
		echo "$VM_DIR/vmlinuz"
	fi
}

# vm_start INITRD CONSOLE_LOG [interactive]: boot the VM. In the background
# with the serial console written to CONSOLE_LOG (sets VM_PID), or, when the
# third argument is "interactive", in the foreground on this terminal.
vm_start() {
	local initrd=$1 console=$2 mode=${3:-} kernel i
	local -a args
	mkdir -p "$VM_DIR" "$VM_SHARE"
	kernel=$(vm_kernel)
	for i in 0 1; do
		rm -f "$VM_DIR/disk$i.img"
		truncate -s "$VM_DISK_SIZE" "$VM_DIR/disk$i.img"
	done
	# norandmaps: TCG keys translated code by virtual address, so with
	# ASLR every new process has its code translated anew.  The harness's
	# samplers start a few processes a second, which filled QEMU's 1 GiB
	# translation cache every ~7 minutes; each flush stops all vCPUs for
	# ~0.1 s, a write gap no target caused (doc/performance.md).  Without
	# it the cache grew 2.3 MB/s; with it, 6 KB/s.
	args=(-accel "$VM_ACCEL" -cpu max -smp "$VM_SMP" -m "$VM_MEM"
		-nographic -no-reboot -nic none
		-kernel "$kernel" -initrd "$initrd"
		-append "console=ttyS0 panic=-1 panic_on_oops=1 quiet loglevel=3 \
log_buf_len=8M mitigations=off norandmaps hung_task_timeout_secs=$(scale 60) \
HARNESS_SCALE=$VM_TIMEOUT_SCALE HARNESS_LOAD=$VM_LOAD ${VM_APPEND:-}"
		-virtfs "local,path=$VM_SHARE,mount_tag=share,security_model=none,id=share")
	for i in 0 1; do
		args+=(-drive "file=$VM_DIR/disk$i.img,if=none,id=vd$i,format=raw,discard=unmap,detect-zeroes=unmap,cache=unsafe"
			-device "virtio-blk-pci,drive=vd$i")
	done
	if [ -n "${VM_MONITOR:-}" ]; then
		rm -f "$VM_MONITOR"
		args+=(-chardev "socket,id=hmp,path=$VM_MONITOR,server=on,wait=off"
			-mon chardev=hmp,mode=readline)
	fi
	# shellcheck disable=SC2206
	args+=(${VM_QEMU_ARGS:-})
	if [ "$mode" = interactive ]; then
		qemu-system-x86_64 "${args[@]}"
		return
	fi
	: > "$console"
	qemu-system-x86_64 "${args[@]}" -serial "file:$console" -monitor none \
		</dev/null >"$VM_DIR/qemu.out" 2>&1 &
	VM_PID=$!
}

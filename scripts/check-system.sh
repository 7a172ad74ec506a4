#!/bin/bash
# check-system.sh - `make check-system`: dm-dedup as a real block stack in
# a Debian bookworm guest under systemd (scripts/system-image.sh), driven
# boot by boot from the host. The guest (scripts/check-system-guest.sh,
# shared over 9p) installs the dm-dedup-tools package of `make deb` and the
# dm-dedup.ko built here for the guest's kernel, writes /etc/deduptab and an
# fstab entry for ext4 on /dev/mapper/dd0 over two qcow2 virtio disks
# (metadata, and a thin 8 GiB data disk), and a deduptab line for dd1 on
# LVM on a third disk (1 MiB of metadata, grown by the monitor), then:
#   boot 2     fills dd1 until the kernel's low-water event: the packaged
#              dedup-monitor.service logs it, runs dd1's grow command
#              (lvextend) and reloads dd1, which takes the space online;
#              every later boot finds dd1 attached, grown, its data intact;
#   boots 2-4  follow a clean `systemctl reboot`: the device was attached and
#              mounted before local-fs.target, the last shutdown detached it
#              and saved the index (index_state loading or ready at attach,
#              never rebuilding), every file is intact, rewriting old files
#              makes dedup_hits grow;
#   boots 5-9  follow QEMU killed mid-write (after boots 4-8: 5 hard
#              resets): the fsynced files are intact, the index rebuilds
#              (rebuilding at attach, then ready) and dedup recovers;
#   boot 9     ends with umount, a clean detach and the packaged dedup_check
#              in the guest.
# PostgreSQL 15's cluster lives on dd0's ext4 from boot 1. Every boot that
# ends in a reboot commits 200 transactions, every killed one commits until
# the kill; each acknowledged commit reaches the host over the guest's
# second serial port (build/system/pg-acks-N.log, then share/pg-acked), and
# every later boot checks that all of them are there, none in part, and
# that pg_amcheck is clean.
# Between boots, with no guest running, this script runs dedup_check
# --data-dev on the disks (after a kill: the very metadata the kill left,
# before the next boot attaches it) and reads the superblock's saved-index
# record with dedup_dump: valid after each clean shutdown, stale or none
# after each kill.
# Every boot also checks `systemctl --failed` and the journal of our units.
# SYSTEM_PG_SYNCHRONOUS_COMMIT=off sets PostgreSQL's synchronous_commit off:
# commits are acknowledged before their WAL is durable, and the check of
# the acknowledged commits after a kill should fail.
# Output: "ok N - ..." / "not ok N - ..." lines, then "N passed, N failed";
# exit status 1 if any check failed. Files: build/system (console logs,
# the guest's results and trace, the disks).
#
# Module rather than DKMS in the guest: DKMS would need gcc, the headers
# and linux-source-6.1 in the image and minutes of compiling under TCG at
# the first boot; make check-packages already proves the DKMS build, and
# the module here is built from the same tree for the same KVER.
#
# Needs root (mmdebstrap). Takes the machine-wide VM lock (vm-lib.sh).
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
# shellcheck source=scripts/vm-lib.sh
. "$top/scripts/vm-lib.sh"
export KVER

out=$top/build/system
share=$out/share
ver=$(cat VERSION)
arch=$(dpkg --print-architecture)
deb=$top/build/deb/dm-dedup-tools_${ver}_$arch.deb
ko=${DEDUP_KO:-$top/dm-dedup.ko}
mem=${SYSTEM_VM_MEM:-2560}
# PostgreSQL's synchronous_commit: "off" acknowledges commits before their
# WAL is flushed, to show that the acknowledged-commit check can fail
pg_sync=${SYSTEM_PG_SYNCHRONOUS_COMMIT:-on}
boot_timeout=$(scale "${SYSTEM_BOOT_TIMEOUT:-900}")
start=$(date +%s)

passed=0 failed=0 n=0
ok() { n=$((n + 1)); passed=$((passed + 1)); echo "ok $n - $*"; }
notok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
finish() {
	echo "# check-system: $(($(date +%s) - start)) s in all (logs: $out)"
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}

rm -rf "$out"
mkdir -p "$share"

# ---- the image, the package, the module ---------------------------------
t0=$(date +%s)
if env=$(scripts/system-image.sh); then
	eval "$env"
	ok "Debian bookworm image for $KVER ($SYSTEM_IMAGE_DIR, $(($(date +%s) - t0)) s)"
else
	notok "Debian bookworm image for $KVER (scripts/system-image.sh)"
	finish
fi
if [ -f "$deb" ] && [ -f "$ko" ] &&
   modinfo -F vermagic "$ko" | grep -q "^$KVER "; then
	ok "$(basename "$deb") and dm-dedup.ko for $KVER"
else
	notok "$deb (make deb) and $ko built for $KVER (make module): $(modinfo -F vermagic "$ko" 2>&1)"
	finish
fi
cp "$deb" "$ko" "$share/"
install -m 0755 scripts/check-system-guest.sh "$share/guest.sh"
echo "$pg_sync" >"$share/pg-synchronous-commit"
if ! { qemu-img create -q -f qcow2 -b "$ROOT_IMAGE" -F raw "$out/root.qcow2" &&
	qemu-img create -q -f qcow2 "$out/meta.qcow2" 256M &&
	qemu-img create -q -f qcow2 "$out/data.qcow2" 8G &&
	qemu-img create -q -f qcow2 "$out/lvm.qcow2" 1G; }; then
	notok "qemu-img create the guest's disks"
	finish
fi

# ---- boots ----------------------------------------------------------------
# host_check AFTER SAVED: with no guest running, the metadata and data
# disks as they are now: dedup_check (built here) with --data-dev passes,
# and dedup_dump's "saved index" is SAVED: "valid" after a clean shutdown
# (the detach saved the index of the last transaction), "stale|none" after
# a kill (the next attach must rebuild it).
host_check() {
	local after=$1 saved=$2 log=$out/dedup_check-$1.log idx
	if qemu-img convert -O raw "$out/meta.qcow2" "$out/meta.raw" &&
	   qemu-img convert -O raw "$out/data.qcow2" "$out/data.raw" &&
	   tools/dedup_check --data-dev "$out/data.raw" "$out/meta.raw" >"$log" 2>&1; then
		ok "$after: dedup_check --data-dev passes on the disks"
	else
		notok "$after: dedup_check --data-dev passes on the disks"
		tail -n 20 "$log" | sed 's/^/#   /'
	fi
	idx=$(tools/dedup_dump "$out/meta.raw" 2>&1 | sed -n 's/^  saved index *//p')
	if echo "$idx" | grep -Eq "^($saved)"; then
		ok "$after: the metadata's saved index is $saved ($idx)"
	else
		notok "$after: the metadata's saved index is $saved (dedup_dump: ${idx:-nothing})"
	fi
	rm -f "$out/meta.raw" "$out/data.raw"
}

# pg_acks BOOT: the transaction ids PostgreSQL's client acknowledged in
# BOOT (lines "pg-ack TXN end" on the guest's second serial port) are
# appended to the share's pg-acked, which every later boot checks; prints
# their number. A line cut short by the kill has no "end" and is not counted.
pg_acks() {
	local log=$out/pg-acks-$1.log ids
	ids=$(tr -d '\r' <"$log" 2>/dev/null | sed -n 's/^pg-ack \([0-9][0-9]*\) end$/\1/p')
	if [ -z "$ids" ]; then
		echo 0
	else
		echo "$ids" >>"$share/pg-acked"
		echo "$ids" | wc -l
	fi
}

# boot N EXPECT THEN: one QEMU run of the guest; reports its lines.
boot() {
	local b=$1 expect=$2 then=$3 console=$out/console-$1.log pid t deadline
	local killed=0 timedout=0 line throttle='' acks
	# After a kill the attach rebuilds the index from the fingerprints on
	# the metadata disk; at this size that takes a fraction of a second, so
	# the probe right after the attach could miss it. Reads of that disk
	# are held to 40 per second in those boots (a slow metadata device),
	# which makes the rebuild last seconds.
	[ "$expect" != rebuilt ] || throttle=,throttling.iops-read=40
	echo "$b $expect $then" >"$share/plan"
	rm -f "$share/results-$b"
	: >"$console"
	t=$(date +%s)
	qemu-system-x86_64 -accel "$VM_ACCEL" -cpu max -smp "$VM_SMP" -m "$mem" \
		-nographic -no-reboot -nic none \
		-kernel "$KERNEL_IMAGE" -initrd "$INITRD_IMAGE" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 mitigations=off norandmaps" \
		-virtfs "local,path=$share,mount_tag=share,security_model=none,id=share" \
		-drive "file=$out/root.qcow2,if=none,id=root,format=qcow2" \
		-device virtio-blk-pci,drive=root \
		-drive "file=$out/meta.qcow2,if=none,id=meta,format=qcow2,discard=unmap$throttle" \
		-device virtio-blk-pci,drive=meta,serial=ddmeta \
		-drive "file=$out/data.qcow2,if=none,id=data,format=qcow2,discard=unmap" \
		-device virtio-blk-pci,drive=data,serial=dddata \
		-drive "file=$out/lvm.qcow2,if=none,id=lvm,format=qcow2,discard=unmap" \
		-device virtio-blk-pci,drive=lvm,serial=ddlvm \
		-serial "file:$console" -serial "file:$out/pg-acks-$b.log" -monitor none \
		</dev/null >"$out/qemu-$b.out" 2>&1 &
	pid=$!
	deadline=$((t + boot_timeout))
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$then" = crash ] && grep -qx '# crash-ready' "$share/results-$b" 2>/dev/null; then
			sleep $((2 + RANDOM % 4))
			kill -KILL "$pid"
			killed=1
			break
		fi
		if grep -q 'You are in emergency mode' "$console"; then
			kill -KILL "$pid"
			timedout=1
			break
		fi
		if [ "$(date +%s)" -gt "$deadline" ]; then
			kill -KILL "$pid"
			timedout=1
			break
		fi
		sleep 1
	done
	wait "$pid" 2>/dev/null
	echo "# boot $b ($expect, then $then): $(($(date +%s) - t)) s"
	acks=$(pg_acks "$b")
	echo "# boot $b: $acks PostgreSQL commits acknowledged over the serial port"
	# the guest's lines, numbered here
	if [ -f "$share/results-$b" ]; then
		while IFS= read -r line; do
			case $line in
			"ok - "*) ok "${line#ok - }" ;;
			"not ok - "*) notok "${line#not ok - }" ;;
			"# done"|"# crash-ready") ;;
			"#"*) echo "#   ${line#"# "}" ;;
			esac
		done <"$share/results-$b"
	fi
	if [ "$timedout" = 1 ]; then
		notok "boot $b: the guest was done within $boot_timeout s, not in emergency mode (killed; console: $console)"
		tail -n 30 "$console" | sed 's/^/#   /'
	elif [ "$then" = crash ]; then
		if [ "$killed" = 1 ] && [ "$acks" -gt 0 ]; then
			ok "boot $b: QEMU killed mid-write, after $acks acknowledged PostgreSQL commits"
		else
			notok "boot $b: the guest got to its writes and commits before QEMU exited ($acks acknowledged; console: $console)"
			tail -n 30 "$console" | sed 's/^/#   /'
		fi
	elif grep -qx '# done' "$share/results-$b" 2>/dev/null; then
		ok "boot $b: the guest finished and QEMU exited on its $then"
	else
		notok "boot $b: the guest finished its checks (console: $console)"
		tail -n 30 "$console" | sed 's/^/#   /'
	fi
}

t0=$(date +%s)
vm_lock check-system
echo "# check-system: waited $(($(date +%s) - t0)) s for the VM lock"
boot 1 setup reboot
host_check "after boot 1 (reboot)" valid
boot 2 clean reboot
host_check "after boot 2 (reboot)" valid
boot 3 clean reboot
host_check "after boot 3 (reboot)" valid
boot 4 clean crash
host_check "after boot 4 (QEMU killed)" 'stale|none'
for b in 5 6 7 8; do
	boot $b rebuilt crash
	host_check "after boot $b (QEMU killed)" 'stale|none'
done
boot 9 rebuilt final
host_check "after boot 9 (detach, poweroff)" valid
total=$(wc -l <"$share/pg-acked" 2>/dev/null || echo 0)
echo "# check-system: $total acknowledged PostgreSQL commits, 5 hard resets"
finish

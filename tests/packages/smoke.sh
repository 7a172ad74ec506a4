#!/bin/sh
# Smoke test of the installed Debian packages, run by make check-packages
# (scripts/check-packages.sh), not by make check: the dm-dedup.ko in this
# initramfs is the one DKMS built on the host and dedup_check/dedup_stats
# are the packaged ones (sha256 sums on the kernel command line); the
# module loads, deduplicates duplicate writes, reads the data back before
# and after re-creating the device, and the metadata passes dedup_check.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

# arg NAME: the value of NAME=... on the kernel command line.
arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

for a in pkg_ko_sha256 pkg_dedup_check_sha256 pkg_dedup_stats_sha256 \
	pkg_modversion pkg_version; do
	[ -n "$(arg $a)" ] || fail "no $a= on the kernel command line"
done
ko=/lib/modules/$(uname -r)/updates/dm-dedup.ko
[ -f "$ko" ] || fail "$ko missing"
assert_eq "$(sha "$ko")" "$(arg pkg_ko_sha256)" "dm-dedup.ko is the module DKMS built"
assert_eq "$(find /lib/modules -name 'dm-dedup.ko*' | wc -l)" 1 \
	"dm-dedup.ko files in the initramfs"
for t in dedup_check dedup_stats; do
	command -v $t >/dev/null || fail "$t is not in the initramfs"
	assert_eq "$(sha "$(command -v $t)")" "$(arg "pkg_${t}_sha256")" "$t is the packaged one"
done

load_dedup
# The host read the version with modinfo ("-": the module has none).
if [ "$(arg pkg_modversion)" != - ]; then
	assert_eq "$(cat /sys/module/dm_dedup/version)" "$(arg pkg_modversion)" \
		"module version"
	assert_eq "$(arg pkg_modversion)" "$(arg pkg_version)" \
		"MODULE_VERSION against the package version"
else
	log "note: the module has no MODULE_VERSION yet; version not compared"
fi

# NU distinct blocks, each written COPIES times, and NZ zero blocks.
NU=64 COPIES=3 NZ=8 BS=4096
mkbrd 2 64
dedup_create smoke /dev/ram0 /dev/ram1 $BS sha256
DEV=/dev/mapper/smoke
rndfile /tmp/u $((NU * BS))
: > /tmp/img
i=0
while [ $i -lt $COPIES ]; do
	cat /tmp/u >> /tmp/img
	i=$((i + 1))
done
dd if=/dev/zero bs=$BS count=$NZ status=none >> /tmp/img
len=$(wc -c < /tmp/img)
put /tmp/img 0 $DEV 0 "$len"
cmp_model $DEV /tmp/img 0 "$len" "data before the commit"
dedup_commit smoke
expect_status smoke "after writing" mode=rw mapped=$((NU * COPIES)) unique=$NU \
	dedup_hits=$((NU * (COPIES - 1))) zero=$NZ data_used=$NU
dedup_stats smoke
dedup_stats --json smoke > /tmp/s.json
grep -q "\"saved_bytes\": $((NU * (COPIES - 1) * BS))," /tmp/s.json ||
	fail "dedup_stats: saved bytes: $(cat /tmp/s.json)"

dmsetup remove smoke
dedup_create smoke /dev/ram0 /dev/ram1 $BS sha256
cmp_model $DEV /tmp/img 0 "$len" "data after re-creating the device"
expect_status smoke "after re-creating" mapped=$((NU * COPIES)) unique=$NU zero=$NZ

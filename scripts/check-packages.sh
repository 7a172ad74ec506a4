#!/bin/bash
# check-packages.sh - `make check-packages`: the Debian packages work as a
# user gets them. Steps, each reported "ok N - what" / "not ok N - what":
#   1. make deb: build/deb holds dm-dedup-dkms_<VERSION>_all.deb and
#      dm-dedup-tools_<VERSION>_<arch>.deb;
#   2. apt-get install ./build/deb/*.deb on this machine (dm-dedup-dkms is
#      purged first, so DKMS builds afresh; a DKMS registration made by
#      `make dkms-install` is removed too);
#   3. DKMS built and installed dm-dedup.ko in this run for every installed
#      6.1 kernel with headers, for that kernel (vermagic), where depmod
#      finds it; the tools package installed every program, man page,
#      systemd unit and generator link that `make -C tools install`
#      installs;
#   4. the test VM boots KVER with THAT dm-dedup.ko and the packaged tools
#      (scripts/mkinitramfs.sh DEDUP_KO=installed TOOLS_DIR=...) and runs
#      tests/packages/smoke.sh (dedup of duplicate data, data read back,
#      dedup_check at teardown).
# Then the packages are purged again unless they were installed before (or
# KEEP_PACKAGES=1). Last line "N passed, N failed"; exit status 1 if any
# step failed. Needs root (apt-get, dkms); sudo is used otherwise.
# Functions run through step(); shellcheck cannot see that.
# shellcheck disable=SC2317
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top" || exit 1
KVER=${KVER:-$(scripts/kver.sh)}
export KVER
ver=$(cat VERSION)
arch=$(dpkg --print-architecture)
out=$top/build/pkgtest
debs=$top/build/deb
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
APT=(env DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o DPkg::Lock::Timeout=600)

passed=0 failed=0 n=0
# step WHAT CMD...: run CMD (output to $out/step-N.log) and report it.
step() {
	local what=$1 log
	shift
	n=$((n + 1))
	log=$out/step-$n.log
	if "$@" >"$log" 2>&1; then
		echo "ok $n - $what"
		passed=$((passed + 1))
		return 0
	fi
	echo "not ok $n - $what"
	tail -n 40 "$log" | sed 's/^/#   /'
	failed=$((failed + 1))
	return 1
}
finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" = 0 ]
	exit
}
installed() {
	dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'
}

rm -rf "$out"
mkdir -p "$out"
echo "check-packages: dm-dedup $ver for kernel $KVER"

# ---- 1. build ---------------------------------------------------------------
build() {
	scripts/mkdeb.sh "$debs" || return 1
	ls -l "$debs"/*.deb
	[ -f "$debs/dm-dedup-dkms_${ver}_all.deb" ] || { echo "no dm-dedup-dkms_${ver}_all.deb"; return 1; }
	[ -f "$debs/dm-dedup-tools_${ver}_$arch.deb" ] || { echo "no dm-dedup-tools_${ver}_$arch.deb"; return 1; }
	[ "$(find "$debs" -maxdepth 1 -name '*.deb' | wc -l)" = 2 ] || { echo "not exactly two packages"; return 1; }
}
step "make deb builds dm-dedup-dkms and dm-dedup-tools $ver" build || finish

# ---- 2. install -------------------------------------------------------------
had_packages=0
installed dm-dedup-dkms && had_packages=1
install_pkgs() {
	if installed dm-dedup-dkms || installed dm-dedup-tools; then
		$SUDO "${APT[@]}" purge dm-dedup-dkms dm-dedup-tools || return 1
	fi
	if [ -n "$(dkms status -m dm-dedup 2>/dev/null)" ]; then
		echo "removing the DKMS registration of make dkms-install:"
		dkms status -m dm-dedup
		$SUDO scripts/dkms-install.sh --remove || return 1
	fi
	touch "$out/install.stamp"
	sleep 1
	$SUDO "${APT[@]}" install --no-install-recommends "$debs"/*.deb || return 1
	installed dm-dedup-dkms && installed dm-dedup-tools
}
cleanup() {
	if [ "$had_packages" = 0 ] && [ "${KEEP_PACKAGES:-0}" != 1 ]; then
		$SUDO "${APT[@]}" purge dm-dedup-dkms dm-dedup-tools >"$out/purge.log" 2>&1 ||
			echo "check-packages: purging the packages failed (see $out/purge.log)" >&2
	fi
}
trap cleanup EXIT
step "apt-get install ./build/deb/*.deb" install_pkgs || finish

# ---- 3. what DKMS and the tools package installed -----------------------
check_dkms() {
	local d k ko nk=0 ok=0
	dkms status -m dm-dedup -v "$ver"
	for d in /lib/modules/6.1.*/; do
		k=$(basename "$d")
		[ -e "$d/build" ] || continue
		nk=$((nk + 1))
		dkms status -m dm-dedup -v "$ver" -k "$k" | grep -q ': installed' ||
			{ echo "DKMS did not install dm-dedup/$ver for $k"; continue; }
		ko=$(modinfo -k "$k" -n dm-dedup) || { echo "depmod does not find dm-dedup for $k"; continue; }
		case $ko in
		/lib/modules/"$k"/updates/dkms/dm-dedup.ko*) ;;
		*) echo "$k: dm-dedup resolves to $ko, not DKMS's"; continue ;;
		esac
		[ "$ko" -nt "$out/install.stamp" ] || { echo "$ko is older than this install"; continue; }
		modinfo -k "$k" -F vermagic dm-dedup | grep -q "^$k " ||
			{ echo "$k: vermagic $(modinfo -k "$k" -F vermagic dm-dedup)"; continue; }
		echo "$k: $ko ($(modinfo -k "$k" -F vermagic dm-dedup))"
		ok=$((ok + 1))
	done
	[ "$nk" -gt 0 ] || { echo "no 6.1 kernel with headers installed"; return 1; }
	[ -e "/lib/modules/$KVER/build" ] || { echo "KVER=$KVER has no headers"; return 1; }
	[ "$ok" = "$nk" ]
}
step "DKMS built dm-dedup.ko for every installed 6.1 kernel with headers" check_dkms

check_tools() {
	local f want=$out/tools-want
	make -s -C tools install DESTDIR="$want" PREFIX=/usr \
		SYSTEMDDIR=/lib/systemd >/dev/null || return 1
	# files and links (the systemd generator is a link to dedup_setup)
	for f in $(cd "$want" && find . -type f -o -type l | sed 's|^\.||'); do
		case $f in
		/usr/share/man/*) f=$f.gz ;;
		esac
		dpkg -S "$f" 2>/dev/null | grep -q '^dm-dedup-tools:' ||
			{ echo "dm-dedup-tools lacks $f"; return 1; }
		echo "packaged: $f"
	done
	/usr/sbin/dedup_stats --version | grep -qx "dedup_stats $ver" ||
		{ echo "dedup_stats --version: $(/usr/sbin/dedup_stats --version)"; return 1; }
}
step "dm-dedup-tools installs every tool and man page of tools/" check_tools

# dh_installsystemd's maintainer scripts enable the monitor whether or not
# systemd runs here (deb-systemd-helper makes the link).
check_enabled() {
	local l=/etc/systemd/system/multi-user.target.wants/dedup-monitor.service
	[ -L "$l" ] || { echo "$l missing: the package did not enable the monitor"; return 1; }
	echo "enabled: $l -> $(readlink "$l")"
}
step "dm-dedup-tools enables dedup-monitor.service" check_enabled

# ---- 4. boot the DKMS-built module in the VM --------------------------------
mkdir -p "$out/tools"
for t in $(dpkg -L dm-dedup-tools | grep '^/usr/sbin/'); do
	cp "$t" "$out/tools/"
done
initramfs() {
	DEDUP_KO=installed TOOLS_DIR=$out/tools OUT=$out/initramfs.cpio \
		scripts/mkinitramfs.sh
}
step "initramfs with DKMS's dm-dedup.ko and the packaged tools" initramfs || finish

ko=$(modinfo -k "$KVER" -n dm-dedup)
modver=$(modinfo -k "$KVER" -F version dm-dedup)
append="pkg_ko_sha256=$(sha256sum "$ko" | cut -d' ' -f1)"
append="$append pkg_modversion=${modver:--} pkg_version=$ver"
for t in dedup_check dedup_stats; do
	append="$append pkg_${t}_sha256=$(sha256sum "/usr/sbin/$t" | cut -d' ' -f1)"
done
vm() {
	T="" VM_DIR=$out/vm VM_SHARE=$out/share INITRD_BASE=$out/initramfs.cpio \
		VM_APPEND="${VM_APPEND:-} $append" \
		scripts/run-tests.sh --guest packages/smoke.sh --no-host \
		--results "$out/results.tap" --logs "$out/logs"
}
step "the VM runs a dedup smoke test on $ko" vm
finish

#!/bin/bash
# deps.sh - install, from Debian's packages, whatever the build and the VM
# harness need and is missing. Idempotent: prints what it installs and what
# it chose, and nothing else when all is present.
#
# The kernel packages are chosen by scripts/kpick.sh (see its header): the
# newest installed headers (or, on a fresh machine, the linux-headers-amd64
# and linux-image-amd64 metapackages), their linux-image, and the
# linux-source-6.1 that matches them best, downgrading it when the archive
# has moved ahead of the headers.
#
# Usage: scripts/deps.sh [--plan]
#   --plan   print what it would install (one "deps: ..." line each) and
#            change nothing (tests/host/deps-pick.sh feeds it fake
#            dpkg-query/apt-cache output this way)
set -euo pipefail
# shellcheck source=scripts/kpick.sh
. "$(dirname "$0")/kpick.sh"

plan=0
[ "${1:-}" != --plan ] || plan=1

PKGS="qemu-system-x86 busybox-static fio dmsetup kmod cpio xz-utils gcc make
libc6-dev bc e2fsprogs gnuplot-nox util-linux"
# debug kernel build (make debug-kernel)
PKGS="$PKGS flex bison libelf-dev libssl-dev"
# real clients in the guest: XFS, SQLite, stress-ng (issue 27)
PKGS="$PKGS xfsprogs sqlite3 stress-ng"
# host-side tool tests (tests/host: valgrind, python3 for the JSON checks)
PKGS="$PKGS valgrind python3"
# make checkpatch (checkpatch.pl needs more than perl-base)
PKGS="$PKGS perl"
# make bench-* (bench/analyze*.sh read fio's JSON; gnuplot-nox above;
# make bench-profile puts the host's perf into the guest)
PKGS="$PKGS linux-perf jq"
# make deb, make dkms-install, make check-packages (dpkg-buildpackage
# checks build-essential and debian/control's Build-Depends)
PKGS="$PKGS build-essential dpkg-dev debhelper dh-dkms dkms"
# make bench-ratio: its peer (btrfs + duperemove) and its inputs (Debian
# images made with mmdebstrap, partitioned with sfdisk)
PKGS="$PKGS btrfs-progs duperemove mmdebstrap fdisk"

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
updated=0

# apt_install WHY PKG...: install (allowing downgrades), or say so in --plan.
apt_install() {
	local why=$1
	shift
	echo "deps: installing $*${why:+ ($why)}"
	[ $plan = 0 ] || return 0
	export DEBIAN_FRONTEND=noninteractive
	if [ $updated = 0 ]; then
		$SUDO apt-get update -qq
		updated=1
	fi
	$SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades \
		"$@" >/dev/null
}

missing=
for p in $PKGS; do
	[ -n "$(kp_installed "$p")" ] || missing="$missing $p"
done
# shellcheck disable=SC2086
[ -z "$missing" ] || apt_install "" $missing

# Headers and image: on a fresh machine the metapackages bring the newest.
kver=$(kp_kver)
if [ -z "$kver" ]; then
	apt_install "no kernel headers yet" linux-headers-amd64 linux-image-amd64
	[ $plan = 1 ] || kver=$(kp_kver)
	[ -n "$kver" ] || { [ $plan = 1 ] && exit 0; }
	[ -n "$kver" ] || { echo "deps: no linux-headers-*-amd64 after installing" >&2; exit 1; }
fi
if [ -z "$(kp_installed "linux-image-$kver")" ] &&
   [ -z "$(kp_installed "linux-image-$kver-unsigned")" ]; then
	apt_install "the test VM boots the kernel the module is built for" \
		"linux-image-$kver"
fi

# The source tarball: see kp_pick_source.
hv=$(kp_installed "linux-headers-$kver")
sv=$(kp_installed linux-source-6.1)
# shellcheck disable=SC2046
read -r action ver kind <<<"$(kp_pick_source "$hv" "$sv" $(kp_available linux-source-6.1))"
case $kind in
exact) why="matches linux-headers-$kver $hv" ;;
upstream) why="linux-headers-$kver is $hv, which the archive no longer has; same upstream release" ;;
nearest) why="WARNING: the archive has no linux-source-6.1 of upstream $(kp_upstream "$hv") (headers $hv); nearest release used" ;;
*) why="" ;;
esac
case $action in
keep)
	[ "$kind" = exact ] || echo "deps: using linux-source-6.1 $ver: $why" ;;
install)
	apt_install "$why" "linux-source-6.1=$ver" ;;
*)
	echo "deps: no linux-source-6.1 in the archive (headers $hv); cannot build" >&2
	exit 1 ;;
esac
exit 0

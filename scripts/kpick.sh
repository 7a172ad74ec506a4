# shellcheck shell=bash
# kpick.sh - which Debian kernel packages the build uses (sourced by
# scripts/deps.sh, scripts/kver.sh and scripts/ksrc.sh; owned by the test
# infrastructure). Everything here asks dpkg-query and apt-cache and nothing
# else, so tests/host/deps-pick.sh can feed it every case with fake ones.
#
# The build needs three packages that must agree:
#   linux-headers-$KVER   what the module is built against (KVER: the
#                         newest installed *-amd64 headers, preferring one
#                         whose linux-image-$KVER is installed too);
#   linux-image-$KVER     what the test VM boots;
#   linux-source-6.1      only for drivers/md/persistent-data/*.h and
#                         checkpatch.pl, which the headers package lacks.
# Debian publishes new revisions of linux-source-6.1 independently of the
# headers (the source may be ahead, or the headers' revision may be gone), so
# kp_pick_source chooses, in this order: the headers' exact version (even if
# that is a downgrade); the newest revision of the same upstream release; and
# only when the archive has no source of that release at all, the nearest
# 6.1 release, with a warning (the persistent-data headers are stable across
# 6.1 stable releases, but that is a fallback, not a match).

# kp_installed PKG: its version if installed, else nothing.
kp_installed() {
	{ dpkg-query -W -f='${Status}\t${Version}\n' "$1" 2>/dev/null || :; } |
		awk -F'\t' '$1 ~ / installed$/ && $1 !~ /not-installed/ { print $2; exit }'
}

# kp_available PKG: every version the archive offers, newest first.
kp_available() {
	{ apt-cache madison "$1" 2>/dev/null || :; } | awk -F'|' '{ gsub(/ /, "", $2); if ($2 != "") print $2 }' |
		sort -rV | uniq
}

# kp_upstream VERSION: the upstream part of a Debian version (6.1.192-2 -> 6.1.192).
kp_upstream() { echo "${1%-*}"; }

# kp_installed_kvers: releases of the installed linux-headers-*-amd64
# packages, oldest first.
kp_installed_kvers() {
	{ dpkg-query -W -f='${Status}\t${Package}\n' 'linux-headers-*-amd64' 2>/dev/null || :; } |
		awk -F'\t' '$1 ~ / installed$/ && $1 !~ /not-installed/ { print $2 }' |
		sed -n 's/^linux-headers-\(.*-amd64\)$/\1/p' | sort -V
}

# kp_kver: the release to build for: the newest installed headers that have
# their image installed too, else the newest installed headers.
kp_kver() {
	local k best=
	for k in $(kp_installed_kvers); do
		if [ -n "$(kp_installed "linux-image-$k")" ] ||
		   [ -n "$(kp_installed "linux-image-$k-unsigned")" ]; then
			best=$k
		fi
	done
	[ -n "$best" ] || best=$(kp_installed_kvers | tail -n1)
	echo "$best"
}

# kp_pick_source HEADERS_VERSION INSTALLED_SOURCE_VERSION AVAILABLE...
# Prints one line "ACTION VERSION WHY":
#   keep VERSION      the installed source is the right one
#   install VERSION   install linux-source-6.1=VERSION (may be a downgrade)
#   none -            no 6.1 source anywhere: the build cannot proceed
# ACTION keep/install is followed by the kind of match: exact, upstream
# (same upstream release, other Debian revision) or nearest (another 6.1
# release: a warning).
kp_pick_source() {
	local hv=$1 inst=$2 up v pick=
	shift 2
	up=$(kp_upstream "$hv")
	# 1. the exact version
	if [ "$inst" = "$hv" ]; then
		echo "keep $hv exact"; return
	fi
	for v in "$@"; do
		if [ "$v" = "$hv" ]; then
			echo "install $hv exact"; return
		fi
	done
	# 2. the same upstream release: keep what is installed, else the newest
	if [ -n "$inst" ] && [ "$(kp_upstream "$inst")" = "$up" ]; then
		echo "keep $inst upstream"; return
	fi
	for v in "$@"; do
		if [ "$(kp_upstream "$v")" = "$up" ]; then
			echo "install $v upstream"; return
		fi
	done
	# 3. the nearest 6.1 release: the newest older one, else the oldest newer
	if [ -n "$inst" ]; then
		echo "keep $inst nearest"; return
	fi
	for v in $(printf '%s\n' "$@" "$hv" | sort -V); do
		[ "$v" = "$hv" ] && break
		pick=$v
	done
	if [ -z "$pick" ]; then
		for v in $(printf '%s\n' "$@" | sort -V); do
			pick=$v
			break
		done
	fi
	if [ -n "$pick" ]; then
		echo "install $pick nearest"
	else
		echo "none - none"
	fi
}

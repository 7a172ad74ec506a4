#!/bin/bash
# ksrc.sh - extract, once, the few files of Debian's linux-source-6.1 tarball
# that the build needs and linux-headers does not ship:
#   drivers/md/persistent-data/*.h   (the module includes them)
#   scripts/checkpatch.pl, spelling.txt, const_structs.checkpatch
# into build/ksrc-<Debian version>/ (git-ignored) and print that directory.
# Later calls reuse the extraction. Owned by the test-infrastructure side.
#
# scripts/deps.sh chose the tarball's version (scripts/kpick.sh: the headers'
# exact version when the archive has it, else the same upstream release); a
# tarball of another upstream release than the headers is used with a
# warning.
#
# Usage: scripts/ksrc.sh [KVER]
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
tarball=/usr/src/linux-source-6.1.tar.xz
kver=${1:-}

[ -r "$tarball" ] || { echo "ksrc: $tarball missing (run scripts/deps.sh)" >&2; exit 1; }
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
[ -n "$srcver" ] || { echo "ksrc: package linux-source-6.1 not installed" >&2; exit 1; }

# Only Debian-packaged headers carry a Debian version to compare against; a
# KDIR tree built from this tarball (debug kernel) passes no KVER check.
if [ -n "$kver" ]; then
	hdrver=$(dpkg-query -W -f='${Version}' "linux-headers-$kver" 2>/dev/null || true)
	if [ -n "$hdrver" ] && [ "$hdrver" != "$srcver" ]; then
		if [ "${hdrver%-*}" != "${srcver%-*}" ]; then
			echo "ksrc: warning: linux-source-6.1 is $srcver but linux-headers-$kver is $hdrver" >&2
		fi
	fi
fi

out=$top/build/ksrc-$srcver
if [ ! -f "$out/.done" ]; then
	rm -rf "$out.tmp"
	mkdir -p "$out.tmp"
	tar -xJf "$tarball" -C "$out.tmp" --strip-components=1 \
		--wildcards 'linux-source-6.1/drivers/md/persistent-data/*.h' \
		linux-source-6.1/scripts/checkpatch.pl \
		linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch
	touch "$out.tmp/.done"
	rm -rf "$out"
	mv "$out.tmp" "$out"
fi
echo "$out"

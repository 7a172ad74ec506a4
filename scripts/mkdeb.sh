#!/bin/bash
# mkdeb.sh - `make deb`: build the Debian packages dm-dedup-dkms (all) and
# dm-dedup-tools (this architecture) with dpkg-buildpackage and dh-dkms.
#
# The build runs on a copy of the tree in build/deb/src/dm-dedup-<VERSION>
# (the files git tracks or would track, as they are in the work tree), so
# it leaves nothing behind in the tree. debian/changelog is written there
# from the top-level VERSION file: one release number for the packages and
# the module. Output: build/deb/*.deb (with .buildinfo, .changes) and
# build/deb/build.log.
#
# Usage: scripts/mkdeb.sh [OUTDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
ver=$(cat "$top/VERSION")
out=${1:-$top/build/deb}
src=$out/src/dm-dedup-$ver

rm -rf "$out"
mkdir -p "$src"
cd "$top"
if git rev-parse --git-dir >/dev/null 2>&1; then
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			# tracked files deleted in the work tree are not copied
			[ -e "$f" ] && printf '%s\0' "$f"
		done | cpio -0pdm --quiet "$src"
	rev=$(git describe --always --dirty 2>/dev/null || echo unknown)
	when=$(git log -1 --format=%aD 2>/dev/null || date -R)
else
	tar -cf - --exclude=./build . | tar -xf - -C "$src"
	rev="a source tree without git"
	when=$(date -R)
fi

maint=$(sed -n 's/^Maintainer: *//p' debian/control)
cat > "$src/debian/changelog" <<EOC
dm-dedup ($ver) unstable; urgency=medium

  * Release $ver, built from $rev.
    (Written by scripts/mkdeb.sh from the file VERSION.)

 -- $maint  $when
EOC

echo "deb: dpkg-buildpackage in $src (log: $out/build.log)"
if ! (cd "$src" && dpkg-buildpackage -b -us -uc) > "$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	echo "deb: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
	exit 1
fi
mv "$out"/src/*.deb "$out"/src/*.buildinfo "$out"/src/*.changes "$out"/
for f in "$out"/*.deb; do
	echo "deb: $f"
done

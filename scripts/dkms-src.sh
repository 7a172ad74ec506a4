#!/bin/sh
# dkms-src.sh - copy what DKMS needs to build dm-dedup.ko into DEST (e.g.
# /usr/src/dm-dedup-<version>): the module's C sources and headers, Kbuild,
# VERSION, dkms.conf with its version filled in, and the two scripts the
# build runs. Used by `make dkms-install` and by debian/rules.
#
# Usage: scripts/dkms-src.sh DEST
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:?destination directory}
ver=$(cat "$top/VERSION")

mkdir -p "$dest/include" "$dest/scripts"
cd "$top"
for f in Kbuild VERSION dm-dedup-*.c include/*.h; do
	[ -f "$f" ] || { echo "dkms-src: $f missing" >&2; exit 1; }
	cp "$f" "$dest/$f"
done
for f in dm-dedup-*.h; do
	if [ -f "$f" ]; then cp "$f" "$dest/$f"; fi
done
install -m 0755 scripts/dkms-make.sh scripts/ksrc.sh "$dest/scripts/"
sed "s/#MODULE_VERSION#/$ver/" dkms.conf > "$dest/dkms.conf"

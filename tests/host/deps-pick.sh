#!/bin/bash
# scripts/deps.sh picks a consistent set of kernel packages whatever Debian's
# archive holds: fed fake dpkg-query and apt-cache output for each case
# (source ahead of the headers, the headers' revision gone, several headers
# installed, headers without their image, nothing installed, no source at
# all), `deps.sh --plan` must print exactly the expected install lines.
# timeout: 60
set -eu
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
W=$(mktemp -d "${TMPDIR:-/tmp}/deps-pick.XXXXXX")
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The fakes read $W/installed ("package version" lines) and $W/archive
# ("package version" lines), and understand just the calls kpick.sh makes.
mkdir -p "$W/bin"
cat > "$W/bin/dpkg-query" <<'EOF'
#!/bin/bash
# dpkg-query -W -f='${Status}\t${Version}\n' PKG | -f='${Status}\t${Package}\n' GLOB
for a in "$@"; do
	case $a in -W) ;; -f=*) fmt=${a#-f=} ;; *) pat=$a ;; esac
done
while read -r p v; do
	# shellcheck disable=SC2053
	[[ $p == $pat ]] || continue
	case $fmt in
	*Version*) printf 'install ok installed\t%s\n' "$v" ;;
	*Package*) printf 'install ok installed\t%s\n' "$p" ;;
	esac
	found=1
done < "$FAKE/installed"
[ -n "${found:-}" ] || { echo "dpkg-query: no packages found matching $pat" >&2; exit 1; }
EOF
cat > "$W/bin/apt-cache" <<'EOF'
#!/bin/bash
# apt-cache madison PKG
[ "$1" = madison ] || exit 1
awk -v p="$2" '$1 == p { printf "%s | %s | http://deb.debian.org/debian bookworm/main amd64 Packages\n", $1, $2 }' "$FAKE/archive"
EOF
chmod +x "$W/bin/"*
export FAKE=$W PATH=$W/bin:$PATH

# run CASE: the plan for the current fake state, "deps: " lines only.
run() {
	"$TOP/scripts/deps.sh" --plan 2>&1 | grep '^deps: ' || true
}
# expect CASE EXPECTED: the plan must be exactly EXPECTED (lines).
expect() {
	local got
	got=$(run)
	if [ "$got" != "$2" ]; then
		printf 'case %s\n--- expected\n%s\n--- got\n%s\n' "$1" "$2" "$got" >&2
		fail "case $1"
	fi
	echo "ok: $1"
}

# Every package deps.sh lists (its PKGS= lines), installed.
base_pkgs() {
	local PKGS p
	eval "$(awk '/^PKGS=/ { on = 1 } on { print } on && /"$/ { on = 0 }' \
		"$TOP/scripts/deps.sh")"
	for p in $PKGS; do
		echo "$p 1.0"
	done
}

archive_192() {
	cat <<EOF
linux-source-6.1 6.1.192-3
linux-source-6.1 6.1.192-2
linux-source-6.1 6.1.192-1
linux-source-6.1 6.1.176-1
linux-headers-amd64 6.1.192-2
EOF
}

# 1. The reported failure: the source moved to -3, headers still at -2.
#    Exact revision exists: install it (a downgrade when -3 is installed).
{ base_pkgs; echo "linux-headers-6.1.0-56-amd64 6.1.192-2"
  echo "linux-image-6.1.0-56-amd64 6.1.192-2"; echo "linux-source-6.1 6.1.192-3"; } > "$W/installed"
archive_192 > "$W/archive"
expect "source ahead, exact revision available" \
"deps: installing linux-source-6.1=6.1.192-2 (matches linux-headers-6.1.0-56-amd64 6.1.192-2)"

# 2. All consistent: nothing to do.
sed -i 's/^linux-source-6.1 .*/linux-source-6.1 6.1.192-2/' "$W/installed"
expect "consistent" ""

# 3. The headers' revision is gone from the archive: same upstream, newest.
{ base_pkgs; echo "linux-headers-6.1.0-56-amd64 6.1.192-2"
  echo "linux-image-6.1.0-56-amd64 6.1.192-2"; } > "$W/installed"
archive_192 | grep -v 'linux-source-6.1 6.1.192-2' > "$W/archive"
expect "exact revision gone" \
"deps: installing linux-source-6.1=6.1.192-3 (linux-headers-6.1.0-56-amd64 is 6.1.192-2, which the archive no longer has; same upstream release)"

# 4. ... and a source of the same upstream is installed already: keep it.
echo "linux-source-6.1 6.1.192-1" >> "$W/installed"
expect "same upstream installed" \
"deps: using linux-source-6.1 6.1.192-1: linux-headers-6.1.0-56-amd64 is 6.1.192-2, which the archive no longer has; same upstream release"

# 5. The headers moved ahead of every source: nearest older release, warned.
{ base_pkgs; echo "linux-headers-6.1.0-57-amd64 6.1.195-1"
  echo "linux-image-6.1.0-57-amd64 6.1.195-1"; } > "$W/installed"
archive_192 > "$W/archive"
expect "headers ahead of every source" \
"deps: installing linux-source-6.1=6.1.192-3 (WARNING: the archive has no linux-source-6.1 of upstream 6.1.195 (headers 6.1.195-1); nearest release used)"

# 6. Several headers installed: the newest with its image is the one.
{ base_pkgs; echo "linux-headers-6.1.0-50-amd64 6.1.176-1"
  echo "linux-image-6.1.0-50-amd64 6.1.176-1"
  echo "linux-headers-6.1.0-56-amd64 6.1.192-2"
  echo "linux-image-6.1.0-56-amd64 6.1.192-2"; } > "$W/installed"
archive_192 > "$W/archive"
expect "several headers" \
"deps: installing linux-source-6.1=6.1.192-2 (matches linux-headers-6.1.0-56-amd64 6.1.192-2)"

# 7. The newest headers lack their image: the older complete pair is used.
{ base_pkgs; echo "linux-headers-6.1.0-50-amd64 6.1.176-1"
  echo "linux-image-6.1.0-50-amd64 6.1.176-1"
  echo "linux-headers-6.1.0-56-amd64 6.1.192-2"; } > "$W/installed"
expect "newest headers without image" \
"deps: installing linux-source-6.1=6.1.176-1 (matches linux-headers-6.1.0-50-amd64 6.1.176-1)"

# 8. Headers only, no image at all: the image is installed.
{ base_pkgs; echo "linux-headers-6.1.0-56-amd64 6.1.192-2"
  echo "linux-source-6.1 6.1.192-2"; } > "$W/installed"
expect "headers without any image" \
"deps: installing linux-image-6.1.0-56-amd64 (the test VM boots the kernel the module is built for)"

# 9. A fresh machine: tools and the kernel metapackages.
: > "$W/installed"
got=$(run)
grep -qx "deps: installing $(base_pkgs | cut -d' ' -f1 | paste -sd' ')" <<<"$got" ||
	fail "fresh: tools: $got"
grep -qx 'deps: installing linux-headers-amd64 linux-image-amd64 (no kernel headers yet)' <<<"$got" ||
	fail "fresh: kernel metapackages: $got"
echo "ok: fresh machine"

# 10. No 6.1 source in the archive at all: a clear error, exit status 1.
{ base_pkgs; echo "linux-headers-6.1.0-56-amd64 6.1.192-2"
  echo "linux-image-6.1.0-56-amd64 6.1.192-2"; } > "$W/installed"
grep -v linux-source "$W/archive" > "$W/archive.new" || true
mv "$W/archive.new" "$W/archive"
if out=$("$TOP/scripts/deps.sh" --plan 2>&1); then
	fail "no source: deps.sh succeeded: $out"
fi
grep -q 'no linux-source-6.1 in the archive' <<<"$out" || fail "no source: message: $out"
echo "ok: no source at all"

# 11. kver.sh agrees with the choice of case 7.
{ base_pkgs; echo "linux-headers-6.1.0-50-amd64 6.1.176-1"
  echo "linux-image-6.1.0-50-amd64 6.1.176-1"
  echo "linux-headers-6.1.0-56-amd64 6.1.192-2"; } > "$W/installed"
[ "$("$TOP/scripts/kver.sh")" = 6.1.0-50-amd64 ] || fail "kver.sh: $("$TOP/scripts/kver.sh")"
echo "ok: kver.sh"

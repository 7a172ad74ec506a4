#!/bin/bash
# debug-kernel.sh - build (once per machine) and locate the dm-dedup debug
# kernel: Debian's linux-source-6.1 with x86_64_defconfig + kvm_guest.config +
# scripts/debug-kernel.config (lockdep, KASAN, kmemleak, debugobjects, the dm
# modules the suite loads).
#
# The build lives outside git, in $DM_DEDUP_CACHE (default /var/cache/dm-dedup)
# under debug-kernel-<key>, key = hash of the fragment, the source package
# version and this recipe's version. Layout of that directory:
#   linux/           the configured, built tree; use it as KDIR
#   mods/lib/modules/<release>/   from make modules_install
#   bzImage          the kernel image to boot
#   release          `make kernelrelease`
#   build-seconds    wall time of the build that produced it
#   build.log        its output
#   .complete        written last; without it the cache entry is not usable
# The tree cannot be moved: objtool's dependency files hold absolute paths,
# so a moved tree rebuilds everything. An interrupted build resumes.
#
# Usage:
#   debug-kernel.sh            build if needed, then print the variables below
#   debug-kernel.sh --env      print them only if the build exists (else exit 1)
#   debug-kernel.sh --exists   exit 0 if the build exists, 1 if not
#   debug-kernel.sh --dir      print the cache directory for this key
# Printed variables (shell syntax, for eval or make):
#   DEBUG_KERNEL_DIR KDIR KERNEL_IMAGE MODULES_ROOT KERNEL_RELEASE
#
# Environment: DM_DEDUP_CACHE, JOBS (default 2; run under nice -n 10),
# DEBUG_KERNEL_TARBALL (default /usr/src/linux-source-6.1.tar.xz).
set -euo pipefail

# Bump when the steps below change in a way that changes the result.
RECIPE=1

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=scripts/cache-lib.sh
. "$here/cache-lib.sh"
frag=$here/debug-kernel.config
tarball=${DEBUG_KERNEL_TARBALL:-/usr/src/linux-source-6.1.tar.xz}
cache_root=${DM_DEDUP_CACHE:-/var/cache/dm-dedup}
jobs=${JOBS:-2}

die() { echo "debug-kernel: $*" >&2; exit 1; }

[ -r "$frag" ] || die "missing $frag"
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
[ -n "$srcver" ] || srcver="tarball:$(stat -c %s-%Y "$tarball" 2>/dev/null || echo none)"

key=$({ echo "recipe $RECIPE"; echo "source $srcver"; cat "$frag"; } |
	sha256sum | cut -c1-16)
dir=$cache_root/debug-kernel-$key

print_env() {
	local rel
	rel=$(cat "$dir/release")
	echo "DEBUG_KERNEL_DIR=$dir"
	echo "KDIR=$dir/linux"
	echo "KERNEL_IMAGE=$dir/bzImage"
	echo "MODULES_ROOT=$dir/mods"
	echo "KERNEL_RELEASE=$rel"
}

case "${1:-}" in
--dir)
	echo "$dir"; exit 0 ;;
--exists)
	[ -e "$dir/.complete" ]; exit $? ;;
--env)
	[ -e "$dir/.complete" ] || exit 1
	print_env; exit 0 ;;
"") ;;
*)
	die "unknown argument $1" ;;
esac

if [ -e "$dir/.complete" ]; then
	print_env
	exit 0
fi

[ -r "$tarball" ] || die "no $tarball (run scripts/deps.sh)"
for t in flex bison bc gcc make; do
	command -v "$t" >/dev/null || die "$t missing (run scripts/deps.sh)"
done
[ -e /usr/include/libelf.h ] || die "libelf-dev missing (run scripts/deps.sh)"
[ -e /usr/include/openssl/ssl.h ] || die "libssl-dev missing (run scripts/deps.sh)"

mkdir -p "$cache_root"
# One builder per key; a second caller waits and then finds .complete.
if cache_claim "$dir" debug-kernel; then
	print_env
	exit 0
fi

mkdir -p "$dir"
log=$dir/build.log
start=$(date +%s)
echo "debug-kernel: building in $dir (log: $log)" >&2
echo "debug-kernel: source $srcver, fragment key $key, make -j$jobs" >&2

{
	if [ ! -e "$dir/.extracted" ]; then
		rm -rf "$dir/linux" "$dir/linux-source-6.1"
		echo "== extract $tarball"
		tar -C "$dir" -xf "$tarball"
		mv "$dir/linux-source-6.1" "$dir/linux"
		touch "$dir/.extracted"
	fi

	cd "$dir/linux"
	# kconfig's "make foo.config" merges kernel/configs/foo.config.
	cp "$frag" kernel/configs/dmdedup-debug.config
	echo "== configure"
	make -s x86_64_defconfig kvm_guest.config dmdedup-debug.config
} >>"$log" 2>&1 || die "extract/configure failed; see $log"

# Every line of the fragment must have survived the dependency resolution;
# a silently dropped option (e.g. KASAN) would make the whole run worthless.
bad=0
while IFS= read -r line; do
	case "$line" in
	CONFIG_*=*)
		grep -qxF "$line" "$dir/linux/.config" || {
			echo "debug-kernel: fragment wants '$line', got:" \
				"$(grep -E "(^|# )${line%%=*}[= ]" "$dir/linux/.config" || echo unset)" >&2
			bad=1
		} ;;
	"# CONFIG_"*" is not set")
		opt=${line#\# }; opt=${opt%% *}
		if grep -q "^$opt=" "$dir/linux/.config"; then
			echo "debug-kernel: fragment wants $opt off, got:" \
				"$(grep "^$opt=" "$dir/linux/.config")" >&2
			bad=1
		fi ;;
	esac
done <"$frag"
[ "$bad" = 0 ] || die "config does not match scripts/debug-kernel.config"

{
	cd "$dir/linux"
	echo "== build"
	nice -n 10 make -j"$jobs" bzImage modules
	echo "== modules_install"
	rm -rf "$dir/mods"
	make -s modules_install INSTALL_MOD_PATH="$dir/mods" INSTALL_MOD_STRIP=1
	make -s kernelrelease >"$dir/release"
	cp arch/x86/boot/bzImage "$dir/bzImage"
} >>"$log" 2>&1 || die "build failed; see $log"

end=$(date +%s)
echo $((end - start)) >"$dir/build-seconds"
touch "$dir/.complete"
echo "debug-kernel: built in $((end - start)) s" >&2
print_env

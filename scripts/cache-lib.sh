# shellcheck shell=bash
# cache-lib.sh - the build caches of images made on the host: the one under
# DM_DEDUP_CACHE (/var/cache/dm-dedup) shared by scripts/debug-kernel.sh and
# scripts/system-image.sh (one builder per entry), and the apt sources that
# Debian images are built from (system-image.sh, bench/ratio-inputs.sh).
# Sourced.
#
#   cache_claim DIR WHO  hold DIR.lock on file descriptor 9 until the
#                        caller exits, waiting (and saying so, as WHO)
#                        while another builder holds it; true when DIR is
#                        already built (DIR/.complete), false when the
#                        caller must build it
#   bookworm_sources VAR [FILES]
#                        set the array VAR to the apt source files for
#                        mmdebstrap: the words of FILES if given, else the
#                        host's files that name a bookworm suite; false
#                        when there is none

cache_claim() {
	exec 9>"$1.lock"
	if ! flock -n 9; then
		echo "$2: another build of $1 is running; waiting" >&2
		flock 9
	fi
	[ -e "$1/.complete" ]
}

bookworm_sources() {
	local -n _srcs=$1
	local f
	_srcs=()
	if [ -n "${2:-}" ]; then
		read -r -a _srcs <<<"$2"
	else
		for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
			 /etc/apt/sources.list.d/*.sources; do
			[ -f "$f" ] || continue
			grep -Eq '^[[:space:]]*(Suites:|deb[[:space:]])[^#]*[[:space:]]bookworm([-[:space:]]|$)' "$f" &&
				_srcs+=("$f")
		done
	fi
	[ ${#_srcs[@]} -gt 0 ]
}

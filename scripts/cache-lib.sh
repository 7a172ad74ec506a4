# shellcheck shell=bash
# cache-lib.sh - the build cache under DM_DEDUP_CACHE (/var/cache/dm-dedup)
# shared by scripts/debug-kernel.sh and scripts/system-image.sh: one
# builder per entry. Sourced.
#
#   cache_claim DIR WHO  hold DIR.lock on file descriptor 9 until the
#                        caller exits, waiting (and saying so, as WHO)
#                        while another builder holds it; true when DIR is
#                        already built (DIR/.complete), false when the
#                        caller must build it

cache_claim() {
	exec 9>"$1.lock"
	if ! flock -n 9; then
		echo "$2: another build of $1 is running; waiting" >&2
		flock 9
	fi
	[ -e "$1/.complete" ]
}

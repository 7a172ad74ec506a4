#!/bin/bash
# analyze-ratio.sh IN_DIR OUT_DIR - the table of `make bench-ratio`
# (bench/README.md, issue 27): logical and physical bytes, the ratio and
# the time of each row, from what bench/ratio-guest.sh wrote. Output:
# OUT_DIR/ratio.txt.
#
# Definitions (printed under the table):
#   logical   bytes of file data written: the allocated bytes (st_blocks) of
#             the copied regular files; zero 4 KiB blocks are holes (cp
#             --sparse=always) and count nowhere
#   physical  data blocks stored. dedup: unique x 4 KiB from the status
#             after umount, ext4's own metadata included (it is data to
#             dm-dedup). btrfs: the Data block groups' "Used" of `btrfs
#             filesystem usage` after a remount: extents on disk, with
#             metadata (where btrfs also keeps files of <= 2 KiB inline)
#             apart
#   ratio     logical / physical
#   found     bytes the dedupe removed. dedup: (mapped - unique) x 4 KiB;
#             btrfs: Data used before duperemove - after it
set -euo pipefail
# shellcheck source=bench/analyze-lib.sh
. "$(dirname "$0")/analyze-lib.sh"
analyze_init analyze-ratio "$@"

MiB=1048576
mib() { awk -v b="$1" -v m=$MiB 'BEGIN { printf "%.1f", b / m }'; }
gib() { awk -v b="$1" 'BEGIN { printf "%.2f", b / 1073741824 }'; }
div() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# usage_used FILE KIND: "Used" bytes of the KIND (Data, Metadata, System)
# block groups in a `btrfs filesystem usage -b` output.
usage_used() { sed -n "s/^$2,[^:]*: *Size:[0-9]*, *Used:\([0-9]*\).*/\1/p" "$1" | head -n1; }
# du_cols FILE: "total exclusive set_shared" of `btrfs filesystem du -s --raw`.
du_cols() { awk 'NR > 1 && NF >= 4 { print $1, $2, $3; exit }' "$1"; }

declare -A logical physical ratio found fsmeta copy dedupe label
for r in "${rows[@]}"; do
	logical[$r]=$(cut -d' ' -f3 "$in/$r.tree")
	copy[$r]=$(cat "$in/$r.copy")
	case $r in
	dedup)
		st=$in/dedup.umount.status
		mapped=$(status_get "$st" mapped)
		unique=$(status_get "$st" unique)
		physical[$r]=$((unique * 4096))
		found[$r]=$(((mapped - unique) * 4096))
		fsmeta[$r]="$(mib $((mapped * 4096 - logical[$r]))) MiB ext4 (mapped - logical)"
		dedupe[$r]="in the copy"
		label[$r]="ext4 on dm-dedup, 4 KiB blocks, sha256" ;;
	btrfs-*)
		before=$(usage_used "$in/$r.before.usage" Data)
		physical[$r]=$(usage_used "$in/$r.usage" Data)
		found[$r]=$((before - physical[$r]))
		fsmeta[$r]="$(mib "$(usage_used "$in/$r.usage" Metadata)") MiB btrfs metadata used"
		dedupe[$r]="$(cat "$in/$r.dedupe") s"
		[ ! -f "$in/$r.timedout" ] || dedupe[$r]="${dedupe[$r]}, STOPPED at $(cat "$in/$r.timedout") s"
		case $r in
		btrfs-4k) label[$r]="btrfs + duperemove -dr -b 4096" ;;
		btrfs-128k) label[$r]="btrfs + duperemove -dr (128 KiB)" ;;
		btrfs-4k-partial) label[$r]="btrfs + duperemove -dr -b 4096 --dedupe-options=partial,same" ;;
		esac ;;
	esac
	ratio[$r]=$(div "${logical[$r]}" "${physical[$r]}")
done

{
	echo "bench-ratio: the same real inputs on ext4 on dm-dedup and on btrfs + duperemove, one VM run."
	echo "$(envf duperemove), $(envf btrfs_progs), kernel $(envf kernel), $(envf cpus) vCPUs (QEMU TCG)."
	built_from
	echo
	echo "Inputs (the read-only input disk; apparent = file sizes, allocated = 4 KiB blocks holding data):"
	echo
	echo "| input | files | apparent | allocated | read cold over virtio |"
	echo "|---|---|---|---|---|"
	while read -r name n app alloc; do
		rd=$(awk -v n="$name" '$1 == "virtio" && $2 == n {
			printf "%.1f s", $3 }' "$in/read")
		echo "| $name | $n | $(gib "$app") GiB | $(gib "$alloc") GiB | ${rd:--} |"
	done < "$in/inputs"
	awk '{ n += $2; a += $3; b += $4 } END {
		printf "| total | %d | %.2f GiB | %.2f GiB | |\n", n, a / 1073741824, b / 1073741824 }' \
		"$in/inputs"
	if awk '$1 == "9p"' "$in/read" | grep -q .; then
		echo
		awk '$1 == "9p" { n = $2; t9 = $3; b = $4 } $1 == "virtio" { tv[$2] = $3 }
			END { printf "Reading %s (%.1f MiB) with a cold cache: %.1f s over the 9p share, %.1f s from the virtio disk.\n",
				n, b / 1048576, t9, tv[n] }' "$in/read"
	fi
	echo
	echo "| row | logical | physical | ratio | found | fs metadata | copy | dedupe |"
	echo "|---|---|---|---|---|---|---|---|"
	for r in "${rows[@]}"; do
		if [ "$r" != dedup ] && [ -z "${shown_plain:-}" ]; then
			# btrfs as it stores the copy, before any dedupe.
			b=$(usage_used "$in/$r.before.usage" Data)
			echo "| btrfs, no dedupe (before $r's duperemove) | $(mib "${logical[$r]}") MiB |" \
				"$(mib "$b") MiB | $(div "${logical[$r]}" "$b") | - |" \
				"$(mib "$(usage_used "$in/$r.before.usage" Metadata)") MiB btrfs metadata used |" \
				"${copy[$r]} s | - |"
			shown_plain=1
		fi
		echo "| ${label[$r]} | $(mib "${logical[$r]}") MiB | $(mib "${physical[$r]}") MiB |" \
			"${ratio[$r]} | $(mib "${found[$r]}") MiB | ${fsmeta[$r]} | ${copy[$r]} s | ${dedupe[$r]} |"
	done
	echo
	echo "MiB = 2^20 bytes. logical: bytes of file data written, the allocated bytes (st_blocks) of the"
	echo "copied regular files (GNU cp -a --sparse=always: zero 4 KiB blocks become holes on every row)."
	echo "physical: data blocks stored. dm-dedup: unique blocks x 4 KiB after umount, which include ext4's"
	echo "own metadata (inode tables, directories, bitmaps, journal: data to dm-dedup). btrfs: \"Used\" of"
	echo "the Data block groups (btrfs filesystem usage, after a remount), metadata apart; btrfs keeps"
	echo "files of <= 2 KiB inline in its metadata. ratio = logical / physical. found: bytes the dedupe"
	echo "removed, dm-dedup (mapped - unique) x 4 KiB, btrfs Data used before duperemove - after."
	echo "copy: cp with a cold page cache + sync; dedupe: duperemove + sync."
	if [ -n "${physical[dedup]:-}" ]; then
		st=$in/dedup.umount.status
		echo
		echo "dm-dedup after umount: mapped $(status_get "$st" mapped), unique $(status_get "$st" unique)," \
			"zero $(status_get "$st" zero), dedup_hits $(status_get "$st" dedup_hits) (4 KiB blocks);" \
			"after mkfs.ext4 and mount: mapped $(status_get "$in/dedup.empty.status" mapped)," \
			"unique $(status_get "$in/dedup.empty.status" unique)."
	fi
	for r in "${rows[@]}"; do
		[ "$r" != dedup ] || continue
		read -r t0 e0 s0 < <(du_cols "$in/$r.before.du")
		read -r t1 e1 s1 < <(du_cols "$in/$r.du")
		echo "$r, btrfs filesystem du -s (total / exclusive / set shared MiB): before" \
			"$(mib "$t0") / $(mib "$e0") / $(mib "$s0"), after $(mib "$t1") / $(mib "$e1") / $(mib "$s1");" \
			"Data used - (exclusive + set shared) after: $(mib $((physical[$r] - e1 - s1))) MiB" \
			"(extents kept on disk for the parts still referenced)."
		n=$(sed -n 's/^.*net change in shared extents of: *\([0-9]*\).*/\1/p' "$in/$r.duperemove" | head -n1)
		[ -z "$n" ] || echo "  duperemove's own estimate: shared extents grew by $(mib "$n") MiB."
	done
	if [ -n "${found[dedup]:-}" ] && [ -n "${found[btrfs-4k]:-}" ]; then
		echo
		awk -v d="${found[dedup]}" -v b="${found[btrfs-4k]}" -v m=$MiB 'BEGIN {
			printf "Issue 27: dm-dedup finds at least what duperemove -b 4096 finds: %.1f MiB >= %.1f MiB %s\n",
				d / m, b / m, (d >= b ? "PASS" : "MISS") }'
	fi
} > "$out/ratio.txt"
cat "$out/ratio.txt"

#!/bin/bash
# analyze-activation.sh RESULTS_DIR OUT_DIR - the table of bench-activation
# (issue 10: activation of the pre-filled image after a clean remove takes
# <= 2x an empty device's and reads a bounded part of the index).
set -eu
in=$1 out=$2
f=$in/activation.txt
[ -s "$f" ] || { echo "analyze-activation: $f missing" >&2; exit 1; }
val() { sed -n "s/.* $2=\([0-9a-z]*\).*/\1/p" <<<"$1"; }
{
	echo "bench-activation: ${BENCH_REV:-} (other VMs: ${BENCH_OTHER_VMS:-0})"
	printf '| %-16s | %8s | %10s | %-10s | %10s | %12s |\n' row create_ms read_KiB index "ready ms" entries
	printf '|%s|\n' "------------------|----------|------------|------------|------------|--------------"
	empty=() pre=()
	while read -r row rest; do
		case $row in
		*-save) printf '| %-16s | %s |\n' "$row" "$rest"; continue ;;
		esac
		line="$row $rest"
		if [ -n "$(val "$line" ms)" ]; then
			printf '| %-16s | %8s | %10s | %-10s |' "$row" "$(val "$line" ms)" \
				"$(val "$line" read_kib)" "$(val "$line" index_state)"
			case $row in
			empty-[23]) empty+=("$(val "$line" ms)") ;;
			prefilled-[0-9]) pre+=("$(val "$line" ms)") ;;
			esac
			# Ready at create: no "ready_after" line follows.
			[ "$(val "$line" index_state)" != ready ] ||
				printf ' %10s | %12s |\n' 0 "$(val "$line" index_entries)"
		else
			printf ' %10s | %12s |\n' "$(val "$line" ready_after_ms)" "$(val "$line" index_entries)"
		fi
	done < "$f"
	e=$(printf '%s\n' "${empty[@]}" | sort -n | head -n1)
	p=$(printf '%s\n' "${pre[@]}" | sort -n | tail -n1)
	echo
	echo "empty device, fastest re-activation: $e ms; pre-filled after a clean remove, slowest: $p ms"
	if [ -n "$e" ] && [ -n "$p" ] && [ "$p" -le $((2 * e)) ]; then
		echo "PASS: pre-filled activation <= 2x empty ($p <= $((2 * e)) ms)"
	else
		echo "FAIL: pre-filled activation > 2x empty ($p > $((2 * ${e:-0})) ms)"
	fi
} | tee "$out/activation.txt"

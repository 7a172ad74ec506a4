#!/bin/sh
# dedup_stats reports what dmsetup status and the stats message say: for two
# devices of known content (4 KiB and 8 KiB blocks) its JSON and table show
# logical, physical and saved bytes, saved %, dedup hits, zero blocks,
# commits, longest commit and wait equal to the status fields times the
# block size, and to the content written; it follows uncommitted writes,
# lists only dedup devices and fails on a device that is not one.
# timeout: 180
. /tests/lib.sh
. /tests/data.inc

command -v dedup_stats >/dev/null || fail "dedup_stats is not in the initramfs"
load_dedup
mkbrd 4 64
# Content: NU distinct blocks written COPIES times each, then NZ zero blocks;
# no periodic commit, so the figures hold still between two readings.
NU=48 COPIES=4 NZ=16
dedup_create st1 /dev/ram0 /dev/ram1 4096 sha256 commit_period_ms 60000
dedup_create st2 /dev/ram2 /dev/ram3 8192 blake2b-256 commit_period_ms 60000
dm_create notdedup "0 2048 zero"

# fill NAME BS: the content above, block size BS, then a commit.
fill() {
	local i=0
	dd if=/dev/urandom of=/tmp/u bs="$2" count=$NU status=none
	: > /tmp/img
	while [ $i -lt $COPIES ]; do
		cat /tmp/u >> /tmp/img
		i=$((i + 1))
	done
	dd if=/dev/zero bs="$2" count=$NZ status=none >> /tmp/img
	dd if=/tmp/img of="/dev/mapper/$1" bs="$2" oflag=direct status=none ||
		fail "writing $1 failed"
	cmp -n "$(wc -c < /tmp/img)" /tmp/img "/dev/mapper/$1" || fail "$1 reads back differently"
	dmsetup message "$1" 0 commit || fail "commit of $1 failed"
}
fill st1 4096
fill st2 8192

# jget DEV KEY [INDENT]: KEY of device DEV in /tmp/stats.json; INDENT is
# the number of blanks before it: 6 (default) for the device's figures, 8
# for its "stats" object.
jget() {
	awk -v dev="\"name\": \"$1\"," -v key="\"$2\":" -v ind="${3:-6}" '
		index($0, dev) { on = 1 }
		on && /^    }/ { exit }
		on && index($0, key) == ind + 1 && substr($0, 1, ind) ~ /^ *$/ {
			v = substr($0, ind + length(key) + 2)
			sub(/,$/, "", v)
			print v
			exit
		}' /tmp/stats.json
}

# human BYTES: the --human form (powers of 1024, one decimal).
human() {
	awk -v b="$1" 'BEGIN {
		if (b < 1024) { printf "%dB\n", b; exit }
		v = b; u = 0
		while (v >= 1024 && u < 6) { v /= 1024; u++ }
		printf "%.1f%s\n", v, substr("KMGTPE", u, 1)
	}'
}

# check_dev NAME BS: dedup_stats --json and the table row against status.
check_dev() {
	local n="$1" bs="$2" st mapped used saved pct row want k v
	st=$(dedup_status_dump "$n")
	sf() { printf '%s\n' "$st" | sed -n "s/^$1=//p"; }
	mapped=$(sf mapped)
	used=$(sf data_used)
	saved=$(((mapped - used) * bs))
	dedup_stats --json "$n" > /tmp/stats.json || fail "dedup_stats --json $n failed"
	for kv in "mode=\"$(sf mode)\"" needs_check=false "block_size=$bs" \
		"logical_used_bytes=$((mapped * bs))" \
		"physical_used_bytes=$((used * bs))" \
		"physical_size_bytes=$(($(sf data_total) * bs))" \
		"saved_bytes=$saved" "dedup_hits=$(sf dedup_hits)" \
		"zero_blocks=$(sf zero)" "commits=$(sf commits)" \
		"longest_commit_ms=$(sf longest_commit_ms)" \
		"backpressure_waits=$(sf bp_waits)" \
		"longest_wait_us=$(sf longest_wait_us)" source='"stats"'; do
		k=${kv%%=*}
		v=$(jget "$n" "$k")
		assert_eq "$v" "${kv#*=}" "$n: dedup_stats $k"
	done
	pct=$(awk -v s="$saved" -v l="$((mapped * bs))" 'BEGIN { printf "%.1f", l ? 100 * s / l : 0 }')
	assert_eq "$(jget "$n" saved_percent)" "$pct" "$n: saved_percent"
	# every key of the stats message, with its value, under "stats"
	dmsetup message "$n" 0 stats > /tmp/stats.kv || fail "stats message to $n"
	[ -s /tmp/stats.kv ] || fail "empty stats message"
	while IFS='=' read -r k v; do
		case $v in
		'' | *[!0-9]*) v="\"$v\"" ;;
		esac
		assert_eq "$(jget "$n" "$k" 8)" "$v" "$n: stats.$k"
	done < /tmp/stats.kv

	row=$(dedup_stats "$n" | awk -v n="$n" '$1 == n') || fail "dedup_stats $n failed"
	want="$n $(sf mode) $((mapped * bs)) $((used * bs)) $saved $pct% $(sf dedup_hits) $(sf zero) $(sf commits) $(sf longest_commit_ms)ms $(sf longest_wait_us)us"
	assert_eq "$(echo "$row" | tr -s ' ')" "$want" "$n: table row"
	row=$(dedup_stats --human "$n" | awk -v n="$n" '$1 == n { print $3, $4, $5 }')
	assert_eq "$row" "$(human $((mapped * bs))) $(human $((used * bs))) $(human $saved)" \
		"$n: --human sizes"
	log "$n: $(dedup_stats --human "$n" | tail -n 1)"
}

# The figures follow from the content, too.
for d in "st1 4096" "st2 8192"; do
	# shellcheck disable=SC2086
	set -- $d
	expect_status "$1" "content of $1" mapped=$((NU * COPIES)) unique=$NU \
		dedup_hits=$((NU * (COPIES - 1))) zero=$NZ data_used=$NU
	check_dev "$1" "$2"
done
dedup_stats --json st1 > /tmp/stats.json
assert_eq "$(jget st1 saved_percent)" \
	"$(awk -v c=$COPIES 'BEGIN { printf "%.1f", 100 * (c - 1) / c }')" "st1: saved % of the content"

# Uncommitted writes count at once: NU more distinct blocks on st1.
dd if=/dev/urandom of=/dev/mapper/st1 bs=4096 count=$NU \
	seek=$((NU * COPIES + NZ)) oflag=direct status=none || fail "more writes"
check_dev st1 4096
dedup_stats --json st1 > /tmp/stats.json
assert_eq "$(jget st1 physical_used_bytes)" $((2 * NU * 4096)) "st1: physical after more writes"

# All dedup devices are listed, nothing else; a non-dedup device fails.
dedup_stats > /tmp/all || fail "dedup_stats (all) failed"
cat /tmp/all
assert_eq "$(awk 'NR > 1 { print $1 }' /tmp/all | sort | tr '\n' ' ')" "st1 st2 " "devices listed"
if dedup_stats notdedup > /tmp/out 2>&1; then
	fail "dedup_stats accepted a zero-target device: $(cat /tmp/out)"
fi
grep -q 'not a dedup device' /tmp/out || fail "no 'not a dedup device': $(cat /tmp/out)"
dmsetup remove st2
assert_eq "$(dedup_stats | awk 'NR > 1 { print $1 }')" st1 "devices listed after removing st2"

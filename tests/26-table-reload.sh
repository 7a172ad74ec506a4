#!/bin/sh
# "dmsetup table" round-trips: for no features, each feature alone and all
# of them (verify, commit_period_ms 500, max_open_mb 16, no_discard_passdown,
# blocking_commit, error_if_no_space), the printed table names exactly the
# features given, reloads unchanged (reload with the printed line, resume,
# print again: equal), and the data and counters of the committed, idle
# device are untouched by the reload and by remove + create from it.
# timeout: 120
. /tests/lib.sh
. /tests/data.inc

setup_ram 2 8
DEV=/dev/mapper/tr
L=$(($(dev_sectors $D) / 8 * 8))
MAJMIN_M=$(printf '%d:%d' 0x"$(stat -c %t $M)" 0x"$(stat -c %T $M)")
MAJMIN_D=$(printf '%d:%d' 0x"$(stat -c %t $D)" 0x"$(stat -c %T $D)")
F="mode needs_check data_used data_total mapped unique dedup_hits zero"

# Some data, committed, so that each reload has something to keep.
dedup_create tr $M $D 4096 sha256
fio --output=/tmp/fio.out --name=w --filename=$DEV --ioengine=libaio \
	--direct=1 --rw=write --bs=4k --iodepth=8 --size=4M \
	--dedupe_percentage=50 --buffer_compress_percentage=0 ||
	fail "fio failed"
dd if=/dev/zero of=$DEV bs=4096 seek=1500 count=16 oflag=direct status=none
dedup_commit tr
sum=$(dev_md5 $DEV)
st=$(status_fields tr $F)
dedup_remove tr

# words LINE: the feature words of a table line, sorted, one line.
words() {
	echo "$1" | awk '{ for (i = 9; i <= NF; i++) print $i }' | sort | tr '\n' ' '
}

n=0
while read -r feats <&3; do
	n=$((n + 1))
	set -- $feats
	nf=$#
	# shellcheck disable=SC2086
	dedup_create tr $M $D 4096 sha256 $feats
	t1=$(dmsetup table tr)
	log "[$n] features '$feats': $t1"
	set -- $t1
	assert_eq "$1 $2 $3 $4 $5 $6 $7" \
		"0 $L dedup $MAJMIN_M $MAJMIN_D 4096 sha256" "[$n] table head"
	if [ "$nf" = 0 ]; then
		assert_eq "$#" 7 "[$n] words in a table without features"
	else
		assert_eq "$8" "$nf" "[$n] feature count"
		assert_eq "$#" $((8 + nf)) "[$n] words in the table"
		want=$(echo "0 0 0 0 0 0 0 0 $feats" | awk '{ for (i = 9; i <= NF; i++) print $i }' | sort | tr '\n' ' ')
		assert_eq "$(words "$t1")" "$want" "[$n] feature words"
		# each value follows its own keyword
		for kv in "commit_period_ms 500" "max_open_mb 16"; do
			case " $feats " in
			*" $kv "*)
				case " $t1 " in
				*" $kv "*) ;;
				*) fail "[$n] '$kv' not printed as a pair: $t1" ;;
				esac ;;
			esac
		done
	fi
	assert_eq "$(status_fields tr $F)" "$st" "[$n] counters after create"

	dmsetup reload tr --table "$t1" || fail "[$n] reload of '$t1' failed"
	dmsetup resume tr || fail "[$n] resume after reload failed"
	t2=$(dmsetup table tr)
	assert_eq "$t2" "$t1" "[$n] table after reload"
	assert_eq "$(status_fields tr $F)" "$st" "[$n] counters after reload"
	assert_eq "$(dev_md5 $DEV)" "$sum" "[$n] data after reload"

	dmsetup remove tr
	dm_create tr "$t2"
	assert_eq "$(dmsetup table tr)" "$t1" "[$n] table after remove + create"
	assert_eq "$(status_fields tr $F)" "$st" "[$n] counters after re-create"
	dedup_remove tr
done 3<<EOF

verify
commit_period_ms 500
max_open_mb 16
no_discard_passdown
blocking_commit
error_if_no_space
verify commit_period_ms 500 max_open_mb 16 no_discard_passdown blocking_commit error_if_no_space
error_if_no_space blocking_commit no_discard_passdown max_open_mb 16 commit_period_ms 500 verify
EOF
assert_eq "$n" 9 "feature sets tried"

# Last: the data is still there for a plain table.
dedup_create tr $M $D 4096 sha256
assert_eq "$(dev_md5 $DEV)" "$sum" "data at the end"

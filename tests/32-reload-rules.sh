#!/bin/sh
# Table reload rules (README "Table line"): a reload into a live device may
# change the features, applied at resume (commit_period_ms takes effect),
# but a reload that changes the data device, block size or hash is refused
# with "Cannot change data device, block size or hash", and a second dm
# device on the same metadata device with "Metadata device already in use";
# a refused or cleared (dmsetup clear) reload leaves the live device, its
# data, counters and both devices' contents untouched, and it stays usable.
# A commit period shortened by reload or by message takes effect at once
# (a write is committed by the new period within 15 s, times the timeout
# scale of a slow debug kernel).
# timeout: 150
. /tests/lib.sh
. /tests/data.inc

BS=4096
setup_ram 3 8
DEV=/dev/mapper/live
F="mode mapped unique dedup_hits zero data_used commits"
dedup_create live $M $D $BS sha256 commit_period_ms 60000
TABLE=$(dmsetup table live)
fio --output=/tmp/fio.out --name=w --filename=$DEV --ioengine=libaio \
	--direct=1 --rw=write --bs=4k --iodepth=8 --size=2M \
	--dedupe_percentage=50 --buffer_compress_percentage=0 ||
	fail "fio failed"
dedup_commit live

sums() { echo "$(dev_md5 $M) $(dev_md5 $D)"; }
# expect_reload_error TABLE TEXT: reload refused with "dedup: TEXT (" and
# nothing changed: live table, counters, data, both devices.
expect_reload_error() {
	local mark klog before after
	before="$(dmsetup table live)|$(status_fields live $F)|$(sums)"
	mark=$(new_mark)
	if dmsetup reload live --table "$1" 2>/dev/null; then
		dmsetup clear live
		fail "reload accepted, expected '$2': $1"
	fi
	klog=$(dmesg_since "$mark")
	printf '%s\n' "$klog" | grep -Fq "dedup: $2 (" ||
		fail "reload '$1': expected ti->error 'dedup: $2'; log: $(printf '%s\n' "$klog" | tail -n 3)"
	after="$(dmsetup table live)|$(status_fields live $F)|$(sums)"
	assert_eq "$after" "$before" "reload '$1': state after the refusal"
	log "refused as expected ($2): $1"
}

CHG="Cannot change data device, block size or hash"
expect_reload_error "$(dedup_table $M $D 8192 sha256)" "$CHG"
expect_reload_error "$(dedup_table $M $D 65536 sha256)" "$CHG"
expect_reload_error "$(dedup_table $M $D 4096 blake2b-256)" "$CHG"
expect_reload_error "$(dedup_table $M $D 4096 xxhash64)" "$CHG"
expect_reload_error "$(dedup_table $M /dev/ram2 4096 sha256)" "$CHG"

# Another dm device on the same metadata device, whatever its data device.
before=$(sums)
expect_table_error "$(dedup_table $M /dev/ram2 4096 sha256)" \
	"Metadata device already in use"
expect_table_error "$(dedup_table $M $D 4096 sha256)" \
	"Metadata device already in use"
assert_eq "$(sums)" "$before" "devices after the refused second device"

# A reload that is cleared instead of resumed changes nothing either.
st=$(status_fields live $F)
sum=$(dev_md5 $DEV)
dmsetup reload live --table "$(dedup_table $M $D 4096 sha256 verify)" ||
	fail "reload with verify refused"
dmsetup clear live || fail "dmsetup clear"
assert_eq "$(dmsetup table live)" "$TABLE" "table after reload + clear"
assert_eq "$(status_fields live $F)" "$st" "counters after reload + clear"
assert_eq "$(dev_md5 $DEV)" "$sum" "data after reload + clear"

# Still usable: a write and a commit.
rndfile /tmp/w $((16 * BS))
put /tmp/w 0 $DEV $((1024 * BS)) $((16 * BS))
dedup_commit live

problems=""
# period_works BLOCK WHAT: a write is committed by the period (500 ms)
# within 15 s (scaled, still far below the old 60 s period).
period_works() {
	local c t0 end
	c=$(dedup_field live commits)
	put /tmp/w $(($1 * BS)) $DEV $((($1 + 1100) * BS)) $BS
	t0=$(date +%s)
	end=$((t0 + $(scaled 15)))
	while [ "$(dedup_field live commits)" = "$c" ] && [ "$(date +%s)" -le $end ]; do
		sleep 0.1
	done
	if [ "$(dedup_field live commits)" != "$c" ]; then
		log "$2: periodic commit within $(($(date +%s) - t0)) s"
	else
		log "$2: no commit within $(scaled 15) s"
		problems="$problems; $2: no periodic commit within $(scaled 15) s"
	fi
}

# commit_period_ms 60000: nothing is committed by itself within 2 s.
c0=$(dedup_field live commits)
put /tmp/w 0 $DEV $((1100 * BS)) $((4 * BS))
sleep 2
assert_eq "$(dedup_field live commits)" "$c0" "commits with a 60 s period"

# New features by reload, applied at resume.
NEW=$(dedup_table $M $D 4096 sha256 commit_period_ms 500 error_if_no_space)
dmsetup reload live --table "$NEW" || fail "reload with new features refused"
assert_eq "$(dmsetup table live)" "$TABLE" "live table before resume"
dmsetup resume live || fail "resume with new features"
t=$(dmsetup table live)
assert_match "$t" " 3 commit_period_ms 500 error_if_no_space$" "table after resume"
[ "$(dedup_field live commits)" -gt "$c0" ] ||
	fail "the suspend did not commit the open writes"
period_works 5 "commit_period_ms 500 by reload"

# The same by message, from a 60 s period (set by message, then reload).
dmsetup message live 0 commit_period_ms 60000 || fail "message commit_period_ms"
dmsetup reload live --table "$(dmsetup table live)" && dmsetup resume live ||
	fail "reload with commit_period_ms 60000"
assert_match "$(dmsetup table live)" " commit_period_ms 60000 " \
	"table after message + reload"
put /tmp/w 0 $DEV $((1110 * BS)) $BS
dedup_commit live
dmsetup message live 0 commit_period_ms 500 || fail "message commit_period_ms 500"
period_works 6 "commit_period_ms 500 by message"

readdev $DEV $((1024 * BS)) $((16 * BS)) | cmp -s - /tmp/w ||
	fail "data written before the reloads"
[ -z "$problems" ] ||
	fail "a shorter commit period did not take effect${problems}"

#!/bin/sh
# A commit that fails leaves no feature flag of its own on disk: the
# needs_check superblock is the last committed one plus the flag.  Here the
# failed transaction had let a block die (INCOMPAT_STALE_FP, which older
# modules refuse); the commit before it had grown the metadata device past
# 15.875 GiB online (INCOMPAT_BULK, committed with its bulk region).
#  1. X at LBN 0, committed, on a 15 GiB metadata device (a linear device
#     over a 17 GiB thin volume); the root of the fp array is damaged.
#  2. Loaded again; the metadata device grows to 17 GiB (reload, committed
#     at once); Y over X (X's block dies); the commit reads the damaged
#     node: ro, needs_check.
#  3. The superblock on disk: needs_check, and the features of the last
#     commit, incompat 0x1 (bulk) -- not 0x3 (bulk, stale fingerprints).
#  4. The node put back, dedup_check --clear-needs-check-flag, loaded: rw
#     with the bulk region, X at LBN 0; Y over X again commits; ends with
#     dedup_check.
# timeout: 300
. /tests/lib.sh
. /tests/data.inc

BS=4096
# thin_data leaves /dev/ram2 as M: here it is the data device.
thin_data gthin $((17 * GIB))
D=$M
dm_create gmeta "0 $((15 * GIB)) linear /dev/mapper/gthin 0"
M=/dev/mapper/gmeta
DEV=/dev/mapper/fc
rndfile /tmp/X $BS
rndfile /tmp/Y $BS

# 1.
dedup_create fc $M $D $BS sha256 commit_period_ms 60000
put /tmp/X 0 $DEV 0 $BS
dedup_commit fc
dmsetup remove fc
dedup_dump $M > /tmp/dump || fail "dedup_dump after the first commit"
grep -Eq '^ *features +incompat 0x0,' /tmp/dump ||
	{ cat /tmp/dump; fail "features after the first commit"; }
root=$(awk '$1 == "fp" && $2 ~ /^[0-9]+$/ { print $2; exit }' /tmp/dump)
[ -n "$root" ] || fail "no fp root in dedup_dump's output"
dd if=$M of=/tmp/node bs=$BS skip="$root" count=1 status=none
dd if=/dev/urandom of=$M bs=$BS seek="$root" count=1 conv=notrunc \
	oflag=direct status=none

# 2.
dm_create fc "$(dedup_table $M $D $BS sha256 commit_period_ms 60000)"
dedup_wait_ready fc 60
TABLE=$(dmsetup table fc)
m0=$(dedup_field fc metadata_total)
dmsetup suspend gmeta && dmsetup load gmeta --table "0 $((17 * GIB)) linear /dev/mapper/gthin 0" &&
	dmsetup resume gmeta || fail "growing gmeta"
dmsetup suspend fc && dmsetup load fc --table "$TABLE" && dmsetup resume fc ||
	fail "reload after the metadata device grew"
m1=$(dedup_field fc metadata_total)
log "metadata blocks: $m0 -> $m1"
[ "$m1" -gt 4161600 ] || fail "metadata_total $m1: no bulk region after the growth"
mark=$(new_mark)
put /tmp/Y 0 $DEV 0 $BS
if dmsetup message fc 0 commit 2>/dev/null; then
	fail "a commit through a damaged fp node succeeded"
fi
dedup_wait_field fc needs_check needs_check 30
assert_eq "$(dedup_field fc mode)" ro "mode after the failed commit"
dmsetup remove fc

# 3.
# (the damaged node makes dedup_dump fail after the superblock's lines)
dedup_dump $M > /tmp/dump 2>&1 || :
grep -q '(needs_check)' /tmp/dump ||
	{ cat /tmp/dump; fail "needs_check not on disk"; }
grep -Eq '^ *features +incompat 0x1 \(bulk\),' /tmp/dump ||
	{ grep -E 'features|metadata' /tmp/dump; fail "the failed commit's feature flags were written"; }

# 4.
dd if=/tmp/node of=$M bs=$BS seek="$root" count=1 conv=notrunc oflag=direct \
	status=none
dedup_check --clear-needs-check-flag $M > /tmp/check 2>&1 ||
	{ cat /tmp/check; fail "dedup_check --clear-needs-check-flag"; }
dm_create fc "$TABLE"
expect_status fc "loaded after the repair" mode=rw needs_check=- mapped=1 unique=1
[ "$(dedup_field fc metadata_total)" -gt 4161600 ] ||
	fail "no bulk region after the repair"
readdev $DEV 0 $BS | cmp -s - /tmp/X || fail "LBN 0 does not read X"
put /tmp/Y 0 $DEV 0 $BS
dedup_commit fc
expect_status fc "Y over X" mode=rw needs_check=- mapped=1 unique=1
readdev $DEV 0 $BS | cmp -s - /tmp/Y || fail "LBN 0 does not read Y"
dedup_teardown

#!/bin/sh
# Duplicate blocks share one data block, zero blocks use none, and the data
# and the counters read back identically after remove and re-create; the
# clean remove saved the fingerprint index (one more commit), which the
# re-created device loads instead of rebuilding it.
# timeout: 300
. /tests/lib.sh

dedup_on_ram dd1 256 4096 sha256

# 64 distinct 4 KiB blocks, each written 4 times, then 32 zero blocks.
dd if=/dev/urandom of=/tmp/uniq bs=4096 count=64 2>/dev/null
cat /tmp/uniq /tmp/uniq /tmp/uniq /tmp/uniq > /tmp/img
dd if=/dev/zero bs=4096 count=32 2>/dev/null >> /tmp/img
dd if=/tmp/img of=$DEV bs=4096 oflag=direct 2>/dev/null
cmp /tmp/img $DEV -n $((288 * 4096)) || fail "data differs before commit"

dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 mapped)" 256 "mapped blocks"
assert_eq "$(dedup_field dd1 unique)" 64 "unique blocks"
assert_eq "$(dedup_field dd1 dedup_hits)" 192 "dedup hits"
assert_eq "$(dedup_field dd1 zero)" 32 "zero blocks"
assert_eq "$(dedup_field dd1 data_used)" 64 "data blocks used"
assert_eq "$(dedup_field dd1 mode)" rw "mode"
# The counters of the data: everything but transaction and commit figures.
counters() {
	dedup_status_dump dd1 | grep -E '^(mode|needs_check|data_used|data_total|mapped|unique|dedup_hits|zero)='
}
before=$(counters)
tid=$(dedup_field dd1 transaction_id)

dmsetup remove dd1
dedup_create dd1 $M $D 4096 sha256
cmp /tmp/img $DEV -n $((288 * 4096)) || fail "data differs after re-create"
assert_eq "$(counters)" "$before" "counters after re-create"
assert_eq "$(dedup_field dd1 transaction_id)" $((tid + 1)) \
	"transaction after re-create (the index was saved by one commit)"
state=$(dmsetup message dd1 0 stats | sed -n 's/^index_state=//p')
assert_ne "$state" rebuilding "index state after a clean remove"
assert_ne "$state" "" "index_state in stats"
# A duplicate written now is found through the loaded index.
hits=$(dedup_field dd1 dedup_hits)
dd if=/tmp/uniq of=$DEV bs=4096 count=1 seek=300 oflag=direct 2>/dev/null
assert_eq "$(dedup_field dd1 dedup_hits)" $((hits + 1)) "hit after re-create"
assert_eq "$(dedup_field dd1 unique)" 64 "unique after the hit"

# Rewriting identical content changes nothing; overwriting frees blocks.
dd if=/tmp/uniq of=$DEV bs=4096 oflag=direct 2>/dev/null
dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 unique)" 64 "unique after identical rewrite"
dd if=/dev/zero of=$DEV bs=4096 count=256 oflag=direct 2>/dev/null
dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 unique)" 1 "unique after zeroing (block 300)"
assert_eq "$(dedup_field dd1 data_used)" 1 "data used after zeroing"
assert_eq "$(dedup_field dd1 mapped)" 1 "mapped after zeroing (block 300)"
dmsetup table dd1

#!/bin/sh
# Duplicate blocks share one data block, zero blocks use none, and the data
# and the counters read back identically after remove and re-create.
# timeout: 300
. /tests/lib.sh

load_dedup
mkbrd 2 256
M=/dev/ram0
D=/dev/ram1
dedup_create dd1 $M $D 4096 sha256
DEV=/dev/mapper/dd1

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
before=$(dmsetup status dd1 | cut -d" " -f4-13)

dmsetup remove dd1
dedup_create dd1 $M $D 4096 sha256
cmp /tmp/img $DEV -n $((288 * 4096)) || fail "data differs after re-create"
after=$(dmsetup status dd1 | cut -d" " -f4-13)
assert_eq "$after" "$before" "status after re-create"

# Rewriting identical content changes nothing; overwriting frees blocks.
dd if=/tmp/uniq of=$DEV bs=4096 oflag=direct 2>/dev/null
dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 unique)" 64 "unique after identical rewrite"
dd if=/dev/zero of=$DEV bs=4096 count=256 oflag=direct 2>/dev/null
dmsetup message dd1 0 commit
assert_eq "$(dedup_field dd1 unique)" 0 "unique after zeroing"
assert_eq "$(dedup_field dd1 data_used)" 0 "data used after zeroing"
assert_eq "$(dedup_field dd1 mapped)" 0 "mapped after zeroing"
dmsetup table dd1

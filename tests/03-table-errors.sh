#!/bin/sh
# Malformed table lines are refused, each with its exact ti->error from
# README "Errors" (asserted from the kernel log), without an oops, and
# without leaking a reference: dm-dedup unloads afterwards.  The smallest
# metadata device accepted (1 MiB) takes writes; a failed allocation while
# opening the metadata is refused cleanly (issue 23, item 10).
# timeout: 300
. /tests/lib.sh

setup_ram 3 64
L=$(($(dev_sectors "$D") / 8 * 8))	# a valid length for 4 KiB blocks
H="0 $L dedup $M $D"			# the head of a line, up to the devices

# A device smaller than 16 data blocks and one a block smaller than 256
# metadata blocks (1 MiB), carved out of the third RAM disk.
dm_linear tinydata /dev/ram2 64
dm_linear tinymeta /dev/ram2 2040 1024

# Argument count.
expect_table_error "0 $L dedup" "Invalid argument count"
expect_table_error "0 $L dedup $M $D 4096" "Invalid argument count"

# Devices.
expect_table_error "0 $L dedup /dev/nonexistent $D 4096 sha256" \
	"Error opening metadata device"
expect_table_error "0 $L dedup $M /dev/nonexistent 4096 sha256" \
	"Error opening data device"
expect_table_error "0 $L dedup $M $M 4096 sha256" \
	"Metadata and data devices must differ"

# Block size.
expect_table_error "$H 4k sha256" "Invalid block size"
expect_table_error "$H -4096 sha256" "Invalid block size"
expect_table_error "$H 6144 sha256" "Block size not a power of two"
expect_table_error "$H 2048 sha256" "Block size out of range"
expect_table_error "$H 131072 sha256" "Block size out of range"

# Hash.
expect_table_error "$H 4096 md5" "Unknown hash"
expect_table_error "$H 4096 SHA256" "Unknown hash"

# Feature count: not a number, more than the words left, fewer.
expect_table_error "$H 4096 sha256 x verify" "Invalid feature count"
expect_table_error "$H 4096 sha256 2 verify" "Invalid feature count"
expect_table_error "$H 4096 sha256 3 commit_period_ms 500" "Invalid feature count"
expect_table_error "$H 4096 sha256 1 verify blocking_commit" "Too many arguments"
expect_table_error "$H 4096 sha256 0 verify" "Too many arguments"

# Features.
expect_table_error "$H 4096 sha256 1 compress" "Unknown feature"
expect_table_error "$H 4096 sha256 2 verify commit_period" "Unknown feature"
expect_table_error "$H 4096 sha256 1 commit_period_ms" "Missing feature value"
expect_table_error "$H 4096 sha256 2 verify max_open_mb" "Missing feature value"
expect_table_error "$H 4096 sha256 2 commit_period_ms soon" "Invalid commit period"
expect_table_error "$H 4096 sha256 2 commit_period_ms 0" "Invalid commit period"
expect_table_error "$H 4096 sha256 2 commit_period_ms 60001" "Invalid commit period"
expect_table_error "$H 4096 sha256 2 commit_period_ms -5" "Invalid commit period"
expect_table_error "$H 4096 sha256 2 max_open_mb lots" "Invalid max_open_mb"
expect_table_error "$H 4096 sha256 2 max_open_mb 0" "Invalid max_open_mb"
expect_table_error "$H 4096 sha256 2 max_open_mb 4097" "Invalid max_open_mb"

# Length and device sizes.
expect_table_error "0 $((L - 1)) dedup $M $D 4096 sha256" \
	"Length not a multiple of block size"
expect_table_error "0 $((L - 8)) dedup $M $D 8192 sha256" \
	"Length not a multiple of block size"
expect_table_error "0 $L dedup $M /dev/mapper/tinydata 4096 sha256" \
	"Data device too small"
expect_table_error "0 $L dedup /dev/mapper/tinymeta $D 4096 sha256" \
	"Metadata device too small"

# A failed allocation in the middle of opening the metadata.
dedup_knob test_fail_open_alloc 1
expect_table_error "$H 4096 sha256" "Cannot allocate metadata"
dedup_knob test_fail_open_alloc 0

# The smallest metadata device takes writes: 256 unique blocks, committed.
dm_linear minmeta /dev/ram2 2048 4096
dedup_create mini /dev/mapper/minmeta $D 4096 sha256
dd if=/dev/urandom of=/tmp/u bs=4096 count=256 status=none
dd if=/tmp/u of=/dev/mapper/mini bs=65536 oflag=direct status=none ||
	fail "writes to a device with 1 MiB of metadata failed"
dmsetup message mini 0 commit || fail "commit with 1 MiB of metadata"
assert_eq "$(dedup_field mini mode)" rw "mode with 1 MiB of metadata"
dedup_teardown

# Nothing may be left behind: no device, and no reference on the module.
dmsetup remove tinydata
dmsetup remove tinymeta
dmsetup remove minmeta
left=$(dmsetup ls | grep -v 'No devices found' || true)
assert_eq "$left" "" "dm devices left"
unload_dedup

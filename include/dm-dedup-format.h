/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-format.h - the on-disk format of the dm-dedup metadata device.
 *
 * This header is the single definition of every on-disk structure.  It is
 * shared by the kernel module and by the userspace tools (dedup_check,
 * dedup_dump), so it uses only fixed-width little-endian types and no kernel
 * API.
 *
 * The metadata device is managed by dm-persistent-data with 4096-byte
 * blocks.  Block 0 holds our superblock.  Every other block belongs to the
 * metadata space map (sm_metadata: index block, bitmaps, overflow refcount
 * btree) or to one of three single-level dm_btrees:
 *
 *   lbn tree       key: logical block number (LBN)
 *                  value: __le64 physical block number (PBN) on the data
 *                  device, or DEDUP_ZERO_PBN for a block last written with
 *                  all zeroes.  Unmapped LBNs have no entry.
 *
 *   refcount tree  key: PBN
 *                  value: struct dedup_disk_refcount.  Only PBNs with a
 *                  reference count > 0 have an entry; count is the number
 *                  of LBNs that map to the PBN.
 *
 *   index tree     key: DEDUP_INDEX_KEY(fingerprint prefix, slot)
 *                  value: struct dedup_disk_index_entry.  The top 48 bits of
 *                  the key are the first 48 bits of the fingerprint
 *                  (big-endian), the low 16 bits a collision slot, so
 *                  fingerprints sharing a 48-bit prefix sit next to each
 *                  other and are told apart by the full fingerprint stored
 *                  in the value.  No two entries hold the same fingerprint.
 *                  A data block is indexed by at most one entry, and its
 *                  refcount entry names that entry's key.
 *
 * The superblock counters describe the committed state exactly; they are
 * checked against a walk of the trees by dedup_check.
 */
#ifndef DM_DEDUP_FORMAT_H
#define DM_DEDUP_FORMAT_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <linux/types.h>
#include <stdint.h>
#endif

#define DEDUP_MAGIC			0x3130505544454444ULL /* "DDEDUP01" */
#define DEDUP_METADATA_VERSION		1
#define DEDUP_METADATA_BLOCK_SIZE	4096
#define DEDUP_SUPERBLOCK_LOCATION	0
#define DEDUP_SUPERBLOCK_CSUM_XOR	0x00d3d0b1
#define DEDUP_SPACE_MAP_ROOT_SIZE	128
#define DEDUP_HASH_NAME_LEN		32
#define DEDUP_MAX_FP_SIZE		32

/* Smallest metadata device we accept, in metadata blocks. */
#define DEDUP_MIN_METADATA_BLOCKS	64

/* lbn tree value meaning "this LBN was last written with zeroes". */
#define DEDUP_ZERO_PBN			(~0ULL)

/* refcount entry index_key meaning "this block is not in the index". */
#define DEDUP_NO_INDEX			(~0ULL)

#define DEDUP_INDEX_SLOT_BITS		16
#define DEDUP_INDEX_SLOT_MASK		((1ULL << DEDUP_INDEX_SLOT_BITS) - 1)
/* prefix64: the first 8 fingerprint bytes read as a big-endian integer */
#define DEDUP_INDEX_KEY(prefix64, slot) \
	(((prefix64) & ~DEDUP_INDEX_SLOT_MASK) | ((slot) & DEDUP_INDEX_SLOT_MASK))

/* superblock flags */
#define DEDUP_SB_NEEDS_CHECK		(1U << 0)

/* No incompatible or compatible features are defined in version 1. */
#define DEDUP_INCOMPAT_SUPPORTED	0U
#define DEDUP_COMPAT_SUPPORTED		0U

/*
 * Block 0.  csum is crc32c (dm_bm_checksum) of bytes 4..4095 of the block,
 * xor DEDUP_SUPERBLOCK_CSUM_XOR; blocknr must be DEDUP_SUPERBLOCK_LOCATION.
 * Bytes after the structure are zero.
 */
struct dedup_disk_superblock {
	__le32 csum;
	__le32 flags;			/* DEDUP_SB_* */
	__le64 blocknr;
	__u8 uuid[16];
	__le64 magic;
	__le32 version;
	__le32 incompat_flags;
	__le32 compat_flags;
	__le32 metadata_block_size;	/* bytes, DEDUP_METADATA_BLOCK_SIZE */
	__le32 data_block_size;		/* bytes, power of two 4096..65536 */
	__le32 fp_size;			/* fingerprint bytes stored, <= 32 */
	char hash_name[DEDUP_HASH_NAME_LEN];	/* NUL padded */
	__le64 data_nr_blocks;		/* data device size in data blocks */
	__le64 transaction_id;		/* incremented by every commit */

	/* struct disk_sm_root of the metadata space map (sm_metadata) */
	__u8 metadata_space_map_root[DEDUP_SPACE_MAP_ROOT_SIZE];

	__le64 lbn_root;
	__le64 refcount_root;
	__le64 index_root;

	/* Exact for the committed trees. */
	__le64 nr_mapped;		/* lbn entries with a real PBN */
	__le64 nr_zero;			/* lbn entries with DEDUP_ZERO_PBN */
	__le64 nr_unique;		/* refcount entries */
	__le64 nr_indexed;		/* index entries */

	/* Cumulative since format, as of this commit. */
	__le64 dedup_hits;		/* writes that shared an existing block */
	__le64 zero_writes;		/* all-zero block writes */
	__le64 commits;			/* commits, including this one */
} __packed;

/* refcount tree value */
struct dedup_disk_refcount {
	__le32 count;			/* > 0 */
	__le32 flags;			/* 0 in version 1 */
	__le64 index_key;		/* key of its index entry or DEDUP_NO_INDEX */
} __packed;

/* index tree value */
struct dedup_disk_index_entry {
	__le64 pbn;
	__u8 fp[DEDUP_MAX_FP_SIZE];	/* fp_size bytes, zero padded */
} __packed;

#endif /* DM_DEDUP_FORMAT_H */

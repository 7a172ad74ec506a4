/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-format.h - the on-disk format of the dm-dedup metadata device,
 * version 2, with the pack/unpack pair of each structure.
 *
 * This header is the single definition of every on-disk structure.  It is
 * shared by the kernel module and by the userspace tools (dedup_check,
 * dedup_dump, dedup_restore), so it uses only fixed-width little-endian
 * types, and the pack/unpack helpers use dedup_le*() / dedup_cpu_to_le*(),
 * which each side defines before including it (the kernel: le*_to_cpu()).
 * doc/metadata.md explains the layout and its arithmetic.
 *
 * The metadata device is divided into 4096-byte blocks:
 *
 *   block 0            the superblock (struct dedup_disk_superblock)
 *   1 .. A - 1         region A, dm-persistent-data's transaction manager with
 *                      its metadata space map (sm_metadata): btree nodes,
 *                      space-map blocks, and array blocks when there is no
 *                      bulk region
 *   A .. end           the bulk region (only when the device is larger than
 *                      DEDUP_REGION_A_MAX_BLOCKS): array blocks only,
 *                      counted by a dm_sm_disk space map (bulk block b is
 *                      device block A + b) whose own blocks live in region A
 *
 * Everything except the superblock is reached from five sparse arrays.  An
 * array is a single-level dm_btree (in region A) whose key is an array-block
 * index and whose value is the __le64 device block number of a 4096-byte
 * array block: a struct dedup_disk_array_header, then fixed-size entries.
 * An array block that does not exist reads as all zeroes.
 *
 *   lbn array          index LBN; __le64: DEDUP_LBN_UNMAPPED (0),
 *                      DEDUP_LBN_ZERO (1), or PBN + DEDUP_LBN_PBN_BASE
 *   refcount array     index PBN; __le32 reference count, 0 = free
 *   fp array           index PBN; fp_size bytes of fingerprint, all zero
 *                      when the block is free
 *   summary array      index chunk (DEDUP_CHUNK_BLOCKS PBNs); __le32 number
 *                      of PBNs in the chunk with a non-zero count
 *   saved index        index position; 48-byte buckets of the RAM
 *                      fingerprint index saved at a clean shutdown (below),
 *                      with its directory array
 *
 * Invariants: refcount[p] is the number of LBNs whose lbn entry names p;
 * fp[p] is non-zero exactly when refcount[p] > 0; summary[c] counts the
 * PBNs of chunk c with a non-zero count; the superblock counters are the
 * sums.  Every btree node and array block has reference count 1 in the
 * space map that owns it.
 */
#ifndef DM_DEDUP_FORMAT_H
#define DM_DEDUP_FORMAT_H

#ifdef __KERNEL__
#include <linux/string.h>
#include <linux/types.h>
#include <asm/byteorder.h>
#define dedup_le32(x)		le32_to_cpu(x)
#define dedup_le64(x)		le64_to_cpu(x)
#define dedup_cpu_to_le32(x)	cpu_to_le32(x)
#define dedup_cpu_to_le64(x)	cpu_to_le64(x)
#else
#include <endian.h>
#include <stdint.h>
#include <string.h>
#include <linux/types.h>
#define dedup_le32(x)		le32toh(x)
#define dedup_le64(x)		le64toh(x)
#define dedup_cpu_to_le32(x)	htole32(x)
#define dedup_cpu_to_le64(x)	htole64(x)
#endif

#define DEDUP_MAGIC			0x3130505544454444ULL /* "DDEDUP01" */
#define DEDUP_METADATA_VERSION		2
#define DEDUP_METADATA_BLOCK_SIZE	4096
#define DEDUP_SUPERBLOCK_LOCATION	0
#define DEDUP_SPACE_MAP_ROOT_SIZE	128
#define DEDUP_HASH_NAME_LEN		32
#define DEDUP_MAX_FP_SIZE		32

/* Checksum seeds: crc32c of bytes 4..4095 of the block, xor the seed. */
#define DEDUP_SUPERBLOCK_CSUM_XOR	0x00d3d0b1
#define DEDUP_ARRAY_CSUM_XOR		0x00a77a1b

/*
 * dm-persistent-data's metadata space map covers at most 255 bitmaps of
 * 16320 blocks (DM_SM_METADATA_MAX_BLOCKS, 15.875 GiB): region A.
 */
#define DEDUP_REGION_A_MAX_BLOCKS	(255ULL * ((1 << 14) - 64))

/*
 * Smallest metadata device we accept, in metadata blocks (1 MiB): a fresh
 * format uses about 10 blocks, and a write is admitted only while about
 * 120 more are free (the worst case of a generation's commit plus a
 * reserve), so this leaves room for some writes.
 */
#define DEDUP_MIN_METADATA_BLOCKS	256

/* struct disk_sm_root (dm-space-map-common.h): four __le64, in order. */
#define DEDUP_SM_ROOT_NR_BLOCKS		0
#define DEDUP_SM_ROOT_NR_ALLOCATED	8
#define DEDUP_SM_ROOT_BITMAP_ROOT	16
#define DEDUP_SM_ROOT_REF_COUNT_ROOT	24

/* superblock flags */
#define DEDUP_SB_NEEDS_CHECK		(1U << 0)

/*
 * Feature flags.  An incompat feature this code does not know refuses the
 * device; an unknown compat_ro feature allows only read-only use; compat
 * features may be ignored.
 */
#define DEDUP_INCOMPAT_BULK		(1U << 0)	/* bulk region in use */
/*
 * A free block (count 0) may keep the fingerprint it had: a fingerprint
 * belongs to a block in use only where the block's count is not zero
 * (doc/metadata.md, "Discards").  Set by the first commit that frees a
 * block without clearing its fingerprint.
 */
#define DEDUP_INCOMPAT_STALE_FP		(1U << 1)
#define DEDUP_INCOMPAT_SUPPORTED	(DEDUP_INCOMPAT_BULK | \
					 DEDUP_INCOMPAT_STALE_FP)
#define DEDUP_COMPAT_RO_SUPPORTED	0U
#define DEDUP_COMPAT_SAVED_INDEX	(1U << 0)	/* save_* fields valid */
#define DEDUP_COMPAT_SUPPORTED		DEDUP_COMPAT_SAVED_INDEX

/* lbn array values */
#define DEDUP_LBN_UNMAPPED		0ULL
#define DEDUP_LBN_ZERO			1ULL
#define DEDUP_LBN_PBN_BASE		2ULL

/* Array kinds (struct dedup_disk_array_header kind). */
enum dedup_array_kind {
	DEDUP_ARRAY_LBN = 1,
	DEDUP_ARRAY_REFCOUNT = 2,
	DEDUP_ARRAY_FP = 3,
	DEDUP_ARRAY_SUMMARY = 4,
	DEDUP_ARRAY_SAVE = 5,		/* saved index buckets */
	DEDUP_ARRAY_SAVE_DIR = 6,	/* saved index directory */
	DEDUP_ARRAY_NR_KINDS = 6,
};

#define DEDUP_ARRAY_HEADER_SIZE		32
#define DEDUP_ARRAY_PAYLOAD		(DEDUP_METADATA_BLOCK_SIZE - \
					 DEDUP_ARRAY_HEADER_SIZE)

/* Reference counts per refcount block, and PBNs per allocation chunk. */
#define DEDUP_REFCOUNTS_PER_BLOCK	(DEDUP_ARRAY_PAYLOAD / 4)
#define DEDUP_CHUNK_RC_BLOCKS		32
#define DEDUP_CHUNK_BLOCKS		(DEDUP_CHUNK_RC_BLOCKS * \
					 DEDUP_REFCOUNTS_PER_BLOCK)

/*
 * The saved RAM fingerprint index (dm-dedup-index.c).  The index has
 * 2^save_shard_bits shards.  An entry is 6 bytes, little endian: the low
 * save_loc_bits bits are loc, the fingerprint block (PBN / fingerprints per
 * fp array block) plus 1 (0: empty slot; all ones: deleted), the other bits
 * a tag.  With h the first 8 bytes of the fingerprint read little endian,
 * the shard is the top save_shard_bits bits of h, the tag the next
 * DEDUP_INDEX_TAG_BITS(shard bits, loc bits) bits, and the home bucket of
 * the entry in a shard of nb buckets is (tag * nb) >> tag bits; collisions
 * go to the following buckets, wrapping.
 *
 * Saved form: a "save" array of 48-byte buckets holding, shard after shard
 * (empty shards omitted), a struct dedup_disk_save_shard bucket followed by
 * that shard's nb buckets; and a "save_dir" array of __le64, one per group
 * of DEDUP_SAVE_GROUP shards: 1 + the bucket position of the first saved
 * shard of the group, or 0 when the group has none.
 */
#define DEDUP_INDEX_ENTRY_SIZE		6
#define DEDUP_INDEX_BUCKET_ENTRIES	8
#define DEDUP_INDEX_BUCKET_SIZE		(DEDUP_INDEX_ENTRY_SIZE * \
					 DEDUP_INDEX_BUCKET_ENTRIES)
#define DEDUP_INDEX_ENTRY_BITS		(DEDUP_INDEX_ENTRY_SIZE * 8)
#define DEDUP_INDEX_TAG_BITS(shard_bits, loc_bits) \
	((DEDUP_INDEX_ENTRY_BITS - (loc_bits)) < 64 - (shard_bits) ? \
	 (DEDUP_INDEX_ENTRY_BITS - (loc_bits)) : 64 - (shard_bits))
#define DEDUP_SAVE_GROUP		64
#define DEDUP_SAVE_SHARD_MAGIC		0x44524853	/* "SHRD" */

/*
 * Block 0.  csum is crc32c of bytes 4..4095 of the block, xor
 * DEDUP_SUPERBLOCK_CSUM_XOR; blocknr must be DEDUP_SUPERBLOCK_LOCATION.
 * Bytes after the structure are zero.  The first 52 bytes are laid out as
 * in version 1, so a version 1 superblock is recognised and refused.
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
	__le32 compat_ro_flags;
	__le32 metadata_block_size;	/* bytes, DEDUP_METADATA_BLOCK_SIZE */
	__le32 data_block_size;		/* bytes, power of two 4096..65536 */
	__le32 fp_size;			/* fingerprint bytes stored, 8..32 */
	__le32 padding;
	char hash_name[DEDUP_HASH_NAME_LEN];	/* NUL padded */
	__le64 data_nr_blocks;		/* data device size in data blocks */
	__le64 metadata_nr_blocks;	/* metadata device size in blocks */
	__le64 transaction_id;		/* incremented by every commit */

	/* struct disk_sm_root of region A's sm_metadata */
	__u8 metadata_space_map_root[DEDUP_SPACE_MAP_ROOT_SIZE];
	/* struct disk_sm_root of the bulk region's sm_disk (INCOMPAT_BULK) */
	__u8 bulk_space_map_root[DEDUP_SPACE_MAP_ROOT_SIZE];
	__le64 bulk_start;		/* first bulk block (A), 0 if none */
	__le64 bulk_nr_blocks;		/* blocks in the bulk region */

	/* roots of the array btrees */
	__le64 lbn_root;
	__le64 refcount_root;
	__le64 fp_root;
	__le64 summary_root;

	/* the RAM index saved at a clean shutdown (COMPAT_SAVED_INDEX) */
	__le64 save_root;
	__le64 save_dir_root;
	__le64 save_transaction_id;	/* valid if == transaction_id */
	__le64 save_entries;
	__le32 save_shard_bits;
	__le32 save_loc_bits;

	__le64 alloc_cursor;		/* where the allocator goes on */

	/* Exact for the committed arrays. */
	__le64 nr_mapped;		/* LBNs mapped to a PBN */
	__le64 nr_zero;			/* LBNs mapped to DEDUP_LBN_ZERO */
	__le64 nr_unique;		/* PBNs with a non-zero count */

	/* Cumulative since format, as of this commit. */
	__le64 dedup_hits;		/* writes that shared an existing block */
	__le64 zero_writes;		/* all-zero block writes */
	__le64 commits;			/* commits, including this one */
} __packed;

/* Every array block starts with this. */
struct dedup_disk_array_header {
	__le32 csum;		/* crc32c of bytes 4..4095 ^ ARRAY_CSUM_XOR */
	__le32 kind;		/* enum dedup_array_kind */
	__le64 blocknr;		/* where it is: catches misdirected writes */
	__le64 index;		/* array-block index within its array */
	__le32 entry_size;	/* bytes per entry */
	__le32 padding;
} __packed;

/* First bucket of each saved shard. */
struct dedup_disk_save_shard {
	__le32 magic;		/* DEDUP_SAVE_SHARD_MAGIC */
	__le32 nr_buckets;	/* nb: buckets that follow */
	__le64 shard;
	__le64 nr_entries;	/* live entries in those buckets */
	__u8 padding[DEDUP_INDEX_BUCKET_SIZE - 24];
} __packed;

/*
 * The superblock in CPU order: what the pack/unpack pair converts.  The
 * checksum and location are handled by the block validator (kernel) or
 * the block writer (tools), not here.
 */
struct dedup_sb {
	__u32 flags;
	__u8 uuid[16];
	__u64 magic;
	__u32 version;
	__u32 incompat_flags;
	__u32 compat_flags;
	__u32 compat_ro_flags;
	__u32 metadata_block_size;
	__u32 data_block_size;
	__u32 fp_size;
	char hash_name[DEDUP_HASH_NAME_LEN];
	__u64 data_nr_blocks;
	__u64 metadata_nr_blocks;
	__u64 transaction_id;
	__u8 metadata_space_map_root[DEDUP_SPACE_MAP_ROOT_SIZE];
	__u8 bulk_space_map_root[DEDUP_SPACE_MAP_ROOT_SIZE];
	__u64 bulk_start;
	__u64 bulk_nr_blocks;
	__u64 lbn_root;
	__u64 refcount_root;
	__u64 fp_root;
	__u64 summary_root;
	__u64 save_root;
	__u64 save_dir_root;
	__u64 save_transaction_id;
	__u64 save_entries;
	__u32 save_shard_bits;
	__u32 save_loc_bits;
	__u64 alloc_cursor;
	__u64 nr_mapped;
	__u64 nr_zero;
	__u64 nr_unique;
	__u64 dedup_hits;
	__u64 zero_writes;
	__u64 commits;
};

static inline void dedup_sb_unpack(const struct dedup_disk_superblock *d,
				   struct dedup_sb *s)
{
	s->flags = dedup_le32(d->flags);
	s->version = dedup_le32(d->version);
	s->incompat_flags = dedup_le32(d->incompat_flags);
	s->compat_flags = dedup_le32(d->compat_flags);
	s->compat_ro_flags = dedup_le32(d->compat_ro_flags);
	s->metadata_block_size = dedup_le32(d->metadata_block_size);
	s->data_block_size = dedup_le32(d->data_block_size);
	s->fp_size = dedup_le32(d->fp_size);
	s->save_shard_bits = dedup_le32(d->save_shard_bits);
	s->save_loc_bits = dedup_le32(d->save_loc_bits);
	s->magic = dedup_le64(d->magic);
	s->data_nr_blocks = dedup_le64(d->data_nr_blocks);
	s->metadata_nr_blocks = dedup_le64(d->metadata_nr_blocks);
	s->transaction_id = dedup_le64(d->transaction_id);
	s->bulk_start = dedup_le64(d->bulk_start);
	s->bulk_nr_blocks = dedup_le64(d->bulk_nr_blocks);
	s->lbn_root = dedup_le64(d->lbn_root);
	s->refcount_root = dedup_le64(d->refcount_root);
	s->fp_root = dedup_le64(d->fp_root);
	s->summary_root = dedup_le64(d->summary_root);
	s->save_root = dedup_le64(d->save_root);
	s->save_dir_root = dedup_le64(d->save_dir_root);
	s->save_transaction_id = dedup_le64(d->save_transaction_id);
	s->save_entries = dedup_le64(d->save_entries);
	s->alloc_cursor = dedup_le64(d->alloc_cursor);
	s->nr_mapped = dedup_le64(d->nr_mapped);
	s->nr_zero = dedup_le64(d->nr_zero);
	s->nr_unique = dedup_le64(d->nr_unique);
	s->dedup_hits = dedup_le64(d->dedup_hits);
	s->zero_writes = dedup_le64(d->zero_writes);
	s->commits = dedup_le64(d->commits);
	memcpy(s->uuid, d->uuid, sizeof(s->uuid));
	memcpy(s->hash_name, d->hash_name, sizeof(s->hash_name));
	memcpy(s->metadata_space_map_root, d->metadata_space_map_root,
	       sizeof(s->metadata_space_map_root));
	memcpy(s->bulk_space_map_root, d->bulk_space_map_root,
	       sizeof(s->bulk_space_map_root));
}

/* Fills every field but csum and blocknr; d must be zeroed first. */
static inline void dedup_sb_pack(const struct dedup_sb *s,
				 struct dedup_disk_superblock *d)
{
	d->flags = dedup_cpu_to_le32(s->flags);
	d->version = dedup_cpu_to_le32(s->version);
	d->incompat_flags = dedup_cpu_to_le32(s->incompat_flags);
	d->compat_flags = dedup_cpu_to_le32(s->compat_flags);
	d->compat_ro_flags = dedup_cpu_to_le32(s->compat_ro_flags);
	d->metadata_block_size = dedup_cpu_to_le32(s->metadata_block_size);
	d->data_block_size = dedup_cpu_to_le32(s->data_block_size);
	d->fp_size = dedup_cpu_to_le32(s->fp_size);
	d->save_shard_bits = dedup_cpu_to_le32(s->save_shard_bits);
	d->save_loc_bits = dedup_cpu_to_le32(s->save_loc_bits);
	d->magic = dedup_cpu_to_le64(s->magic);
	d->data_nr_blocks = dedup_cpu_to_le64(s->data_nr_blocks);
	d->metadata_nr_blocks = dedup_cpu_to_le64(s->metadata_nr_blocks);
	d->transaction_id = dedup_cpu_to_le64(s->transaction_id);
	d->bulk_start = dedup_cpu_to_le64(s->bulk_start);
	d->bulk_nr_blocks = dedup_cpu_to_le64(s->bulk_nr_blocks);
	d->lbn_root = dedup_cpu_to_le64(s->lbn_root);
	d->refcount_root = dedup_cpu_to_le64(s->refcount_root);
	d->fp_root = dedup_cpu_to_le64(s->fp_root);
	d->summary_root = dedup_cpu_to_le64(s->summary_root);
	d->save_root = dedup_cpu_to_le64(s->save_root);
	d->save_dir_root = dedup_cpu_to_le64(s->save_dir_root);
	d->save_transaction_id = dedup_cpu_to_le64(s->save_transaction_id);
	d->save_entries = dedup_cpu_to_le64(s->save_entries);
	d->alloc_cursor = dedup_cpu_to_le64(s->alloc_cursor);
	d->nr_mapped = dedup_cpu_to_le64(s->nr_mapped);
	d->nr_zero = dedup_cpu_to_le64(s->nr_zero);
	d->nr_unique = dedup_cpu_to_le64(s->nr_unique);
	d->dedup_hits = dedup_cpu_to_le64(s->dedup_hits);
	d->zero_writes = dedup_cpu_to_le64(s->zero_writes);
	d->commits = dedup_cpu_to_le64(s->commits);
	memcpy(d->uuid, s->uuid, sizeof(d->uuid));
	memcpy(d->hash_name, s->hash_name, sizeof(d->hash_name));
	memcpy(d->metadata_space_map_root, s->metadata_space_map_root,
	       sizeof(d->metadata_space_map_root));
	memcpy(d->bulk_space_map_root, s->bulk_space_map_root,
	       sizeof(d->bulk_space_map_root));
}

/* The array header in CPU order. */
struct dedup_array_header {
	__u32 kind;
	__u64 blocknr;
	__u64 index;
	__u32 entry_size;
};

static inline void dedup_array_header_unpack(const struct dedup_disk_array_header *d,
					     struct dedup_array_header *h)
{
	h->kind = dedup_le32(d->kind);
	h->blocknr = dedup_le64(d->blocknr);
	h->index = dedup_le64(d->index);
	h->entry_size = dedup_le32(d->entry_size);
}

/* Fills every field but csum. */
static inline void dedup_array_header_pack(const struct dedup_array_header *h,
					   struct dedup_disk_array_header *d)
{
	d->kind = dedup_cpu_to_le32(h->kind);
	d->blocknr = dedup_cpu_to_le64(h->blocknr);
	d->index = dedup_cpu_to_le64(h->index);
	d->entry_size = dedup_cpu_to_le32(h->entry_size);
	d->padding = 0;
}

/* Entries of entry_size bytes in one array block. */
static inline __u32 dedup_array_entries_per_block(__u32 entry_size)
{
	return DEDUP_ARRAY_PAYLOAD / entry_size;
}

/* The 6-byte index entry as a number (bits 0..47). */
static inline __u64 dedup_index_entry_get(const __u8 *e)
{
	return (__u64)e[0] | ((__u64)e[1] << 8) | ((__u64)e[2] << 16) |
	       ((__u64)e[3] << 24) | ((__u64)e[4] << 32) | ((__u64)e[5] << 40);
}

static inline void dedup_index_entry_put(__u8 *e, __u64 v)
{
	int i;

	for (i = 0; i < DEDUP_INDEX_ENTRY_SIZE; i++)
		e[i] = (__u8)(v >> (8 * i));
}

/* ==================================================================== */
/* Geometry shared by the module and the tools                          */
/* ==================================================================== */
/*
 * What the module decides from the sizes it is given, and the tools must
 * decide alike: the data block sizes it accepts, and the shape of the RAM
 * fingerprint index (saved as save_shard_bits and save_loc_bits).  The
 * module uses these; dedup_check, dedup_restore, ddgen and
 * dedup_metadata_size use them rather than copies.
 */
#ifdef __KERNEL__
#include <linux/math64.h>
#define dedup_div64(a, b)		div64_u64(a, b)
#else
#define dedup_div64(a, b)		((a) / (b))
#endif

/* data_block_size: a power of two in this range, in bytes */
#define DEDUP_MIN_DATA_BLOCK_SIZE	4096U
#define DEDUP_MAX_DATA_BLOCK_SIZE	65536U

/* A data device holds at least this many data blocks. */
#define DEDUP_MIN_DATA_BLOCKS		16

/*
 * The table line's settings (doc/dm-dedup.rst "Table line"): defaults
 * and most, for the module and for the tools that write table lines.
 */
#define DEDUP_DEFAULT_COMMIT_PERIOD_MS	1000
#define DEDUP_MAX_COMMIT_PERIOD_MS	60000
#define DEDUP_DEFAULT_MAX_OPEN_MB	64
#define DEDUP_MAX_MAX_OPEN_MB		4096

static inline int dedup_data_block_size_ok(__u64 bytes)
{
	return bytes >= DEDUP_MIN_DATA_BLOCK_SIZE &&
	       bytes <= DEDUP_MAX_DATA_BLOCK_SIZE && !(bytes & (bytes - 1));
}

/*
 * The RAM index has at least 2^DEDUP_INDEX_MIN_SHARD_BITS shards, enough
 * that a full device leaves DEDUP_INDEX_FILTER_BITS bits of tag beyond a
 * shard's bucket number and that no shard needs more than about
 * 2^DEDUP_INDEX_MAX_NB_BITS buckets, 17/20 full (dm-dedup-index.c says
 * why).
 */
#define DEDUP_INDEX_MIN_SHARD_BITS	6
#define DEDUP_INDEX_FILTER_BITS		12
#define DEDUP_INDEX_MAX_NB_BITS		11

/* The position of the highest bit set, from 1; 0 for 0 (as fls64()). */
static inline unsigned int dedup_fls64(__u64 x)
{
	unsigned int n = 0;

	while (x) {
		n++;
		x >>= 1;
	}
	return n;
}

/*
 * The shard and loc bits of the RAM index of a data device of
 * data_nr_blocks blocks whose fp array holds fps_per_block fingerprints a
 * block: loc is the fp array block + 1, with room for the device to grow
 * 16 times if the tag can spare 4 bits; the shards are a power of two,
 * enough for every block at the fill a shard is sized for.  The module's
 * dedup_index_geometry() computes this.
 */
static inline void dedup_index_geometry_bits(__u64 data_nr_blocks,
					     unsigned int fps_per_block,
					     unsigned int *shard_bits,
					     unsigned int *loc_bits)
{
	__u64 nfp = dedup_div64(data_nr_blocks + fps_per_block - 1,
				(__u64)fps_per_block);
	__u64 per_shard, shards;
	int nb_bits;

	*loc_bits = dedup_fls64(nfp + 1);
	if (*loc_bits < 8)
		*loc_bits = 8;
	if (DEDUP_INDEX_ENTRY_BITS - *loc_bits >= 28)
		*loc_bits += 4;
	nb_bits = (int)(DEDUP_INDEX_ENTRY_BITS - *loc_bits) -
		DEDUP_INDEX_FILTER_BITS;
	if (nb_bits < 0)
		nb_bits = 0;
	if (nb_bits > DEDUP_INDEX_MAX_NB_BITS)
		nb_bits = DEDUP_INDEX_MAX_NB_BITS;
	per_shard = ((__u64)DEDUP_INDEX_BUCKET_ENTRIES << nb_bits) * 17 / 20;
	shards = dedup_div64(data_nr_blocks, per_shard) + 1;
	if (shards < 1ULL << DEDUP_INDEX_MIN_SHARD_BITS)
		shards = 1ULL << DEDUP_INDEX_MIN_SHARD_BITS;
	/* ilog2(roundup_pow_of_two(shards)) */
	*shard_bits = dedup_fls64(shards - 1);
}

/*
 * Where fingerprint hash h (its first 8 bytes, little endian) lives: its
 * shard, its tag, and the home bucket of that tag in a shard of nb
 * buckets (the format comment above the save arrays).
 */
static inline __u64 dedup_index_shard_of(__u64 h, unsigned int shard_bits)
{
	return h >> (64 - shard_bits);
}

static inline __u64 dedup_index_tag_of(__u64 h, unsigned int shard_bits,
				       unsigned int tag_bits)
{
	return (h << shard_bits) >> (64 - tag_bits);
}

static inline __u32 dedup_index_home_of(__u64 tag, __u32 nb,
					unsigned int tag_bits)
{
	return (__u32)((tag * nb) >> tag_bits);
}

/* ==================================================================== */
/* End of the geometry shared by the module and the tools               */
/* ==================================================================== */

#endif /* DM_DEDUP_FORMAT_H */

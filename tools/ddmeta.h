/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ddmeta.h - read-only access to a dm-dedup metadata device from
 * userspace, shared by dedup_check, dedup_dump and the test helpers.
 *
 * The dm-dedup superblock is defined in include/dm-dedup-format.h.  The
 * rest of the device is dm-persistent-data (Linux 6.1,
 * drivers/md/persistent-data), whose on-disk layout is restated here from
 * reading that code:
 *
 *  - every checksum is crc32c over bytes 4..4095 of the block, started with
 *    ~0, not inverted at the end, xored with a per-type constant, stored
 *    little-endian in bytes 0..3 (dm_bm_checksum());
 *  - a btree node starts with a 32-byte header (csum, flags, blocknr,
 *    nr_entries, max_entries, value_size, padding), followed by max_entries
 *    __le64 keys, then max_entries values of value_size bytes.  Internal
 *    node values are __le64 child block numbers;
 *  - sm_metadata's root (struct disk_sm_root: nr_blocks, nr_allocated,
 *    bitmap_root, ref_count_root, all __le64) names an index block: 16-byte
 *    header (csum, padding, blocknr) and 255 16-byte entries (blocknr,
 *    nr_free, none_free_before);
 *  - a bitmap block has a 16-byte header (csum, not_used, blocknr) and 2
 *    bits per block: 0, 1, 2 = that count, 3 = look the count up in the
 *    overflow refcount btree (keys: block numbers, values: __le32 counts).
 *
 * Nothing here trusts the device: every block number is range checked,
 * every node header is validated before its entries are touched, and every
 * block is visited at most once, so corrupted metadata can neither crash
 * nor loop a walk.
 */
#ifndef DEDUP_TOOLS_DDMETA_H
#define DEDUP_TOOLS_DDMETA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dm-dedup-format.h"
#include "ddhash.h"

#define DD_BLOCK_SIZE		DEDUP_METADATA_BLOCK_SIZE

/* persistent-data constants (Linux 6.1) */
#define DD_BTREE_CSUM_XOR	121107U
#define DD_INDEX_CSUM_XOR	160478U
#define DD_BITMAP_CSUM_XOR	240779U
#define DD_INTERNAL_NODE	1U
#define DD_LEAF_NODE		2U
#define DD_NODE_HEADER_SIZE	32U
#define DD_MAX_METADATA_BITMAPS	255U
#define DD_INDEX_HEADER_SIZE	16U
#define DD_INDEX_ENTRY_SIZE	16U
#define DD_BITMAP_HEADER_SIZE	16U
#define DD_ENTRIES_PER_BITMAP	((DD_BLOCK_SIZE - DD_BITMAP_HEADER_SIZE) * 4U)
#define DD_SM_MAX_BLOCKS	((uint64_t)DD_MAX_METADATA_BITMAPS * DD_ENTRIES_PER_BITMAP)
#define DD_SM_ROOT_SIZE		32U

/* node header field offsets */
#define DD_NODE_FLAGS		4
#define DD_NODE_BLOCKNR		8
#define DD_NODE_NR_ENTRIES	16
#define DD_NODE_MAX_ENTRIES	20
#define DD_NODE_VALUE_SIZE	24

/* walks give up below this depth: dm-btree never gets near it */
#define DD_MAX_DEPTH		16

#define DD_COUNT_UNKNOWN	UINT32_MAX

/* ------------------------------------------------------------------ */
/* little-endian helpers */

static inline uint32_t dd_le32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) |
	       ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static inline uint64_t dd_le64(const void *p)
{
	const uint8_t *b = p;

	return (uint64_t)dd_le32(b) | ((uint64_t)dd_le32(b + 4) << 32);
}

static inline uint64_t dd_be64(const void *p)
{
	const uint8_t *b = p;
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = (v << 8) | b[i];
	return v;
}

static inline void dd_put_le32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v;
	b[1] = v >> 8;
	b[2] = v >> 16;
	b[3] = v >> 24;
}

static inline void dd_put_le64(void *p, uint64_t v)
{
	dd_put_le32(p, (uint32_t)v);
	dd_put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* ------------------------------------------------------------------ */
/* messages */

struct dd_log {
	bool quiet;		/* print nothing at all */
	FILE *out;		/* report lines; stdout by default */
	uint64_t errors;
	uint64_t warnings;
	uint64_t max_lines;	/* 0: unlimited */
	uint64_t printed;
	uint64_t suppressed;
	bool progress;		/* progress line on stderr */
	bool progress_shown;
};

extern struct dd_log dd_log;

/* "error: block B (WHAT): ..." */
void dd_error(uint64_t block, const char *what, const char *fmt, ...)
	__printf(3, 4);
void dd_warning(uint64_t block, const char *what, const char *fmt, ...)
	__printf(3, 4);
/* "error: WHERE: ..." */
void dd_error_at(const char *where, const char *fmt, ...)
	__printf(2, 3);
void dd_warning_at(const char *where, const char *fmt, ...)
	__printf(2, 3);
/* plain report line, not counted */
void dd_info(const char *fmt, ...) __printf(1, 2);
/* rate-limited progress line on stderr */
void dd_progress(const char *phase, uint64_t done, uint64_t total);
void dd_progress_done(void);

/* ------------------------------------------------------------------ */
/* devices */

struct dd_dev {
	int fd;
	const char *path;
	uint64_t size;		/* bytes */
	bool io_error;		/* a read failed (not: ended short) */
};

/* Open a file or block device; prints the reason and returns -1 on failure. */
int dd_dev_open(struct dd_dev *d, const char *path, bool writable);
void dd_dev_close(struct dd_dev *d);
/* 0: read, 1: beyond the end of the device, -1: I/O error (reported) */
int dd_dev_read(struct dd_dev *d, uint64_t off, void *buf, size_t len);
int dd_dev_write(struct dd_dev *d, uint64_t off, const void *buf, size_t len);

/* ------------------------------------------------------------------ */
/* checksums */

uint32_t dd_block_csum(const uint8_t *blk, uint32_t xor);
/* Recompute and store bytes 0..3 of a block. */
void dd_block_set_csum(uint8_t *blk, uint32_t xor);
uint32_t dd_calc_max_entries(uint32_t value_size);

/* ------------------------------------------------------------------ */
/* superblock */

struct dd_sb {
	uint32_t csum;
	uint32_t flags;
	uint64_t blocknr;
	uint8_t uuid[16];
	uint64_t magic;
	uint32_t version;
	uint32_t incompat_flags;
	uint32_t compat_flags;
	uint32_t metadata_block_size;
	uint32_t data_block_size;
	uint32_t fp_size;
	char hash_name[DEDUP_HASH_NAME_LEN + 1];
	uint64_t data_nr_blocks;
	uint64_t transaction_id;
	uint64_t sm_nr_blocks;
	uint64_t sm_nr_allocated;
	uint64_t sm_bitmap_root;
	uint64_t sm_ref_count_root;
	uint64_t lbn_root;
	uint64_t refcount_root;
	uint64_t index_root;
	uint64_t nr_mapped;
	uint64_t nr_zero;
	uint64_t nr_unique;
	uint64_t nr_indexed;
	uint64_t dedup_hits;
	uint64_t zero_writes;
	uint64_t commits;

	/* derived by dd_sb_check() */
	enum dd_hash_alg alg;
	bool data_geometry_ok;	/* data_block_size and data_nr_blocks usable */
	bool fp_ok;		/* fp_size usable for index checks */
};

enum dd_sb_status {
	DD_SB_OK = 0,		/* usable, maybe with reported errors */
	DD_SB_BAD,		/* not usable: reported */
	DD_SB_REFUSE,		/* unknown incompat features: reported */
};

void dd_sb_decode(const uint8_t *blk, struct dd_sb *sb);
/* Validate block 0 (already read into blk) and decode it into sb. */
enum dd_sb_status dd_sb_check(const uint8_t *blk, struct dd_sb *sb);

/* ------------------------------------------------------------------ */
/* walking */

enum dd_tree_id {
	DD_TREE_SMREF = 0,	/* sm_metadata's overflow refcount btree */
	DD_TREE_LBN,
	DD_TREE_REFCOUNT,
	DD_TREE_INDEX,
	DD_NR_TREES,
};

/* What a metadata block was reached as. */
enum dd_kind {
	DD_KIND_NONE = 0,
	DD_KIND_SUPER,
	DD_KIND_SM_INDEX,
	DD_KIND_SM_BITMAP,
	DD_KIND_TREE_BASE,	/* + 3 * tree id + 0 node, 1 internal, 2 leaf */
	DD_NR_KINDS = DD_KIND_TREE_BASE + 3 * DD_NR_TREES,
};

static inline enum dd_kind dd_tree_kind(enum dd_tree_id t, uint32_t flags)
{
	int sub = flags == DD_INTERNAL_NODE ? 1 : flags == DD_LEAF_NODE ? 2 : 0;

	return (enum dd_kind)(DD_KIND_TREE_BASE + 3 * t + sub);
}

const char *dd_kind_name(enum dd_kind k);
const char *dd_tree_name(enum dd_tree_id t);
uint32_t dd_tree_value_size(enum dd_tree_id t);

struct dd_meta {
	struct dd_dev *dev;
	struct dd_sb sb;
	uint64_t dev_blocks;	/* whole metadata blocks on the device */
	uint64_t nr_blocks;	/* blocks tracked: the space map's size */
	uint32_t *refs;		/* references found by walking */
	uint8_t *kind;		/* enum dd_kind of the first reference */
	uint64_t visited;	/* blocks read by walks, for progress */
};

int dd_meta_init(struct dd_meta *m, struct dd_dev *dev, const struct dd_sb *sb);
void dd_meta_reset(struct dd_meta *m);
void dd_meta_free(struct dd_meta *m);

/*
 * Count a reference from block 'from' (described as 'from_what') to block
 * b, reached as 'kind'.  Reports references out of range and second
 * references (dm-dedup metadata shares no block).  True when the caller
 * should read and descend into b.
 */
bool dd_meta_ref(struct dd_meta *m, uint64_t b, enum dd_kind kind,
		 uint64_t from, const char *from_what);

/* Read metadata block b: 0 ok, else reported as an error naming 'what'. */
int dd_meta_read(struct dd_meta *m, uint64_t b, const char *what, uint8_t *buf);

struct dd_tree;

/* Called once per leaf entry, in walk (key) order. */
typedef void (*dd_entry_fn)(struct dd_tree *t, uint64_t block, uint32_t index,
			    uint64_t key, const uint8_t *value);

struct dd_tree {
	enum dd_tree_id id;
	dd_entry_fn entry;
	void *priv;

	/* results */
	uint64_t root;
	uint64_t nr_internal;
	uint64_t nr_leaves;
	uint64_t nr_entries;
	uint32_t depth;		/* levels, leaves included */
	uint32_t leaf_depth;	/* depth of the first leaf reached */
	bool damaged;		/* some part could not be walked */

	/* walk state */
	struct dd_meta *m;
	uint8_t (*bufs)[DD_BLOCK_SIZE];
};

/*
 * Walk the btree at 'root' referenced from block 'from', validating every
 * node (checksum, location, flags, value size, max_entries, nr_entries,
 * key order and key ranges, equal leaf depth) and calling t->entry for
 * every leaf entry.  Returns -1 on allocation failure.
 */
int dd_walk_tree(struct dd_meta *m, struct dd_tree *t, uint64_t root,
		 uint64_t from, const char *from_what);

/* ------------------------------------------------------------------ */
/* the metadata space map */

struct dd_sm {
	uint64_t nr_blocks;
	uint64_t nr_allocated;
	uint64_t bitmap_root;
	uint64_t ref_count_root;
	uint32_t nr_bitmaps;
	uint64_t bitmap_blocks[DD_MAX_METADATA_BITMAPS];
	uint32_t *count;	/* per block, DD_COUNT_UNKNOWN if unreadable */
	bool root_ok;		/* nr_blocks usable */
	bool complete;		/* every count known */
	struct dd_tree overflow;
	uint64_t overflow_entries;
};

/* Check the space-map root fields in the superblock; sets root_ok. */
void dd_sm_check_root(struct dd_sm *sm, const struct dd_sb *sb, uint64_t dev_blocks);
/* Read the index, bitmaps and overflow tree; counts references in m. */
int dd_sm_load(struct dd_meta *m, struct dd_sm *sm);
void dd_sm_free(struct dd_sm *sm);

/* ------------------------------------------------------------------ */

/* Format a fingerprint as hex into out (2 * len + 1 bytes). */
void dd_hex(char *out, const uint8_t *p, size_t len);
/* Format a uuid as 8-4-4-4-12 hex (37 bytes). */
void dd_uuid_str(char *out, const uint8_t *uuid);

#endif /* DEDUP_TOOLS_DDMETA_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * sm.h - dm-persistent-data space maps (Linux 6.1, dm-space-map-common.c,
 * -metadata.c, -disk.c), read and built from userspace.
 *
 * A space map counts references to the blocks it covers.  Its root
 * (struct disk_sm_root: __le64 nr_blocks, nr_allocated, bitmap_root,
 * ref_count_root) names:
 *  - bitmaps: a 16-byte header (__le32 csum xor 240779, __le32 not_used,
 *    __le64 blocknr) and 2 bits per block, 16320 blocks a bitmap, in
 *    little-endian 64-bit words, the high bit of a pair first: 0, 1, 2 are
 *    that count, 3 means "look in the overflow btree";
 *  - an index of the bitmaps, 16-byte entries (__le64 blocknr, __le32
 *    nr_free, __le32 none_free_before): for sm_metadata one index block
 *    at bitmap_root (csum xor 160478, padding, blocknr, 255 entries); for
 *    sm_disk a btree at bitmap_root keyed by bitmap number with the
 *    entries as values;
 *  - the overflow btree at ref_count_root: block number -> __le32 count,
 *    for counts above 2.
 * nr_free counts every entry of the bitmap that is 0, including those past
 * nr_blocks in the last bitmap (sm_ll_extend() starts them all free).
 *
 * sm_metadata covers the metadata device from block 0 and its own blocks
 * are counted in itself; sm_disk's blocks (bitmaps, btree nodes) live in
 * and are counted by the metadata space map of the same transaction.
 */
#ifndef PDATA_SM_H
#define PDATA_SM_H

#include <stdbool.h>
#include <stdint.h>

#include "pdata/btree.h"
#include "pdata/refs.h"

#define PD_SM_ROOT_SIZE			32U
#define PD_SM_INDEX_CSUM_XOR		160478U
#define PD_SM_BITMAP_CSUM_XOR		240779U
#define PD_SM_BITMAP_HEADER_SIZE	16U
#define PD_SM_ENTRIES_PER_BITMAP	((PD_BLOCK_SIZE - PD_SM_BITMAP_HEADER_SIZE) * 4U)
#define PD_SM_INDEX_HEADER_SIZE		16U
#define PD_SM_INDEX_ENTRY_SIZE		16U
#define PD_SM_METADATA_MAX_BITMAPS	255U
#define PD_SM_METADATA_MAX_BLOCKS	((uint64_t)PD_SM_METADATA_MAX_BITMAPS * \
					 PD_SM_ENTRIES_PER_BITMAP)

struct pd_sm_root {
	uint64_t nr_blocks;
	uint64_t nr_allocated;
	uint64_t bitmap_root;
	uint64_t ref_count_root;
};

void pd_sm_root_unpack(const uint8_t *p, struct pd_sm_root *r);
void pd_sm_root_pack(const struct pd_sm_root *r, uint8_t *p);

/* Count i (0..3) of a bitmap's data (after the header). */
unsigned int pd_bitmap_get(const uint8_t *data, uint32_t i);
void pd_bitmap_set(uint8_t *data, uint32_t i, unsigned int v);

struct pd_sm_overflow {
	uint64_t block;
	uint32_t count;
};

/* A space map as read from the device. */
struct pd_sm {
	const char *name;	/* "space map", "bulk space map" */
	bool disk;		/* sm_disk (index btree), else sm_metadata */
	struct pd_sm_root root;
	uint64_t base;		/* device block of the map's block 0 */
	uint32_t nr_bitmaps;
	uint64_t *bitmap_block;	/* device block of each bitmap */
	uint8_t *bits;		/* each bitmap's data; NULL rows unread */
	bool *bitmap_ok;
	uint64_t index_block;	/* sm_metadata: the index block */
	struct pd_sm_overflow *overflow;	/* sorted by block */
	size_t nr_overflow;
	size_t cap_overflow;
	struct pd_btree index_tree;	/* sm_disk */
	struct pd_btree ref_tree;
	uint8_t kind_index;
	uint8_t kind_bitmap;
	bool root_ok;		/* nr_blocks usable */
	bool complete;		/* every count known */
	uint32_t index_seen;	/* sm_disk: index entries found */
};

/*
 * Reads the space map whose root is root, counting its own blocks
 * (index, bitmaps, btree nodes) in c->refs as referenced from block from
 * (from_what).  Everything is validated and reported; what cannot be read
 * leaves those counts unknown (complete false).
 */
void pd_sm_load(struct pd_ctx *c, struct pd_sm *sm, const char *name,
		bool disk, const struct pd_sm_root *root, uint64_t base,
		uint64_t from, const char *from_what);
/* Count of block b (relative to base); false if unknown. */
bool pd_sm_count(const struct pd_sm *sm, uint64_t b, uint32_t *count);
/*
 * Compares every count with the references walks found in c->refs:
 * referenced but free, counts that differ, and (with leaks) blocks counted
 * that nothing references; then nr_allocated.  Returns blocks in use.
 */
uint64_t pd_sm_compare(struct pd_ctx *c, struct pd_sm *sm, bool leaks,
		       uint64_t sb_block, const char *sb_what);
void pd_sm_free(struct pd_sm *sm);

/*
 * Building a space map in which blocks [0, used) have count 1 and the
 * rest are free: the bitmaps are written at bitmap_blocks (nr_bitmaps =
 * ceil(nr_blocks / 16320)), and their index entries are returned in ie
 * (16 bytes each), ready for an index block or an index btree.
 */
struct pd_writer;

int pd_sm_build_bitmaps(struct pd_writer *w, const uint64_t *bitmap_blocks,
			uint64_t nr_blocks, uint64_t used, uint8_t *ie);
/* sm_metadata's index block at b, from nr_bitmaps entries. */
int pd_sm_write_index_block(struct pd_writer *w, uint64_t b,
			    const uint8_t *ie, uint32_t nr_bitmaps);
static inline uint32_t pd_sm_nr_bitmaps(uint64_t nr_blocks)
{
	return (nr_blocks + PD_SM_ENTRIES_PER_BITMAP - 1) /
		PD_SM_ENTRIES_PER_BITMAP;
}

#endif /* PDATA_SM_H */

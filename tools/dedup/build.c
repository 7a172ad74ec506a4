// SPDX-License-Identifier: GPL-2.0
/*
 * build.c - writing a metadata image bottom-up in one pass (see
 * struct dd_builder): array blocks, the btrees indexing them, both space
 * maps and the superblock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"
#include "pdata/log.h"

int dd_builder_open(struct dd_builder *b, const char *path,
		    uint64_t nr_blocks, uint32_t fill)
{
	memset(b, 0, sizeof(*b));
	if (nr_blocks < DEDUP_MIN_METADATA_BLOCKS) {
		fprintf(stderr, "%s: a metadata device needs at least %u blocks of %u bytes\n",
			pd_prog, DEDUP_MIN_METADATA_BLOCKS, DD_BLOCK_SIZE);
		return -1;
	}
	if (pd_dev_create(&b->dev, path, nr_blocks * DD_BLOCK_SIZE))
		return -1;
	pd_writer_init(&b->w, &b->dev);
	b->nr_blocks = nr_blocks;
	b->a_blocks = nr_blocks < DEDUP_REGION_A_MAX_BLOCKS ? nr_blocks :
		DEDUP_REGION_A_MAX_BLOCKS;
	b->a_next = DEDUP_SUPERBLOCK_LOCATION + 1;
	if (nr_blocks > DEDUP_REGION_A_MAX_BLOCKS) {
		b->bulk = true;
		b->bulk_start = DEDUP_REGION_A_MAX_BLOCKS;
		b->bulk_nr = nr_blocks - DEDUP_REGION_A_MAX_BLOCKS;
	}
	b->fill = fill;
	return 0;
}

int dd_alloc_node(void *ctx, uint64_t *blk)
{
	struct dd_builder *b = ctx;

	if (b->a_next >= b->a_blocks) {
		if (!b->full)
			fprintf(stderr, "%s: the metadata device is too small: region A (%llu blocks) is full\n",
				pd_prog, (unsigned long long)b->a_blocks);
		b->full = true;
		return -1;
	}
	*blk = b->a_next++;
	return 0;
}

int dd_alloc_array_block(void *ctx, uint64_t *blk)
{
	struct dd_builder *b = ctx;

	if (b->bulk && b->b_next < b->bulk_nr) {
		*blk = b->bulk_start + b->b_next++;
		return 0;
	}
	return dd_alloc_node(ctx, blk);
}

/* sm_disk of the bulk region: bitmaps and index btree in region A. */
static int build_bulk_sm(struct dd_builder *b, struct pd_sm_root *root)
{
	uint32_t nr = pd_sm_nr_bitmaps(b->bulk_nr), i;
	uint64_t *blocks = pd_calloc(nr, sizeof(*blocks));
	uint8_t *ie = pd_calloc(nr, PD_SM_INDEX_ENTRY_SIZE);
	struct pd_btree_builder bb;
	int r = 0;

	for (i = 0; i < nr && !r; i++)
		r = dd_alloc_node(b, &blocks[i]);
	if (!r)
		r = pd_sm_build_bitmaps(&b->w, blocks, b->bulk_nr, b->b_next,
					ie);
	pd_bb_init(&bb, &b->w, dd_alloc_node, b, PD_SM_INDEX_ENTRY_SIZE,
		   b->fill);
	for (i = 0; i < nr && !r; i++)
		r = pd_bb_add(&bb, i, ie + (size_t)PD_SM_INDEX_ENTRY_SIZE * i);
	if (!r)
		r = pd_bb_finish(&bb, &root->bitmap_root);
	pd_bb_init(&bb, &b->w, dd_alloc_node, b, 4, b->fill);
	if (!r)
		r = pd_bb_finish(&bb, &root->ref_count_root);
	root->nr_blocks = b->bulk_nr;
	root->nr_allocated = b->b_next;
	free(blocks);
	free(ie);
	return r;
}

/* sm_metadata of region A; allocates last, so it counts every block. */
static int build_metadata_sm(struct dd_builder *b, struct pd_sm_root *root)
{
	uint32_t nr = pd_sm_nr_bitmaps(b->a_blocks), i;
	uint64_t *blocks = pd_calloc(nr, sizeof(*blocks));
	uint8_t *ie = pd_calloc(nr, PD_SM_INDEX_ENTRY_SIZE);
	struct pd_btree_builder bb;
	int r;

	pd_bb_init(&bb, &b->w, dd_alloc_node, b, 4, b->fill);
	r = pd_bb_finish(&bb, &root->ref_count_root);
	if (!r)
		r = dd_alloc_node(b, &root->bitmap_root);
	for (i = 0; i < nr && !r; i++)
		r = dd_alloc_node(b, &blocks[i]);
	if (!r)
		r = pd_sm_build_bitmaps(&b->w, blocks, b->a_blocks, b->a_next,
					ie);
	if (!r)
		r = pd_sm_write_index_block(&b->w, root->bitmap_root, ie, nr);
	root->nr_blocks = b->a_blocks;
	root->nr_allocated = b->a_next;
	free(blocks);
	free(ie);
	return r;
}

int dd_builder_finish(struct dd_builder *b)
{
	struct pd_sm_root msm, bsm;
	struct dedup_sb *sb = &b->sb;
	uint8_t blk[DD_BLOCK_SIZE];
	int r = 0;

	memset(sb->bulk_space_map_root, 0, sizeof(sb->bulk_space_map_root));
	memset(sb->metadata_space_map_root, 0,
	       sizeof(sb->metadata_space_map_root));
	sb->incompat_flags &= ~DEDUP_INCOMPAT_BULK;
	sb->bulk_start = 0;
	sb->bulk_nr_blocks = 0;
	if (b->bulk) {
		r = build_bulk_sm(b, &bsm);
		pd_sm_root_pack(&bsm, sb->bulk_space_map_root);
		sb->incompat_flags |= DEDUP_INCOMPAT_BULK;
		sb->bulk_start = b->bulk_start;
		sb->bulk_nr_blocks = b->bulk_nr;
	}
	if (!r)
		r = build_metadata_sm(b, &msm);
	if (r)
		return -1;
	pd_sm_root_pack(&msm, sb->metadata_space_map_root);
	sb->magic = DEDUP_MAGIC;
	sb->version = DEDUP_METADATA_VERSION;
	sb->metadata_block_size = DEDUP_METADATA_BLOCK_SIZE;
	sb->metadata_nr_blocks = b->nr_blocks;

	/* everything else is on the device before the superblock names it */
	if (pd_writer_flush(&b->w) || pd_dev_sync(&b->dev))
		return -1;
	dd_super_encode(sb, blk);
	if (pd_dev_write(&b->dev, 0, blk, sizeof(blk)) || pd_dev_sync(&b->dev))
		return -1;
	return 0;
}

void dd_builder_close(struct dd_builder *b)
{
	pd_writer_free(&b->w);
	pd_dev_close(&b->dev);
}

/* ------------------------------------------------------------------ */
/* array writer */

void dd_aw_init(struct dd_array_writer *aw, struct dd_builder *b,
		enum dd_array_id id, uint32_t fp_size)
{
	memset(aw, 0, sizeof(*aw));
	aw->b = b;
	aw->id = id;
	aw->entry_size = dd_array_entry_size(id, fp_size);
	aw->per_block = dedup_array_entries_per_block(aw->entry_size);
	pd_bb_init(&aw->bb, &b->w, dd_alloc_node, b, 8, b->fill);
}

static int flush_block(struct dd_array_writer *aw)
{
	struct dedup_array_header h = {
		.kind = dd_array_kind(aw->id),
		.index = aw->bidx,
		.entry_size = aw->entry_size,
	};
	uint8_t v[8];
	uint64_t loc;

	aw->have = false;
	if (!aw->nonzero)
		return 0;
	if (dd_alloc_array_block(aw->b, &loc))
		return -1;
	h.blocknr = loc;
	dedup_array_header_pack(&h, (void *)aw->blk);
	pd_block_set_csum(aw->blk, DEDUP_ARRAY_CSUM_XOR);
	if (pd_writer_put(&aw->b->w, loc, aw->blk))
		return -1;
	aw->nr_blocks++;
	pd_put_le64(v, loc);
	return pd_bb_add(&aw->bb, aw->bidx, v);
}

int dd_aw_put(struct dd_array_writer *aw, uint64_t idx, const void *entry)
{
	uint64_t bidx = idx / aw->per_block;
	uint32_t off = idx % aw->per_block;

	if (aw->nr_entries && idx <= aw->last_idx) {
		fprintf(stderr, "%s: %s array entries out of order (%llu after %llu)\n",
			pd_prog, dd_array_name(aw->id),
			(unsigned long long)idx,
			(unsigned long long)aw->last_idx);
		return -1;
	}
	if (pd_all_zero(entry, aw->entry_size, NULL))
		return 0;
	aw->last_idx = idx;
	aw->nr_entries++;
	if (aw->have && aw->bidx != bidx && flush_block(aw))
		return -1;
	if (!aw->have) {
		memset(aw->blk, 0, sizeof(aw->blk));
		aw->bidx = bidx;
		aw->have = true;
		aw->nonzero = false;
	}
	memcpy(aw->blk + DEDUP_ARRAY_HEADER_SIZE + (size_t)off * aw->entry_size,
	       entry, aw->entry_size);
	aw->nonzero = true;
	return 0;
}

int dd_aw_finish(struct dd_array_writer *aw)
{
	uint64_t root;

	if (aw->have && flush_block(aw))
		return -1;
	if (pd_bb_finish(&aw->bb, &root))
		return -1;
	*dd_array_root(&aw->b->sb, aw->id) = root;
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * array.c - reading the sparse arrays: the btree of array-block
 * locations, and array blocks with their header checked as the module's
 * array validator and check_header() do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"
#include "pdata/log.h"

static const struct {
	const char *name;
	uint32_t kind;
	uint32_t entry_size;	/* 0: fp_size */
} arrays[DD_NR_ARRAYS] = {
	[DD_A_LBN] = { "lbn", DEDUP_ARRAY_LBN, 8 },
	[DD_A_REFCOUNT] = { "refcount", DEDUP_ARRAY_REFCOUNT, 4 },
	[DD_A_FP] = { "fp", DEDUP_ARRAY_FP, 0 },
	[DD_A_SUMMARY] = { "summary", DEDUP_ARRAY_SUMMARY, 4 },
	[DD_A_SAVE] = { "save", DEDUP_ARRAY_SAVE, DEDUP_INDEX_BUCKET_SIZE },
	[DD_A_SAVE_DIR] = { "save_dir", DEDUP_ARRAY_SAVE_DIR, 8 },
};

const char *dd_array_name(enum dd_array_id id)
{
	return arrays[id].name;
}

uint32_t dd_array_kind(enum dd_array_id id)
{
	return arrays[id].kind;
}

uint32_t dd_array_entry_size(enum dd_array_id id, uint32_t fp_size)
{
	return arrays[id].entry_size ? arrays[id].entry_size : fp_size;
}

__u64 *dd_array_root(struct dedup_sb *sb, enum dd_array_id id)
{
	switch (id) {
	case DD_A_LBN:
		return &sb->lbn_root;
	case DD_A_REFCOUNT:
		return &sb->refcount_root;
	case DD_A_FP:
		return &sb->fp_root;
	case DD_A_SUMMARY:
		return &sb->summary_root;
	case DD_A_SAVE:
		return &sb->save_root;
	default:
		return &sb->save_dir_root;
	}
}

static void array_entry(struct pd_btree *t, uint64_t block, uint32_t index,
			uint64_t key, const uint8_t *value)
{
	struct pd_ctx *c = ((void **)t->priv)[0];
	struct dd_array *a = ((void **)t->priv)[1];
	const struct dd_layout *l = a->lay;
	const char *what = pd_kind_name(t->kind_leaf);
	uint64_t loc = pd_le64(value);
	struct dd_ablock *ab;
	bool in_a, in_bulk;

	in_a = loc > 0 && loc < l->a_blocks;
	in_bulk = l->bulk && loc >= l->bulk_start &&
		  loc - l->bulk_start < l->bulk_nr;
	if (!in_a && !in_bulk) {
		if (loc >= l->dev_blocks)
			pd_error(block, what, "entry %u: %s array block %llu at block %llu, beyond the metadata device (%llu blocks)",
				 index, a->name, (unsigned long long)key,
				 (unsigned long long)loc,
				 (unsigned long long)l->dev_blocks);
		else
			pd_error(block, what, "entry %u: %s array block %llu at block %llu, outside region A and the bulk region",
				 index, a->name, (unsigned long long)key,
				 (unsigned long long)loc);
		a->bad_blocks++;
		return;
	}
	if (!pd_ref(c, loc, a->kind_block, c->refs.nr_blocks,
		    "the metadata device", block, what)) {
		a->bad_blocks++;
		return;
	}
	pd_grow((void **)&a->blocks, &a->cap_blocks, a->nr_blocks + 1,
		sizeof(*a->blocks));
	ab = &a->blocks[a->nr_blocks++];
	ab->bidx = key;
	ab->loc = loc;
	ab->leaf = block;
}

void dd_array_load(struct pd_ctx *c, struct dd_array *a, enum dd_array_id id,
		   uint32_t fp_size, uint64_t root, const struct dd_layout *lay)
{
	char name[48];
	void *priv[2] = { c, a };

	memset(a, 0, sizeof(*a));
	a->id = id;
	a->name = arrays[id].name;
	a->kind = arrays[id].kind;
	a->entry_size = dd_array_entry_size(id, fp_size);
	a->per_block = a->entry_size ?
		dedup_array_entries_per_block(a->entry_size) : 1;
	a->lay = lay;
	snprintf(a->block_what, sizeof(a->block_what), "%s array block",
		 a->name);
	a->kind_block = pd_kind(a->block_what);
	snprintf(name, sizeof(name), "%s tree", a->name);
	pd_btree_init(&a->tree, pd_kind_name(pd_kind(name)), 8, array_entry,
		      priv);
	pd_btree_walk(c, &a->tree, root, 0, "superblock");
	a->tree.priv = NULL;
}

int dd_array_read(struct pd_ctx *c, struct dd_array *a, size_t i,
		  uint8_t *blk)
{
	const struct dd_ablock *ab = &a->blocks[i];
	const char *what = a->block_what;
	struct dedup_array_header h;
	uint32_t csum;

	if (pd_read_block(c, ab->loc, what, blk))
		goto bad;
	dedup_array_header_unpack((const void *)blk, &h);
	if (h.blocknr != ab->loc) {
		pd_error(ab->loc, what, "location field says block %llu",
			 (unsigned long long)h.blocknr);
		goto bad;
	}
	csum = pd_block_csum(blk, DEDUP_ARRAY_CSUM_XOR);
	if (csum != pd_le32(blk)) {
		pd_error(ab->loc, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 pd_le32(blk), csum);
		goto bad;
	}
	if (h.kind != a->kind) {
		pd_error(ab->loc, what, "kind %u, expected %u (%s)", h.kind,
			 a->kind, a->name);
		goto bad;
	}
	if (h.index != ab->bidx) {
		pd_error(ab->loc, what, "index %llu, but the %s tree maps index %llu here (block %llu)",
			 (unsigned long long)h.index, a->name,
			 (unsigned long long)ab->bidx,
			 (unsigned long long)ab->leaf);
		goto bad;
	}
	if (h.entry_size != a->entry_size) {
		pd_error(ab->loc, what, "entry size %u, expected %u",
			 h.entry_size, a->entry_size);
		goto bad;
	}
	if (pd_le32(blk + offsetof(struct dedup_disk_array_header, padding)))
		pd_warning(ab->loc, what, "header padding is not zero");
	return 0;
bad:
	a->bad_blocks++;
	return -1;
}

void dd_array_free(struct dd_array *a)
{
	free(a->blocks);
	a->blocks = NULL;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * sm.c - reading, checking and building sm_metadata and sm_disk space
 * maps (see sm.h for the layout).
 */
#include <stdlib.h>
#include <string.h>

#include "pdata/le.h"
#include "pdata/log.h"
#include "pdata/sm.h"

#define COUNT_OVERFLOW	3

void pd_sm_root_unpack(const uint8_t *p, struct pd_sm_root *r)
{
	r->nr_blocks = pd_le64(p);
	r->nr_allocated = pd_le64(p + 8);
	r->bitmap_root = pd_le64(p + 16);
	r->ref_count_root = pd_le64(p + 24);
}

void pd_sm_root_pack(const struct pd_sm_root *r, uint8_t *p)
{
	pd_put_le64(p, r->nr_blocks);
	pd_put_le64(p + 8, r->nr_allocated);
	pd_put_le64(p + 16, r->bitmap_root);
	pd_put_le64(p + 24, r->ref_count_root);
}

unsigned int pd_bitmap_get(const uint8_t *data, uint32_t i)
{
	uint32_t bit = 2 * i;
	unsigned int hi = (data[bit / 8] >> (bit % 8)) & 1;
	unsigned int lo = (data[(bit + 1) / 8] >> ((bit + 1) % 8)) & 1;

	return (hi << 1) | lo;
}

void pd_bitmap_set(uint8_t *data, uint32_t i, unsigned int v)
{
	uint32_t bit = 2 * i;

	data[bit / 8] &= ~(3U << (bit % 8));
	data[bit / 8] |= (((v >> 1) & 1) | ((v & 1) << 1)) << (bit % 8);
}

/* ------------------------------------------------------------------ */
/* loading */

#define BITMAP_DATA	(PD_BLOCK_SIZE - PD_SM_BITMAP_HEADER_SIZE)

/* Bitmap idx, named by index entry ie found in block from (from_what). */
static void load_bitmap(struct pd_ctx *c, struct pd_sm *sm, uint32_t idx,
			const uint8_t *ie, uint64_t from, const char *from_what,
			uint8_t *buf)
{
	const char *what = pd_kind_name(sm->kind_bitmap);
	uint64_t b = pd_le64(ie);
	uint32_t nr_free = pd_le32(ie + 8);
	uint32_t nfb = pd_le32(ie + 12);
	uint64_t base = (uint64_t)idx * PD_SM_ENTRIES_PER_BITMAP;
	const uint8_t *data = buf + PD_SM_BITMAP_HEADER_SIZE;
	uint32_t i, used = 0, first_free = UINT32_MAX, csum;
	bool tail_bad = false;

	sm->bitmap_block[idx] = b;
	if (!pd_ref_node(c, b, sm->kind_bitmap, from, from_what))
		return;
	if (pd_read_block(c, b, what, buf))
		return;
	if (pd_le64(buf + 8) != b) {
		pd_error(b, what, "location field says block %llu",
			 (unsigned long long)pd_le64(buf + 8));
		return;
	}
	csum = pd_block_csum(buf, PD_SM_BITMAP_CSUM_XOR);
	if (csum != pd_le32(buf)) {
		pd_error(b, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 pd_le32(buf), csum);
		return;
	}
	for (i = 0; i < PD_SM_ENTRIES_PER_BITMAP; i++) {
		unsigned int v = pd_bitmap_get(data, i);

		if (v)
			used++;
		else if (first_free == UINT32_MAX)
			first_free = i;
		if (v && base + i >= sm->root.nr_blocks && !tail_bad) {
			pd_error(b, what, "count %u for block %llu beyond the end of the %s",
				 v, (unsigned long long)(base + i), sm->name);
			tail_bad = true;
		}
	}
	memcpy(sm->bits + (size_t)idx * BITMAP_DATA, data, BITMAP_DATA);
	sm->bitmap_ok[idx] = true;
	if (nr_free != PD_SM_ENTRIES_PER_BITMAP - used)
		pd_error(from, from_what, "entry %u (bitmap block %llu) says %u free, the bitmap has %u",
			 idx, (unsigned long long)b, nr_free,
			 PD_SM_ENTRIES_PER_BITMAP - used);
	if (first_free != UINT32_MAX && nfb > first_free)
		pd_warning(from, from_what, "entry %u (bitmap block %llu): none_free_before %u but entry %u is free",
			   idx, (unsigned long long)b, nfb, first_free);
}

static void load_index_block(struct pd_ctx *c, struct pd_sm *sm,
			     uint64_t from, const char *from_what)
{
	const char *what = pd_kind_name(sm->kind_index);
	uint64_t ib = sm->root.bitmap_root;
	uint8_t *idx = pd_malloc(PD_BLOCK_SIZE), *buf = pd_malloc(PD_BLOCK_SIZE);
	uint32_t i, csum;

	sm->index_block = ib;
	if (!pd_ref_node(c, ib, sm->kind_index, from, from_what))
		goto out;
	if (pd_read_block(c, ib, what, idx))
		goto out;
	if (pd_le64(idx + 8) != ib) {
		pd_error(ib, what, "location field says block %llu",
			 (unsigned long long)pd_le64(idx + 8));
		goto out;
	}
	csum = pd_block_csum(idx, PD_SM_INDEX_CSUM_XOR);
	if (csum != pd_le32(idx)) {
		pd_error(ib, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 pd_le32(idx), csum);
		goto out;
	}
	for (i = 0; i < PD_SM_METADATA_MAX_BITMAPS; i++) {
		const uint8_t *ie = idx + PD_SM_INDEX_HEADER_SIZE +
				    PD_SM_INDEX_ENTRY_SIZE * i;

		if (i < sm->nr_bitmaps) {
			load_bitmap(c, sm, i, ie, ib, what, buf);
			continue;
		}
		if (!pd_all_zero(ie, PD_SM_INDEX_ENTRY_SIZE, NULL)) {
			pd_warning(ib, what, "unused entry %u is not zero", i);
			break;
		}
	}
out:
	free(idx);
	free(buf);
}

struct disk_index_walk {
	struct pd_ctx *c;
	struct pd_sm *sm;
	uint8_t *buf;
};

static void disk_index_entry(struct pd_btree *t, uint64_t block,
			     uint32_t index, uint64_t key, const uint8_t *value)
{
	struct disk_index_walk *dw = t->priv;
	struct pd_sm *sm = dw->sm;
	const char *what = pd_kind_name(t->kind_leaf);

	if (key >= sm->nr_bitmaps) {
		pd_error(block, what, "entry %u for bitmap %llu beyond the %u bitmaps of the %s",
			 index, (unsigned long long)key, sm->nr_bitmaps,
			 sm->name);
		return;
	}
	sm->index_seen++;
	load_bitmap(dw->c, sm, key, value, block, what, dw->buf);
}

static void overflow_entry(struct pd_btree *t, uint64_t block,
			   uint32_t index, uint64_t key, const uint8_t *value)
{
	struct pd_sm *sm = t->priv;
	const char *what = pd_kind_name(t->kind_leaf);
	uint32_t count = pd_le32(value);
	struct pd_sm_overflow *o;

	if (key >= sm->root.nr_blocks) {
		pd_error(block, what, "entry %u for block %llu beyond the %s",
			 index, (unsigned long long)key, sm->name);
		return;
	}
	if (count < 3) {
		pd_error(block, what, "entry %u: block %llu has count %u, below 3",
			 index, (unsigned long long)key, count);
		return;
	}
	pd_grow((void **)&sm->overflow, &sm->cap_overflow, sm->nr_overflow + 1,
		sizeof(*sm->overflow));
	o = &sm->overflow[sm->nr_overflow++];
	o->block = key;
	o->count = count;
}

static const struct pd_sm_overflow *find_overflow(const struct pd_sm *sm,
						  uint64_t b)
{
	size_t lo = 0, hi = sm->nr_overflow;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (sm->overflow[mid].block < b)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < sm->nr_overflow && sm->overflow[lo].block == b ?
		&sm->overflow[lo] : NULL;
}

static bool check_root(struct pd_ctx *c, struct pd_sm *sm, uint64_t from,
		       const char *from_what)
{
	const struct pd_sm_root *r = &sm->root;

	if (!r->nr_blocks || (!sm->disk && r->nr_blocks >
			       PD_SM_METADATA_MAX_BLOCKS)) {
		pd_error(from, from_what, "%s size %llu blocks out of range 1..%llu",
			 sm->name, (unsigned long long)r->nr_blocks,
			 (unsigned long long)(sm->disk ? c->refs.nr_blocks :
					      PD_SM_METADATA_MAX_BLOCKS));
		return false;
	}
	if (r->nr_blocks > c->refs.nr_blocks ||
	    sm->base > c->refs.nr_blocks - r->nr_blocks) {
		pd_error(from, from_what, "%s covers %llu blocks from block %llu but the metadata device has only %llu",
			 sm->name, (unsigned long long)r->nr_blocks,
			 (unsigned long long)sm->base,
			 (unsigned long long)c->refs.nr_blocks);
		return false;
	}
	if (r->nr_allocated > r->nr_blocks)
		pd_error(from, from_what, "%s says %llu blocks allocated of %llu",
			 sm->name, (unsigned long long)r->nr_allocated,
			 (unsigned long long)r->nr_blocks);
	return true;
}

void pd_sm_load(struct pd_ctx *c, struct pd_sm *sm, const char *name,
		bool disk, const struct pd_sm_root *root, uint64_t base,
		uint64_t from, const char *from_what)
{
	char kind[96];
	uint64_t b;
	uint32_t i;

	memset(sm, 0, sizeof(*sm));
	sm->name = name;
	sm->disk = disk;
	sm->root = *root;
	sm->base = base;
	snprintf(kind, sizeof(kind), "%s index", name);
	sm->kind_index = pd_kind(kind);
	snprintf(kind, sizeof(kind), "%s bitmap", name);
	sm->kind_bitmap = pd_kind(kind);
	sm->root_ok = check_root(c, sm, from, from_what);
	if (!sm->root_ok)
		return;
	sm->nr_bitmaps = pd_sm_nr_bitmaps(root->nr_blocks);
	sm->bitmap_block = pd_calloc(sm->nr_bitmaps, sizeof(uint64_t));
	sm->bitmap_ok = pd_calloc(sm->nr_bitmaps, sizeof(bool));
	sm->bits = pd_calloc(sm->nr_bitmaps, BITMAP_DATA);

	if (!disk) {
		load_index_block(c, sm, from, from_what);
	} else {
		struct disk_index_walk dw = { c, sm, pd_malloc(PD_BLOCK_SIZE) };

		snprintf(kind, sizeof(kind), "%s index tree", name);
		pd_btree_init(&sm->index_tree, pd_kind_name(pd_kind(kind)),
			      PD_SM_INDEX_ENTRY_SIZE, disk_index_entry, &dw);
		pd_btree_walk(c, &sm->index_tree, root->bitmap_root, from,
			      from_what);
		free(dw.buf);
		if (!sm->index_tree.damaged)
			for (i = 0; i < sm->nr_bitmaps; i++)
				if (!sm->bitmap_block[i])
					pd_error(from, from_what, "the %s index tree has no entry for bitmap %u",
						 sm->name, i);
	}

	snprintf(kind, sizeof(kind), "%s refcount tree", name);
	pd_btree_init(&sm->ref_tree, pd_kind_name(pd_kind(kind)), 4,
		      overflow_entry, sm);
	pd_btree_walk(c, &sm->ref_tree, root->ref_count_root, from,
		      from_what);

	sm->complete = true;
	for (i = 0; i < sm->nr_bitmaps; i++)
		if (!sm->bitmap_ok[i])
			sm->complete = false;
	if (sm->ref_tree.damaged)
		sm->complete = false;
	for (b = 0; b < root->nr_blocks; b++) {
		const uint8_t *data;
		const struct pd_sm_overflow *o;

		i = b / PD_SM_ENTRIES_PER_BITMAP;
		if (!sm->bitmap_ok[i])
			continue;
		data = sm->bits + (size_t)i * BITMAP_DATA;
		o = sm->nr_overflow ? find_overflow(sm, b) : NULL;
		if (pd_bitmap_get(data, b % PD_SM_ENTRIES_PER_BITMAP) ==
		    COUNT_OVERFLOW) {
			if (!o && !sm->ref_tree.damaged) {
				pd_error(sm->bitmap_block[i],
					 pd_kind_name(sm->kind_bitmap),
					 "block %llu has count above 2, but the %s refcount tree has no entry for it",
					 (unsigned long long)b, sm->name);
				sm->complete = false;
			}
		} else if (o) {
			pd_warning(sm->root.ref_count_root,
				   pd_kind_name(sm->ref_tree.kind_node),
				   "stale entry: block %llu has count %u in its bitmap",
				   (unsigned long long)b,
				   pd_bitmap_get(data, b % PD_SM_ENTRIES_PER_BITMAP));
		}
	}
}

bool pd_sm_count(const struct pd_sm *sm, uint64_t b, uint32_t *count)
{
	uint32_t i = b / PD_SM_ENTRIES_PER_BITMAP;
	unsigned int v;
	const struct pd_sm_overflow *o;

	if (!sm->root_ok || b >= sm->root.nr_blocks || !sm->bitmap_ok[i])
		return false;
	v = pd_bitmap_get(sm->bits + (size_t)i * BITMAP_DATA,
			  b % PD_SM_ENTRIES_PER_BITMAP);
	if (v != COUNT_OVERFLOW) {
		*count = v;
		return true;
	}
	o = find_overflow(sm, b);
	if (!o)
		return false;
	*count = o->count;
	return true;
}

uint64_t pd_sm_compare(struct pd_ctx *c, struct pd_sm *sm, bool leaks,
		       uint64_t sb_block, const char *sb_what)
{
	uint64_t b, allocated = 0;
	uint32_t count;

	if (!sm->root_ok)
		return 0;
	for (b = 0; b < sm->root.nr_blocks; b++) {
		uint64_t d = sm->base + b;
		uint32_t refs = c->refs.count[d];
		const char *what = pd_kind_name(c->refs.kind[d]);

		if (!pd_sm_count(sm, b, &count))
			continue;
		if (count)
			allocated++;
		if (refs && !count)
			pd_error(d, what, "referenced %u times but free in the %s",
				 refs, sm->name);
		else if (refs && count != refs)
			pd_error(d, what, "%s count %u but referenced %u times",
				 sm->name, count, refs);
		else if (!refs && count && leaks)
			pd_error(d, what, "%s count %u but nothing references it (leaked metadata block)",
				 sm->name, count);
	}
	if (sm->complete && allocated != sm->root.nr_allocated)
		pd_error(sb_block, sb_what, "%s nr_allocated is %llu, but %llu blocks have a non-zero count",
			 sm->name, (unsigned long long)sm->root.nr_allocated,
			 (unsigned long long)allocated);
	return allocated;
}

void pd_sm_free(struct pd_sm *sm)
{
	free(sm->bitmap_block);
	free(sm->bitmap_ok);
	free(sm->bits);
	free(sm->overflow);
	sm->bitmap_block = NULL;
	sm->bitmap_ok = NULL;
	sm->bits = NULL;
	sm->overflow = NULL;
}

/* ------------------------------------------------------------------ */
/* building */

#include "pdata/dev.h"

int pd_sm_build_bitmaps(struct pd_writer *w, const uint64_t *bitmap_blocks,
			uint64_t nr_blocks, uint64_t used, uint8_t *ie)
{
	uint32_t nr = pd_sm_nr_bitmaps(nr_blocks), i;
	uint8_t *buf = pd_malloc(PD_BLOCK_SIZE);
	int r = 0;

	for (i = 0; i < nr && !r; i++) {
		uint64_t first = (uint64_t)i * PD_SM_ENTRIES_PER_BITMAP;
		uint32_t n = used <= first ? 0 : used - first >=
			PD_SM_ENTRIES_PER_BITMAP ? PD_SM_ENTRIES_PER_BITMAP :
			(uint32_t)(used - first);
		uint8_t *data = buf + PD_SM_BITMAP_HEADER_SIZE;
		uint32_t j;

		memset(buf, 0, PD_BLOCK_SIZE);
		/* count 1 is the low bit of each pair: 0b10 per entry */
		memset(data, 0xaa, n / 4);
		for (j = n / 4 * 4; j < n; j++)
			pd_bitmap_set(data, j, 1);
		pd_put_le64(buf + 8, bitmap_blocks[i]);
		pd_block_set_csum(buf, PD_SM_BITMAP_CSUM_XOR);
		r = pd_writer_put(w, bitmap_blocks[i], buf);

		pd_put_le64(ie + 16 * i, bitmap_blocks[i]);
		pd_put_le32(ie + 16 * i + 8, PD_SM_ENTRIES_PER_BITMAP - n);
		pd_put_le32(ie + 16 * i + 12, n);
	}
	free(buf);
	return r;
}

int pd_sm_write_index_block(struct pd_writer *w, uint64_t b,
			    const uint8_t *ie, uint32_t nr_bitmaps)
{
	uint8_t buf[PD_BLOCK_SIZE];

	if (nr_bitmaps > PD_SM_METADATA_MAX_BITMAPS)
		return -1;
	memset(buf, 0, sizeof(buf));
	pd_put_le64(buf + 8, b);
	memcpy(buf + PD_SM_INDEX_HEADER_SIZE, ie,
	       (size_t)nr_bitmaps * PD_SM_INDEX_ENTRY_SIZE);
	pd_block_set_csum(buf, PD_SM_INDEX_CSUM_XOR);
	return pd_writer_put(w, b, buf);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * btree.c - validating walks and bottom-up building of dm-persistent-data
 * btrees (see btree.h for the node layout).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pdata/btree.h"
#include "pdata/le.h"
#include "pdata/log.h"

/* As dm-btree's calc_max_entries(): a multiple of 3 that fits. */
uint32_t pd_btree_max_entries(uint32_t value_size)
{
	uint32_t total = (PD_BLOCK_SIZE - PD_NODE_HEADER_SIZE) /
			 (8 + value_size);

	return 3 * (total / 3);
}

void pd_btree_init(struct pd_btree *t, const char *name, uint32_t value_size,
		   pd_entry_fn entry, void *priv)
{
	char kind[96];

	memset(t, 0, sizeof(*t));
	t->name = name;
	t->value_size = value_size;
	snprintf(kind, sizeof(kind), "%s node", name);
	t->kind_node = pd_kind(kind);
	snprintf(kind, sizeof(kind), "%s internal node", name);
	t->kind_internal = pd_kind(kind);
	snprintf(kind, sizeof(kind), "%s leaf", name);
	t->kind_leaf = pd_kind(kind);
	t->entry = entry;
	t->priv = priv;
}

/* ------------------------------------------------------------------ */
/* walking */

struct range {
	uint64_t lo;
	uint64_t hi;
	bool has_hi;
};

struct walk {
	struct pd_ctx *c;
	struct pd_btree *t;
	uint8_t (*bufs)[PD_BLOCK_SIZE];
};

static uint8_t kind_of(struct pd_btree *t, uint32_t flags)
{
	if (flags == PD_INTERNAL_NODE)
		return t->kind_internal;
	if (flags == PD_LEAF_NODE)
		return t->kind_leaf;
	return t->kind_node;
}

/*
 * Validates a node header as dm-btree's node_check() does, and more: the
 * flags must be exactly one type, the value size and max_entries what
 * dm-btree creates for this tree and node type.  Returns the flags, or 0
 * when the node must not be descended into.
 */
static uint32_t node_check(struct pd_btree *t, uint64_t b, const uint8_t *n)
{
	uint32_t flags = pd_le32(n + PD_NODE_FLAGS);
	uint64_t blocknr = pd_le64(n + PD_NODE_BLOCKNR);
	uint32_t nr = pd_le32(n + PD_NODE_NR_ENTRIES);
	uint32_t max = pd_le32(n + PD_NODE_MAX_ENTRIES);
	uint32_t vs = pd_le32(n + PD_NODE_VALUE_SIZE);
	uint32_t want_vs, want_max, csum;
	const char *what = pd_kind_name(kind_of(t, flags));

	if (blocknr != b) {
		pd_error(b, what, "location field says block %llu",
			 (unsigned long long)blocknr);
		return 0;
	}
	csum = pd_block_csum(n, PD_BTREE_CSUM_XOR);
	if (csum != pd_le32(n)) {
		pd_error(b, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 pd_le32(n), csum);
		return 0;
	}
	if (flags != PD_INTERNAL_NODE && flags != PD_LEAF_NODE) {
		pd_error(b, what, "node flags 0x%x are neither internal (1) nor leaf (2)",
			 flags);
		return 0;
	}
	want_vs = flags == PD_INTERNAL_NODE ? 8 : t->value_size;
	if (vs != want_vs) {
		pd_error(b, what, "value size %u, expected %u", vs, want_vs);
		return 0;
	}
	if ((uint64_t)(8 + vs) * max > PD_BLOCK_SIZE - PD_NODE_HEADER_SIZE) {
		pd_error(b, what, "max_entries %u too large for value size %u",
			 max, vs);
		return 0;
	}
	if (nr > max) {
		pd_error(b, what, "nr_entries %u exceeds max_entries %u",
			 nr, max);
		return 0;
	}
	want_max = pd_btree_max_entries(vs);
	if (max != want_max)
		pd_error(b, what, "max_entries %u, expected %u for value size %u",
			 max, want_max, vs);
	if (flags == PD_INTERNAL_NODE && nr == 0) {
		pd_error(b, what, "internal node has no entries");
		return 0;
	}
	return flags;
}

static void check_keys(struct pd_btree *t, uint64_t b, const char *what,
		       uint8_t *n, uint32_t nr, const struct range *range)
{
	bool order_bad = false, range_bad = false;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		uint64_t k = pd_le64(pd_node_key(n, i));

		if (!range_bad && (k < range->lo ||
				   (range->has_hi && k >= range->hi))) {
			if (range->has_hi)
				pd_error(b, what, "key %llu at entry %u outside the range [%llu, %llu) of its parent",
					 (unsigned long long)k, i,
					 (unsigned long long)range->lo,
					 (unsigned long long)range->hi);
			else
				pd_error(b, what, "key %llu at entry %u below the lower bound %llu of its parent",
					 (unsigned long long)k, i,
					 (unsigned long long)range->lo);
			range_bad = true;
		}
		if (!order_bad && i > 0 &&
		    k <= pd_le64(pd_node_key(n, i - 1))) {
			pd_error(b, what, "keys not ascending at entry %u", i);
			order_bad = true;
		}
	}
	(void)t;
}

static void walk_node(struct walk *wk, uint64_t b, uint32_t level,
		      const struct range *range)
{
	struct pd_btree *t = wk->t;
	uint8_t *n = wk->bufs[level];
	uint32_t flags, nr, max, vs, i;
	const char *what;

	if (pd_read_block(wk->c, b, pd_kind_name(t->kind_node), n)) {
		t->damaged = true;
		return;
	}
	flags = node_check(t, b, n);
	if (!flags) {
		t->damaged = true;
		return;
	}
	wk->c->refs.kind[b] = kind_of(t, flags);
	what = pd_kind_name(kind_of(t, flags));
	nr = pd_le32(n + PD_NODE_NR_ENTRIES);
	max = pd_le32(n + PD_NODE_MAX_ENTRIES);
	vs = pd_le32(n + PD_NODE_VALUE_SIZE);
	check_keys(t, b, what, n, nr, range);

	if (level + 1 > t->depth)
		t->depth = level + 1;

	if (flags == PD_LEAF_NODE) {
		t->nr_leaves++;
		if (!t->leaf_depth)
			t->leaf_depth = level + 1;
		else if (t->leaf_depth != level + 1)
			pd_error(b, what, "leaf at depth %u, but other leaves are at depth %u",
				 level + 1, t->leaf_depth);
		t->nr_entries += nr;
		if (t->entry)
			for (i = 0; i < nr; i++)
				t->entry(t, b, i, pd_le64(pd_node_key(n, i)),
					 pd_node_value(n, max, vs, i));
		return;
	}

	t->nr_internal++;
	if (level + 1 >= PD_MAX_DEPTH) {
		pd_error(b, what, "tree deeper than %u levels", PD_MAX_DEPTH);
		t->damaged = true;
		return;
	}
	for (i = 0; i < nr; i++) {
		uint64_t child = pd_le64(pd_node_value(n, max, 8, i));
		struct range r;

		r.lo = pd_le64(pd_node_key(n, i));
		if (i + 1 < nr) {
			r.hi = pd_le64(pd_node_key(n, i + 1));
			r.has_hi = true;
		} else {
			r.hi = range->hi;
			r.has_hi = range->has_hi;
		}
		if (!pd_ref_node(wk->c, child, t->kind_node, b, what)) {
			t->damaged = true;
			continue;
		}
		walk_node(wk, child, level + 1, &r);
	}
}

void pd_btree_walk(struct pd_ctx *c, struct pd_btree *t, uint64_t root,
		   uint64_t from, const char *from_what)
{
	struct range r = { 0, 0, false };
	struct walk wk = { .c = c, .t = t };

	t->root = root;
	t->nr_internal = 0;
	t->nr_leaves = 0;
	t->nr_entries = 0;
	t->depth = 0;
	t->leaf_depth = 0;
	t->damaged = false;
	wk.bufs = pd_malloc(sizeof(*wk.bufs) * PD_MAX_DEPTH);
	if (pd_ref_node(c, root, t->kind_node, from, from_what))
		walk_node(&wk, root, 0, &r);
	else
		t->damaged = true;
	free(wk.bufs);
}

/* ------------------------------------------------------------------ */
/* building */

#include "pdata/dev.h"

void pd_bb_init(struct pd_btree_builder *b, struct pd_writer *w,
		pd_alloc_fn alloc, void *alloc_ctx, uint32_t value_size,
		uint32_t fill)
{
	uint32_t max;

	memset(b, 0, sizeof(*b));
	b->w = w;
	b->alloc = alloc;
	b->alloc_ctx = alloc_ctx;
	b->value_size = value_size;
	if (!fill || fill > 100)
		fill = 100;
	max = pd_btree_max_entries(value_size);
	b->per_leaf = max * fill / 100;
	if (b->per_leaf < 2)
		b->per_leaf = 2;
	max = pd_btree_max_entries(8);
	b->per_internal = max * fill / 100;
	if (b->per_internal < 2)
		b->per_internal = 2;
}

static void node_init(struct pd_btree_builder *b, uint32_t l)
{
	uint8_t *n = b->lv[l].node;
	uint32_t vs = l ? 8 : b->value_size;

	memset(n, 0, PD_BLOCK_SIZE);
	pd_put_le32(n + PD_NODE_FLAGS, l ? PD_INTERNAL_NODE : PD_LEAF_NODE);
	pd_put_le32(n + PD_NODE_MAX_ENTRIES, pd_btree_max_entries(vs));
	pd_put_le32(n + PD_NODE_VALUE_SIZE, vs);
	b->lv[l].nr = 0;
}

static int level_add(struct pd_btree_builder *b, uint32_t l, uint64_t key,
		     const void *value);

/* Writes the node of level l and adds it to its parent. */
static int flush_node(struct pd_btree_builder *b, uint32_t l, uint64_t *at)
{
	uint8_t *n = b->lv[l].node;
	uint8_t v[8];
	uint64_t blk;

	if (b->alloc(b->alloc_ctx, &blk)) {
		b->error = -1;
		return -1;
	}
	pd_put_le64(n + PD_NODE_BLOCKNR, blk);
	pd_put_le32(n + PD_NODE_NR_ENTRIES, b->lv[l].nr);
	pd_block_set_csum(n, PD_BTREE_CSUM_XOR);
	if (pd_writer_put(b->w, blk, n)) {
		b->error = -1;
		return -1;
	}
	b->nr_nodes++;
	b->lv[l].written++;
	b->lv[l].last_block = blk;
	if (at)
		*at = blk;
	pd_put_le64(v, blk);
	b->lv[l].nr = 0;
	return at ? 0 : level_add(b, l + 1, pd_le64(pd_node_key(n, 0)), v);
}

static int level_add(struct pd_btree_builder *b, uint32_t l, uint64_t key,
		     const void *value)
{
	uint32_t per = l ? b->per_internal : b->per_leaf;
	uint32_t vs = l ? 8 : b->value_size;
	uint8_t *n;

	if (l >= PD_MAX_DEPTH) {
		b->error = -1;
		return -1;
	}
	if (l >= b->nr_levels) {
		b->nr_levels = l + 1;
		node_init(b, l);
	}
	if (b->lv[l].nr == per && flush_node(b, l, NULL))
		return -1;
	n = b->lv[l].node;
	if (!b->lv[l].nr)
		node_init(b, l);
	pd_put_le64(pd_node_key(n, b->lv[l].nr), key);
	memcpy(pd_node_value(n, pd_btree_max_entries(vs), vs, b->lv[l].nr),
	       value, vs);
	b->lv[l].nr++;
	return 0;
}

int pd_bb_add(struct pd_btree_builder *b, uint64_t key, const void *value)
{
	if (b->error)
		return -1;
	if (b->nr_entries && key <= b->last_key) {
		fprintf(stderr, "%s: btree keys must ascend (%llu after %llu)\n",
			pd_prog, (unsigned long long)key,
			(unsigned long long)b->last_key);
		b->error = -1;
		return -1;
	}
	b->last_key = key;
	b->nr_entries++;
	return level_add(b, 0, key, value);
}

int pd_bb_finish(struct pd_btree_builder *b, uint64_t *root)
{
	uint32_t l;

	if (b->error)
		return -1;
	if (!b->nr_levels) {
		b->nr_levels = 1;
		node_init(b, 0);
	}
	for (l = 0; l < b->nr_levels; l++) {
		if (l + 1 == b->nr_levels && !b->lv[l].written) {
			/* the one node of the top level is the root */
			if (l && b->lv[l].nr == 1) {
				*root = b->lv[l - 1].last_block;
				return 0;
			}
			return flush_node(b, l, root);
		}
		if (b->lv[l].nr && flush_node(b, l, NULL))
			return -1;
	}
	return -1;	/* not reached */
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * btree.h - dm-persistent-data btrees (Linux 6.1, dm-btree.c), read and
 * built from userspace.
 *
 * A node is one 4096-byte block: a 32-byte header (__le32 csum, __le32
 * flags, __le64 blocknr, __le32 nr_entries, __le32 max_entries, __le32
 * value_size, __le32 padding), then max_entries __le64 keys, then
 * max_entries values of value_size bytes.  csum is crc32c of bytes
 * 4..4095 xor 121107.  flags is 1 for an internal node, whose values are
 * the __le64 block numbers of its children (key i: the lowest key below
 * child i), or 2 for a leaf.  max_entries is what dm-btree's
 * calc_max_entries() gives: the largest multiple of 3 that fits.  Keys
 * ascend strictly; all leaves are at the same depth.
 */
#ifndef PDATA_BTREE_H
#define PDATA_BTREE_H

#include <stdbool.h>
#include <stdint.h>

#include "pdata/dev.h"
#include "pdata/refs.h"

#define PD_BTREE_CSUM_XOR	121107U
#define PD_INTERNAL_NODE	1U
#define PD_LEAF_NODE		2U
#define PD_NODE_HEADER_SIZE	32U
#define PD_NODE_FLAGS		4
#define PD_NODE_BLOCKNR		8
#define PD_NODE_NR_ENTRIES	16
#define PD_NODE_MAX_ENTRIES	20
#define PD_NODE_VALUE_SIZE	24
/* walks give up below this depth: dm-btree never gets near it */
#define PD_MAX_DEPTH		16

uint32_t pd_btree_max_entries(uint32_t value_size);

static inline uint8_t *pd_node_key(uint8_t *n, uint32_t i)
{
	return n + PD_NODE_HEADER_SIZE + 8ULL * i;
}

/* Value i of a node whose header says max entries of value_size bytes. */
static inline uint8_t *pd_node_value(uint8_t *n, uint32_t max,
				     uint32_t value_size, uint32_t i)
{
	return n + PD_NODE_HEADER_SIZE + 8ULL * max + (uint64_t)value_size * i;
}

struct pd_btree;

/* Called once per leaf entry, in key order. */
typedef void (*pd_entry_fn)(struct pd_btree *t, uint64_t block,
			    uint32_t index, uint64_t key, const uint8_t *value);

struct pd_btree {
	const char *name;	/* "lbn tree": kinds "lbn tree leaf", ... */
	uint32_t value_size;	/* of leaf values */
	uint8_t kind_node;	/* "NAME node": reached, not yet read */
	uint8_t kind_internal;
	uint8_t kind_leaf;
	pd_entry_fn entry;
	void *priv;

	/* results of the last walk */
	uint64_t root;
	uint64_t nr_internal;
	uint64_t nr_leaves;
	uint64_t nr_entries;
	uint32_t depth;		/* levels, leaves included */
	uint32_t leaf_depth;	/* depth of the first leaf reached */
	bool damaged;		/* some part could not be walked */
};

void pd_btree_init(struct pd_btree *t, const char *name, uint32_t value_size,
		   pd_entry_fn entry, void *priv);

/*
 * Walks the btree at root, referenced from block from (from_what),
 * counting every node in c->refs and validating it (checksum, location,
 * flags, value size, max_entries, nr_entries, keys ascending and within
 * the range the parent gives, one leaf depth); calls t->entry for every
 * leaf entry.  Damage is reported and sets t->damaged.
 */
void pd_btree_walk(struct pd_ctx *c, struct pd_btree *t, uint64_t root,
		   uint64_t from, const char *from_what);

/*
 * Bottom-up builder: entries are added in ascending key order and leaves
 * are written as soon as they are full, each level keeping one node in
 * memory, so a tree of any size is built in one pass with sequential
 * writes.  fill: percent of max_entries put in each node (100: full).
 */
struct pd_writer;

typedef int (*pd_alloc_fn)(void *ctx, uint64_t *b);

struct pd_btree_builder {
	struct pd_writer *w;
	pd_alloc_fn alloc;
	void *alloc_ctx;
	uint32_t value_size;
	uint32_t per_leaf;
	uint32_t per_internal;
	uint32_t nr_levels;
	struct {
		uint8_t node[PD_BLOCK_SIZE];
		uint32_t nr;
		uint64_t written;	/* nodes of this level written */
		uint64_t last_block;	/* the last one */
	} lv[PD_MAX_DEPTH];
	uint64_t last_key;
	uint64_t nr_entries;
	uint64_t nr_nodes;
	int error;
};

void pd_bb_init(struct pd_btree_builder *b, struct pd_writer *w,
		pd_alloc_fn alloc, void *alloc_ctx, uint32_t value_size,
		uint32_t fill);
/* 0, or -1 when keys do not ascend, the tree is too deep, or I/O failed */
int pd_bb_add(struct pd_btree_builder *b, uint64_t key, const void *value);
/* Writes what is left; *root is the root (an empty leaf if no entry). */
int pd_bb_finish(struct pd_btree_builder *b, uint64_t *root);

#endif /* PDATA_BTREE_H */

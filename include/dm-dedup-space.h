/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-space.h - metadata space accounting (dm-dedup-space.c), for the
 * metadata (dm-dedup-meta.c) and its sparse arrays (dm-dedup-array.c).
 *
 * The metadata device is region A, whose blocks dm-persistent-data's
 * metadata space map counts (at most DEDUP_REGION_A_MAX_BLOCKS), and on
 * larger devices a bulk region beyond it, counted by a dm_sm_disk space map
 * whose own blocks are in region A.  Array blocks come from the bulk region
 * while it has room; everything else from region A.  Besides the counts,
 * the accounting keeps the blocks a transaction allocated (fresh: written
 * in place until the commit) and freed (forgotten by the readers' cache once
 * the commit that freed them is retired).
 *
 * All calls are committer side: the caller holds the metadata's lock.
 */
#ifndef DM_DEDUP_SPACE_H
#define DM_DEDUP_SPACE_H

#include <linux/types.h>

#include "persistent-data/dm-space-map.h"
#include "persistent-data/dm-transaction-manager.h"

struct dedup_space;

/* Free and total metadata blocks (status, admission). */
struct dedup_space_counts {
	u64 used;		/* blocks in use */
	u64 total;		/* blocks */
	u64 free_a;		/* free in region A (btree nodes, space maps) */
	u64 free_bulk;		/* free in the bulk region (array blocks) */
	bool has_bulk;
};

/*
 * Takes over metadata_sm, region A's space map, made with tm; a bulk
 * region is opened from its root (open_bulk) or made by growth (grow).
 * destroy frees the space maps (after the caller destroyed tm).
 */
struct dedup_space *dedup_space_create(struct dm_transaction_manager *tm,
				       struct dm_space_map *metadata_sm);
int dedup_space_open_bulk(struct dedup_space *s, void *root, size_t len,
			  u64 start, u64 nr_blocks);
void dedup_space_destroy(struct dedup_space *s);

/*
 * Grows region A up to its cap, then the bulk region, to nr_blocks in
 * all; usable at once, recorded by the next commit.  *bulk: a bulk region
 * exists afterwards.
 */
int dedup_space_grow(struct dedup_space *s, u64 nr_blocks, bool *bulk);
u64 dedup_space_bulk_start(struct dedup_space *s);
u64 dedup_space_bulk_blocks(struct dedup_space *s);
void dedup_space_counts(struct dedup_space *s, struct dedup_space_counts *c);

/*
 * An array block: alloc a new one (the bulk region first); inc and dec its
 * count.  inc and dec are also the dm_btree value callbacks of the arrays'
 * trees (context: the space), which cannot fail: their first error is kept
 * until take_error, which a verb calls after it changed a tree.
 */
int dedup_space_alloc(struct dedup_space *s, dm_block_t *b);
void dedup_space_inc(void *context, dm_block_t b);
void dedup_space_dec(void *context, dm_block_t b);
int dedup_space_take_error(struct dedup_space *s);

/* Array blocks allocated in this transaction: written in place. */
bool dedup_space_fresh(struct dedup_space *s, dm_block_t b);
void dedup_space_mark_fresh(struct dedup_space *s, dm_block_t b);
/*
 * fn(context, b) for at most max of them (those it could remember and
 * that this transaction did not free again), in block order.
 */
void dedup_space_visit_fresh(struct dedup_space *s, unsigned int max,
			     void (*fn)(void *context, dm_block_t b),
			     void *context);

/*
 * The commit: pre_commit writes the bulk space map (before the metadata
 * space map and the superblock); copy_roots gives both roots for the
 * superblock (a zero root without a bulk region); end_transaction after the
 * commit forgets what was fresh and keeps the blocks it freed for retire.
 */
int dedup_space_pre_commit(struct dedup_space *s);
int dedup_space_copy_roots(struct dedup_space *s, void *metadata_root,
			   void *bulk_root, size_t len);
void dedup_space_end_transaction(struct dedup_space *s);
/*
 * Retire: the readers' caches forget the blocks the last commit freed.
 * retired gives them and their number, or SIZE_MAX when that list could
 * not be kept (any block may have been freed); end_retire drops the list.
 */
size_t dedup_space_retired(struct dedup_space *s, const u64 **blocks);
void dedup_space_end_retire(struct dedup_space *s);

#endif /* DM_DEDUP_SPACE_H */

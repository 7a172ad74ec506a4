/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-index.h - the RAM fingerprint index (dm-dedup-index.c), for the
 * metadata (dm-dedup-meta.c) and the saved index (dm-dedup-index-save.c).
 */
#ifndef DM_DEDUP_INDEX_H
#define DM_DEDUP_INDEX_H

#include <linux/types.h>

struct dedup_index;

/*
 * All calls may be made
 * concurrently; lookups may sleep only to load a shard (load_shard).
 */
struct dedup_index_geometry {
	unsigned int shard_bits;
	unsigned int loc_bits;
	unsigned int fps_per_block;
};

/* Loads saved shard s: allocates *buckets (kvmalloc) and sets *nb. */
typedef int (*dedup_index_load_fn)(void *context, u64 shard, u8 **buckets,
				   u32 *nb, u64 *entries);

void dedup_index_geometry(u64 data_nr_blocks, unsigned int fps_per_block,
			  struct dedup_index_geometry *g);
struct dedup_index *dedup_index_create(const struct dedup_index_geometry *g,
				       dedup_index_load_fn load, void *context);
void dedup_index_destroy(struct dedup_index *idx);
/* Every shard must be loaded (saved index) before it is first used. */
void dedup_index_set_unloaded(struct dedup_index *idx);
/*
 * Up to max candidate fp-array blocks that may hold fp; returns how many
 * (0: certainly not indexed) or a negative errno from a shard load.
 */
int dedup_index_lookup(struct dedup_index *idx, const u8 *fp, u64 *blocks,
		       int max);
/* Inserts fp -> the fp block of pbn; with once, not if already there. */
int dedup_index_insert(struct dedup_index *idx, const u8 *fp, u64 pbn,
		       bool once);
void dedup_index_remove(struct dedup_index *idx, const u8 *fp, u64 pbn);
u64 dedup_index_entries(struct dedup_index *idx);
u64 dedup_index_ram(struct dedup_index *idx);
u64 dedup_index_nr_shards(struct dedup_index *idx);
/* Saved shards that could not be used and were installed empty. */
u64 dedup_index_bad_shards(struct dedup_index *idx);
/* The geometry the index was created with (and is saved with). */
void dedup_index_get_geometry(struct dedup_index *idx,
			      struct dedup_index_geometry *g);
/*
 * The background loader hands over saved shards in order (unless loaded
 * on demand already), then says when every saved shard was handed over;
 * install takes an unusable shard as an empty one (counted).  Until then
 * the committer's inserts and removals in shards not loaded are queued.
 */
int dedup_index_install(struct dedup_index *idx, u64 shard, const u8 *buckets,
			u32 nb, u64 entries);
void dedup_index_all_loaded(struct dedup_index *idx);
/*
 * Calls emit for every non-empty shard in order, with its buckets
 * (nr_buckets * DEDUP_INDEX_BUCKET_SIZE bytes), under its lock.
 */
typedef int (*dedup_index_emit_fn)(void *context, u64 shard, const u8 *buckets,
				   u32 nb, u64 entries);
int dedup_index_save(struct dedup_index *idx, dedup_index_emit_fn emit,
		     void *context);

#endif /* DM_DEDUP_INDEX_H */

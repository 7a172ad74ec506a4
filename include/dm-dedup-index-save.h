/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-index-save.h - the saved RAM fingerprint index
 * (dm-dedup-index-save.c), for the metadata (dm-dedup-meta.c), which owns
 * the save arrays, the index and the published commit they are read from.
 */
#ifndef DM_DEDUP_INDEX_SAVE_H
#define DM_DEDUP_INDEX_SAVE_H

#include <linux/types.h>

#include "dm-dedup-array.h"

struct dedup_index;

/* Reads block bidx of array id of the published commit (zero if absent). */
typedef int (*dedup_saved_read_fn)(void *context, enum dedup_array_id id,
				   u64 bidx, void *buf);

/* A saved index being loaded. */
struct dedup_saved_index {
	dedup_saved_read_fn read;
	void *context;
	u32 per_block;			/* buckets per save array block */
	u64 load_pos;			/* next saved bucket to hand over */
	u64 loaded_entries;		/* entries handed over so far */
};

void dedup_saved_init(struct dedup_saved_index *si, dedup_saved_read_fn read,
		      void *context);
/*
 * The index's load callback (context: the struct dedup_saved_index): saved
 * shard s into a kvmalloc'ed *buckets of *nb buckets holding *entries live
 * entries (none: *nb 0); -EILSEQ when its record is not there or not whole.
 */
int dedup_saved_load_shard(void *context, u64 shard, u8 **buckets, u32 *nb,
			   u64 *entries);
/*
 * Hands up to budget saved shards, in the order they were saved, to idx;
 * *more is false after the last one.  Loader only (one at a time).
 */
int dedup_saved_load_step(struct dedup_saved_index *si,
			  struct dedup_index *idx, unsigned int budget,
			  bool *more);
/*
 * Committer side: writes idx into the working (empty) save arrays;
 * *entries receives how many entries were saved.  delete frees both arrays.
 */
int dedup_saved_write(struct dedup_array *save, struct dedup_array *dir,
		      struct dedup_index *idx, u64 *entries);
int dedup_saved_delete(struct dedup_array *save, struct dedup_array *dir);

#endif /* DM_DEDUP_INDEX_SAVE_H */

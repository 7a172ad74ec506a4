/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-array.h - sparse arrays of fixed-size entries on the metadata
 * device (dm-dedup-array.c), for the metadata (dm-dedup-meta.c) and the
 * saved RAM index (dm-dedup-index-save.c): the committer's side, which
 * shadows array blocks in the working transaction, and the readers' side,
 * which reads a published root through caches of their own.
 */
#ifndef DM_DEDUP_ARRAY_H
#define DM_DEDUP_ARRAY_H

#include <linux/types.h>

#include "persistent-data/dm-block-manager.h"
#include "persistent-data/dm-btree.h"
#include "persistent-data/dm-transaction-manager.h"

#include "dm-dedup.h"

struct dm_bufio_client;
struct dm_buffer;
struct dedup_copies;
struct dedup_space;

/* The arrays of the metadata (the roots in the superblock). */
enum dedup_array_id {
	DEDUP_A_LBN,
	DEDUP_A_REFCOUNT,
	DEDUP_A_FP,
	DEDUP_A_SUMMARY,
	DEDUP_A_SAVE,
	DEDUP_A_SAVE_DIR,
	DEDUP_NR_ARRAYS,
};


/*
 * What one lookup reads: a published root and its sequence number.  A
 * cached view reads nothing from the metadata device: a lookup through it
 * gives -EWOULDBLOCK where it would have to (for map(), which must not
 * wait for I/O).
 */
struct dedup_view {
	u64 root;
	u64 seq;
	bool cached;
};

/*
 * Readers' per-CPU cache of where array blocks are in a published commit
 * (saves the btree walk for hot blocks; valid while seq matches).
 */
#define DEDUP_LOC_CACHE		64
struct dedup_loc_entry {
	u64 seq;
	u64 bidx;
	u64 loc;
};

struct dedup_loc_cache {
	struct dedup_loc_entry e[DEDUP_NR_ARRAYS][DEDUP_LOC_CACHE];
};

/*
 * What the arrays use of their owner (dm-dedup-meta.c fills it in):
 * the committer's transaction and space accounting, and the readers'
 * caches (btree nodes, array blocks, and per CPU, locations) and copies
 * of lbn array blocks (NULL: none).
 */
struct dedup_array_env {
	struct dm_block_manager *bm;
	struct dm_transaction_manager *tm;
	struct dedup_space *space;
	struct dm_bufio_client *node_cache;
	struct dm_bufio_client *array_cache;
	struct dedup_copies *copies;
	struct dedup_loc_cache __percpu *loc_cache;
	/*
	 * Metadata blocks in use (4 KiB): what a block number read from disk
	 * must stay below.  Written by the committer as the device grows;
	 * readers READ_ONCE it.
	 */
	u64 nr_blocks;
};

/*
 * One sparse array: a dm_btree from array-block index to the location of
 * an array block of entries.  The committer side works on root (the
 * working transaction); readers pass a published root.
 */
struct dedup_array {
	struct dedup_array_env *env;
	unsigned int id;		/* enum dedup_array_id */
	enum dedup_array_kind kind;
	u32 entry_size;
	u32 per_block;			/* entries per array block */
	struct dm_btree_info info;
	u64 root;			/* working root (committer) */

	/*
	 * Committer only: where the working tree has the array block looked
	 * up or written last (it stays there until this array changes the
	 * tree at last_index: a shadow or a new block sets these, a removal
	 * clears them).
	 */
	u64 last_index;
	u64 last_loc;			/* 0: none */

	/*
	 * Committer only: the array block written last, still write locked,
	 * so that the next entries in it (the committer applies changes in
	 * index order) need no lock of their own.  held_zeroed: an entry
	 * became zero meanwhile, so the block may have to go.  Released by
	 * dedup_array_release() before anything else reads or changes the
	 * array's tree, and before the commit.
	 */
	struct dm_block *held;
	u64 held_bidx;
	bool held_zeroed;
};

void dedup_array_init(struct dedup_array_env *env, struct dedup_array *a,
		      unsigned int id, enum dedup_array_kind kind,
		      u32 entry_size, u64 root);
int dedup_array_empty(struct dedup_array *a);
/*
 * Committer side.  get_entry copies entry idx of the working array (zero
 * if its block does not exist).  write_entry makes the block of entry idx
 * writable (shadowing it on its first change in this transaction, creating
 * it if create, else -ENODATA when it does not exist) and returns it write
 * locked with a pointer to the entry; write_done leaves it locked as the
 * array's held block and, with check_zero, notes that the block may have
 * become all zero (dedup_array_release() unlocks it and drops such a
 * block).  update_entry does both: copies the old value to old (if not
 * NULL) and stores value.  write_block stores a whole payload.
 */
int dedup_array_get_entry(struct dedup_array *a, u64 idx, void *value);
int dedup_array_write_entry(struct dedup_array *a, u64 idx, bool create,
			    struct dm_block **b, void **entry);
void dedup_array_write_done(struct dedup_array *a, bool check_zero);
int dedup_array_update_entry(struct dedup_array *a, u64 idx,
			     const void *value, void *old);
int dedup_array_write_block(struct dedup_array *a, u64 bidx, const void *buf);
/* Frees every block of the array (and empties it). */
int dedup_array_delete(struct dedup_array *a);
/* The first existing block index >= *bidx; -ENODATA at the end. */
int dedup_array_next_block(struct dedup_array *a, u64 *bidx);
/* Reads array block bidx of the working array into buf (4 KiB). */
int dedup_array_read_block(struct dedup_array *a, u64 bidx, void *buf);
/* Unlocks the held block (dropping it if all zero); before a commit. */
int dedup_array_release(struct dedup_array *a);
/* Forgets the committer's per-transaction state (after a commit). */
void dedup_array_end_transaction(struct dedup_array *a);

/*
 * At retire: the node cache forgets the btree nodes of array a's tree at
 * old_root (the last published) that its tree at new_root (published now)
 * does not reach (what the commit freed), and keeps the rest.  An error (a
 * read, a walk wider than DEDUP_NODE_DIFF_MAX nodes a level) leaves the
 * caller to forget every node.  d is the walk's room and memory, one per
 * metadata, used under the committer's lock.
 */
#define DEDUP_NODE_DIFF_MAX	8192
struct dedup_node_diff {
	u64 *set[4];
	/* per array: its published root if that is known to be a leaf */
	u64 leaf_root[DEDUP_NR_ARRAYS];
	struct dm_btree_cursor *cursor;
};

int dedup_node_diff_init(struct dedup_node_diff *d);
void dedup_node_diff_exit(struct dedup_node_diff *d);
int dedup_array_forget_freed_nodes(struct dedup_array *a,
				   struct dedup_node_diff *d, u64 old_root,
				   u64 new_root);

/*
 * After a commit (context: the env): array block b, written by it, goes
 * into the readers' array cache as the committer holds it, so that
 * readers of that commit do not read it from the metadata device.  At
 * most DEDUP_CACHE_WRITTEN_MAX a commit: a larger one (a discard's, a
 * random writer's on a slow disk) would push the readers' other blocks out.
 */
#define DEDUP_CACHE_WRITTEN_MAX	1024
void dedup_array_cache_written(void *context, dm_block_t b);

/*
 * At retire (committer side): the readers' array cache and copies forget
 * the blocks the retired commit freed, before they can be reused.
 */
void dedup_array_forget_retired(struct dedup_array_env *env);

/* dm-bufio alloc_callback of the readers' caches (aux: a "checked" bool). */
void dedup_array_reader_buffer_new(struct dm_buffer *b);

/*
 * Reader side: entry idx of the array in the published view v; zero when
 * absent.  The caller holds md->srcu.
 */
int dedup_array_lookup(struct dedup_array *a, struct dedup_view v, u64 idx,
		       void *value);
/* Entries [idx, idx + nr) into values, in order (zeroes where absent). */
int dedup_array_lookup_run(struct dedup_array *a, struct dedup_view v, u64 idx,
			   unsigned int nr, void *values);
/* The whole payload of array block bidx (zero if absent) into buf. */
int dedup_array_lookup_block(struct dedup_array *a, struct dedup_view v,
			     u64 bidx, void *buf);
/* The first entry >= from of block bidx equal to value; -ENODATA if none. */
int dedup_array_find_in_block(struct dedup_array *a, struct dedup_view v,
			      u64 bidx, const void *value, u32 from, u32 *pos);

#endif /* DM_DEDUP_ARRAY_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-meta-internal.h - what the files behind struct dedup_meta share:
 *
 *   dm-dedup-meta.c    struct dedup_meta: open/format/close, superblock,
 *                      commit, publish/retire, the verbs of dm-dedup.h
 *   dm-dedup-array.c   sparse arrays: committer-side shadowing and
 *                      reader-side lookups through caches of their own
 *   dm-dedup-index.c   the RAM fingerprint index
 *   dm-dedup-alloc.c   the data block allocator
 *
 * Nothing outside those files includes this header.
 */
#ifndef DM_DEDUP_META_INTERNAL_H
#define DM_DEDUP_META_INTERNAL_H

#include <linux/spinlock.h>
#include <linux/srcu.h>
#include <linux/xarray.h>

#include "persistent-data/dm-block-manager.h"
#include "persistent-data/dm-btree.h"
#include "persistent-data/dm-space-map.h"
#include "persistent-data/dm-transaction-manager.h"

#include "dm-dedup.h"

struct dm_bufio_client;
struct dm_buffer;
struct dedup_index;
struct dedup_alloc;

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
 * One sparse array: a dm_btree from array-block index to the location of
 * an array block of entries.  The committer side works on root (the
 * working transaction); readers pass a published root.
 */
struct dedup_array {
	struct dedup_meta *md;
	enum dedup_array_kind kind;
	u32 entry_size;
	u32 per_block;			/* entries per array block */
	struct dm_btree_info info;
	u64 root;			/* working root (committer) */

	/*
	 * Committer only: the last array block written in this
	 * transaction, which stays where it is until the commit.
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

/*
 * Published state: what readers see.  Immutable once published; two of
 * them alternate (the one not published is rewritten only after readers
 * of it have drained, at retire).
 */
struct dedup_pub {
	u64 roots[DEDUP_NR_ARRAYS];
	u64 seq;			/* publish sequence number */
	struct dedup_counters c;
};

/* What one lookup reads: a published root and its sequence number. */
struct dedup_view {
	u64 root;
	u64 seq;
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

struct dedup_meta {
	struct block_device *bdev;
	u64 nr_blocks;			/* metadata device, 4 KiB blocks */
	unsigned int fp_size;
	unsigned int fps_per_block;
	u64 data_nr_blocks;

	/*
	 * Protects everything the committer changes: the persistent-data
	 * objects, the arrays' working roots, sb, wc and the freed list.
	 * Taken by every committer-side verb and by open/close; never by
	 * readers.  Held across metadata I/O.
	 */
	struct mutex lock;
	bool fail_io;
	int cb_error;			/* a btree value callback failed */

	struct dm_block_manager *bm;
	struct dm_transaction_manager *tm;
	struct dm_space_map *metadata_sm;	/* region A */
	struct dm_space_map *bulk_sm;		/* NULL without a bulk region */
	u64 bulk_start;
	u64 bulk_nr_blocks;

	struct dedup_array arrays[DEDUP_NR_ARRAYS];
	struct dedup_sb sb;		/* last committed */
	struct dedup_counters wc;	/* working counters */
	u64 alloc_cursor;

	/* Committer: array blocks allocated in this transaction. */
	struct xarray fresh;
	/* Committer: array blocks freed in this transaction ... */
	u64 *freed;
	size_t nr_freed, freed_cap;
	/* ... and those of the last commit, forgotten at retire. */
	u64 *retired;
	size_t nr_retired, retired_cap;

	/*
	 * The published commit: pub points at one of pubs, under srcu
	 * (readers: srcu_dereference); the committer changes it with
	 * rcu_assign_pointer and rewrites the other one only after retire.
	 */
	struct dedup_pub pubs[2];
	struct dedup_pub __rcu *pub;
	/* Readers of published roots; drained at retire. */
	struct srcu_struct srcu;
	struct dedup_loc_cache __percpu *loc_cache;

	/* Readers' block caches: btree nodes, and array blocks. */
	struct dm_bufio_client *node_cache;
	struct dm_bufio_client *array_cache;

	struct dedup_index *index;
	struct dedup_alloc *alloc;

	/*
	 * The RAM index's origin: loading the saved one (save_* of sb, its
	 * arrays still referenced by their published roots), rebuilding it
	 * from the fp array (rebuild_next: next fp block to scan), or done.
	 * Committer only, but for index_state, read by status.
	 */
	enum dedup_index_state index_state;
	u64 load_pos;			/* next saved bucket to load */
	u64 loaded_entries;
	u64 rebuild_next;
	u64 rebuild_end;
	bool drop_saved;		/* next commit frees the saved index */
	bool index_incomplete;		/* loading/rebuilding failed */
};

/*
 * Sparse arrays (dm-dedup-array.c)
 */
void dedup_array_init(struct dedup_meta *md, struct dedup_array *a,
		      enum dedup_array_kind kind, u32 entry_size, u64 root);
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

/* dm-bufio alloc_callback of the readers' caches (aux: a "checked" bool). */
void dedup_array_reader_buffer_new(struct dm_buffer *b);

/*
 * Reader side: entry idx of the array in the published view v; zero when
 * absent.  The caller holds md->srcu.
 */
int dedup_array_lookup(struct dedup_array *a, struct dedup_view v, u64 idx,
		       void *value);
/* The whole payload of array block bidx (zero if absent) into buf. */
int dedup_array_lookup_block(struct dedup_array *a, struct dedup_view v,
			     u64 bidx, void *buf);
/* The first entry >= from of block bidx equal to value; -ENODATA if none. */
int dedup_array_find_in_block(struct dedup_array *a, struct dedup_view v,
			      u64 bidx, const void *value, u32 from, u32 *pos);

/*
 * The payload of block bidx of array id in the published commit (zero if
 * absent), under md->srcu taken inside.  For the allocator and the index
 * loader.
 */
int dedup_meta_read_published(struct dedup_meta *md, enum dedup_array_id id,
			      u64 bidx, void *buf);

/* Metadata block accounting shared by arrays and meta. */
int dedup_meta_alloc_block(struct dedup_meta *md, dm_block_t *b);
void dedup_meta_block_inc(struct dedup_meta *md, dm_block_t b);
void dedup_meta_block_dec(struct dedup_meta *md, dm_block_t b);

/*
 * The RAM fingerprint index (dm-dedup-index.c).  All calls may be made
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

/*
 * The data block allocator (dm-dedup-alloc.c).  Free blocks are found in
 * the published refcount array, one chunk at a time.
 */
struct dedup_alloc *dedup_alloc_create(struct dedup_meta *md, u64 nr_blocks,
				       u64 cursor);
void dedup_alloc_destroy(struct dedup_alloc *al);
/* Sets chunk c's in-use count (from the summary array, at open). */
void dedup_alloc_set_used(struct dedup_alloc *al, u64 chunk, u32 used);
/*
 * get: a free block; -ENOSPC, -EAGAIN (free blocks wait for their
 * release), -EILSEQ (a chunk's count disagrees with its reference counts)
 * or an I/O error.  dying: a committed block whose count reached zero in
 * a commit about to be published; from then until its put (release) its
 * chunk is not loaded.  put: a block's release (was_committed) or return.
 */
int dedup_alloc_get(struct dedup_alloc *al, u64 *pbn);
void dedup_alloc_dying(struct dedup_alloc *al, u64 pbn);
void dedup_alloc_put(struct dedup_alloc *al, u64 pbn, bool was_committed);
/* A handed-out block is now in the published refcount array. */
void dedup_alloc_published(struct dedup_alloc *al, u64 pbn);
int dedup_alloc_resize(struct dedup_alloc *al, u64 nr_blocks);
u64 dedup_alloc_free(struct dedup_alloc *al);
u64 dedup_alloc_cursor(struct dedup_alloc *al);
u64 dedup_alloc_ram(struct dedup_alloc *al);

#endif /* DM_DEDUP_META_INTERNAL_H */

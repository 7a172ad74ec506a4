/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-meta.h - the persistent metadata behind an opaque handle
 * (dm-dedup-meta.c and the files beneath it), for the commit pipeline
 * (dm-dedup-cow-commit.c, dm-dedup-gen.c) and the dm face
 * (dm-dedup-target.c: open, close, counters).
 */
#ifndef DM_DEDUP_META_H
#define DM_DEDUP_META_H

#include <linux/types.h>

#include "dm-dedup.h"

struct block_device;

/*
 * Callers pass the handle and a key.  Lookups answer from the last
 * *published* commit and tell which one (its publish sequence number);
 * the committer's verbs change the working transaction, which becomes
 * visible at dedup_meta_publish().
 */
struct dedup_meta;

/* Counters of the published state (see struct dedup_disk_superblock). */
struct dedup_counters {
	u64 transaction_id;
	u64 nr_mapped;
	u64 nr_zero;
	u64 nr_unique;
	u64 dedup_hits;
	u64 zero_writes;
	u64 commits;
	u64 meta_used;		/* metadata blocks in use */
	u64 meta_total;		/* metadata blocks */
	u64 meta_free_a;	/* free in region A (btree nodes, space maps) */
	u64 meta_free_bulk;	/* free in the bulk region (array blocks) */
	bool has_bulk;
};

struct dedup_meta_geometry {
	unsigned int data_block_size;	/* bytes */
	const char *hash_name;
	unsigned int fp_size;
	u64 data_nr_blocks;		/* current data device size, in blocks */
};

/* What the RAM fingerprint index is doing (status "index_state"). */
enum dedup_index_state {
	DEDUP_INDEX_READY,
	DEDUP_INDEX_LOADING,		/* saved index loading in background */
	DEDUP_INDEX_REBUILDING,		/* rebuilding after a crash */
};

struct dedup_meta_stats {
	enum dedup_index_state index_state;
	u64 index_entries;
	u64 index_ram_bytes;
	u64 index_progress;		/* shards loaded / fp blocks scanned */
	u64 index_total;
	u64 data_free;			/* allocatable data blocks */
	u64 data_pending;		/* freed, allocatable after a commit */
	u64 alloc_ram_bytes;
	u64 read_copies;		/* readers' copies of lbn array blocks */
	u64 read_copy_hits;		/* lookups they served */
};

/*
 * Opens the metadata on bdev, formatting it if its first 4 KiB are zero.
 * An existing superblock must match geo; on a mismatch nothing is written
 * and *error is set to a short message for ti->error.  The data device may
 * have grown; it may not have shrunk.  Returns ERR_PTR on failure.
 */
struct dedup_meta *dedup_meta_open(struct block_device *bdev,
				   const struct dedup_meta_geometry *geo,
				   char **error);
/*
 * Closes.  With save, the RAM index is saved and committed first (a clean
 * shutdown: the next open loads it instead of rebuilding it); the caller
 * has committed everything else.
 */
void dedup_meta_close(struct dedup_meta *md, bool save);

/* True when the superblock carries DEDUP_SB_NEEDS_CHECK. */
bool dedup_meta_needs_check(struct dedup_meta *md);

/* The published counters.  Never blocks on I/O. */
void dedup_meta_counters(struct dedup_meta *md, struct dedup_counters *c);
void dedup_meta_get_stats(struct dedup_meta *md, struct dedup_meta_stats *s);

/*
 * Reader side, from any context that may sleep: never takes a lock the
 * committer holds across I/O.  *seq is the publish sequence number of the
 * commit the answer comes from.  -ENODATA means "not present"; -EILSEQ a
 * corrupt block; other errors are I/O errors.
 */
u64 dedup_meta_publish_seq(struct dedup_meta *md);
/* What lbn maps to: a PBN or DEDUP_ZERO_PBN; -ENODATA if unmapped. */
int dedup_meta_find_lbn(struct dedup_meta *md, u64 lbn, u64 *value, u64 *seq);
/*
 * What [lbn, lbn + nr) map to, from one published commit: a PBN,
 * DEDUP_ZERO_PBN or DEDUP_UNMAPPED each.  cached: from the readers'
 * caches alone, -EWOULDBLOCK if the metadata device would be read.
 */
int dedup_meta_find_lbns(struct dedup_meta *md, u64 lbn, unsigned int nr,
			 bool cached, u64 *values);
/* The committed reference count of pbn (0 if free). */
int dedup_meta_find_refcount(struct dedup_meta *md, u64 pbn, u32 *count,
			     u64 *seq);
/*
 * Blocks a fingerprint lookup must not return: copies of the content that
 * are shared as often as a reference count allows.  A write that finds
 * DEDUP_SKIP_MAX such copies stores one more without looking further.
 */
#define DEDUP_SKIP_MAX		4

struct dedup_skip {
	unsigned int nr;
	u64 pbn[DEDUP_SKIP_MAX];
};

static inline bool dedup_skip_has(const struct dedup_skip *skip, u64 pbn)
{
	unsigned int i;

	for (i = 0; i < skip->nr; i++)
		if (skip->pbn[i] == pbn)
			return true;
	return false;
}

/*
 * A block that holds content with fingerprint fp, is live in the published
 * commit and is not in skip; -ENODATA if there is none (or the RAM index
 * does not know it yet, while it is rebuilt).
 */
int dedup_meta_find_fp(struct dedup_meta *md, const u8 *fp,
		       const struct dedup_skip *skip, u64 *pbn, u64 *seq);

/*
 * Data blocks.  alloc hands out a block that is free in the published
 * commit and in no generation; -ENOSPC when there is none, -EAGAIN when
 * the free ones become allocatable only after the next publish or release.
 * unalloc returns one that nothing ever referenced.  published: a block
 * alloc handed out is in a published commit now (new_block, then
 * publish).  release returns a block whose last reference went away in a
 * commit that is now durable (was_committed), or that went away before
 * any commit recorded it.
 */
int dedup_meta_alloc_data_block(struct dedup_meta *md, u64 *pbn);
void dedup_meta_unalloc_data_block(struct dedup_meta *md, u64 pbn);
void dedup_meta_data_block_published(struct dedup_meta *md, u64 pbn);
/*
 * dying: committer side, after a commit and before its publish, for each
 * committed block it freed: from then until the block's release, its
 * chunk is not loaded by the allocator.
 */
void dedup_meta_data_block_dying(struct dedup_meta *md, u64 pbn);
void dedup_meta_release_data_block(struct dedup_meta *md, u64 pbn,
				   bool was_committed);
/*
 * Growth by table reload.  resize_data: new data blocks become allocatable.
 * resize_metadata: region A grows to its cap, then a bulk region; both are
 * usable at once and recorded by the next commit.  Committer side (the
 * caller excludes commits).  The sizes in use now:
 */
int dedup_meta_resize_data(struct dedup_meta *md, u64 data_nr_blocks);
int dedup_meta_resize_metadata(struct dedup_meta *md, u64 nr_blocks);
u64 dedup_meta_data_blocks(struct dedup_meta *md);
u64 dedup_meta_metadata_blocks(struct dedup_meta *md);

/*
 * Committer side.  Only the committer (one thread at a time) calls these;
 * they change the working transaction.  Each returns 0 or a negative
 * errno, after which the transaction must be abandoned
 * (dedup_meta_set_needs_check() or close without commit).
 */
/* lbn -> value (a PBN or DEDUP_ZERO_PBN); DEDUP_UNMAPPED removes it. */
int dedup_meta_set_lbn(struct dedup_meta *md, u64 lbn, u64 value);
/* A block allocated since the last commit, with count > 0 and its fp. */
int dedup_meta_new_block(struct dedup_meta *md, u64 pbn, u32 count,
			 const u8 *fp);
/*
 * Adds delta to a committed block's count.  At 0 the block is free and
 * *fp (DEDUP_MAX_FP_SIZE bytes) receives the fingerprint it had.
 */
int dedup_meta_adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			    u32 *new_count, u8 *fp);
/*
 * Makes the working transaction durable: pre-commit, superblock, commit.
 * The caller has flushed the data device.  hits and zero_writes are added
 * to the cumulative counters.  Not yet visible to readers.
 */
int dedup_meta_commit(struct dedup_meta *md, u64 hits, u64 zero_writes);
/*
 * Between commit and publish: the RAM index learns the fingerprints of
 * the committed generation's new blocks and forgets those of its dead
 * blocks.  May sleep (a shard may have to be loaded or grown).
 */
int dedup_meta_index_add(struct dedup_meta *md, const u8 *fp, u64 pbn);
void dedup_meta_index_remove(struct dedup_meta *md, const u8 *fp, u64 pbn);
/*
 * Makes the last commit the one readers see.  Called under the caller's
 * lock that also retires the committed generation; O(1), no I/O.
 */
void dedup_meta_publish(struct dedup_meta *md);
/*
 * After publish: waits for readers of the previous commit, then lets its
 * freed metadata blocks be reused.  Must complete before the next
 * transaction changes anything.
 */
void dedup_meta_retire(struct dedup_meta *md);
/*
 * Background work of the RAM index.
 * load: up to budget shards of a saved index, from the published commit;
 * takes no lock a commit holds, so it runs beside commits.  True while
 * there is more.  When loading fails, or a saved shard was unusable, the
 * index goes on to rebuild.
 * rebuild: scans the fp array (after a crash, or what a saved index
 * lacked) for about max_ms; committer side, between commits.  1 while
 * there is more, 0 when done (or given up on an error), -ENOMEM when it
 * must wait for memory: call again later, it goes on where it stopped.
 */
bool dedup_meta_index_load(struct dedup_meta *md, unsigned int budget);
/* True when the next commit frees a saved index (and may write). */
bool dedup_meta_saved_index_dropping(struct dedup_meta *md);
int dedup_meta_index_rebuild(struct dedup_meta *md, unsigned int max_ms);
/*
 * Sets DEDUP_SB_NEEDS_CHECK in a copy of the last committed superblock and
 * writes it; the uncommitted transaction is never made durable.
 */
int dedup_meta_set_needs_check(struct dedup_meta *md);
/*
 * The pool left rw for good (its mode machine, through the pipeline): no
 * committer verb changes anything from now on.
 */
void dedup_meta_set_read_only(struct dedup_meta *md);

#endif /* DM_DEDUP_META_H */

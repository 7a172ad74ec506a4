/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup.h - the internal API between the files of dm-dedup.ko.
 *
 *   dm-dedup-target.c   the device-mapper target: bios, modes, status
 *   dm-dedup-hash.c     fingerprints, zero detection
 *   dm-dedup-meta.c     persistent metadata behind struct dedup_meta:
 *                       superblock, transaction, committed view, verbs
 *     dm-dedup-array.c  ... its sparse arrays (dm-dedup-meta-internal.h)
 *     dm-dedup-index.c  ... its RAM fingerprint index
 *     dm-dedup-alloc.c  ... its data block allocator
 *   dm-dedup-gen.c      generations of uncommitted changes, lookups,
 *                       back-pressure, FLUSH/FUA waiters (struct dedup_cow)
 *   dm-dedup-commit.c   the commit kthread
 */
#ifndef DM_DEDUP_H
#define DM_DEDUP_H

#include <linux/types.h>
#include <linux/blk_types.h>
#include <linux/string.h>
#include "dm-dedup-format.h"

#define DM_MSG_PREFIX "dedup"

/*
 * Values of a logical block, in memory: a PBN, or one of these two (which
 * are not valid PBNs: data devices have fewer than 2^63 blocks).
 */
#define DEDUP_ZERO_PBN	(~0ULL)		/* last written with zeroes */
#define DEDUP_UNMAPPED	(~0ULL - 1)	/* discarded, or never written */

static inline bool dedup_is_pbn(u64 value)
{
	return value != DEDUP_ZERO_PBN && value != DEDUP_UNMAPPED;
}

/*
 * Fingerprints (dm-dedup-hash.c)
 */
struct dedup_hash;

/*
 * Allocates one transform per possible CPU for the named hash, which must
 * be sha256, blake2b-256 or xxhash64.  Returns ERR_PTR(-EINVAL) for an
 * unknown name, or the crypto API's error.
 */
struct dedup_hash *dedup_hash_create(const char *name);
void dedup_hash_destroy(struct dedup_hash *h);

/* Bytes of fingerprint this hash produces (8..DEDUP_MAX_FP_SIZE). */
unsigned int dedup_hash_size(struct dedup_hash *h);

/* False for hashes that are not collision resistant: hits must be verified. */
bool dedup_hash_trusted(struct dedup_hash *h);

/*
 * Fingerprints len bytes at data into fp (DEDUP_MAX_FP_SIZE bytes, zero
 * padded).  May sleep.
 */
int dedup_hash_block(struct dedup_hash *h, const void *data, unsigned int len,
		     u8 *fp);

/* True when all len bytes are zero. */
bool dedup_block_is_zero(const void *data, unsigned int len);

/*
 * Test-only fault injection (dm-dedup-fault.c): all off by default.
 */
enum dedup_fault_point {
	DEDUP_FAULT_RELEASE,		/* before freed blocks are released */
	DEDUP_FAULT_PUBLISH,		/* between a commit and its publish */
	DEDUP_FAULT_GEN_ALLOC,		/* a generation entry's allocation */
	DEDUP_FAULT_OPEN_ALLOC,		/* the first allocation of an open */
	DEDUP_FAULT_ALLOC_READ,		/* between a window's refcount reads */
};

/* True when this allocation, one that has a fallback, must fail. */
bool dedup_fault_alloc(void);
void dedup_fault_delay(enum dedup_fault_point point);
/* True when the allocation at point must fail. */
bool dedup_fault_fail(enum dedup_fault_point point);
/* The reserve of a pool that would have size entries. */
unsigned int dedup_fault_pool_size(unsigned int size);
/* True when the block at data must hash to all zeroes. */
bool dedup_fault_zero_fp(const void *data);
/* The most times a block may be shared. */
u32 dedup_fault_refcount_limit(void);

/*
 * Persistent metadata (dm-dedup-meta.c and the files behind it)
 *
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
/* Free metadata blocks now (the working transaction's view). */
void dedup_meta_space(struct dedup_meta *md, struct dedup_counters *c);

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
 * Background work of the RAM index; each returns true while there is more.
 * load: up to budget shards of a saved index, from the published commit;
 * takes no lock a commit holds, so it runs beside commits.  When loading
 * fails, or a saved shard was unusable, the index goes on to rebuild.
 * rebuild: scans the fp array (after a crash, or what a saved index
 * lacked) for about max_ms; committer side, between commits.
 */
bool dedup_meta_index_load(struct dedup_meta *md, unsigned int budget);
/* True when the next commit frees a saved index (and may write). */
bool dedup_meta_saved_index_dropping(struct dedup_meta *md);
bool dedup_meta_index_rebuild(struct dedup_meta *md, unsigned int max_ms);
/*
 * Sets DEDUP_SB_NEEDS_CHECK in a copy of the last committed superblock and
 * writes it; the uncommitted transaction is never made durable.
 */
int dedup_meta_set_needs_check(struct dedup_meta *md);

/*
 * Generations and the commit pipeline (dm-dedup-gen.c, dm-dedup-commit.c)
 */
struct dedup_cow;
struct bio;

/* What the pipeline tells the target about space (dedup_cow_params). */
enum dedup_space_event {
	DEDUP_DATA_SPACE_FREED,		/* blocks became allocatable */
	DEDUP_METADATA_LOW,		/* free metadata at the low-water mark */
	DEDUP_METADATA_OK,		/* above it again */
};

struct dedup_cow_params {
	struct dedup_meta *md;
	struct block_device *data_bdev;
	unsigned int data_block_size;
	unsigned int fp_size;
	unsigned int commit_period_ms;
	unsigned int max_open_mb;
	bool blocking_commit;
	bool discard_passdown;
	bool error_if_no_space;
	/* Called once, from the committer, when metadata I/O fails ... */
	void (*metadata_failed)(void *context, const char *op, int r);
	/* ... or when flushing the data device fails (metadata intact). */
	void (*data_failed)(void *context, const char *op, int r);
	/* Called from process context, without locks held. */
	void (*space_event)(void *context, enum dedup_space_event e);
	void *context;
};

struct dedup_cow_stats {
	u64 commits;
	u64 last_commit_ms;
	u64 longest_commit_ms;
	u64 last_commit_blocks;	/* logical blocks made durable by it */
	bool commit_in_flight;
	u64 bp_waits;
	u64 longest_wait_us;
	s64 d_mapped, d_zero, d_unique;	/* not yet published */
	u64 hits, zero_writes;		/* not yet published */
	u64 pending_frees;		/* dead blocks not yet allocatable */
	u64 gen_buckets;		/* hash buckets of the open generation */
	bool no_space;
};

struct dedup_cow *dedup_cow_create(const struct dedup_cow_params *p);
/* Commits what is left (unless failed) and frees everything. */
void dedup_cow_destroy(struct dedup_cow *cow);

/*
 * Waits while the open generation is full (counted as back-pressure).
 * -ENOSPC when even with nothing uncommitted there would be no room for
 * the metadata of one more write (out of metadata space).
 */
int dedup_cow_admit(struct dedup_cow *cow);

/* Growth at resume: see dedup_meta_resize_*(). */
int dedup_cow_grow_data(struct dedup_cow *cow, u64 data_nr_blocks);
int dedup_cow_grow_metadata(struct dedup_cow *cow, u64 nr_blocks);

/* What lbn maps to: a PBN, DEDUP_ZERO_PBN, or -ENODATA if unmapped. */
int dedup_cow_find_lbn(struct dedup_cow *cow, u64 lbn, u64 *value);

/* A claim on a fingerprint that is being written for the first time. */
struct dedup_claim {
	struct hlist_node node;
	u64 seq;		/* publish epoch in which a hit was found */
	u8 fp[DEDUP_MAX_FP_SIZE];
};

enum dedup_fp_result {
	DEDUP_FP_HIT,		/* *pbn is a live block with this fingerprint */
	DEDUP_FP_MISS,		/* claim now owns fp: record or release it */
};

/*
 * Looks fp up in the generations and the committed index, passing over the
 * blocks in skip.  If another writer holds a claim on fp, waits until it
 * records or releases it.
 */
int dedup_cow_lookup_fp(struct dedup_cow *cow, const u8 *fp,
			const struct dedup_skip *skip, u64 *pbn,
			struct dedup_claim *claim);
void dedup_cow_release_claim(struct dedup_cow *cow, struct dedup_claim *claim);

/*
 * Hands out a free data block; waits for pending frees to become
 * allocatable when there are any (unless error_if_no_space); -ENOSPC when
 * there is none.
 */
int dedup_cow_alloc_block(struct dedup_cow *cow, u64 *pbn);
/* Returns a block that alloc handed out and nothing ever referenced. */
void dedup_cow_unalloc_block(struct dedup_cow *cow, u64 pbn);

#define DEDUP_REC_HIT		(1U << 0)	/* value is a shared block */
#define DEDUP_REC_NEW		(1U << 1)	/* value was just allocated */
#define DEDUP_REC_NOINDEX	(1U << 2)	/* with NEW: do not index it */

/*
 * Records in the open generation that lbn now maps to value (a PBN,
 * DEDUP_ZERO_PBN or DEDUP_UNMAPPED) and adjusts reference counts.  With
 * DEDUP_REC_NEW, fp is the new block's fingerprint; it is indexed (unless
 * DEDUP_REC_NOINDEX) and the claim, if any, released.  With
 * DEDUP_REC_HIT, claim is the one the lookup filled in; returns -EAGAIN
 * when the block died, or a commit was published, since that lookup (look
 * it up again), and -EMLINK when the block is shared by as many LBNs as a
 * count can hold (store a new copy).  *gen is the generation that holds
 * the change.
 */
int dedup_cow_record(struct dedup_cow *cow, u64 lbn, u64 value,
		     unsigned int flags, struct dedup_claim *claim,
		     const u8 *fp, u64 *gen);

/*
 * Completes bio once generation gen (or, for gen == 0, everything recorded
 * so far) is durable; with an error if the metadata has failed.
 */
void dedup_cow_complete_when_durable(struct dedup_cow *cow, struct bio *bio,
				     u64 gen);

/* Commits everything recorded so far and waits for it. */
int dedup_cow_commit(struct dedup_cow *cow);

void dedup_cow_set_commit_period(struct dedup_cow *cow, unsigned int ms);
/* Takes the feature fields of p (a reloaded table's). */
void dedup_cow_set_features(struct dedup_cow *cow,
			    const struct dedup_cow_params *p);
/* The statistics and the published counters, consistent with each other. */
void dedup_cow_get_stats(struct dedup_cow *cow, struct dedup_cow_stats *s,
			 struct dedup_counters *c);

/* Module init/exit of dm-dedup-gen.c (its slab caches). */
int dedup_gen_module_init(void);
void dedup_gen_module_exit(void);

#endif /* DM_DEDUP_H */

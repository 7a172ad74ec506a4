/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup.h - the internal API between the files of dm-dedup.ko.
 *
 *   dm-dedup-target.c      the device-mapper target: bios, modes, status
 *   dm-dedup-hash.c        fingerprints, zero detection
 *   dm-dedup-meta.c        persistent metadata (opaque struct dedup_meta)
 *   dm-dedup-cow-commit.c  generations, the commit kthread, back-pressure
 */
#ifndef DM_DEDUP_H
#define DM_DEDUP_H

#include <linux/types.h>
#include <linux/blk_types.h>
#include "dm-dedup-format.h"

#define DM_MSG_PREFIX "dedup"

/* In-memory lbn value meaning "discarded in this generation". */
#define DEDUP_UNMAPPED	(~0ULL - 1)

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

/* Bytes of fingerprint this hash produces (<= DEDUP_MAX_FP_SIZE). */
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
 * A filter of fingerprints with no false negatives: may_contain() is true
 * for every fingerprint added and not removed since (and, rarely, for
 * others).  Sized for entries fingerprints.  Safe for concurrent use.
 */
struct dedup_filter;
struct dedup_filter *dedup_filter_create(u64 entries);
void dedup_filter_destroy(struct dedup_filter *f);
void dedup_filter_add(struct dedup_filter *f, const u8 *fp);
void dedup_filter_remove(struct dedup_filter *f, const u8 *fp);
bool dedup_filter_may_contain(struct dedup_filter *f, const u8 *fp);

/*
 * Persistent metadata (dm-dedup-meta.c)
 */
struct dedup_meta;

/* The roots of one committed transaction: what readers look things up in. */
struct dedup_roots {
	u64 lbn;
	u64 refcount;
	u64 index;
};

/* Counters of the committed state (see struct dedup_disk_superblock). */
struct dedup_counters {
	u64 transaction_id;
	u64 nr_mapped;
	u64 nr_zero;
	u64 nr_unique;
	u64 nr_indexed;
	u64 dedup_hits;
	u64 zero_writes;
	u64 commits;
	u64 meta_used;		/* metadata blocks in use */
	u64 meta_total;		/* metadata blocks */
};

struct dedup_meta_geometry {
	unsigned int data_block_size;	/* bytes */
	const char *hash_name;
	unsigned int fp_size;
	u64 data_nr_blocks;		/* current data device size, in blocks */
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
/* Closes without committing. */
void dedup_meta_close(struct dedup_meta *md);

/* True when the superblock carries DEDUP_SB_NEEDS_CHECK. */
bool dedup_meta_needs_check(struct dedup_meta *md);

/* The committed roots and counters.  Never blocks on I/O. */
void dedup_meta_committed(struct dedup_meta *md, struct dedup_roots *roots,
			  struct dedup_counters *c);

/*
 * Reader side.  Lookups in one committed transaction, through a read-only
 * block cache of their own.  The caller must keep the blocks of roots from
 * being reused until it returns (SRCU in dm-dedup-cow-commit.c), and must
 * pass roots that have been published (committed).  No lock is taken that
 * the committer holds across I/O.  -ENODATA means "not present"; -EILSEQ
 * means a corrupt block; other errors are I/O errors.
 */
int dedup_meta_find_lbn(struct dedup_meta *md, const struct dedup_roots *roots,
			u64 lbn, u64 *value);
int dedup_meta_find_refcount(struct dedup_meta *md,
			     const struct dedup_roots *roots,
			     u64 pbn, u32 *count);
int dedup_meta_find_fp(struct dedup_meta *md, const struct dedup_roots *roots,
		       const u8 *fp, u64 *pbn);

/*
 * Forgets every unheld block of the reader cache.  Called after a new
 * transaction is published and readers of the previous roots have drained,
 * so that blocks the next transaction reallocates are never read stale.
 */
void dedup_meta_drop_reader_cache(struct dedup_meta *md);

/*
 * Committer side.  Only the committer (with its commit mutex held) calls
 * these; they change the working (uncommitted) trees.  Each returns 0 or a
 * negative errno, after which the transaction must be abandoned.
 */
/* lbn -> value (a PBN or DEDUP_ZERO_PBN); DEDUP_UNMAPPED removes it. */
int dedup_meta_set_lbn(struct dedup_meta *md, u64 lbn, u64 value);
/* A block with count > 0 enters the refcount tree, and the index if fp. */
int dedup_meta_add_block(struct dedup_meta *md, u64 pbn, u32 count,
			 const u8 *fp);
/* Adds delta to a block's count; at 0 it leaves both trees. */
int dedup_meta_adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			    u32 *new_count);
/*
 * Makes the working trees durable: pre-commit, superblock, commit.  The
 * caller flushes the data device first.  hits and zero_writes are added to
 * the cumulative counters.
 */
int dedup_meta_commit(struct dedup_meta *md, u64 hits, u64 zero_writes);
/*
 * Sets DEDUP_SB_NEEDS_CHECK in a copy of the last committed superblock and
 * writes it; the uncommitted transaction is never made durable.
 */
int dedup_meta_set_needs_check(struct dedup_meta *md);

/* Calls fn for every block in the committed refcount tree (at open). */
typedef int (*dedup_block_fn)(void *context, u64 pbn, u32 count);
int dedup_meta_walk_blocks(struct dedup_meta *md, dedup_block_fn fn,
			      void *context);

/*
 * Generations and the commit pipeline (dm-dedup-cow-commit.c)
 */
struct dedup_cow;
struct bio;

struct dedup_cow_params {
	struct dedup_meta *md;
	struct block_device *data_bdev;
	u64 data_nr_blocks;
	unsigned int data_block_size;
	unsigned int fp_size;
	unsigned int commit_period_ms;
	unsigned int max_open_mb;
	bool blocking_commit;
	bool discard_passdown;
	bool error_if_no_space;
	/* Called once, from the committer, when metadata I/O fails. */
	void (*metadata_failed)(void *context, const char *op, int r);
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
	s64 d_mapped, d_zero, d_unique;	/* not yet committed */
	u64 hits, zero_writes;		/* not yet committed */
	u64 data_free;			/* allocatable data blocks */
	bool no_space;
};

struct dedup_cow *dedup_cow_create(const struct dedup_cow_params *p);
/* Commits what is left (unless failed) and frees everything. */
void dedup_cow_destroy(struct dedup_cow *cow);

/* Waits while the open generation is full (counted as back-pressure). */
int dedup_cow_admit(struct dedup_cow *cow);

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
 * Looks fp up in the generations and the committed index.  If another
 * writer holds a claim on fp, waits until it records or releases it.
 */
int dedup_cow_lookup_fp(struct dedup_cow *cow, const u8 *fp, u64 *pbn,
			struct dedup_claim *claim);
void dedup_cow_release_claim(struct dedup_cow *cow, struct dedup_claim *claim);

/* Hands out a free data block; -ENOSPC when there is none. */
int dedup_cow_alloc_block(struct dedup_cow *cow, u64 *pbn);
/* Returns a block that alloc handed out and nothing ever referenced. */
void dedup_cow_unalloc_block(struct dedup_cow *cow, u64 pbn);

#define DEDUP_REC_HIT		(1U << 0)	/* value is a shared block */
#define DEDUP_REC_NEW		(1U << 1)	/* value was just allocated */
#define DEDUP_REC_NOINDEX	(1U << 2)	/* with NEW: do not index it */

/*
 * Records in the open generation that lbn now maps to value (a PBN,
 * DEDUP_ZERO_PBN or DEDUP_UNMAPPED) and adjusts reference counts.  With
 * DEDUP_REC_NEW and a claim, the claim's fingerprint is indexed and the
 * claim released.  With DEDUP_REC_HIT, claim is the one the lookup filled
 * in; returns -EAGAIN when the block died, or a commit was published, since
 * that lookup (look it up again: a block freed by a published commit may
 * have been reused).  *gen is the generation that holds the change.
 */
int dedup_cow_record(struct dedup_cow *cow, u64 lbn, u64 value,
		     unsigned int flags, struct dedup_claim *claim, u64 *gen);

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
void dedup_cow_get_stats(struct dedup_cow *cow, struct dedup_cow_stats *s);

#endif /* DM_DEDUP_H */

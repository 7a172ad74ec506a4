/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-gen.h - the generations of uncommitted changes (dm-dedup-gen.c):
 * for the bio path (through dm-dedup-cow-commit.h), the calls of every
 * bio (lookups, recording, back-pressure, durability waits) and the
 * statistics; for the pipeline above it (dm-dedup-cow-commit.c), the
 * pipeline's types and state, struct dedup_cow, which only those two files
 * look into.
 */
#ifndef DM_DEDUP_GEN_H
#define DM_DEDUP_GEN_H

#include <linux/bio.h>
#include <linux/mempool.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "dm-dedup-meta.h"

struct dedup_cow;
struct bio;

/* What the pipeline tells the target about space (dedup_cow_params). */
enum dedup_space_event {
	DEDUP_DATA_SPACE_FREED,		/* blocks became allocatable */
	DEDUP_METADATA_LOW,		/* free metadata at the low-water mark */
	DEDUP_METADATA_OK,		/* above it again */
};

/*
 * The pipeline's settings.  The table line asks for them (each table of a
 * dm device has its own, dm-dedup-target.c); the pipeline holds those of
 * the live table, replaced whole at resume or by a message.
 */
struct dedup_features {
	unsigned int commit_period_ms;
	unsigned int max_open_mb;	/* both generations together */
	bool blocking_commit;
	bool discard_passdown;
	bool error_if_no_space;
};

struct dedup_cow_params {
	struct dedup_meta *md;
	struct block_device *data_bdev;
	unsigned int data_block_size;
	unsigned int fp_size;
	struct dedup_features f;
	/*
	 * Called from the committer when metadata I/O fails, or flushing
	 * the data device does (the metadata is intact).  The callee (the
	 * pool's mode machine) makes the pipeline read-only with
	 * dedup_cow_set_read_only() before it returns.
	 */
	void (*metadata_failed)(void *context, const char *op, int r);
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
};


/*
 * Waits while the open generation is full (counted as back-pressure).
 * -ENOSPC when even with nothing uncommitted there would be no room for
 * the metadata of one more write (out of metadata space).
 */
int dedup_cow_admit(struct dedup_cow *cow);
/*
 * The same for a block that a discard unmaps, which also waits while the
 * open generation holds DEDUP_DISCARD_GEN_BYTES of discards' changes: a
 * large discard is spread over commits, none of which grows with it.
 */
int dedup_cow_admit_discard(struct dedup_cow *cow);


/* What lbn maps to: a PBN, DEDUP_ZERO_PBN, or -ENODATA if unmapped. */
int dedup_cow_find_lbn(struct dedup_cow *cow, u64 lbn, u64 *value);
/*
 * What [lbn, lbn + nr) map to, each a PBN, DEDUP_ZERO_PBN or
 * DEDUP_UNMAPPED; the caller holds their cells.  nr <= DEDUP_FIND_LBNS_MAX.
 * cached: without waiting for metadata I/O (-EWOULDBLOCK instead).
 */
#define DEDUP_FIND_LBNS_MAX	32
int dedup_cow_find_lbns(struct dedup_cow *cow, u64 lbn, unsigned int nr,
			bool cached, u64 *values);

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

/*
 * The pool's mode machine, leaving rw for good: no change is recorded or
 * committed from now on (nor is the metadata changed: the uncommitted
 * generations are abandoned), FLUSH/FUA waiters fail, and a later flush
 * fails if anything recorded was not committed.  Lookups go on.
 */
void dedup_cow_set_read_only(struct dedup_cow *cow);
/* The statistics and the published counters, consistent with each other. */
void dedup_cow_get_stats(struct dedup_cow *cow, struct dedup_cow_stats *s,
			 struct dedup_counters *c);

/* Module init/exit of dm-dedup-gen.c (its slab caches). */
int dedup_gen_module_init(void);
void dedup_gen_module_exit(void);

/* log2 of the buckets of the claims table. */
#define DEDUP_CLAIM_BITS	12

/* The arrays an unmapping changes (struct dedup_gen's discard_cursor). */
enum {
	DEDUP_DISCARD_LBN,
	DEDUP_DISCARD_REFCOUNT,
	DEDUP_DISCARD_SUMMARY,
	DEDUP_DISCARD_ARRAYS,
};

/* An LBN whose mapping changed in a generation. */
struct gen_lbn {
	struct hlist_node node;
	struct gen_lbn *next;	/* the generation's list of all, newest first */
	u64 lbn;
	u64 value;	/* PBN, DEDUP_ZERO_PBN or DEDUP_UNMAPPED */
};

#define PBN_NEW		(1U << 0)	/* allocated in this generation */
#define PBN_DEAD	(1U << 1)	/* count reached 0 in this generation */
#define PBN_INDEXED	(1U << 2)	/* NEW, and on fp_tab under fp */

/* A data block whose reference count changed in a generation. */
struct gen_pbn {
	struct hlist_node node;
	struct hlist_node fp_node;
	struct gen_pbn *next;	/* the generation's list of all, newest first */
	u64 pbn;
	s64 delta;
	unsigned int flags;
	/* NEW: its fingerprint; DEAD: the committer fills in what it had */
	u8 fp[DEDUP_MAX_FP_SIZE];
};

struct dedup_gen {
	u64 seq;
	unsigned int bits;		/* log2 of each table's buckets */
	struct hlist_head *lbn_tab;
	struct hlist_head *pbn_tab;
	struct hlist_head *fp_tab;
	/* Every entry, for walks that must not scan all the buckets. */
	struct gen_lbn *lbns;
	struct gen_pbn *pbns;
	unsigned long nr_lbn;
	unsigned long nr_pbn;
	size_t bytes;
	/* array entries changed by unmapping: dedup_cow_admit_discard() */
	size_t discard_bytes;
	/*
	 * The entries that unmapping created, and a bound on the array
	 * blocks they change: per array (lbn, refcount, summary; a dead
	 * block's fingerprint is left where it is) a
	 * cursor counts the first block and each change of block, which is
	 * at least the number of distinct blocks, and exactly that for a
	 * discard's run of neighbours.  The worst case of the other entries
	 * is one block each (dedup_cow_meta_room()).
	 */
	unsigned long discard_lbns;
	unsigned long discard_pbns;
	u64 discard_arrays;
	u64 discard_cursor[DEDUP_DISCARD_ARRAYS];
	/* counter deltas for status */
	s64 d_mapped;
	s64 d_zero;
	s64 d_unique;
	u64 hits;
	u64 zero_writes;
	/* FLUSH/FUA bios completed when this generation is durable */
	struct bio_list waiters;
};

/* Blocks a durable commit freed, on their way back to the allocator. */
struct dedup_free {
	u64 pbn;
	bool was_committed;	/* else never in a commit: NEW and DEAD */
};

struct dedup_frees {
	struct list_head list;
	unsigned long nr;
	struct dedup_free blocks[];
};

struct dedup_cow {
	struct dedup_cow_params p;
	struct dedup_meta *md;
	unsigned int claim_bits;

	/* gen_lbn and gen_pbn entries: a reserve, so writes progress */
	mempool_t *lbn_pool;
	mempool_t *pbn_pool;
	/* Taken by the one writer that may wait for the pools' entries. */
	struct mutex spares_mutex;

	/*
	 * Protects open/frozen and the contents of both generations, the
	 * claims table, publish_seq, durable_seq, pending_frees,
	 * release_seq, the flags and the statistics below.  Taken briefly
	 * by every I/O and by the committer at freeze and publish; the
	 * metadata's pub_lock nests inside it (publish).
	 */
	spinlock_t lock;
	struct dedup_gen gens[2];
	struct dedup_gen *open;
	struct dedup_gen *frozen;
	/*
	 * The LBN entries of open and frozen, all a lookup of an LBN may
	 * find in them: changed under lock with smp_store_release(), read
	 * without it (smp_load_acquire()) by the lookups, which skip the
	 * lock when it is 0.
	 */
	unsigned long mem_lbns;
	struct hlist_head *claims;
	u64 publish_seq;		/* equals the metadata's */
	u64 durable_seq;		/* every gen <= this is durable */
	u64 pending_frees;		/* dead blocks not yet released */
	u64 release_seq;		/* bumped when blocks become allocatable */
	/* metadata space as of the last publish (or growth), in blocks */
	struct dedup_counters space;
	u64 meta_reserve;
	bool commit_in_flight;
	bool commit_requested;
	bool drop_requested;		/* commit to drop the saved index */
	bool period_changed;		/* the committer must re-read period */
	bool read_only;			/* dedup_cow_set_read_only() */
	unsigned long last_commit;	/* jiffies */
	struct dedup_cow_stats stats;

	wait_queue_head_t claim_wait;	/* a claim was released */
	wait_queue_head_t room_wait;	/* freeze or publish happened */
	wait_queue_head_t commit_wait;	/* the committer has work */
	wait_queue_head_t durable_wait;	/* a commit finished */
	wait_queue_head_t release_wait;	/* blocks became allocatable */

	/*
	 * Serializes commits and the index's background work (the kthread,
	 * the commit message, suspend).  Held across metadata I/O; never
	 * taken by the I/O path.
	 */
	struct mutex commit_mutex;
	struct task_struct *committer;
	/* Loads a saved index beside commits (dm-dedup-cow-commit.c). */
	struct work_struct load_work;
	bool stop_loading;
	bool index_kick;		/* the committer has index work */

	/* Committer only: the frozen generation's blocks, sorted. */
	struct gen_pbn **sorted;
	unsigned long nr_sorted;

	/*
	 * Frees of durable commits wait here for their discards; the
	 * release worker returns them to the allocator in commit order.
	 * Protects frees_list; a leaf lock.
	 */
	spinlock_t frees_lock;
	struct list_head frees_list;
	struct work_struct release_work;
	struct workqueue_struct *release_wq;
};

/*
 * The share of one generation that discards may take: array entry bytes
 * changed (8 per LBN, 4 more per block that dies; 256 KiB is about 21,000
 * LBNs of unique data, 65 array blocks when the blocks are neighbours),
 * and array blocks by the cursors' bound (scattered blocks reach it
 * first).  doc/metadata.md, "Discards".
 */
#define DEDUP_DISCARD_GEN_BYTES		(256U << 10)
#define DEDUP_DISCARD_GEN_BLOCKS	96

/* Bytes one generation may hold: half of max_open_mb. */
static inline size_t dedup_gen_cap(struct dedup_cow *cow)
{
	return (size_t)READ_ONCE(cow->p.f.max_open_mb) << 19;
}

/* log2 of the hash buckets of a generation of dedup_gen_cap() bytes. */
static inline unsigned int dedup_gen_bits(struct dedup_cow *cow)
{
	unsigned long entries = dedup_gen_cap(cow) / sizeof(struct gen_lbn) / 4;

	return clamp_t(unsigned int, ilog2(max(entries, 1UL)), 8, 22);
}

/*
 * dm-dedup-gen.c, for the pipeline: the pools of generation entries, the
 * metadata space as of creation, publish or growth, and generations.
 */
mempool_t *dedup_gen_pool_create(bool pbn);
void dedup_gen_init_space(struct dedup_cow *cow);
/* The published commit's free metadata, for admission; lock held. */
void dedup_cow_take_space(struct dedup_cow *cow);
void dedup_cow_space_event(struct dedup_cow *cow);
/* Room for the uncommitted generations and one more write; lock held. */
bool dedup_cow_meta_room(struct dedup_cow *cow);
int dedup_gen_init(struct dedup_gen *g, unsigned int bits, u64 seq);
void dedup_gen_clear(struct dedup_cow *cow, struct dedup_gen *g);
void dedup_gen_free(struct dedup_cow *cow, struct dedup_gen *g);
bool dedup_gen_empty(struct dedup_gen *g);
void dedup_cow_request_commit(struct dedup_cow *cow);
void dedup_cow_end_bios(struct bio_list *bios, blk_status_t status);

#endif /* DM_DEDUP_GEN_H */

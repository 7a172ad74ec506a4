/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-cow.h - the state shared by dm-dedup-gen.c (generations,
 * lookups, recording, back-pressure, durability waits) and
 * dm-dedup-commit.c (the commit kthread).  Nothing else includes it.
 */
#ifndef DM_DEDUP_COW_H
#define DM_DEDUP_COW_H

#include <linux/bio.h>
#include <linux/mempool.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "dm-dedup.h"

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
	size_t gen_cap;			/* bytes one generation may hold */
	unsigned int want_bits;		/* table size for gen_cap */
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
	bool failed;
	unsigned int period_ms;
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
	/* Loads a saved index beside commits (dm-dedup-commit.c). */
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

/* dm-dedup-gen.c, for the committer */
void dedup_cow_space_changed(struct dedup_cow *cow,
			     const struct dedup_counters *c);
/* Room for the uncommitted generations and one more write; lock held. */
bool dedup_cow_meta_room(struct dedup_cow *cow);
int dedup_gen_init(struct dedup_gen *g, unsigned int bits, u64 seq);
void dedup_gen_clear(struct dedup_cow *cow, struct dedup_gen *g);
void dedup_gen_free(struct dedup_cow *cow, struct dedup_gen *g);
bool dedup_gen_empty(struct dedup_gen *g);
void dedup_cow_request_commit(struct dedup_cow *cow);
void dedup_cow_end_bios(struct bio_list *bios, blk_status_t status);

/* dm-dedup-commit.c */
int dedup_cow_start_committer(struct dedup_cow *cow);
void dedup_cow_stop_committer(struct dedup_cow *cow);
int dedup_cow_do_commit(struct dedup_cow *cow);
/*
 * Commits the metadata's own changes (growth, dropping a saved index), no
 * generation, and reports the space; commit_mutex held.
 */
int dedup_cow_commit_alone(struct dedup_cow *cow);
void dedup_cow_release_work(struct work_struct *w);

#endif /* DM_DEDUP_COW_H */

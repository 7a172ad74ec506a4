// SPDX-License-Identifier: GPL-2.0
/*
 * Generations of changes and the commit pipeline.
 *
 * DOC: generations
 *
 * Writers never change the persistent metadata.  Every change they make
 * (an LBN's new mapping, a data block's reference count delta, a new
 * fingerprint) goes into the *open generation*, a set of in-memory hash
 * tables.  The commit kthread turns the open generation into the *frozen*
 * one and opens a fresh one (an O(1) pointer swap under cow->lock), then
 * applies the frozen changes to the dm-persistent-data trees, flushes the
 * data device, and commits.  Writers go on filling the new open generation
 * the whole time.
 *
 * A lookup reads, in order, the open generation, the frozen one, and the
 * last committed (published) roots.  At publish the committer replaces the
 * roots and retires the frozen generation in one critical section, so a
 * lookup that samples (frozen, roots) under cow->lock always sees a
 * consistent pair: either the old roots with the frozen changes on top, or
 * the new roots, which contain them.
 *
 * Committed btree blocks are read under SRCU.  After publishing, the
 * committer waits for readers of the old roots to drain before it starts
 * the next transaction, which is the first that may reuse blocks only the
 * old roots referenced.
 *
 * Reference counts: a writer computes a block's effective count (committed
 * count + frozen delta + open delta) when it drops a reference.  When it
 * reaches zero the block is marked dead in the open generation; lookups
 * treat it as absent from then on, and it returns to the allocator only
 * after that generation is durable (no reuse before durability).
 *
 * A writer that needs the committed state together with generation
 * entries (a reference count, say) reads the committed trees without the
 * lock, then retakes it and checks that no publish happened in between
 * (publish_seq); otherwise it starts again.  Publishes happen once a
 * commit, so retries are rare.
 *
 * DOC: back-pressure
 *
 * The open generation may hold max_open_mb / 2 of entries (the frozen one
 * the other half).  When it is full a commit is started; if one is running
 * already, new writes wait in dedup_cow_admit() until it has finished and
 * the open generation could be frozen.  Each wait is counted and timed.
 * With blocking_commit, writers instead wait whenever a commit is in
 * flight, as in designs that hold the metadata lock across the commit.
 *
 * DOC: locking
 *
 * Lock order: commit_mutex -> dedup_meta's lock -> cow->lock, alloc_lock.
 * cow->lock and alloc_lock are leaf spinlocks, never held across I/O,
 * allocation or sleep.  The I/O path takes cow->lock, alloc_lock and SRCU
 * read sections only; it never takes commit_mutex or dedup_meta's lock, so
 * nothing it waits for is held across metadata I/O.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/sort.h>
#include <linux/srcu.h>
#include <asm/unaligned.h>

#include "dm-dedup.h"

/* An LBN whose mapping changed in a generation. */
struct gen_lbn {
	struct hlist_node node;
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
	u64 pbn;
	s64 delta;
	unsigned int flags;
	u8 fp[DEDUP_MAX_FP_SIZE];
};

struct dedup_gen {
	u64 seq;
	struct hlist_head *lbn_tab;
	struct hlist_head *pbn_tab;
	struct hlist_head *fp_tab;
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

struct dedup_cow {
	struct dedup_cow_params p;
	struct dedup_meta *md;
	unsigned int bits;		/* log2 of each gen table's buckets */
	size_t gen_cap;			/* bytes one generation may hold */

	/*
	 * Protects open/frozen and the contents of both generations, the
	 * claims table, roots and publish_seq, durable_seq and the flags and
	 * statistics below.  Taken briefly by every I/O and by the committer
	 * at freeze and publish.
	 */
	spinlock_t lock;
	struct dedup_gen gens[2];
	struct dedup_gen *open;
	struct dedup_gen *frozen;
	struct hlist_head *claims;
	struct dedup_roots roots;	/* published: what lookups read */
	u64 publish_seq;
	u64 durable_seq;		/* every gen <= this is durable */
	u64 pending_frees;		/* dead blocks not yet released */
	bool commit_in_flight;
	bool commit_requested;
	bool period_changed;		/* the committer must re-read period */
	bool failed;
	unsigned int period_ms;
	unsigned long last_commit;	/* jiffies */
	struct dedup_cow_stats stats;

	wait_queue_head_t claim_wait;	/* a claim was released */
	wait_queue_head_t room_wait;	/* freeze or publish happened */
	wait_queue_head_t commit_wait;	/* the committer has work */
	wait_queue_head_t durable_wait;	/* a commit finished */

	/* Readers of committed roots; drained after each publish. */
	struct srcu_struct srcu;

	/*
	 * Serializes commits (the kthread, the commit message, suspend).
	 * Held across metadata I/O; never taken by the I/O path.
	 */
	struct mutex commit_mutex;
	struct task_struct *committer;

	/*
	 * Protects the data block allocator: alloc_map (bit set = in use,
	 * or free but not yet durable), cursor and nr_free.  A leaf lock.
	 */
	spinlock_t alloc_lock;
	unsigned long *alloc_map;
	u64 cursor;
	u64 nr_free;
	bool no_space;

	/* Committer only: the frozen generation's blocks, sorted. */
	struct gen_pbn **sorted;
	unsigned long nr_sorted;
};

/*
 * Generation tables
 */
static unsigned int fp_hash(const u8 *fp, unsigned int bits)
{
	return hash_64(get_unaligned_le64(fp), bits);
}

static int gen_init(struct dedup_gen *g, unsigned int bits, u64 seq)
{
	size_t n = 1UL << bits;

	g->lbn_tab = kvcalloc(n, sizeof(*g->lbn_tab), GFP_KERNEL);
	g->pbn_tab = kvcalloc(n, sizeof(*g->pbn_tab), GFP_KERNEL);
	g->fp_tab = kvcalloc(n, sizeof(*g->fp_tab), GFP_KERNEL);
	if (!g->lbn_tab || !g->pbn_tab || !g->fp_tab)
		return -ENOMEM;
	g->seq = seq;
	bio_list_init(&g->waiters);
	return 0;
}

/* Frees every entry; the generation must be out of reach of lookups. */
static void gen_clear(struct dedup_gen *g, unsigned int bits)
{
	size_t i, n = 1UL << bits;
	struct hlist_node *tmp;
	struct gen_lbn *l;
	struct gen_pbn *p;

	for (i = 0; i < n && (g->nr_lbn || g->nr_pbn); i++) {
		hlist_for_each_entry_safe(l, tmp, &g->lbn_tab[i], node) {
			hlist_del(&l->node);
			kfree(l);
			g->nr_lbn--;
		}
		hlist_for_each_entry_safe(p, tmp, &g->pbn_tab[i], node) {
			hlist_del(&p->node);
			if (p->flags & PBN_INDEXED)
				hlist_del(&p->fp_node);
			kfree(p);
			g->nr_pbn--;
		}
	}
	g->bytes = 0;
	g->d_mapped = 0;
	g->d_zero = 0;
	g->d_unique = 0;
	g->hits = 0;
	g->zero_writes = 0;
}

static void gen_free(struct dedup_gen *g, unsigned int bits)
{
	if (g->lbn_tab && g->pbn_tab && g->fp_tab)
		gen_clear(g, bits);
	kvfree(g->lbn_tab);
	kvfree(g->pbn_tab);
	kvfree(g->fp_tab);
}

static bool gen_empty(struct dedup_gen *g)
{
	return !g->nr_lbn && !g->nr_pbn && !g->hits && !g->zero_writes;
}

static struct gen_lbn *gen_find_lbn(struct dedup_cow *cow, struct dedup_gen *g,
				    u64 lbn)
{
	struct gen_lbn *l;

	hlist_for_each_entry(l, &g->lbn_tab[hash_64(lbn, cow->bits)], node)
		if (l->lbn == lbn)
			return l;
	return NULL;
}

static struct gen_pbn *gen_find_pbn(struct dedup_cow *cow, struct dedup_gen *g,
				    u64 pbn)
{
	struct gen_pbn *p;

	hlist_for_each_entry(p, &g->pbn_tab[hash_64(pbn, cow->bits)], node)
		if (p->pbn == pbn)
			return p;
	return NULL;
}

static struct gen_pbn *gen_find_fp(struct dedup_cow *cow, struct dedup_gen *g,
				   const u8 *fp)
{
	struct gen_pbn *p;

	hlist_for_each_entry(p, &g->fp_tab[fp_hash(fp, cow->bits)], fp_node)
		if (!memcmp(p->fp, fp, cow->p.fp_size))
			return p;
	return NULL;
}

/* Finds pbn's entry in the open generation or inserts *spare there. */
static struct gen_pbn *gen_get_pbn(struct dedup_cow *cow, u64 pbn,
				   struct gen_pbn **spare)
{
	struct dedup_gen *g = cow->open;
	struct gen_pbn *p = gen_find_pbn(cow, g, pbn);

	if (p)
		return p;
	p = *spare;
	*spare = NULL;
	memset(p, 0, sizeof(*p));
	p->pbn = pbn;
	INIT_HLIST_NODE(&p->fp_node);
	hlist_add_head(&p->node, &g->pbn_tab[hash_64(pbn, cow->bits)]);
	g->nr_pbn++;
	g->bytes += sizeof(*p);
	return p;
}

/* Both generations; cow->lock held. */
static struct gen_lbn *mem_find_lbn(struct dedup_cow *cow, u64 lbn)
{
	struct gen_lbn *l = gen_find_lbn(cow, cow->open, lbn);

	if (!l && cow->frozen)
		l = gen_find_lbn(cow, cow->frozen, lbn);
	return l;
}

static unsigned int mem_pbn_flags(struct dedup_cow *cow, u64 pbn, s64 *delta)
{
	struct gen_pbn *p;
	unsigned int flags = 0;

	*delta = 0;
	p = gen_find_pbn(cow, cow->open, pbn);
	if (p) {
		flags |= p->flags;
		*delta += p->delta;
	}
	if (cow->frozen) {
		p = gen_find_pbn(cow, cow->frozen, pbn);
		if (p) {
			flags |= p->flags;
			*delta += p->delta;
		}
	}
	return flags;
}

static bool mem_pbn_dead(struct dedup_cow *cow, u64 pbn)
{
	s64 delta;

	return mem_pbn_flags(cow, pbn, &delta) & PBN_DEAD;
}

/*
 * Claims on fingerprints being written for the first time
 */
static struct dedup_claim *claim_find(struct dedup_cow *cow, const u8 *fp)
{
	struct dedup_claim *c;

	hlist_for_each_entry(c, &cow->claims[fp_hash(fp, cow->bits)], node)
		if (!memcmp(c->fp, fp, cow->p.fp_size))
			return c;
	return NULL;
}

static bool claim_gone(struct dedup_cow *cow, const u8 *fp)
{
	bool gone;

	spin_lock(&cow->lock);
	gone = !claim_find(cow, fp) || cow->failed;
	spin_unlock(&cow->lock);
	return gone;
}

static void claim_take(struct dedup_cow *cow, struct dedup_claim *claim,
		       const u8 *fp)
{
	memcpy(claim->fp, fp, DEDUP_MAX_FP_SIZE);
	hlist_add_head(&claim->node, &cow->claims[fp_hash(fp, cow->bits)]);
}

void dedup_cow_release_claim(struct dedup_cow *cow, struct dedup_claim *claim)
{
	spin_lock(&cow->lock);
	hlist_del_init(&claim->node);
	spin_unlock(&cow->lock);
	wake_up_all(&cow->claim_wait);
}

/*
 * Lookups
 */
int dedup_cow_find_lbn(struct dedup_cow *cow, u64 lbn, u64 *value)
{
	struct dedup_roots roots;
	struct gen_lbn *l;
	int idx, r = 0;
	u64 v = 0;

	idx = srcu_read_lock(&cow->srcu);
	spin_lock(&cow->lock);
	l = mem_find_lbn(cow, lbn);
	if (l)
		v = l->value;
	else
		roots = cow->roots;
	spin_unlock(&cow->lock);
	if (!l)
		r = dedup_meta_find_lbn(cow->md, &roots, lbn, &v);
	srcu_read_unlock(&cow->srcu, idx);

	if (!r && v == DEDUP_UNMAPPED)
		r = -ENODATA;
	if (!r)
		*value = v;
	return r;
}

/*
 * In-memory part of a fingerprint lookup, cow->lock held: 1 and *pbn for a
 * live block, 0 for a dead one (a miss), -ENOENT if not in memory.
 */
static int mem_lookup_fp(struct dedup_cow *cow, const u8 *fp, u64 *pbn)
{
	struct gen_pbn *p = gen_find_fp(cow, cow->open, fp);

	if (!p && cow->frozen)
		p = gen_find_fp(cow, cow->frozen, fp);
	if (!p)
		return -ENOENT;
	if (mem_pbn_dead(cow, p->pbn))
		return 0;
	*pbn = p->pbn;
	return 1;
}

int dedup_cow_lookup_fp(struct dedup_cow *cow, const u8 *fp, u64 *pbn,
			struct dedup_claim *claim)
{
	struct dedup_roots roots;
	u64 seq, cpbn = 0;
	int idx, r, cr;

again:
	idx = srcu_read_lock(&cow->srcu);
	spin_lock(&cow->lock);
	if (cow->failed) {
		r = -EIO;
		goto unlock;
	}
	claim->seq = cow->publish_seq;
	r = mem_lookup_fp(cow, fp, pbn);
	if (r == 1) {
		r = DEDUP_FP_HIT;
		goto unlock;
	}
	if (claim_find(cow, fp))
		goto wait;
	if (!r) {
		claim_take(cow, claim, fp);
		r = DEDUP_FP_MISS;
		goto unlock;
	}
	seq = cow->publish_seq;
	roots = cow->roots;
	spin_unlock(&cow->lock);

	cr = dedup_meta_find_fp(cow->md, &roots, fp, &cpbn);

	spin_lock(&cow->lock);
	if (seq != cow->publish_seq) {
		spin_unlock(&cow->lock);
		srcu_read_unlock(&cow->srcu, idx);
		goto again;
	}
	/* Writers may have added it while the lock was dropped. */
	r = mem_lookup_fp(cow, fp, pbn);
	if (r == 1) {
		r = DEDUP_FP_HIT;
		goto unlock;
	}
	if (claim_find(cow, fp))
		goto wait;
	if (cr && cr != -ENODATA) {
		r = cr;
		goto unlock;
	}
	if (!cr && r && !mem_pbn_dead(cow, cpbn)) {
		*pbn = cpbn;
		r = DEDUP_FP_HIT;
		goto unlock;
	}
	claim_take(cow, claim, fp);
	r = DEDUP_FP_MISS;
unlock:
	spin_unlock(&cow->lock);
	srcu_read_unlock(&cow->srcu, idx);
	return r;

wait:
	spin_unlock(&cow->lock);
	srcu_read_unlock(&cow->srcu, idx);
	wait_event(cow->claim_wait, claim_gone(cow, fp));
	goto again;
}

/*
 * Data block allocator
 */
static int try_alloc(struct dedup_cow *cow, u64 *pbn)
{
	u64 n = cow->p.data_nr_blocks, b;
	int r = -ENOSPC;

	spin_lock(&cow->alloc_lock);
	b = find_next_zero_bit(cow->alloc_map, n, cow->cursor);
	if (b >= n)
		b = find_first_zero_bit(cow->alloc_map, n);
	if (b < n) {
		__set_bit(b, cow->alloc_map);
		cow->cursor = b + 1;
		cow->nr_free--;
		*pbn = b;
		r = 0;
	} else {
		cow->no_space = true;
	}
	spin_unlock(&cow->alloc_lock);
	return r;
}

static void request_commit(struct dedup_cow *cow)
{
	spin_lock(&cow->lock);
	cow->commit_requested = true;
	spin_unlock(&cow->lock);
	wake_up(&cow->commit_wait);
}

static bool commit_done(struct dedup_cow *cow, u64 commits)
{
	bool done;

	spin_lock(&cow->lock);
	done = cow->stats.commits > commits || cow->failed;
	spin_unlock(&cow->lock);
	return done;
}

int dedup_cow_alloc_block(struct dedup_cow *cow, u64 *pbn)
{
	int attempt, r;

	for (attempt = 0; ; attempt++) {
		u64 pending, commits;

		r = try_alloc(cow, pbn);
		if (!r || cow->p.error_if_no_space || attempt == 2)
			return r;

		/* Blocks freed by uncommitted generations may come back. */
		spin_lock(&cow->lock);
		pending = cow->pending_frees;
		commits = cow->stats.commits;
		spin_unlock(&cow->lock);
		if (!pending)
			return r;
		request_commit(cow);
		wait_event(cow->durable_wait, commit_done(cow, commits));
	}
}

void dedup_cow_unalloc_block(struct dedup_cow *cow, u64 pbn)
{
	spin_lock(&cow->alloc_lock);
	__clear_bit(pbn, cow->alloc_map);
	cow->nr_free++;
	spin_unlock(&cow->alloc_lock);
}

static int mark_in_use(void *context, u64 pbn, u32 count)
{
	struct dedup_cow *cow = context;

	if (pbn >= cow->p.data_nr_blocks || test_bit(pbn, cow->alloc_map)) {
		DMERR("refcount tree names block %llu twice or out of range",
		      pbn);
		return -EILSEQ;
	}
	__set_bit(pbn, cow->alloc_map);
	cow->nr_free--;
	return 0;
}

/*
 * Recording changes
 */
static void count_value(struct dedup_gen *g, u64 value, int sign)
{
	if (value == DEDUP_ZERO_PBN)
		g->d_zero += sign;
	else if (dedup_is_pbn(value))
		g->d_mapped += sign;
}

/* Everything but the committed count of old is known; cow->lock held. */
static int __record(struct dedup_cow *cow, u64 lbn, u64 value, u64 old,
		    u64 old_committed, unsigned int flags,
		    struct dedup_claim *claim, struct gen_lbn **lspare,
		    struct gen_pbn **pspare1, struct gen_pbn **pspare2)
{
	struct dedup_gen *g = cow->open;
	struct gen_lbn *l;
	struct gen_pbn *p;
	s64 eff = 0;

	if ((flags & DEDUP_REC_HIT) &&
	    (claim->seq != cow->publish_seq || mem_pbn_dead(cow, value)))
		return -EAGAIN;

	if (dedup_is_pbn(old) && old != value) {
		s64 delta;

		mem_pbn_flags(cow, old, &delta);
		eff = (s64)old_committed + delta - 1;
		if (eff < 0) {
			DMERR_LIMIT("reference count of block %llu below zero",
				    old);
			return -EILSEQ;
		}
	}

	if (value == DEDUP_UNMAPPED && old == DEDUP_UNMAPPED)
		return 0;

	l = gen_find_lbn(cow, g, lbn);
	if (!l) {
		l = *lspare;
		*lspare = NULL;
		l->lbn = lbn;
		hlist_add_head(&l->node, &g->lbn_tab[hash_64(lbn, cow->bits)]);
		g->nr_lbn++;
		g->bytes += sizeof(*l);
	}
	l->value = value;

	if (value != old) {
		if (dedup_is_pbn(value)) {
			p = gen_get_pbn(cow, value, pspare1);
			p->delta++;
			if (flags & DEDUP_REC_NEW) {
				p->flags |= PBN_NEW;
				g->d_unique++;
				if (claim && !(flags & DEDUP_REC_NOINDEX)) {
					memcpy(p->fp, claim->fp, sizeof(p->fp));
					p->flags |= PBN_INDEXED;
					hlist_add_head(&p->fp_node,
						       &g->fp_tab[fp_hash(p->fp,
									  cow->bits)]);
				}
			}
		}
		if (dedup_is_pbn(old)) {
			p = gen_get_pbn(cow, old, pspare2);
			p->delta--;
			if (!eff) {
				p->flags |= PBN_DEAD;
				g->d_unique--;
				cow->pending_frees++;
			}
		}
		count_value(g, old, -1);
		count_value(g, value, 1);
	}
	if (flags & DEDUP_REC_HIT)
		g->hits++;
	if (value == DEDUP_ZERO_PBN)
		g->zero_writes++;
	return 0;
}

int dedup_cow_record(struct dedup_cow *cow, u64 lbn, u64 value,
		     unsigned int flags, struct dedup_claim *claim, u64 *gen)
{
	struct gen_lbn *lspare;
	struct gen_pbn *pspare1, *pspare2;
	struct dedup_roots roots;
	struct gen_lbn *l;
	u64 seq, old = DEDUP_UNMAPPED;
	u32 old_committed = 0;
	int idx, r;

	lspare = kmalloc(sizeof(*lspare), GFP_NOIO);
	pspare1 = kmalloc(sizeof(*pspare1), GFP_NOIO);
	pspare2 = kmalloc(sizeof(*pspare2), GFP_NOIO);
	if (!lspare || !pspare1 || !pspare2) {
		r = -ENOMEM;
		goto out;
	}

again:
	idx = srcu_read_lock(&cow->srcu);
	spin_lock(&cow->lock);
	seq = cow->publish_seq;
	roots = cow->roots;
	l = mem_find_lbn(cow, lbn);
	if (l)
		old = l->value;
	spin_unlock(&cow->lock);

	if (!l) {
		r = dedup_meta_find_lbn(cow->md, &roots, lbn, &old);
		if (r == -ENODATA)
			old = DEDUP_UNMAPPED;
		else if (r)
			goto unlock_srcu;
	}

	old_committed = 0;
	if (dedup_is_pbn(old) && old != value) {
		s64 delta;
		bool is_new;

		spin_lock(&cow->lock);
		is_new = mem_pbn_flags(cow, old, &delta) & PBN_NEW;
		spin_unlock(&cow->lock);
		if (!is_new) {
			r = dedup_meta_find_refcount(cow->md, &roots, old,
						     &old_committed);
			if (r == -ENODATA) {
				DMERR_LIMIT("block %llu is mapped but has no reference count",
					    old);
				r = -EILSEQ;
			}
			if (r)
				goto unlock_srcu;
		}
	}

	spin_lock(&cow->lock);
	if (seq != cow->publish_seq) {
		spin_unlock(&cow->lock);
		srcu_read_unlock(&cow->srcu, idx);
		goto again;
	}
	if (cow->failed)
		r = -EIO;
	else
		r = __record(cow, lbn, value, old, old_committed, flags, claim,
			     &lspare, &pspare1, &pspare2);
	*gen = cow->open->seq;
	if (!r && claim && (flags & DEDUP_REC_NEW))
		hlist_del_init(&claim->node);
	spin_unlock(&cow->lock);
	if (!r && claim && (flags & DEDUP_REC_NEW))
		wake_up_all(&cow->claim_wait);

unlock_srcu:
	srcu_read_unlock(&cow->srcu, idx);
out:
	kfree(lspare);
	kfree(pspare1);
	kfree(pspare2);
	return r;
}

/*
 * Back-pressure
 */
static bool admit_blocked(struct dedup_cow *cow)
{
	if (cow->failed)
		return false;
	if (cow->p.blocking_commit)
		return cow->commit_in_flight;
	return cow->open->bytes >= cow->gen_cap;
}

static bool admit_ok(struct dedup_cow *cow)
{
	bool ok;

	spin_lock(&cow->lock);
	ok = !admit_blocked(cow);
	spin_unlock(&cow->lock);
	return ok;
}

int dedup_cow_admit(struct dedup_cow *cow)
{
	ktime_t start;
	u64 us;

	if (admit_ok(cow))
		return 0;

	start = ktime_get();
	if (!cow->p.blocking_commit)
		request_commit(cow);
	wait_event(cow->room_wait, admit_ok(cow));
	us = ktime_us_delta(ktime_get(), start);

	spin_lock(&cow->lock);
	cow->stats.bp_waits++;
	if (us > cow->stats.longest_wait_us)
		cow->stats.longest_wait_us = us;
	spin_unlock(&cow->lock);
	return 0;
}

/*
 * Durability waits
 */
void dedup_cow_complete_when_durable(struct dedup_cow *cow, struct bio *bio,
				     u64 gen)
{
	struct dedup_gen *g = NULL;

	spin_lock(&cow->lock);
	if (cow->failed) {
		spin_unlock(&cow->lock);
		bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
		return;
	}
	if (!gen) {
		/* A flush: everything recorded so far. */
		if (!gen_empty(cow->open))
			gen = cow->open->seq;
		else if (cow->frozen)
			gen = cow->frozen->seq;
	}
	if (gen > cow->durable_seq) {
		if (gen == cow->open->seq)
			g = cow->open;
		else if (cow->frozen && gen == cow->frozen->seq)
			g = cow->frozen;
	}
	if (g) {
		bio_list_add(&g->waiters, bio);
		if (g == cow->open)
			cow->commit_requested = true;
	}
	spin_unlock(&cow->lock);

	if (g)
		wake_up(&cow->commit_wait);
	else
		bio_endio(bio);
}

static void end_bios(struct bio_list *bios, blk_status_t status)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		bio->bi_status = status;
		bio_endio(bio);
	}
}

/*
 * The commit
 */
static int cmp_lbn(const void *a, const void *b)
{
	const struct gen_lbn *x = *(const struct gen_lbn **)a;
	const struct gen_lbn *y = *(const struct gen_lbn **)b;

	return x->lbn < y->lbn ? -1 : x->lbn > y->lbn;
}

static int cmp_pbn(const void *a, const void *b)
{
	const struct gen_pbn *x = *(const struct gen_pbn **)a;
	const struct gen_pbn *y = *(const struct gen_pbn **)b;

	return x->pbn < y->pbn ? -1 : x->pbn > y->pbn;
}

static void *alloc_array(unsigned long n)
{
	unsigned int noio = memalloc_noio_save();
	void *a = kvmalloc_array(max(n, 1UL), sizeof(void *), GFP_KERNEL);

	memalloc_noio_restore(noio);
	return a;
}

static int apply_lbns(struct dedup_cow *cow, struct dedup_gen *g)
{
	struct gen_lbn **a, *l;
	unsigned long i, n = 0;
	int r = 0;

	a = alloc_array(g->nr_lbn);
	if (!a)
		return -ENOMEM;
	for (i = 0; i < (1UL << cow->bits); i++)
		hlist_for_each_entry(l, &g->lbn_tab[i], node)
			a[n++] = l;
	sort(a, n, sizeof(*a), cmp_lbn, NULL);
	for (i = 0; i < n && !r; i++) {
		r = dedup_meta_set_lbn(cow->md, a[i]->lbn, a[i]->value);
		cond_resched();
	}
	kvfree(a);
	return r;
}

static int apply_pbn(struct dedup_cow *cow, struct gen_pbn *p, bool new_pass)
{
	bool dead = p->flags & PBN_DEAD;
	u32 count;
	int r;

	if (!!(p->flags & PBN_NEW) != new_pass)
		return 0;
	if (!new_pass) {
		if (!p->delta)
			return 0;
		r = dedup_meta_adjust_block(cow->md, p->pbn, p->delta, &count);
		if (!r && !count != dead)
			r = -EILSEQ;
	} else if (p->delta > 0 && !dead && p->delta <= U32_MAX) {
		r = dedup_meta_add_block(cow->md, p->pbn, p->delta,
					 (p->flags & PBN_INDEXED) ? p->fp :
					 NULL);
	} else {
		r = (!p->delta && dead) ? 0 : -EILSEQ;
	}
	if (r == -EILSEQ)
		DMERR("reference count of block %llu disagrees with metadata",
		      p->pbn);
	return r;
}

static int apply_pbns(struct dedup_cow *cow, struct dedup_gen *g)
{
	struct gen_pbn *p;
	unsigned long i, n = 0;
	int pass, r = 0;

	cow->sorted = alloc_array(g->nr_pbn);
	if (!cow->sorted)
		return -ENOMEM;
	for (i = 0; i < (1UL << cow->bits); i++)
		hlist_for_each_entry(p, &g->pbn_tab[i], node)
			cow->sorted[n++] = p;
	cow->nr_sorted = n;
	sort(cow->sorted, n, sizeof(p), cmp_pbn, NULL);

	/* Removals first, so a fingerprint can leave before it returns. */
	for (pass = 0; pass < 2; pass++)
		for (i = 0; i < n && !r; i++) {
			r = apply_pbn(cow, cow->sorted[i], pass);
			cond_resched();
		}
	return r;
}

static void free_sorted(struct dedup_cow *cow)
{
	kvfree(cow->sorted);
	cow->sorted = NULL;
	cow->nr_sorted = 0;
}

static void discard_run(struct dedup_cow *cow, u64 start, u64 len)
{
	sector_t per = cow->p.data_block_size >> SECTOR_SHIFT;
	int r;

	r = blkdev_issue_discard(cow->p.data_bdev, start * per, len * per,
				 GFP_NOIO);
	if (r && r != -EOPNOTSUPP)
		DMERR_LIMIT("discard passdown of blocks %llu+%llu failed: %d",
			    start, len, r);
}

/* The frozen generation is durable: its dead blocks may be reused. */
static void release_frees(struct dedup_cow *cow)
{
	bool passdown = cow->p.discard_passdown &&
		bdev_max_discard_sectors(cow->p.data_bdev);
	u64 run_start = 0, run_len = 0, freed = 0;
	unsigned long i;

	for (i = 0; i < cow->nr_sorted; i++) {
		struct gen_pbn *p = cow->sorted[i];

		if (!(p->flags & PBN_DEAD))
			continue;
		freed++;
		if (!passdown)
			continue;
		if (run_len && run_start + run_len == p->pbn) {
			run_len++;
			continue;
		}
		if (run_len)
			discard_run(cow, run_start, run_len);
		run_start = p->pbn;
		run_len = 1;
	}
	if (run_len)
		discard_run(cow, run_start, run_len);

	/* Only after the discards: a reused block must not be discarded. */
	spin_lock(&cow->alloc_lock);
	for (i = 0; i < cow->nr_sorted; i++)
		if (cow->sorted[i]->flags & PBN_DEAD)
			__clear_bit(cow->sorted[i]->pbn, cow->alloc_map);
	cow->nr_free += freed;
	if (freed)
		cow->no_space = false;
	spin_unlock(&cow->alloc_lock);

	spin_lock(&cow->lock);
	cow->pending_frees -= freed;
	spin_unlock(&cow->lock);
}

static void commit_failed(struct dedup_cow *cow, const char *op, int r)
{
	struct bio_list bios;

	bio_list_init(&bios);
	spin_lock(&cow->lock);
	cow->failed = true;
	cow->commit_in_flight = false;
	bio_list_merge(&bios, &cow->open->waiters);
	bio_list_init(&cow->open->waiters);
	if (cow->frozen) {
		bio_list_merge(&bios, &cow->frozen->waiters);
		bio_list_init(&cow->frozen->waiters);
	}
	spin_unlock(&cow->lock);

	cow->p.metadata_failed(cow->p.context, op, r);
	end_bios(&bios, BLK_STS_IOERR);
	wake_up_all(&cow->room_wait);
	wake_up_all(&cow->claim_wait);
	wake_up_all(&cow->durable_wait);
}

static int do_commit(struct dedup_cow *cow)
{
	struct dedup_roots roots;
	struct dedup_gen *f;
	struct bio_list done;
	const char *op;
	ktime_t start;
	u64 ms, blocks;
	int r;

	mutex_lock(&cow->commit_mutex);
	spin_lock(&cow->lock);
	if (cow->failed) {
		spin_unlock(&cow->lock);
		mutex_unlock(&cow->commit_mutex);
		return -EIO;
	}
	f = cow->open;
	cow->commit_requested = false;
	cow->last_commit = jiffies;
	if (gen_empty(f) && bio_list_empty(&f->waiters)) {
		spin_unlock(&cow->lock);
		mutex_unlock(&cow->commit_mutex);
		return 0;
	}
	/* Freeze: O(1), no I/O, no allocation. */
	cow->open = (f == &cow->gens[0]) ? &cow->gens[1] : &cow->gens[0];
	cow->open->seq = f->seq + 1;
	cow->frozen = f;
	cow->commit_in_flight = true;
	blocks = f->nr_lbn;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->room_wait);

	start = ktime_get();
	op = "apply";
	r = apply_lbns(cow, f);
	if (!r)
		r = apply_pbns(cow, f);
	if (!r) {
		/* Data before the mappings that point at it. */
		op = "flush data device";
		r = blkdev_issue_flush(cow->p.data_bdev);
	}
	if (!r) {
		op = "commit";
		r = dedup_meta_commit(cow->md, f->hits, f->zero_writes);
	}
	if (r) {
		free_sorted(cow);
		commit_failed(cow, op, r);
		mutex_unlock(&cow->commit_mutex);
		return r;
	}

	/* Publish, then retire the frozen generation, atomically. */
	dedup_meta_committed(cow->md, &roots, NULL);
	bio_list_init(&done);
	ms = ktime_ms_delta(ktime_get(), start);
	spin_lock(&cow->lock);
	cow->roots = roots;
	cow->publish_seq++;
	cow->frozen = NULL;
	cow->durable_seq = f->seq;
	cow->commit_in_flight = false;
	bio_list_merge(&done, &f->waiters);
	bio_list_init(&f->waiters);
	cow->stats.commits++;
	cow->stats.last_commit_ms = ms;
	cow->stats.last_commit_blocks = blocks;
	if (ms > cow->stats.longest_commit_ms)
		cow->stats.longest_commit_ms = ms;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->room_wait);

	/* Readers of the old roots finish before any block is reused. */
	synchronize_srcu(&cow->srcu);
	dedup_meta_drop_reader_cache(cow->md);
	release_frees(cow);
	free_sorted(cow);
	gen_clear(f, cow->bits);

	end_bios(&done, BLK_STS_OK);
	wake_up_all(&cow->durable_wait);
	mutex_unlock(&cow->commit_mutex);
	return 0;
}

int dedup_cow_commit(struct dedup_cow *cow)
{
	return do_commit(cow);
}

static bool commit_due(struct dedup_cow *cow)
{
	bool due;

	spin_lock(&cow->lock);
	due = !cow->failed &&
		(cow->commit_requested ||
		 cow->open->bytes >= cow->gen_cap ||
		 (!gen_empty(cow->open) &&
		  time_after_eq(jiffies, cow->last_commit +
				msecs_to_jiffies(cow->period_ms))));
	spin_unlock(&cow->lock);
	return due;
}

static bool period_changed(struct dedup_cow *cow)
{
	bool changed;

	spin_lock(&cow->lock);
	changed = cow->period_changed;
	cow->period_changed = false;
	spin_unlock(&cow->lock);
	return changed;
}

static int committer(void *context)
{
	struct dedup_cow *cow = context;

	while (!kthread_should_stop()) {
		/* Sleeps at most one period; a new period cuts it short. */
		wait_event_interruptible_timeout(cow->commit_wait,
						 kthread_should_stop() ||
						 commit_due(cow) ||
						 period_changed(cow),
						 msecs_to_jiffies(READ_ONCE(cow->period_ms)));
		if (!kthread_should_stop() && commit_due(cow))
			do_commit(cow);
	}
	return 0;
}

/*
 * Create, destroy, status
 */
struct dedup_cow *dedup_cow_create(const struct dedup_cow_params *p)
{
	struct dedup_cow *cow;
	unsigned long entries;
	int r;

	cow = kzalloc(sizeof(*cow), GFP_KERNEL);
	if (!cow)
		return ERR_PTR(-ENOMEM);
	cow->p = *p;
	cow->md = p->md;
	cow->period_ms = p->commit_period_ms;
	cow->gen_cap = (size_t)p->max_open_mb << 19;	/* half of it */
	entries = cow->gen_cap / sizeof(struct gen_lbn) / 4;
	cow->bits = clamp_t(unsigned int, ilog2(max(entries, 1UL)), 8, 22);

	spin_lock_init(&cow->lock);
	spin_lock_init(&cow->alloc_lock);
	mutex_init(&cow->commit_mutex);
	init_waitqueue_head(&cow->claim_wait);
	init_waitqueue_head(&cow->room_wait);
	init_waitqueue_head(&cow->commit_wait);
	init_waitqueue_head(&cow->durable_wait);
	cow->last_commit = jiffies;

	r = init_srcu_struct(&cow->srcu);
	if (r)
		goto bad_srcu;
	r = -ENOMEM;
	if (gen_init(&cow->gens[0], cow->bits, 1) ||
	    gen_init(&cow->gens[1], cow->bits, 0))
		goto bad;
	cow->open = &cow->gens[0];
	cow->claims = kvcalloc(1UL << cow->bits, sizeof(*cow->claims),
			       GFP_KERNEL);
	cow->alloc_map = kvcalloc(BITS_TO_LONGS(p->data_nr_blocks),
				  sizeof(unsigned long), GFP_KERNEL);
	if (!cow->claims || !cow->alloc_map)
		goto bad;

	cow->nr_free = p->data_nr_blocks;
	r = dedup_meta_walk_blocks(cow->md, mark_in_use, cow);
	if (r)
		goto bad;
	dedup_meta_committed(cow->md, &cow->roots, NULL);

	cow->committer = kthread_run(committer, cow, "dedup_commit");
	if (IS_ERR(cow->committer)) {
		r = PTR_ERR(cow->committer);
		goto bad;
	}
	return cow;

bad:
	kvfree(cow->alloc_map);
	kvfree(cow->claims);
	gen_free(&cow->gens[1], cow->bits);
	gen_free(&cow->gens[0], cow->bits);
	cleanup_srcu_struct(&cow->srcu);
bad_srcu:
	kfree(cow);
	return ERR_PTR(r);
}

void dedup_cow_destroy(struct dedup_cow *cow)
{
	kthread_stop(cow->committer);
	do_commit(cow);
	kvfree(cow->alloc_map);
	kvfree(cow->claims);
	gen_free(&cow->gens[1], cow->bits);
	gen_free(&cow->gens[0], cow->bits);
	cleanup_srcu_struct(&cow->srcu);
	kfree(cow);
}

void dedup_cow_set_commit_period(struct dedup_cow *cow, unsigned int ms)
{
	spin_lock(&cow->lock);
	cow->period_ms = ms;
	cow->period_changed = true;
	spin_unlock(&cow->lock);
	wake_up(&cow->commit_wait);
}

void dedup_cow_set_features(struct dedup_cow *cow,
			    const struct dedup_cow_params *p)
{
	spin_lock(&cow->lock);
	cow->period_ms = p->commit_period_ms;
	cow->period_changed = true;
	cow->gen_cap = (size_t)p->max_open_mb << 19;
	cow->p.max_open_mb = p->max_open_mb;
	cow->p.blocking_commit = p->blocking_commit;
	cow->p.discard_passdown = p->discard_passdown;
	cow->p.error_if_no_space = p->error_if_no_space;
	spin_unlock(&cow->lock);
	wake_up_all(&cow->room_wait);
	wake_up(&cow->commit_wait);
}

void dedup_cow_get_stats(struct dedup_cow *cow, struct dedup_cow_stats *s)
{
	struct dedup_gen *g;
	int i;

	spin_lock(&cow->lock);
	*s = cow->stats;
	s->commit_in_flight = cow->commit_in_flight;
	for (i = 0; i < 2; i++) {
		g = i ? cow->frozen : cow->open;
		if (!g)
			continue;
		s->d_mapped += g->d_mapped;
		s->d_zero += g->d_zero;
		s->d_unique += g->d_unique;
		s->hits += g->hits;
		s->zero_writes += g->zero_writes;
	}
	spin_unlock(&cow->lock);

	spin_lock(&cow->alloc_lock);
	s->data_free = cow->nr_free;
	s->no_space = cow->no_space;
	spin_unlock(&cow->alloc_lock);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Generations of uncommitted changes, and every lookup of the I/O path.
 */

/**
 * DOC: generations
 *
 * Writers never change the persistent metadata.  Every change they make
 * (an LBN's new mapping, a data block's reference count delta, a new
 * fingerprint) goes into the *open generation*, a set of in-memory hash
 * tables.  The commit kthread (dm-dedup-cow-commit.c) turns the open
 * generation into the *frozen* one and opens a fresh one (an O(1) pointer
 * swap under cow->lock), then applies the frozen changes to the metadata,
 * flushes the data device, and commits.  Writers go on filling the new
 * open generation the whole time.
 *
 * A lookup reads, in order, the open generation, the frozen one, and the
 * last published commit (dm-dedup-meta.c).  At publish the committer
 * publishes the commit and retires the frozen generation in one critical
 * section of cow->lock, so a lookup that samples the generations under
 * cow->lock and then reads the metadata, checking that the publish
 * sequence number it read at is still the current one, always sees a
 * consistent pair: the old commit with the frozen changes on top, or the
 * new commit, which contains them.
 *
 * Reference counts: a writer computes a block's effective count (committed
 * count + frozen delta + open delta) when it drops a reference.  When it
 * reaches zero the block is marked dead in the open generation; lookups
 * treat it as absent from then on, and it returns to the allocator only
 * after that generation is durable (no reuse before durability).
 */

/**
 * DOC: back-pressure
 *
 * The open generation may hold max_open_mb / 2 of entries (the frozen one
 * the other half).  When it is full a commit is started; if one is running
 * already, new writes wait in dedup_cow_admit() until it has finished and
 * the open generation could be frozen.  Each wait is counted and timed.
 * With blocking_commit, writers instead wait whenever a commit is in
 * flight, as in designs that hold the metadata lock across the commit.
 * Discards have a share of each generation of their own
 * (DEDUP_DISCARD_GEN_BYTES, DEDUP_DISCARD_GEN_BLOCKS): a discard that
 * finds it taken asks for a commit and waits for the next generation
 * (dedup_cow_admit_discard()), not counted as back-pressure.
 * Generation entries come from mempools: when memory is short a writer
 * waits for the next commit to return entries, instead of failing.  A
 * record takes the three entries it may need all at once or none; only
 * one writer at a time waits for entries, so that no two writers each
 * hold part of what the other waits for.
 */

/**
 * DOC: locking
 *
 * Lock order: commit_mutex -> the metadata's lock -> cow->lock; frees_lock
 * and spares_mutex's holders take nothing else.  cow->lock is a spinlock,
 * never held across I/O, allocation or sleep.  The I/O path takes
 * cow->lock and the metadata's reader side (SRCU) only; it never takes
 * commit_mutex, nor the metadata's lock but once, when the pool leaves rw
 * (dedup_cow_set_read_only()), so nothing it waits for is held across
 * metadata I/O.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/hash.h>
#include <linux/jiffies.h>
#include <linux/module.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <asm/unaligned.h>

#include "dm-dedup-fault.h"
#include "dm-dedup-gen.h"

#define DEDUP_GEN_POOL		64

static struct kmem_cache *gen_lbn_cache;
static struct kmem_cache *gen_pbn_cache;

/*
 * Generation tables
 */
static unsigned int fp_hash(const u8 *fp, unsigned int bits)
{
	return hash_64(get_unaligned_le64(fp), bits);
}

int dedup_gen_init(struct dedup_gen *g, unsigned int bits, u64 seq)
{
	size_t n = 1UL << bits;
	unsigned int noio = memalloc_noio_save();
	struct hlist_head *l, *p, *f;

	l = kvcalloc(n, sizeof(*l), GFP_KERNEL);
	p = kvcalloc(n, sizeof(*p), GFP_KERNEL);
	f = kvcalloc(n, sizeof(*f), GFP_KERNEL);
	memalloc_noio_restore(noio);
	if (!l || !p || !f) {
		kvfree(l);
		kvfree(p);
		kvfree(f);
		return -ENOMEM;
	}
	kvfree(g->lbn_tab);
	kvfree(g->pbn_tab);
	kvfree(g->fp_tab);
	g->lbn_tab = l;
	g->pbn_tab = p;
	g->fp_tab = f;
	g->bits = bits;
	g->seq = seq;
	memset(g->discard_cursor, 0xff, sizeof(g->discard_cursor));
	bio_list_init(&g->waiters);
	return 0;
}

/* Frees every entry; the generation must be out of reach of lookups. */
void dedup_gen_clear(struct dedup_cow *cow, struct dedup_gen *g)
{
	struct gen_lbn *l, *nl;
	struct gen_pbn *p, *np;

	/* Entry by entry, not bucket by bucket: most buckets are empty. */
	for (l = g->lbns; l; l = nl) {
		nl = l->next;
		hlist_del(&l->node);
		mempool_free(l, cow->lbn_pool);
	}
	for (p = g->pbns; p; p = np) {
		np = p->next;
		hlist_del(&p->node);
		if (p->flags & PBN_INDEXED)
			hlist_del(&p->fp_node);
		mempool_free(p, cow->pbn_pool);
	}
	g->lbns = NULL;
	g->pbns = NULL;
	g->nr_lbn = 0;
	g->nr_pbn = 0;
	g->bytes = 0;
	g->discard_bytes = 0;
	g->discard_lbns = 0;
	g->discard_pbns = 0;
	g->discard_arrays = 0;
	memset(g->discard_cursor, 0xff, sizeof(g->discard_cursor));
	g->d_mapped = 0;
	g->d_zero = 0;
	g->d_unique = 0;
	g->hits = 0;
	g->zero_writes = 0;
}

void dedup_gen_free(struct dedup_cow *cow, struct dedup_gen *g)
{
	if (g->lbn_tab && g->pbn_tab && g->fp_tab)
		dedup_gen_clear(cow, g);
	kvfree(g->lbn_tab);
	kvfree(g->pbn_tab);
	kvfree(g->fp_tab);
}

bool dedup_gen_empty(struct dedup_gen *g)
{
	return !g->nr_lbn && !g->nr_pbn && !g->hits && !g->zero_writes;
}

static struct gen_lbn *gen_find_lbn(struct dedup_gen *g, u64 lbn)
{
	struct gen_lbn *l;

	hlist_for_each_entry(l, &g->lbn_tab[hash_64(lbn, g->bits)], node)
		if (l->lbn == lbn)
			return l;
	return NULL;
}

static struct gen_pbn *gen_find_pbn(struct dedup_gen *g, u64 pbn)
{
	struct gen_pbn *p;

	hlist_for_each_entry(p, &g->pbn_tab[hash_64(pbn, g->bits)], node)
		if (p->pbn == pbn)
			return p;
	return NULL;
}

/* The newest block of g with fingerprint fp that is not in skip. */
static struct gen_pbn *gen_find_fp(struct dedup_cow *cow, struct dedup_gen *g,
				   const u8 *fp, const struct dedup_skip *skip)
{
	struct gen_pbn *p;

	hlist_for_each_entry(p, &g->fp_tab[fp_hash(fp, g->bits)], fp_node)
		if (!memcmp(p->fp, fp, cow->p.fp_size) &&
		    !dedup_skip_has(skip, p->pbn))
			return p;
	return NULL;
}

/* Finds pbn's entry in the open generation or inserts *spare there. */
static struct gen_pbn *gen_get_pbn(struct dedup_cow *cow, u64 pbn,
				   struct gen_pbn **spare)
{
	struct dedup_gen *g = cow->open;
	struct gen_pbn *p = gen_find_pbn(g, pbn);

	lockdep_assert_held(&cow->lock);
	if (p)
		return p;
	p = *spare;
	*spare = NULL;
	memset(p, 0, sizeof(*p));
	p->pbn = pbn;
	INIT_HLIST_NODE(&p->fp_node);
	hlist_add_head(&p->node, &g->pbn_tab[hash_64(pbn, g->bits)]);
	p->next = g->pbns;
	g->pbns = p;
	g->nr_pbn++;
	g->bytes += sizeof(*p);
	return p;
}

/* Both generations; cow->lock held. */
static struct gen_lbn *mem_find_lbn(struct dedup_cow *cow, u64 lbn)
{
	struct gen_lbn *l = gen_find_lbn(cow->open, lbn);

	lockdep_assert_held(&cow->lock);
	if (!l && cow->frozen)
		l = gen_find_lbn(cow->frozen, lbn);
	return l;
}

static unsigned int mem_pbn_flags(struct dedup_cow *cow, u64 pbn, s64 *delta)
{
	struct gen_pbn *p;
	unsigned int flags = 0;

	lockdep_assert_held(&cow->lock);
	*delta = 0;
	p = gen_find_pbn(cow->open, pbn);
	if (p) {
		flags |= p->flags;
		*delta += p->delta;
	}
	if (cow->frozen) {
		p = gen_find_pbn(cow->frozen, pbn);
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

	lockdep_assert_held(&cow->lock);
	hlist_for_each_entry(c, &cow->claims[fp_hash(fp, cow->claim_bits)], node)
		if (!memcmp(c->fp, fp, cow->p.fp_size))
			return c;
	return NULL;
}

static bool claim_gone(struct dedup_cow *cow, const u8 *fp)
{
	bool gone;

	spin_lock(&cow->lock);
	gone = !claim_find(cow, fp) || cow->read_only;
	spin_unlock(&cow->lock);
	return gone;
}

static void claim_take(struct dedup_cow *cow, struct dedup_claim *claim,
		       const u8 *fp)
{
	memcpy(claim->fp, fp, DEDUP_MAX_FP_SIZE);
	hlist_add_head(&claim->node,
		       &cow->claims[fp_hash(fp, cow->claim_bits)]);
}

/* After a claim left the table (under cow->lock): wake who waits on it. */
static void wake_claim_waiters(struct dedup_cow *cow)
{
	/* Most claims have no waiter: skip the wait queue's lock. */
	if (wq_has_sleeper(&cow->claim_wait))
		wake_up_all(&cow->claim_wait);
}

void dedup_cow_release_claim(struct dedup_cow *cow, struct dedup_claim *claim)
{
	spin_lock(&cow->lock);
	hlist_del_init(&claim->node);
	spin_unlock(&cow->lock);
	wake_claim_waiters(cow);
}

/*
 * Lookups
 */
/*
 * Whether a lookup of LBNs the caller holds the cells of may skip the
 * generations: they hold no LBN.  A write to one of them that completed
 * before the caller took its cell counted its entry before it let the cell
 * go (the cell passes by release and acquire: cell_lock, or the grant in
 * dm-dedup-io.c); and the count fell to 0 only at a publish, which the
 * acquire then shows the caller, so the published commit has every entry
 * it counted.
 */
static bool mem_has_no_lbns(struct dedup_cow *cow)
{
	/* Pairs with the release at the publish that brought it to 0. */
	return !smp_load_acquire(&cow->mem_lbns);
}

int dedup_cow_find_lbn(struct dedup_cow *cow, u64 lbn, u64 *value)
{
	struct gen_lbn *l = NULL;
	u64 v = 0, seq;
	int r = 0;

	if (!mem_has_no_lbns(cow)) {
		spin_lock(&cow->lock);
		l = mem_find_lbn(cow, lbn);
		if (l)
			v = l->value;
		spin_unlock(&cow->lock);
	}
	/*
	 * Not in a generation: the published commit has it, whichever one
	 * (the caller holds lbn's cell, so no writer changes it meanwhile,
	 * and a generation retired since was published first).
	 */
	if (!l)
		r = dedup_meta_find_lbn(cow->md, lbn, &v, &seq);

	if (!r && v == DEDUP_UNMAPPED)
		r = -ENODATA;
	if (!r)
		*value = v;
	return r;
}

int dedup_cow_find_lbns(struct dedup_cow *cow, u64 lbn, unsigned int nr,
			bool cached, u64 *values)
{
	unsigned long in_mem = 0;
	u64 mem[DEDUP_FIND_LBNS_MAX];
	struct gen_lbn *l;
	unsigned int i;
	int r;

	if (WARN_ON_ONCE(nr > DEDUP_FIND_LBNS_MAX))
		return -EINVAL;
	if (mem_has_no_lbns(cow))
		return dedup_meta_find_lbns(cow->md, lbn, nr, cached, values);
	/* The generations first, as in dedup_cow_find_lbn(). */
	spin_lock(&cow->lock);
	for (i = 0; i < nr; i++) {
		l = mem_find_lbn(cow, lbn + i);
		if (l) {
			mem[i] = l->value;
			__set_bit(i, &in_mem);
		}
	}
	spin_unlock(&cow->lock);
	if (bitmap_weight(&in_mem, nr) < nr) {
		r = dedup_meta_find_lbns(cow->md, lbn, nr, cached, values);
		if (r)
			return r;
	}
	for_each_set_bit(i, &in_mem, nr)
		values[i] = mem[i];
	return 0;
}

/*
 * In-memory part of a fingerprint lookup, cow->lock held: 1 and *pbn for a
 * live block, 0 for a dead one (a miss), -ENOENT if not in memory.
 */
static int mem_lookup_fp(struct dedup_cow *cow, const u8 *fp,
			 const struct dedup_skip *skip, u64 *pbn)
{
	struct gen_pbn *p = gen_find_fp(cow, cow->open, fp, skip);

	lockdep_assert_held(&cow->lock);
	if (!p && cow->frozen)
		p = gen_find_fp(cow, cow->frozen, fp, skip);
	if (!p)
		return -ENOENT;
	if (mem_pbn_dead(cow, p->pbn))
		return 0;
	*pbn = p->pbn;
	return 1;
}

int dedup_cow_lookup_fp(struct dedup_cow *cow, const u8 *fp,
			const struct dedup_skip *skip, u64 *pbn,
			struct dedup_claim *claim)
{
	u64 seq, mseq = 0, cpbn = 0;
	int r, cr;

again:
	spin_lock(&cow->lock);
	if (cow->read_only) {
		r = -EIO;
		goto unlock;
	}
	claim->seq = cow->publish_seq;
	r = mem_lookup_fp(cow, fp, skip, pbn);
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
	spin_unlock(&cow->lock);

	cr = dedup_meta_find_fp(cow->md, fp, skip, &cpbn, &mseq);

	spin_lock(&cow->lock);
	if (seq != cow->publish_seq || (!cr && mseq != seq)) {
		spin_unlock(&cow->lock);
		goto again;
	}
	/* Writers may have added it while the lock was dropped. */
	r = mem_lookup_fp(cow, fp, skip, pbn);
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
	return r;

wait:
	spin_unlock(&cow->lock);
	wait_event(cow->claim_wait, claim_gone(cow, fp));
	goto again;
}

/*
 * Data blocks
 */
void dedup_cow_request_commit(struct dedup_cow *cow)
{
	spin_lock(&cow->lock);
	cow->commit_requested = true;
	spin_unlock(&cow->lock);
	wake_up(&cow->commit_wait);
}

static bool released_since(struct dedup_cow *cow, u64 seq)
{
	bool r;

	spin_lock(&cow->lock);
	r = cow->release_seq != seq || cow->read_only;
	spin_unlock(&cow->lock);
	return r;
}

int dedup_cow_alloc_block(struct dedup_cow *cow, u64 *pbn)
{
	u64 pending, seq;
	int r;

	for (;;) {
		spin_lock(&cow->lock);
		pending = cow->pending_frees;
		seq = cow->release_seq;
		spin_unlock(&cow->lock);

		r = dedup_meta_alloc_data_block(cow->md, pbn);
		if (!r || (r != -ENOSPC && r != -EAGAIN))
			return r;
		/*
		 * Blocks freed or allocated by uncommitted generations come
		 * back, or become usable, once a commit makes them durable:
		 * wait for the next release, unless told not to.
		 */
		if (r == -ENOSPC &&
		    (!pending || READ_ONCE(cow->p.f.error_if_no_space)))
			return r;
		dedup_cow_request_commit(cow);
		wait_event(cow->release_wait, released_since(cow, seq));
		if (READ_ONCE(cow->read_only))
			return -EIO;
	}
}

void dedup_cow_unalloc_block(struct dedup_cow *cow, u64 pbn)
{
	dedup_meta_unalloc_data_block(cow->md, pbn);
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

struct record_spares {
	struct gen_lbn *l;
	struct gen_pbn *p1, *p2;
	u64 claim_seq;		/* a hit: the publish epoch of its lookup */
};

/* Array block bidx of array a is changed by an unmapping in g. */
static void discard_touch(struct dedup_gen *g, unsigned int a, u64 bidx)
{
	if (g->discard_cursor[a] != bidx) {
		g->discard_cursor[a] = bidx;
		g->discard_arrays++;
	}
}

/*
 * Everything but the committed counts of old and value is known; cow->lock
 * held.
 */
static int __record(struct dedup_cow *cow, u64 lbn, u64 value, u64 old,
		    u32 old_committed, u32 value_committed, unsigned int flags,
		    const u8 *fp, struct record_spares *sp)
{
	struct dedup_gen *g = cow->open;
	struct gen_lbn *l;
	struct gen_pbn *p;
	s64 eff = 0, delta;

	lockdep_assert_held(&cow->lock);
	if ((flags & DEDUP_REC_HIT) &&
	    (sp->claim_seq != cow->publish_seq || mem_pbn_dead(cow, value)))
		return -EAGAIN;
	if ((flags & DEDUP_REC_HIT) && value != old) {
		mem_pbn_flags(cow, value, &delta);
		if ((s64)value_committed + delta >= dedup_fault_refcount_limit())
			return -EMLINK;
	}

	if (dedup_is_pbn(old) && old != value) {
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

	l = gen_find_lbn(g, lbn);
	if (!l) {
		l = sp->l;
		sp->l = NULL;
		l->lbn = lbn;
		hlist_add_head(&l->node, &g->lbn_tab[hash_64(lbn, g->bits)]);
		l->next = g->lbns;
		g->lbns = l;
		g->nr_lbn++;
		/* Counted before the writer lets its cell go: see mem_has_no_lbns() */
		smp_store_release(&cow->mem_lbns, cow->mem_lbns + 1);
		g->bytes += sizeof(*l);
		if (value == DEDUP_UNMAPPED) {
			g->discard_lbns++;
			discard_touch(g, DEDUP_DISCARD_LBN,
				      div_u64(lbn, DEDUP_ARRAY_PAYLOAD /
					      sizeof(__le64)));
		}
	}
	l->value = value;

	if (value != old) {
		if (dedup_is_pbn(value)) {
			p = gen_get_pbn(cow, value, &sp->p1);
			p->delta++;
			if (flags & DEDUP_REC_NEW) {
				p->flags |= PBN_NEW;
				g->d_unique++;
				memcpy(p->fp, fp, sizeof(p->fp));
				if (!(flags & DEDUP_REC_NOINDEX)) {
					p->flags |= PBN_INDEXED;
					hlist_add_head(&p->fp_node,
						       &g->fp_tab[fp_hash(p->fp,
									  g->bits)]);
				}
			}
		}
		if (dedup_is_pbn(old)) {
			bool created = !!sp->p2;

			p = gen_get_pbn(cow, old, &sp->p2);
			created = created && !sp->p2;
			if (created && value == DEDUP_UNMAPPED) {
				g->discard_pbns++;
				discard_touch(g, DEDUP_DISCARD_REFCOUNT,
					      div_u64(old,
						      DEDUP_REFCOUNTS_PER_BLOCK));
				discard_touch(g, DEDUP_DISCARD_SUMMARY,
					      div_u64(old, DEDUP_CHUNK_BLOCKS *
						      DEDUP_REFCOUNTS_PER_BLOCK));
			}
			p->delta--;
			if (!eff) {
				p->flags |= PBN_DEAD;
				g->d_unique--;
				cow->pending_frees++;
				if (value == DEDUP_UNMAPPED)
					g->discard_bytes += sizeof(__le32);
			}
		}
		if (value == DEDUP_UNMAPPED)
			g->discard_bytes += sizeof(__le64);
		count_value(g, old, -1);
		count_value(g, value, 1);
	}
	if (flags & DEDUP_REC_HIT)
		g->hits++;
	if (value == DEDUP_ZERO_PBN)
		g->zero_writes++;
	return 0;
}

static void *try_get(mempool_t *pool)
{
	return dedup_fault_alloc() ? NULL :
		mempool_alloc(pool, GFP_NOWAIT | __GFP_NOWARN);
}

static void put_spares(struct dedup_cow *cow, struct record_spares *sp)
{
	if (sp->l)
		mempool_free(sp->l, cow->lbn_pool);
	if (sp->p1)
		mempool_free(sp->p1, cow->pbn_pool);
	if (sp->p2)
		mempool_free(sp->p2, cow->pbn_pool);
	sp->l = NULL;
	sp->p1 = NULL;
	sp->p2 = NULL;
}

/*
 * The entries a record may need: all three, or none while waiting.  When
 * the pools are short, writers wait one at a time (spares_mutex) for a
 * commit to return entries: a writer holding some entries while another
 * holds the rest, both waiting, would wait forever.
 */
static void get_spares(struct dedup_cow *cow, struct record_spares *sp)
{
	sp->l = try_get(cow->lbn_pool);
	sp->p1 = try_get(cow->pbn_pool);
	sp->p2 = try_get(cow->pbn_pool);
	if (sp->l && sp->p1 && sp->p2)
		return;
	put_spares(cow, sp);
	dedup_cow_request_commit(cow);
	mutex_lock(&cow->spares_mutex);
	sp->l = mempool_alloc(cow->lbn_pool, GFP_NOIO);
	sp->p1 = mempool_alloc(cow->pbn_pool, GFP_NOIO);
	sp->p2 = mempool_alloc(cow->pbn_pool, GFP_NOIO);
	mutex_unlock(&cow->spares_mutex);
}

/*
 * The committed count of pbn, unless a generation says it is new (then
 * 0); at publish sequence number *seq (which must match the others read).
 */
static int committed_count(struct dedup_cow *cow, u64 pbn, u32 *count,
			   u64 *seq)
{
	s64 delta;
	bool is_new;
	int r;

	spin_lock(&cow->lock);
	is_new = mem_pbn_flags(cow, pbn, &delta) & PBN_NEW;
	spin_unlock(&cow->lock);
	*count = 0;
	if (is_new)
		return 0;
	r = dedup_meta_find_refcount(cow->md, pbn, count, seq);
	if (!r && !*count) {
		DMERR_LIMIT("block %llu is mapped but has no reference count",
			    pbn);
		r = -EILSEQ;
	}
	return r;
}

int dedup_cow_record(struct dedup_cow *cow, u64 lbn, u64 value,
		     unsigned int flags, struct dedup_claim *claim,
		     const u8 *fp, u64 *gen)
{
	struct record_spares sp;
	struct gen_lbn *l;
	u64 seq, mseq, old = DEDUP_UNMAPPED;
	u32 old_committed, value_committed;
	int r;

	get_spares(cow, &sp);
	sp.claim_seq = claim ? claim->seq : 0;

again:
	spin_lock(&cow->lock);
	seq = cow->publish_seq;
	l = mem_find_lbn(cow, lbn);
	if (l)
		old = l->value;
	spin_unlock(&cow->lock);

	mseq = seq;
	if (!l) {
		r = dedup_meta_find_lbn(cow->md, lbn, &old, &mseq);
		if (r == -ENODATA)
			old = DEDUP_UNMAPPED;
		else if (r)
			goto out;
	}

	old_committed = 0;
	value_committed = 0;
	r = 0;
	if (dedup_is_pbn(old) && old != value)
		r = committed_count(cow, old, &old_committed, &mseq);
	if (!r && (flags & DEDUP_REC_HIT) && value != old)
		r = committed_count(cow, value, &value_committed, &mseq);
	if (r)
		goto out;

	spin_lock(&cow->lock);
	if (seq != cow->publish_seq || mseq != seq) {
		spin_unlock(&cow->lock);
		goto again;
	}
	if (cow->read_only)
		r = -EIO;
	else
		r = __record(cow, lbn, value, old, old_committed,
			     value_committed, flags, fp, &sp);
	*gen = cow->open->seq;
	if (!r && claim && (flags & DEDUP_REC_NEW))
		hlist_del_init(&claim->node);
	spin_unlock(&cow->lock);
	if (!r && claim && (flags & DEDUP_REC_NEW))
		wake_claim_waiters(cow);
out:
	put_spares(cow, &sp);
	return r;
}

/*
 * Back-pressure, and room for the metadata
 */

/*
 * Metadata blocks a commit of g may change, at worst: every LBN entry in an
 * array block of its own, every block entry in three (refcount, fingerprint,
 * summary); the entries that unmapping created, the bound its cursors kept.
 */
static u64 worst_arrays(struct dedup_gen *g)
{
	if (!g)
		return 0;
	return g->nr_lbn - g->discard_lbns +
		3 * (g->nr_pbn - g->discard_pbns) + g->discard_arrays;
}

/* Metadata blocks kept free beyond the worst case: space-map overheads. */
static u64 meta_reserve(u64 total)
{
	return clamp_t(u64, total / 64, 32, 4096);
}

/* A write adds at most one LBN entry and two block entries. */
#define WRITE_WORST_ARRAYS	7

/*
 * Whether the open and the frozen generation, plus one more write, fit in
 * the free metadata with the reserve to spare, at worst; cow->lock held.
 * Each array block changed costs its copy and, in its btree, a leaf and
 * the leaf's parent (plus a spine per btree); array blocks come from the
 * bulk region while it has room, everything else from region A, including
 * the bulk space map's bitmaps, one per bulk block freed at worst.
 */
bool dedup_cow_meta_room(struct dedup_cow *cow)
{
	struct dedup_counters *c = &cow->space;
	u64 arrays = worst_arrays(cow->open) + worst_arrays(cow->frozen) +
		WRITE_WORST_ARRAYS;
	u64 in_a = 2 * arrays + 64 + cow->meta_reserve;

	lockdep_assert_held(&cow->lock);
	if (!c->has_bulk)
		in_a += arrays;
	else
		in_a += arrays + (arrays > c->meta_free_bulk ?
				  arrays - c->meta_free_bulk : 0);
	return in_a <= c->meta_free_a;
}

/* Whether the open generation holds its share of discards; lock held. */
static bool discards_full(struct dedup_cow *cow)
{
	struct dedup_gen *g = cow->open;

	lockdep_assert_held(&cow->lock);
	return g->discard_bytes >= DEDUP_DISCARD_GEN_BYTES ||
		g->discard_arrays >= DEDUP_DISCARD_GEN_BLOCKS;
}

static bool admit_blocked(struct dedup_cow *cow, bool discard)
{
	lockdep_assert_held(&cow->lock);

	if (cow->read_only)
		return false;
	if (!dedup_cow_meta_room(cow))
		return true;
	if (discard && discards_full(cow))
		return true;
	if (cow->p.f.blocking_commit)
		return cow->commit_in_flight;
	return cow->open->bytes >= dedup_gen_cap(cow);
}

/*
 * 0: admitted; 1: wait; -ENOSPC: no room even with nothing uncommitted.
 * A saved index the next commit drops holds room that one is asked for
 * (only then: a commit at every activation would make each one rewrite
 * the saved index at the next removal).
 */
static int admit_check(struct dedup_cow *cow, bool discard)
{
	int r = 0;

	spin_lock(&cow->lock);
	if (admit_blocked(cow, discard)) {
		r = 1;
		if (!dedup_cow_meta_room(cow) && !cow->commit_in_flight &&
		    !cow->frozen && dedup_gen_empty(cow->open)) {
			if (dedup_meta_saved_index_dropping(cow->md))
				cow->drop_requested = true;
			else
				r = -ENOSPC;
		}
	}
	spin_unlock(&cow->lock);
	if (r > 0 && READ_ONCE(cow->drop_requested))
		wake_up(&cow->commit_wait);
	return r;
}

static int admit(struct dedup_cow *cow, bool discard)
{
	ktime_t start;
	u64 us;
	int r;

	r = admit_check(cow, discard);
	if (r <= 0)
		return r;

	/*
	 * The committer commits while there is no room for the metadata; with
	 * blocking_commit writers wait for the commit in flight instead, and
	 * a discard asks for one only when its share is taken.
	 */
	start = ktime_get();
	if (!cow->p.f.blocking_commit) {
		dedup_cow_request_commit(cow);
	} else if (discard) {
		spin_lock(&cow->lock);
		if (discards_full(cow))
			cow->commit_requested = true;
		spin_unlock(&cow->lock);
		wake_up(&cow->commit_wait);
	}
	dedup_fault_delay(DEDUP_FAULT_ADMIT);
	wait_event(cow->room_wait, (r = admit_check(cow, discard)) <= 0);
	if (discard)
		return r;
	us = ktime_us_delta(ktime_get(), start);

	spin_lock(&cow->lock);
	cow->stats.bp_waits++;
	if (us > cow->stats.longest_wait_us)
		cow->stats.longest_wait_us = us;
	spin_unlock(&cow->lock);
	return r;
}

int dedup_cow_admit(struct dedup_cow *cow)
{
	return admit(cow, false);
}

/* A discard's wait is its own, not back-pressure on writers. */
int dedup_cow_admit_discard(struct dedup_cow *cow)
{
	return admit(cow, true);
}

/*
 * Admission counts the free metadata of the commit just published; lock
 * held.  Taken in the critical section that publishes, so that no writer
 * sees a commit over (not in flight, its generation gone) while the room
 * it left is not counted yet: with an empty open generation that looks
 * like no room at all, and fails with ENOSPC (admit_check()).
 */
void dedup_cow_take_space(struct dedup_cow *cow)
{
	lockdep_assert_held(&cow->lock);
	dedup_meta_counters(cow->md, &cow->space);
	cow->meta_reserve = meta_reserve(cow->space.meta_total);
}

/*
 * Tells the owner whether the free metadata is at its low-water mark;
 * cow->lock not held.  The mark counts what is free beyond what one write
 * must find (dedup_cow_meta_room()), so it comes before
 * out_of_metadata_space.
 */
void dedup_cow_space_event(struct dedup_cow *cow)
{
	u64 need, free, low;

	if (!cow->p.space_event)
		return;
	spin_lock(&cow->lock);
	need = 4 * WRITE_WORST_ARRAYS + 64 + cow->meta_reserve;
	free = cow->space.meta_free_a > need ?
		cow->space.meta_free_a - need : 0;
	low = min_t(u64, 1024, cow->space.meta_total / 4);
	spin_unlock(&cow->lock);
	cow->p.space_event(cow->p.context, free <= low ?
			   DEDUP_METADATA_LOW : DEDUP_METADATA_OK);
}

/*
 * Durability waits
 */
void dedup_cow_complete_when_durable(struct dedup_cow *cow, struct bio *bio,
				     u64 gen)
{
	struct dedup_gen *g = NULL;

	spin_lock(&cow->lock);
	if (!gen) {
		/* A flush: everything recorded so far. */
		if (!dedup_gen_empty(cow->open))
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
	if (g && cow->read_only) {
		/* Read-only: what is not durable yet never will be. */
		spin_unlock(&cow->lock);
		bio->bi_status = BLK_STS_IOERR;
		bio_endio(bio);
		return;
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

void dedup_cow_set_read_only(struct dedup_cow *cow)
{
	struct bio_list bios;

	bio_list_init(&bios);
	spin_lock(&cow->lock);
	if (cow->read_only) {
		spin_unlock(&cow->lock);
		return;
	}
	cow->read_only = true;
	bio_list_merge(&bios, &cow->open->waiters);
	bio_list_init(&cow->open->waiters);
	if (cow->frozen) {
		bio_list_merge(&bios, &cow->frozen->waiters);
		bio_list_init(&cow->frozen->waiters);
	}
	spin_unlock(&cow->lock);

	dedup_meta_set_read_only(cow->md);
	dedup_cow_end_bios(&bios, BLK_STS_IOERR);
	wake_up_all(&cow->room_wait);
	wake_up_all(&cow->claim_wait);
	wake_up_all(&cow->durable_wait);
	wake_up_all(&cow->release_wait);
	wake_up(&cow->commit_wait);
}

void dedup_cow_end_bios(struct bio_list *bios, blk_status_t status)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios))) {
		bio->bi_status = status;
		bio_endio(bio);
	}
}

/*
 * Create, destroy, features, status
 */
static void *gen_entry_alloc(gfp_t gfp, void *cache)
{
	if (dedup_fault_fail(DEDUP_FAULT_GEN_ALLOC))
		return NULL;
	return kmem_cache_alloc(cache, gfp);
}

mempool_t *dedup_gen_pool_create(bool pbn)
{
	/* A reserve of at least the three entries of one record. */
	return mempool_create(dedup_fault_pool_size(DEDUP_GEN_POOL),
			      gen_entry_alloc, mempool_free_slab,
			      pbn ? gen_pbn_cache : gen_lbn_cache);
}

void dedup_gen_init_space(struct dedup_cow *cow)
{
	spin_lock(&cow->lock);
	dedup_cow_take_space(cow);
	spin_unlock(&cow->lock);
}
void dedup_cow_get_stats(struct dedup_cow *cow, struct dedup_cow_stats *s,
			 struct dedup_counters *c)
{
	struct dedup_gen *g;
	int i;

	spin_lock(&cow->lock);
	*s = cow->stats;
	/* Under cow->lock: the counters and the generations agree. */
	dedup_meta_counters(cow->md, c);
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
	s->pending_frees = cow->pending_frees;
	s->gen_buckets = 1ULL << cow->open->bits;
	spin_unlock(&cow->lock);
}

int dedup_gen_module_init(void)
{
	gen_lbn_cache = KMEM_CACHE(gen_lbn, 0);
	gen_pbn_cache = KMEM_CACHE(gen_pbn, 0);
	if (!gen_lbn_cache || !gen_pbn_cache) {
		kmem_cache_destroy(gen_lbn_cache);
		kmem_cache_destroy(gen_pbn_cache);
		return -ENOMEM;
	}
	return 0;
}

void dedup_gen_module_exit(void)
{
	kmem_cache_destroy(gen_lbn_cache);
	kmem_cache_destroy(gen_pbn_cache);
}

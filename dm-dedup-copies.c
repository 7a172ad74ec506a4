// SPDX-License-Identifier: GPL-2.0
/*
 * The readers' copies of lbn array blocks: a read's lookup of its LBNs
 * without dm-bufio's client lock.
 */

/**
 * DOC: readers' copies
 *
 * A read served in map() looks its LBNs up in the published lbn array.
 * Through the readers' array cache that costs dm-bufio's client mutex
 * twice (get and release), shared by every reader and by the committer,
 * which fills that cache at each commit.  So the payload of a published
 * lbn array block that a reader used is also kept here, by its location
 * on the metadata device, and later lookups copy from it under RCU alone.
 *
 * A copy needs no invalidation when a commit changes the block: the arrays
 * are copy-on-write, so a changed block is written to a new location, and
 * a location reached by a published root holds one content until it is
 * freed.  Retire makes the copies forget exactly the blocks the retired
 * commit freed (dedup_array_forget_retired()), after the readers of that
 * commit are gone and before the next transaction may reuse them, as the
 * readers' array cache does.  A copy is added from inside a reader's SRCU
 * section of the metadata, so it is added before that forget, never after.
 * A copy also keeps the block's index in its array, and serves only
 * lookups of that index, as the block's header check would.
 *
 * At most max copies are kept; the oldest added goes first (a ring of
 * their locations).  A slot of the ring may name a location forgotten
 * since, or added again: evicting it then drops a newer copy early, which
 * costs a lookup through dm-bufio and loses nothing.
 */
#include <linux/percpu.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/xarray.h>

#include "dm-dedup-copies.h"
#include "dm-dedup-format.h"

struct dedup_copy {
	struct rcu_head rcu;
	u64 tag;		/* the block's index in its array */
	u8 payload[DEDUP_ARRAY_PAYLOAD];
};

struct dedup_copies {
	/*
	 * Copies by location.  Readers: xa_load() under rcu_read_lock().
	 * Adds, evictions and forgets: under the xarray's lock (process
	 * context only), which also protects ring, head and held; a copy
	 * taken out is freed after a grace period.
	 */
	struct xarray xa;
	u64 *ring;		/* locations in the order added; 0: none */
	unsigned int max;
	unsigned int head;	/* the next slot to fill (the oldest) */
	u64 held;
	u64 __percpu *hits;
};

struct dedup_copies *dedup_copies_create(unsigned int max)
{
	struct dedup_copies *c = kzalloc(sizeof(*c), GFP_KERNEL);

	if (!c)
		return NULL;
	xa_init(&c->xa);
	c->max = max;
	c->ring = kvcalloc(max, sizeof(*c->ring), GFP_KERNEL | __GFP_NOWARN);
	c->hits = alloc_percpu(u64);
	if (!c->ring || !c->hits) {
		free_percpu(c->hits);
		kvfree(c->ring);
		kfree(c);
		return NULL;
	}
	return c;
}

void dedup_copies_destroy(struct dedup_copies *c)
{
	if (!c)
		return;
	/* A copy points at nothing of c: its kfree_rcu() may come later. */
	dedup_copies_forget_all(c);
	xa_destroy(&c->xa);
	free_percpu(c->hits);
	kvfree(c->ring);
	kfree(c);
}

bool dedup_copies_read(struct dedup_copies *c, u64 loc, u64 tag, size_t off,
		       void *out, size_t len)
{
	struct dedup_copy *copy;
	bool hit;

	if (WARN_ON_ONCE(off + len > DEDUP_ARRAY_PAYLOAD))
		return false;
	rcu_read_lock();
	copy = xa_load(&c->xa, loc);
	hit = copy && copy->tag == tag;
	if (hit)
		memcpy(out, copy->payload + off, len);
	rcu_read_unlock();
	if (hit)
		this_cpu_inc(*c->hits);
	return hit;
}

/* Takes the copy of loc out, if any; the xarray's lock held. */
static void drop_locked(struct dedup_copies *c, u64 loc)
{
	struct dedup_copy *copy;

	lockdep_assert_held(&c->xa.xa_lock);
	copy = __xa_erase(&c->xa, loc);
	if (copy) {
		WRITE_ONCE(c->held, c->held - 1);
		kfree_rcu(copy, rcu);
	}
}

void dedup_copies_add(struct dedup_copies *c, u64 loc, u64 tag,
		      const void *payload)
{
	struct dedup_copy *copy;

	if (xa_load(&c->xa, loc))
		return;
	/* Readers may be in map(): never wait for memory. */
	copy = kmalloc(sizeof(*copy), GFP_NOWAIT | __GFP_NOWARN);
	if (!copy)
		return;
	copy->tag = tag;
	memcpy(copy->payload, payload, DEDUP_ARRAY_PAYLOAD);
	xa_lock(&c->xa);
	if (xa_load(&c->xa, loc))
		goto out_free;
	if (c->ring[c->head])
		drop_locked(c, c->ring[c->head]);
	if (xa_is_err(__xa_store(&c->xa, loc, copy, GFP_NOWAIT | __GFP_NOWARN)))
		goto out_free;
	c->ring[c->head] = loc;
	c->head = (c->head + 1) % c->max;
	WRITE_ONCE(c->held, c->held + 1);
	xa_unlock(&c->xa);
	return;

out_free:
	xa_unlock(&c->xa);
	kfree(copy);
}

void dedup_copies_forget(struct dedup_copies *c, u64 loc)
{
	xa_lock(&c->xa);
	drop_locked(c, loc);
	xa_unlock(&c->xa);
}

/*
 * Slot by slot, so that the lock is never held long.  Copies added
 * meanwhile are of blocks the published commit reaches, which the
 * caller (retire, or the last user) does not free.
 */
void dedup_copies_forget_all(struct dedup_copies *c)
{
	unsigned int i;

	for (i = 0; i < c->max; i++) {
		xa_lock(&c->xa);
		if (c->ring[i])
			drop_locked(c, c->ring[i]);
		c->ring[i] = 0;
		xa_unlock(&c->xa);
		if (!(i % 256))
			cond_resched();
	}
}

u64 dedup_copies_held(struct dedup_copies *c)
{
	return c ? READ_ONCE(c->held) : 0;
}

u64 dedup_copies_hits(struct dedup_copies *c)
{
	u64 n = 0;
	int cpu;

	if (!c)
		return 0;
	for_each_possible_cpu(cpu)
		n += *per_cpu_ptr(c->hits, cpu);
	return n;
}

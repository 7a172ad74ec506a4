// SPDX-License-Identifier: GPL-2.0
/*
 * The RAM fingerprint index: from a fingerprint to the fp-array blocks
 * that may hold it.
 */

/**
 * DOC: fingerprint index
 *
 * The persistent fingerprints are in the fp array, indexed by PBN, written
 * once when a block is allocated (dm-dedup-meta.c).  Finding a block by
 * content needs the reverse map, which lives here, in RAM, at about 7 bytes
 * per stored block: a 6-byte entry holds loc, the fp-array block number of
 * the PBN plus one, and a tag of fingerprint bits.  A lookup returns the
 * candidate blocks whose tag matches; the caller reads those fp blocks and
 * compares whole fingerprints, so a false match costs one (usually cached)
 * metadata read, and a fingerprint that is not indexed costs none: the
 * index has no false negatives for what it holds.
 *
 * The table is split into 2^shard_bits shards by the top bits of the
 * fingerprint.  A shard is an open-addressing table of 8-entry buckets:
 * an entry's home bucket is (tag * nb) >> tag_bits and collisions go to
 * the next buckets.  Since the home is computed from the stored tag, a
 * shard can be rehashed to any size without the fingerprints; it grows
 * (to a load of 78.5 to 85 %) when 85 to 92 % of its slots are used (the
 * thresholds vary by shard: see GROW_NUM), so memory follows the number
 * of stored blocks, not the device size.  Deleted entries
 * become tombstones until the next rehash.  shard_bits is chosen from the
 * data device size so that a full device leaves at least 12 bits of tag
 * beyond the bucket number, and no shard needs more than about 2^11
 * buckets.
 * Shards are allocated on first use, through a directory of 4 KiB pages
 * allocated on first use too.
 *
 * A saved index (dm-dedup-meta.c writes it at a clean shutdown) is loaded
 * one shard at a time: a shard that a lookup needs before the background
 * loader reached it is loaded on the spot by load_shard().  The committer
 * never waits for a load: its inserts and removals in a shard not loaded
 * yet are queued (struct index_ops) and applied, in order, when the shard
 * is.  The saved index is a cache: a saved shard that cannot be read or
 * fails its checks is installed empty and counted (dedup_index_bad_shards()),
 * and the caller rebuilds what it held.
 *
 * The layout is part of the on-disk format (include/dm-dedup-format.h).
 */
#include <linux/device-mapper.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <asm/unaligned.h>

#include "dm-dedup.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-index.h"

#define INDEX_LOCK_BITS		10
/*
 * A shard grows by rehashing it under its lock, in the commit thread, and
 * a writer that looks the shard up meanwhile spins.  At most 2^11 buckets
 * (96 KiB, about 15,000 entries) keep that short: under emulation, shards
 * of 2^14 buckets (about 80,000 entries) took up to 65 ms to grow.  That
 * is DEDUP_INDEX_MAX_NB_BITS, part of the geometry the tools share
 * (include/dm-dedup-format.h).
 */
#define BUCKET_SLOTS		DEDUP_INDEX_BUCKET_ENTRIES
#define BUCKET_SIZE		DEDUP_INDEX_BUCKET_SIZE
/*
 * Grow at 92 % of the slots used (live + deleted), to 85 %.  (With 8-slot
 * buckets a probe rarely passes its home bucket even at 92 %.)
 *
 * Shards fill alike: with the same thresholds they would all grow within
 * a few seconds of each other, and the commits of those seconds would
 * rehash the whole index (under emulation, the commits of the last two
 * minutes of a 20-million-entry run took up to 3 times as long).  So each
 * shard scales both thresholds by a factor of its own, spread_of(), from 1
 * down to 85/92 (one growth step): a shard grows at 85 to 92 % and to
 * 78.5 to 85 %, and the shards' growths spread evenly over each step of
 * the index's size.  6.5 to 7.6 bytes of RAM per entry, 7.1 on average.
 */
#define GROW_NUM		23
#define GROW_DEN		25
#define TARGET_NUM		17
#define TARGET_DEN		20
#define SPREAD_BITS		6
#define SPREAD_ONE		1024
#define SPREAD_STEP		78	/* SPREAD_ONE * (1 - 85 / 92) */
/*
 * kmalloc rounds a large request up to a power of two, which would leave
 * up to half of a shard unused: beyond a few pages, shards come from
 * vmalloc, which rounds to a page.
 */
#define SHARD_KMALLOC_MAX	(4 * PAGE_SIZE)

struct index_shard {
	u32 nb;			/* buckets */
	u32 count;		/* live entries */
	u32 tombs;		/* deleted entries */
	u32 padding;
	size_t bytes;		/* allocated, for the RAM figure */
	u8 buckets[];
};

/*
 * Changes to a shard that is not loaded yet, newest node first, each node
 * in the order of its changes: an entry, with OP_REMOVE for a removal.
 */
#define OPS_PER_NODE	30
#define OP_REMOVE	(1ULL << 63)

struct index_ops {
	struct index_ops *next;
	u32 nr;
	u32 inserts;
	u64 v[OPS_PER_NODE];
};

#define DIR_SHARDS	((PAGE_SIZE - 64) / (2 * sizeof(void *)))

/* One page of the directory. */
struct index_dir {
	struct index_shard *shard[DIR_SHARDS];
	struct index_ops *ops[DIR_SHARDS];
	unsigned long loaded[BITS_TO_LONGS(DIR_SHARDS)];
};

struct dedup_index {
	struct dedup_index_geometry g;
	unsigned int tag_bits;
	u64 nr_shards;
	u64 nr_dirs;
	u64 loc_mask;		/* also the tombstone loc */
	struct index_dir **dirs;	/* installed with cmpxchg */
	bool saved;		/* shards must be loaded before use */

	/*
	 * locks[s % INDEX_LOCKS] protects shard s: its pointer, its
	 * contents, its queued changes and its loaded bit.  Leaf locks;
	 * nothing else is taken inside them, and nothing sleeps.
	 */
	spinlock_t locks[1 << INDEX_LOCK_BITS];

	atomic64_t entries;
	atomic64_t ram;
	atomic64_t bad_shards;	/* saved shards installed empty */

	dedup_index_load_fn load;
	void *context;
};

/*
 * Geometry and hashing
 */
/* The format header's rule, which the tools share (dedup_metadata_size). */
void dedup_index_geometry(u64 data_nr_blocks, unsigned int fps_per_block,
			  struct dedup_index_geometry *g)
{
	g->fps_per_block = fps_per_block;
	dedup_index_geometry_bits(data_nr_blocks, fps_per_block, &g->shard_bits,
				  &g->loc_bits);
}

static u64 fp_h(const u8 *fp)
{
	return get_unaligned_le64(fp);
}

static u64 shard_of(struct dedup_index *idx, u64 h)
{
	return dedup_index_shard_of(h, idx->g.shard_bits);
}

static u64 tag_of(struct dedup_index *idx, u64 h)
{
	return dedup_index_tag_of(h, idx->g.shard_bits, idx->tag_bits);
}

static u32 home_of(struct dedup_index *idx, u64 tag, u32 nb)
{
	return dedup_index_home_of(tag, nb, idx->tag_bits);
}

static spinlock_t *lock_of(struct dedup_index *idx, u64 s)
{
	return &idx->locks[s & ((1 << INDEX_LOCK_BITS) - 1)];
}

static u8 *slot(struct index_shard *sh, u32 b, unsigned int i)
{
	return sh->buckets + (size_t)b * BUCKET_SIZE + i * DEDUP_INDEX_ENTRY_SIZE;
}

/*
 * Directory
 */
static struct index_dir *dir_of(struct dedup_index *idx, u64 s)
{
	return READ_ONCE(idx->dirs[div_u64(s, DIR_SHARDS)]);
}

static unsigned int dir_pos(u64 s)
{
	u64 rem;

	div64_u64_rem(s, DIR_SHARDS, &rem);
	return rem;
}

/* The directory page of s, allocated if need be.  May sleep. */
static struct index_dir *get_dir(struct dedup_index *idx, u64 s)
{
	struct index_dir *d = dir_of(idx, s), *old;
	unsigned int noio;

	if (d)
		return d;
	noio = memalloc_noio_save();
	d = kzalloc(sizeof(*d), GFP_KERNEL);
	memalloc_noio_restore(noio);
	if (!d)
		return NULL;
	old = cmpxchg(&idx->dirs[div_u64(s, DIR_SHARDS)], NULL, d);
	if (old) {
		kfree(d);
		return old;
	}
	atomic64_add(sizeof(*d), &idx->ram);
	return d;
}

/* Shard s and whether it is loaded; its lock held. */
static struct index_shard *shard_get(struct dedup_index *idx, u64 s,
				     bool *loaded)
{
	struct index_dir *d = dir_of(idx, s);
	bool saved = READ_ONCE(idx->saved);

	lockdep_assert_held(lock_of(idx, s));
	if (!d) {
		*loaded = !saved;
		return NULL;
	}
	*loaded = !saved || test_bit(dir_pos(s), d->loaded);
	return d->shard[dir_pos(s)];
}

/*
 * Shard memory
 */
static struct index_shard *shard_alloc(u32 nb)
{
	size_t bytes = sizeof(struct index_shard) + (size_t)nb * BUCKET_SIZE;
	struct index_shard *sh;
	unsigned int noio;

	if (dedup_fault_alloc())
		return NULL;
	noio = memalloc_noio_save();
	if (bytes <= SHARD_KMALLOC_MAX)
		sh = kzalloc(bytes, GFP_KERNEL | __GFP_NOWARN);
	else
		sh = __vmalloc(bytes, GFP_KERNEL | __GFP_ZERO | __GFP_NOWARN);
	memalloc_noio_restore(noio);
	if (!sh)
		return NULL;
	/* Whatever the allocator rounded up to becomes buckets too. */
	bytes = is_vmalloc_addr(sh) ? PAGE_ALIGN(bytes) : ksize(sh);
	sh->bytes = bytes;
	sh->nb = (bytes - sizeof(*sh)) / BUCKET_SIZE;
	return sh;
}

static void shard_free(struct dedup_index *idx, struct index_shard *sh)
{
	if (sh) {
		atomic64_sub(sh->bytes, &idx->ram);
		kvfree(sh);
	}
}

/* Counts the live and deleted entries of a shard loaded from disk. */
static void count_slots(struct dedup_index *idx, struct index_shard *sh)
{
	u32 b;
	unsigned int i;

	sh->count = 0;
	sh->tombs = 0;
	for (b = 0; b < sh->nb; b++)
		for (i = 0; i < BUCKET_SLOTS; i++) {
			u64 loc = dedup_index_entry_get(slot(sh, b, i)) &
				idx->loc_mask;

			if (loc == idx->loc_mask)
				sh->tombs++;
			else if (loc)
				sh->count++;
		}
}

/* Shard s's load thresholds, in 1/SPREAD_ONE of the nominal ones. */
static u32 spread_of(u64 s)
{
	return SPREAD_ONE -
		((u32)hash_64(s, SPREAD_BITS) * SPREAD_STEP >> SPREAD_BITS);
}

/* Buckets for count entries at shard s's target load. */
static u32 buckets_for(u64 s, u64 count)
{
	return max_t(u64, DIV_ROUND_UP(count * TARGET_DEN * SPREAD_ONE,
				       (u64)BUCKET_SLOTS * TARGET_NUM *
				       spread_of(s)), 1);
}

/* Whether sh must grow to take extra more entries. */
static bool needs_growth(u64 s, struct index_shard *sh, u64 extra)
{
	return !sh ||
		(sh->count + sh->tombs + extra) * GROW_DEN * SPREAD_ONE >
		(u64)sh->nb * BUCKET_SLOTS * GROW_NUM * spread_of(s);
}

static void place(struct dedup_index *idx, struct index_shard *sh, u64 v)
{
	u32 b = home_of(idx, v >> idx->g.loc_bits, sh->nb);
	unsigned int i;

	for (;;) {
		for (i = 0; i < BUCKET_SLOTS; i++) {
			u64 loc = dedup_index_entry_get(slot(sh, b, i)) &
				idx->loc_mask;

			if (!loc || loc == idx->loc_mask) {
				if (loc)
					sh->tombs--;
				dedup_index_entry_put(slot(sh, b, i), v);
				sh->count++;
				return;
			}
		}
		b = b + 1 == sh->nb ? 0 : b + 1;
	}
}

/* Moves every live entry of old into new (empty). */
static void rehash(struct dedup_index *idx, struct index_shard *old,
		   struct index_shard *new)
{
	u32 b;
	unsigned int i;

	if (!old)
		return;
	for (b = 0; b < old->nb; b++)
		for (i = 0; i < BUCKET_SLOTS; i++) {
			u64 v = dedup_index_entry_get(slot(old, b, i));
			u64 loc = v & idx->loc_mask;

			if (loc && loc != idx->loc_mask)
				place(idx, new, v);
		}
}

/* The slot holding entry v in sh, or NULL. */
static u8 *find_entry(struct dedup_index *idx, struct index_shard *sh, u64 v)
{
	u32 b, probed;
	unsigned int i;

	if (!sh || !sh->count)
		return NULL;
	b = home_of(idx, v >> idx->g.loc_bits, sh->nb);
	for (probed = 0; probed < sh->nb; probed++) {
		bool end = false;

		for (i = 0; i < BUCKET_SLOTS; i++) {
			u64 e = dedup_index_entry_get(slot(sh, b, i));

			if (e == v)
				return slot(sh, b, i);
			if (!(e & idx->loc_mask))
				end = true;
		}
		if (end)
			break;
		b = b + 1 == sh->nb ? 0 : b + 1;
	}
	return NULL;
}

/* Installs new (or no shard) as shard s, loaded; its lock held. */
static void install_locked(struct dedup_index *idx, struct index_dir *d,
			   u64 s, struct index_shard *new)
{
	lockdep_assert_held(lock_of(idx, s));
	d->shard[dir_pos(s)] = new;
	set_bit(dir_pos(s), d->loaded);
	if (new) {
		atomic64_add(new->bytes, &idx->ram);
		atomic64_add(new->count, &idx->entries);
	}
}

/* A saved shard that cannot be used: it is installed empty. */
static void bad_shard(struct dedup_index *idx, u64 s, int r)
{
	if (atomic64_inc_return(&idx->bad_shards) == 1)
		DMWARN("fingerprint index: saved shard %llu unusable (%d); what it held is rebuilt",
		       s, r);
}

/* A shard of nb buckets holding the saved buckets; NULL if nb is 0. */
static int shard_from_saved(struct dedup_index *idx, const u8 *buckets,
			    u32 nb, u64 entries, struct index_shard **out)
{
	struct index_shard *new;

	*out = NULL;
	if (!nb)
		return entries ? -EILSEQ : 0;
	new = shard_alloc(nb);
	if (!new)
		return -ENOMEM;
	/* The saved buckets keep their positions. */
	new->nb = nb;
	memcpy(new->buckets, buckets, (size_t)nb * BUCKET_SIZE);
	count_slots(idx, new);
	if (new->count != entries) {
		kvfree(new);
		return -EILSEQ;
	}
	*out = new;
	return 0;
}

/*
 * Loads saved shard s, not loaded; its lock held, dropped meanwhile.  0
 * when s is loaded afterwards (perhaps empty, if the saved shard was
 * unusable), or -ENOMEM.
 */
static int load_shard(struct dedup_index *idx, u64 s)
{
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *new = NULL;
	struct index_dir *d;
	bool loaded;
	u64 entries;
	u8 *buckets;
	u32 nb;
	int r;

	lockdep_assert_held(lock);
	spin_unlock(lock);
	r = idx->load(idx->context, s, &buckets, &nb, &entries);
	if (!r)
		r = shard_from_saved(idx, buckets, nb, entries, &new);
	kvfree(buckets);
	d = get_dir(idx, s);
	spin_lock(lock);
	if (r == -ENOMEM || !d) {
		kvfree(new);
		return -ENOMEM;
	}
	shard_get(idx, s, &loaded);
	if (loaded) {
		/* Loaded meanwhile, or no longer saved: that one stays. */
		spin_unlock(lock);
		kvfree(new);
		spin_lock(lock);
		return 0;
	}
	if (r)
		bad_shard(idx, s, r);
	install_locked(idx, d, s, new);
	return 0;
}

/*
 * Replaces shard s (its lock held, dropped meanwhile) with one that takes
 * extra more entries at its target load.  0 when the caller should look
 * again, or -ENOMEM.
 */
static int grow_shard(struct dedup_index *idx, u64 s, struct index_shard *sh,
		      u64 extra)
{
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *new;
	struct index_dir *d;

	lockdep_assert_held(lock);
	spin_unlock(lock);
	d = get_dir(idx, s);
	new = d ? shard_alloc(buckets_for(s, (sh ? sh->count : 0) + extra)) :
		NULL;
	spin_lock(lock);
	if (!new)
		return -ENOMEM;
	if (d->shard[dir_pos(s)] != sh) {
		/* Someone else grew it meanwhile. */
		spin_unlock(lock);
		kvfree(new);
		spin_lock(lock);
		return 0;
	}
	rehash(idx, sh, new);
	d->shard[dir_pos(s)] = new;
	atomic64_add(new->bytes, &idx->ram);
	/* Nothing reaches the old one now; look again after the free. */
	spin_unlock(lock);
	shard_free(idx, sh);
	spin_lock(lock);
	return 0;
}

static void free_ops(struct dedup_index *idx, struct index_ops *o)
{
	struct index_ops *next;

	for (; o; o = next) {
		next = o->next;
		atomic64_sub(sizeof(*o), &idx->ram);
		kfree(o);
	}
}

/*
 * Applies the changes queued for shard s (loaded, its lock held, dropped
 * to grow or free).  0 when the caller should look again, or -ENOMEM.
 */
static int apply_ops(struct dedup_index *idx, u64 s, struct index_shard *sh)
{
	struct index_dir *d = dir_of(idx, s);
	struct index_ops *o, *prev = NULL, *next;
	u64 inserts = 0;
	s64 added = 0;
	unsigned int i;
	u8 *e;

	lockdep_assert_held(lock_of(idx, s));
	for (o = d->ops[dir_pos(s)]; o; o = o->next)
		inserts += o->inserts;
	if (inserts && needs_growth(s, sh, inserts))
		return grow_shard(idx, s, sh, inserts);
	/* Oldest node first. */
	for (o = d->ops[dir_pos(s)]; o; o = next) {
		next = o->next;
		o->next = prev;
		prev = o;
	}
	d->ops[dir_pos(s)] = NULL;
	for (o = prev; o; o = o->next) {
		for (i = 0; i < o->nr; i++) {
			if (!(o->v[i] & OP_REMOVE)) {
				place(idx, sh, o->v[i]);
				added++;
				continue;
			}
			e = find_entry(idx, sh, o->v[i] & ~OP_REMOVE);
			if (e) {
				dedup_index_entry_put(e, idx->loc_mask);
				sh->count--;
				sh->tombs++;
				added--;
			}
		}
	}
	atomic64_add(added, &idx->entries);
	spin_unlock(lock_of(idx, s));
	free_ops(idx, prev);
	spin_lock(lock_of(idx, s));
	return 0;
}

/*
 * Makes shard s (its lock held) loaded, with its queued changes applied,
 * and, with room, able to take one more entry.  May drop the lock to load,
 * allocate or free (vfree may sleep), and retakes it; returns the shard
 * (NULL when it is empty and room is false) or an ERR_PTR.
 */
static struct index_shard *prepare(struct dedup_index *idx, u64 s, bool room)
{
	struct index_shard *sh;
	struct index_dir *d;
	bool loaded;
	int r;

	lockdep_assert_held(lock_of(idx, s));
	for (;;) {
		sh = shard_get(idx, s, &loaded);
		d = dir_of(idx, s);
		if (!loaded)
			r = load_shard(idx, s);
		else if (d && d->ops[dir_pos(s)])
			r = apply_ops(idx, s, sh);
		else if (room && needs_growth(s, sh, 1))
			r = grow_shard(idx, s, sh, 1);
		else
			return sh;
		if (r)
			return ERR_PTR(r);
	}
}

/*
 * Queues change v (OP_REMOVE for a removal) of shard s if it is not loaded
 * yet; its lock held.  False when s is loaded, or no memory is at hand.
 */
static bool queue_op(struct dedup_index *idx, u64 s, u64 v)
{
	struct index_dir *d = dir_of(idx, s);
	struct index_ops *o;
	bool loaded;

	lockdep_assert_held(lock_of(idx, s));
	shard_get(idx, s, &loaded);
	if (loaded || !d)
		return false;
	o = d->ops[dir_pos(s)];
	if (!o || o->nr == OPS_PER_NODE) {
		o = kmalloc(sizeof(*o), GFP_NOWAIT | __GFP_NOWARN);
		if (!o)
			return false;
		o->nr = 0;
		o->inserts = 0;
		o->next = d->ops[dir_pos(s)];
		d->ops[dir_pos(s)] = o;
		atomic64_add(sizeof(*o), &idx->ram);
	}
	o->v[o->nr++] = v;
	if (!(v & OP_REMOVE))
		o->inserts++;
	return true;
}

/*
 * Lookups and changes
 */
int dedup_index_lookup(struct dedup_index *idx, const u8 *fp, u64 *blocks,
		       int max)
{
	u64 h = fp_h(fp), s = shard_of(idx, h), tag = tag_of(idx, h);
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *sh;
	int n = 0;
	u32 b, probed;
	unsigned int i;

	spin_lock(lock);
	sh = prepare(idx, s, false);
	if (IS_ERR(sh)) {
		spin_unlock(lock);
		return PTR_ERR(sh);
	}
	if (!sh || !sh->count) {
		spin_unlock(lock);
		return 0;
	}
	b = home_of(idx, tag, sh->nb);
	for (probed = 0; probed < sh->nb; probed++) {
		bool end = false;

		for (i = 0; i < BUCKET_SLOTS; i++) {
			u64 v = dedup_index_entry_get(slot(sh, b, i));
			u64 loc = v & idx->loc_mask;

			if (!loc)
				end = true;
			else if (loc != idx->loc_mask &&
				 v >> idx->g.loc_bits == tag && n < max)
				blocks[n++] = loc - 1;
		}
		if (end)
			break;
		b = b + 1 == sh->nb ? 0 : b + 1;
	}
	spin_unlock(lock);
	return n;
}

static u64 entry_of(struct dedup_index *idx, const u8 *fp, u64 pbn, u64 *s)
{
	u64 h = fp_h(fp);

	*s = shard_of(idx, h);
	return tag_of(idx, h) << idx->g.loc_bits |
		(div_u64(pbn, idx->g.fps_per_block) + 1);
}

int dedup_index_insert(struct dedup_index *idx, const u8 *fp, u64 pbn,
		       bool once)
{
	u64 s, v = entry_of(idx, fp, pbn, &s);
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *sh;

	/* A data device grown past the index's reach: not indexed. */
	if (div_u64(pbn, idx->g.fps_per_block) + 1 >= idx->loc_mask)
		return -ERANGE;
	/* A shard still to be loaded takes the insert when it is. */
	if (READ_ONCE(idx->saved) && !once && get_dir(idx, s)) {
		spin_lock(lock);
		if (queue_op(idx, s, v)) {
			spin_unlock(lock);
			return 0;
		}
		spin_unlock(lock);
	}

	spin_lock(lock);
	sh = prepare(idx, s, false);
	if (!IS_ERR(sh) && once && find_entry(idx, sh, v)) {
		spin_unlock(lock);
		return 0;
	}
	if (!IS_ERR(sh))
		sh = prepare(idx, s, true);
	if (IS_ERR(sh)) {
		spin_unlock(lock);
		return PTR_ERR(sh);
	}
	place(idx, sh, v);
	spin_unlock(lock);
	atomic64_inc(&idx->entries);
	return 0;
}

void dedup_index_remove(struct dedup_index *idx, const u8 *fp, u64 pbn)
{
	u64 s, v = entry_of(idx, fp, pbn, &s);
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *sh;
	u8 *e = NULL;

	if (READ_ONCE(idx->saved))
		get_dir(idx, s);
	spin_lock(lock);
	if (queue_op(idx, s, v | OP_REMOVE)) {
		spin_unlock(lock);
		return;
	}
	sh = prepare(idx, s, false);
	if (!IS_ERR(sh))
		e = find_entry(idx, sh, v);
	if (e) {
		dedup_index_entry_put(e, idx->loc_mask);
		sh->count--;
		sh->tombs++;
	}
	spin_unlock(lock);
	if (e)
		atomic64_dec(&idx->entries);
	else if (IS_ERR(sh))
		DMERR_LIMIT("fingerprint index: cannot load shard %llu: %ld",
			    s, PTR_ERR(sh));
}

/*
 * Create, destroy, figures
 */
struct dedup_index *dedup_index_create(const struct dedup_index_geometry *g,
				       dedup_index_load_fn load, void *context)
{
	struct dedup_index *idx;
	int i;

	if (g->loc_bits > DEDUP_INDEX_ENTRY_BITS - 16)
		return ERR_PTR(-EFBIG);
	idx = kzalloc(sizeof(*idx), GFP_KERNEL);
	if (!idx)
		return ERR_PTR(-ENOMEM);
	idx->g = *g;
	idx->tag_bits = DEDUP_INDEX_TAG_BITS(g->shard_bits, g->loc_bits);
	idx->loc_mask = (1ULL << g->loc_bits) - 1;
	idx->nr_shards = 1ULL << g->shard_bits;
	idx->nr_dirs = div_u64(idx->nr_shards + DIR_SHARDS - 1, DIR_SHARDS);
	idx->dirs = kvcalloc(idx->nr_dirs, sizeof(*idx->dirs), GFP_KERNEL);
	if (!idx->dirs) {
		kfree(idx);
		return ERR_PTR(-ENOMEM);
	}
	atomic64_set(&idx->ram, sizeof(*idx) + idx->nr_dirs * sizeof(void *));
	for (i = 0; i < ARRAY_SIZE(idx->locks); i++)
		spin_lock_init(&idx->locks[i]);
	idx->load = load;
	idx->context = context;
	return idx;
}

void dedup_index_destroy(struct dedup_index *idx)
{
	u64 d;
	unsigned int i;

	if (!idx)
		return;
	for (d = 0; d < idx->nr_dirs; d++) {
		if (!idx->dirs[d])
			continue;
		for (i = 0; i < DIR_SHARDS; i++) {
			kvfree(idx->dirs[d]->shard[i]);
			free_ops(idx, idx->dirs[d]->ops[i]);
		}
		kfree(idx->dirs[d]);
	}
	kvfree(idx->dirs);
	kfree(idx);
}

void dedup_index_set_unloaded(struct dedup_index *idx)
{
	idx->saved = true;
}

u64 dedup_index_entries(struct dedup_index *idx)
{
	return atomic64_read(&idx->entries);
}

u64 dedup_index_ram(struct dedup_index *idx)
{
	return atomic64_read(&idx->ram);
}

u64 dedup_index_nr_shards(struct dedup_index *idx)
{
	return idx->nr_shards;
}

u64 dedup_index_bad_shards(struct dedup_index *idx)
{
	return atomic64_read(&idx->bad_shards);
}

void dedup_index_get_geometry(struct dedup_index *idx,
			      struct dedup_index_geometry *g)
{
	*g = idx->g;
}

int dedup_index_install(struct dedup_index *idx, u64 s, const u8 *buckets,
			u32 nb, u64 entries)
{
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *new = NULL, *sh;
	struct index_dir *d;
	bool loaded;
	int r;

	if (s >= idx->nr_shards)
		return -EILSEQ;
	d = get_dir(idx, s);
	if (!d)
		return -ENOMEM;
	r = shard_from_saved(idx, buckets, nb, entries, &new);
	if (r == -ENOMEM)
		return r;
	spin_lock(lock);
	shard_get(idx, s, &loaded);
	if (loaded) {
		/* Loaded on demand meanwhile: that copy stays. */
		spin_unlock(lock);
		kvfree(new);
		return 0;
	}
	if (r)
		bad_shard(idx, s, r);
	install_locked(idx, d, s, new);
	/* The changes queued while it was not loaded. */
	sh = prepare(idx, s, false);
	spin_unlock(lock);
	return PTR_ERR_OR_ZERO(sh);
}

/* Applies the changes still queued (shards nobody loaded); may sleep. */
static int apply_all_ops(struct dedup_index *idx)
{
	struct index_shard *sh;
	struct index_dir *d;
	u64 s;

	for (s = 0; s < idx->nr_shards; s++) {
		d = dir_of(idx, s);
		if (!d) {
			s = (div_u64(s, DIR_SHARDS) + 1) * DIR_SHARDS - 1;
			continue;
		}
		if (!READ_ONCE(d->ops[dir_pos(s)]))
			continue;
		spin_lock(lock_of(idx, s));
		sh = prepare(idx, s, false);
		spin_unlock(lock_of(idx, s));
		if (IS_ERR(sh))
			return PTR_ERR(sh);
		cond_resched();
	}
	return 0;
}

void dedup_index_all_loaded(struct dedup_index *idx)
{
	/* From now on a shard not loaded is an empty one. */
	WRITE_ONCE(idx->saved, false);
	/* Short of memory, they are applied by the shard's next use. */
	apply_all_ops(idx);
}

int dedup_index_save(struct dedup_index *idx, dedup_index_emit_fn emit,
		     void *context)
{
	struct index_shard *sh;
	u64 s;
	int r;

	/*
	 * Called with no lookups or changes going on (the pool is being
	 * torn down), so the shards can be passed without copying them.
	 */
	r = apply_all_ops(idx);
	if (r)
		return r;
	for (s = 0; s < idx->nr_shards; s++) {
		struct index_dir *d = dir_of(idx, s);

		if (!d) {
			s = (div_u64(s, DIR_SHARDS) + 1) * DIR_SHARDS - 1;
			continue;
		}
		sh = d->shard[dir_pos(s)];
		if (!sh || !sh->count)
			continue;
		r = emit(context, s, sh->buckets, sh->nb, sh->count);
		if (r)
			return r;
	}
	return 0;
}

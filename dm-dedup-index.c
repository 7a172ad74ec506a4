// SPDX-License-Identifier: GPL-2.0
/*
 * The RAM fingerprint index: from a fingerprint to the fp-array blocks
 * that may hold it.
 *
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
 * one shard at a time: a shard that is used before the background loader
 * reached it is loaded on the spot by load_shard().
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

#include "dm-dedup-meta-internal.h"

#define INDEX_LOCK_BITS		10
#define INDEX_MIN_SHARD_BITS	6
#define INDEX_FILTER_BITS	12
/*
 * A shard grows by rehashing it under its lock, in the commit thread, and
 * a writer that looks the shard up meanwhile spins.  At most 2^11 buckets
 * (96 KiB, about 15,000 entries) keep that short: under emulation, shards
 * of 2^14 buckets (about 80,000 entries) took up to 65 ms to grow.
 */
#define INDEX_MAX_NB_BITS	11
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

#define DIR_SHARDS	((PAGE_SIZE - 64) / sizeof(void *))

/* One page of the directory. */
struct index_dir {
	struct index_shard *shard[DIR_SHARDS];
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
	 * contents and its loaded bit.  Leaf locks; nothing else is taken
	 * inside them, and nothing sleeps.
	 */
	spinlock_t locks[1 << INDEX_LOCK_BITS];

	atomic64_t entries;
	atomic64_t ram;

	dedup_index_load_fn load;
	void *context;
};

/*
 * Geometry and hashing
 */
void dedup_index_geometry(u64 data_nr_blocks, unsigned int fps_per_block,
			  struct dedup_index_geometry *g)
{
	u64 nfp = div_u64(data_nr_blocks + fps_per_block - 1, fps_per_block);
	u64 per_shard, shards;
	unsigned int tag_bits, nb_bits;

	g->fps_per_block = fps_per_block;
	g->loc_bits = max_t(unsigned int, fls64(nfp + 1), 8);
	/* Room for the data device to grow 16 times, if the tag can spare it. */
	if (DEDUP_INDEX_ENTRY_BITS - g->loc_bits >= 28)
		g->loc_bits += 4;
	tag_bits = DEDUP_INDEX_ENTRY_BITS - g->loc_bits;
	nb_bits = clamp_t(int, (int)tag_bits - INDEX_FILTER_BITS, 0,
			  INDEX_MAX_NB_BITS);
	per_shard = ((u64)BUCKET_SLOTS << nb_bits) * 17 / 20;
	shards = max_t(u64, div64_u64(data_nr_blocks, per_shard) + 1,
		       1ULL << INDEX_MIN_SHARD_BITS);
	g->shard_bits = ilog2(roundup_pow_of_two(shards));
}

static u64 fp_h(const u8 *fp)
{
	return get_unaligned_le64(fp);
}

static u64 shard_of(struct dedup_index *idx, u64 h)
{
	return h >> (64 - idx->g.shard_bits);
}

static u64 tag_of(struct dedup_index *idx, u64 h)
{
	return (h << idx->g.shard_bits) >> (64 - idx->tag_bits);
}

static u32 home_of(struct dedup_index *idx, u64 tag, u32 nb)
{
	return (tag * nb) >> idx->tag_bits;
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

static bool needs_growth(u64 s, struct index_shard *sh)
{
	return !sh || (u64)(sh->count + sh->tombs + 1) * GROW_DEN * SPREAD_ONE >
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

/*
 * Makes shard s (its lock held) loaded and, with room, able to take one
 * more entry.  May drop the lock to load, allocate or free (vfree may
 * sleep), and retakes it; returns the shard (NULL when it is empty and
 * room is false) or an ERR_PTR.
 */
static struct index_shard *prepare(struct dedup_index *idx, u64 s, bool room)
{
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *sh, *new;
	struct index_dir *d;
	bool loaded;
	u64 entries;
	u8 *buckets;
	u32 nb;
	int r;

	for (;;) {
		sh = shard_get(idx, s, &loaded);
		if (!loaded) {
			spin_unlock(lock);
			r = idx->load(idx->context, s, &buckets, &nb, &entries);
			d = r ? NULL : get_dir(idx, s);
			if (!r && !d)
				r = -ENOMEM;
			new = NULL;
			if (!r && nb) {
				new = shard_alloc(nb);
				if (!new)
					r = -ENOMEM;
			}
			if (new) {
				/* The saved buckets keep their positions. */
				new->nb = nb;
				memcpy(new->buckets, buckets,
				       (size_t)nb * BUCKET_SIZE);
				count_slots(idx, new);
				if (new->count != entries)
					r = -EILSEQ;
			}
			kvfree(buckets);
			if (r) {
				kvfree(new);
				spin_lock(lock);
				return ERR_PTR(r);
			}
			spin_lock(lock);
			if (test_bit(dir_pos(s), d->loaded)) {
				/* Loaded meanwhile: ours was never installed. */
				spin_unlock(lock);
				kvfree(new);
				spin_lock(lock);
				continue;
			}
			d->shard[dir_pos(s)] = new;
			set_bit(dir_pos(s), d->loaded);
			if (new) {
				atomic64_add(new->bytes, &idx->ram);
				atomic64_add(new->count, &idx->entries);
			}
			continue;
		}
		if (!room || !needs_growth(s, sh))
			return sh;

		spin_unlock(lock);
		d = get_dir(idx, s);
		new = d ? shard_alloc(buckets_for(s, (sh ? sh->count : 0) + 1)) :
			NULL;
		spin_lock(lock);
		if (!new)
			return ERR_PTR(-ENOMEM);
		if (d->shard[dir_pos(s)] != sh) {
			/* Someone else grew it meanwhile. */
			spin_unlock(lock);
			kvfree(new);
			spin_lock(lock);
			continue;
		}
		rehash(idx, sh, new);
		d->shard[dir_pos(s)] = new;
		atomic64_add(new->bytes, &idx->ram);
		/* Nothing reaches the old one now; look again after the free. */
		spin_unlock(lock);
		shard_free(idx, sh);
		spin_lock(lock);
	}
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

	spin_lock(lock);
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

	for (d = 0; d < idx->nr_dirs; d++) {
		if (!idx->dirs[d])
			continue;
		for (i = 0; i < DIR_SHARDS; i++)
			kvfree(idx->dirs[d]->shard[i]);
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

int dedup_index_install(struct dedup_index *idx, u64 s, const u8 *buckets,
			u32 nb, u64 entries)
{
	spinlock_t *lock = lock_of(idx, s);
	struct index_shard *new = NULL;
	struct index_dir *d;
	bool loaded;

	if (s >= idx->nr_shards)
		return -EILSEQ;
	d = get_dir(idx, s);
	if (!d)
		return -ENOMEM;
	if (nb) {
		new = shard_alloc(nb);
		if (!new)
			return -ENOMEM;
		new->nb = nb;
		memcpy(new->buckets, buckets, (size_t)nb * BUCKET_SIZE);
		count_slots(idx, new);
		if (new->count != entries) {
			kvfree(new);
			return -EILSEQ;
		}
	}
	spin_lock(lock);
	shard_get(idx, s, &loaded);
	if (loaded) {
		/* Loaded on demand meanwhile: that copy stays. */
		spin_unlock(lock);
		kvfree(new);
		return 0;
	}
	d->shard[dir_pos(s)] = new;
	set_bit(dir_pos(s), d->loaded);
	if (new) {
		atomic64_add(new->bytes, &idx->ram);
		atomic64_add(new->count, &idx->entries);
	}
	spin_unlock(lock);
	return 0;
}

void dedup_index_all_loaded(struct dedup_index *idx)
{
	/* From now on a shard not loaded is an empty one. */
	WRITE_ONCE(idx->saved, false);
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

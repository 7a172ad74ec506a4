// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata space accounting: region A and the bulk region, the blocks a
 * transaction allocated and freed.
 */

/**
 * DOC: metadata space
 *
 * dm-persistent-data's metadata space map counts region A: every btree
 * node and space map block, and array blocks while there is no bulk region
 * or it is full.  It indexes at most 255 bitmaps of 16,320 blocks
 * (DEDUP_REGION_A_MAX_BLOCKS, 15.875 GiB).  A larger metadata device gets a
 * bulk region beyond that, counted by a dm_sm_disk space map (the one
 * dm-thin uses for data blocks: no cap) whose bitmaps and index are region
 * A blocks; array blocks, most of the bytes, come from it while it has
 * room.  Both space maps and every tree commit in one transaction: the bulk
 * space map's blocks are written first (dedup_space_pre_commit()), then the
 * transaction manager's pre-commit and the superblock.
 *
 * A block freed by transaction T is reused by T + 1 at the earliest (the
 * space maps' rule).  The readers' array cache and copies must forget such
 * a block before its reuse, once the readers of the commit that still
 * referenced it have drained: the blocks each transaction frees are listed
 * (freed), kept through its commit (retired) and forgotten at retire
 * (dedup_array_forget_retired()).
 */
#include <linux/device-mapper.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "persistent-data/dm-space-map-disk.h"

#include "dm-dedup.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-space.h"

struct dedup_space {
	struct dm_transaction_manager *tm;
	struct dm_space_map *metadata_sm;	/* region A */
	struct dm_space_map *bulk_sm;		/* NULL without a bulk region */
	u64 bulk_start;
	u64 bulk_nr_blocks;
	int cb_error;			/* first error of inc/dec since taken */

	/* Array blocks allocated in this transaction. */
	struct xarray fresh;
	/* Blocks freed in this transaction (SIZE_MAX: too many to list) ... */
	u64 *freed;
	size_t nr_freed, freed_cap;
	/* ... and those of the last commit, forgotten at retire. */
	u64 *retired;
	size_t nr_retired, retired_cap;
};

struct dedup_space *dedup_space_create(struct dm_transaction_manager *tm,
				       struct dm_space_map *metadata_sm)
{
	struct dedup_space *s = kzalloc(sizeof(*s), GFP_KERNEL);

	if (!s)
		return NULL;
	s->tm = tm;
	s->metadata_sm = metadata_sm;
	xa_init(&s->fresh);
	return s;
}

int dedup_space_open_bulk(struct dedup_space *s, void *root, size_t len,
			  u64 start, u64 nr_blocks)
{
	struct dm_space_map *sm = dm_sm_disk_open(s->tm, root, len);

	if (IS_ERR(sm))
		return PTR_ERR(sm);
	s->bulk_sm = sm;
	s->bulk_start = start;
	s->bulk_nr_blocks = nr_blocks;
	return 0;
}

void dedup_space_destroy(struct dedup_space *s)
{
	if (!s)
		return;
	if (s->bulk_sm)
		dm_sm_destroy(s->bulk_sm);
	if (s->metadata_sm)
		dm_sm_destroy(s->metadata_sm);
	xa_destroy(&s->fresh);
	kvfree(s->freed);
	kvfree(s->retired);
	kfree(s);
}

/*
 * Growth
 */
int dedup_space_grow(struct dedup_space *s, u64 nr_blocks, bool *bulk)
{
	u64 a_target = min(nr_blocks, DEDUP_REGION_A_MAX_BLOCKS);
	struct dm_space_map *sm;
	dm_block_t a_now;
	int r;

	*bulk = s->bulk_sm;
	r = dm_sm_get_nr_blocks(s->metadata_sm, &a_now);
	if (r)
		return r;
	if (a_target > a_now) {
		r = dm_sm_extend(s->metadata_sm, a_target - a_now);
		if (r)
			return r;
	}
	if (nr_blocks <= DEDUP_REGION_A_MAX_BLOCKS)
		return 0;
	if (!s->bulk_sm) {
		sm = dm_sm_disk_create(s->tm,
				       nr_blocks - DEDUP_REGION_A_MAX_BLOCKS);
		if (IS_ERR(sm))
			return PTR_ERR(sm);
		s->bulk_sm = sm;
		s->bulk_start = DEDUP_REGION_A_MAX_BLOCKS;
		s->bulk_nr_blocks = nr_blocks - DEDUP_REGION_A_MAX_BLOCKS;
		*bulk = true;
		return 0;
	}
	if (nr_blocks - s->bulk_start > s->bulk_nr_blocks) {
		r = dm_sm_extend(s->bulk_sm, nr_blocks - s->bulk_start -
				 s->bulk_nr_blocks);
		if (r)
			return r;
		s->bulk_nr_blocks = nr_blocks - s->bulk_start;
	}
	return 0;
}

u64 dedup_space_bulk_start(struct dedup_space *s)
{
	return s->bulk_start;
}

u64 dedup_space_bulk_blocks(struct dedup_space *s)
{
	return s->bulk_nr_blocks;
}

/* Total and free blocks of one space map into c; false on an error. */
static bool sm_counts(struct dm_space_map *sm, u64 *total, u64 *free)
{
	dm_block_t t = 0, f = 0;

	if (dm_sm_get_nr_blocks(sm, &t) || dm_sm_get_nr_free(sm, &f))
		return false;
	*total = t;
	*free = f;
	return true;
}

void dedup_space_counts(struct dedup_space *s, struct dedup_space_counts *c)
{
	u64 t, f;

	memset(c, 0, sizeof(*c));
	c->has_bulk = s->bulk_sm;
	if (sm_counts(s->metadata_sm, &t, &f)) {
		c->total += t;
		c->used += t - f;
		c->free_a = f;
	}
	if (s->bulk_sm && sm_counts(s->bulk_sm, &t, &f)) {
		c->total += t;
		c->used += t - f;
		c->free_bulk = f;
	}
}

/*
 * Array blocks
 */
/* The space map that counts block *b, and *b in its numbering. */
static struct dm_space_map *sm_of(struct dedup_space *s, dm_block_t *b)
{
	if (s->bulk_sm && *b >= s->bulk_start) {
		*b -= s->bulk_start;
		return s->bulk_sm;
	}
	return s->metadata_sm;
}

/* Keeps the first error of the value callbacks until taken. */
static void keep_error(struct dedup_space *s, int r)
{
	if (r && !s->cb_error)
		s->cb_error = r;
}

int dedup_space_alloc(struct dedup_space *s, dm_block_t *b)
{
	dm_block_t free = 0;
	int r;

	if (s->bulk_sm && !dm_sm_get_nr_free(s->bulk_sm, &free) && free) {
		r = dm_sm_new_block(s->bulk_sm, b);
		if (!r) {
			*b += s->bulk_start;
			return 0;
		}
		if (r != -ENOSPC)
			return r;
	}
	return dm_sm_new_block(s->metadata_sm, b);
}

void dedup_space_inc(void *context, dm_block_t b)
{
	struct dedup_space *s = context;
	dm_block_t rb = b;
	struct dm_space_map *sm = sm_of(s, &rb);

	keep_error(s, dm_sm_inc_block(sm, rb));
}

/* Lists a block freed in this transaction, for the readers' cache. */
static void note_freed(struct dedup_space *s, dm_block_t b)
{
	if (s->nr_freed == s->freed_cap) {
		size_t cap = max_t(size_t, 256, s->freed_cap * 2);
		unsigned int noio = memalloc_noio_save();
		u64 *n = dedup_fault_alloc() ? NULL :
			kvmalloc_array(cap, sizeof(*n), GFP_KERNEL | __GFP_NOWARN);

		memalloc_noio_restore(noio);
		if (!n) {
			/* Retire will drop the whole array cache instead. */
			s->freed_cap = 0;
			s->nr_freed = SIZE_MAX;
			return;
		}
		if (s->freed)
			memcpy(n, s->freed, s->nr_freed * sizeof(*n));
		kvfree(s->freed);
		s->freed = n;
		s->freed_cap = cap;
	}
	if (s->nr_freed != SIZE_MAX)
		s->freed[s->nr_freed++] = b;
}

void dedup_space_dec(void *context, dm_block_t b)
{
	struct dedup_space *s = context;
	dm_block_t rb = b;
	struct dm_space_map *sm = sm_of(s, &rb);

	keep_error(s, dm_sm_dec_block(sm, rb));
	note_freed(s, b);
	/*
	 * A block allocated in this transaction may be allocated again in
	 * it once freed, as anything: it is no longer an array block of ours.
	 */
	xa_erase(&s->fresh, b);
}

int dedup_space_take_error(struct dedup_space *s)
{
	int r = s->cb_error;

	s->cb_error = 0;
	return r;
}

bool dedup_space_fresh(struct dedup_space *s, dm_block_t b)
{
	return xa_load(&s->fresh, b) != NULL;
}

/*
 * Best effort: a block that could not be remembered (no memory, or the
 * test_fail_alloc knob) is only shadowed again by its next change.
 */
void dedup_space_mark_fresh(struct dedup_space *s, dm_block_t b)
{
	if (!dedup_fault_alloc())
		xa_store(&s->fresh, b, xa_mk_value(1),
			 GFP_NOIO | __GFP_NOWARN);
}

void dedup_space_visit_fresh(struct dedup_space *s, unsigned int max,
			     void (*fn)(void *context, dm_block_t b),
			     void *context)
{
	unsigned long b;
	void *entry;

	xa_for_each(&s->fresh, b, entry) {
		if (!max--)
			break;
		fn(context, b);
	}
}

/*
 * The commit
 */
int dedup_space_pre_commit(struct dedup_space *s)
{
	return s->bulk_sm ? dm_sm_commit(s->bulk_sm) : 0;
}

int dedup_space_copy_roots(struct dedup_space *s, void *metadata_root,
			   void *bulk_root, size_t len)
{
	size_t need;
	int r;

	memset(metadata_root, 0, len);
	memset(bulk_root, 0, len);
	r = dm_sm_root_size(s->metadata_sm, &need);
	if (!r && need > len)
		r = -EINVAL;
	if (!r)
		r = dm_sm_copy_root(s->metadata_sm, metadata_root, need);
	if (r || !s->bulk_sm)
		return r;
	r = dm_sm_root_size(s->bulk_sm, &need);
	if (!r && need > len)
		r = -EINVAL;
	return r ?: dm_sm_copy_root(s->bulk_sm, bulk_root, need);
}

void dedup_space_end_transaction(struct dedup_space *s)
{
	xa_destroy(&s->fresh);
	swap(s->freed, s->retired);
	swap(s->nr_freed, s->nr_retired);
	swap(s->freed_cap, s->retired_cap);
	s->nr_freed = 0;
}

size_t dedup_space_retired(struct dedup_space *s, const u64 **blocks)
{
	*blocks = s->retired;
	return s->nr_retired;
}

void dedup_space_end_retire(struct dedup_space *s)
{
	s->nr_retired = 0;
}

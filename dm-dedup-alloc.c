// SPDX-License-Identifier: GPL-2.0
/*
 * The data block allocator.
 */

/**
 * DOC: data block allocation
 *
 * Which data blocks are free is said by the published refcount array: a
 * block is free when its count is zero, no generation holds it, and the
 * commit that freed it is durable (and its discard, if any, is done).
 * The allocator keeps, in RAM, only what that needs by the amount used:
 *
 *  - used[c], per chunk of DEDUP_CHUNK_BLOCKS PBNs (32 refcount blocks):
 *    the blocks of the chunk that are not allocatable: in use in the
 *    published commit, handed out and not yet published, or freed and not
 *    yet released.  4 bytes per chunk, 32 KiB per TiB of data device at
 *    4 KiB blocks; read from the summary array at open.
 *  - up to ALLOC_WINDOWS *windows*: the bitmap of one chunk each, built
 *    from the chunk's refcount blocks when the allocator moves into it.
 *    Blocks are handed out from the current window in ascending order,
 *    so the records a commit writes for them share array blocks.
 *
 * A window may be dropped only when none of its blocks is "outstanding"
 * (handed out but not yet in a published commit): the refcount array does
 * not know those.
 *
 * A block freed by a commit is free in the refcount array from that
 * commit's publication on, but allocatable only after its release (the
 * commit durable, its discard done).  The committer announces each such
 * block before the publication (dedup_alloc_dying()), and pending[c]
 * counts the chunk's announced blocks not yet released.  A chunk with
 * pending frees is not loaded, nor read: the refcount array would call
 * its pending blocks free.  A chunk's refcount blocks are read one by one,
 * each from the commit published at that moment; if no block of the chunk
 * was announced or released meanwhile, every view read says the same of
 * it (a block is born only in a window, and dies only after an
 * announcement), so the bitmap is exact, and its count of blocks in use
 * must equal used[c]: when it does not, the metadata is inconsistent and
 * the load fails with -EILSEQ instead of waiting for a release that will
 * never come.  A load that was disturbed is retried later.
 */
#include <linux/device-mapper.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dm-dedup.h"
#include "dm-dedup-alloc.h"
#include "dm-dedup-fault.h"

#define ALLOC_WINDOWS	16
#define NO_CHUNK	(~0ULL)

struct alloc_window {
	u64 chunk;		/* NO_CHUNK: slot unused */
	unsigned long *bits;	/* set: not allocatable */
	unsigned long *dying;	/* announced since the load, not released */
	u32 free;		/* clear bits */
	u32 outstanding;	/* handed out, not yet published */
};

struct dedup_alloc {
	/* Reads a refcount block of the published commit. */
	dedup_alloc_read_fn read;
	void *context;

	/*
	 * Protects everything below but load_mutex's object.  A leaf lock:
	 * never held across I/O or allocation.
	 */
	spinlock_t lock;
	u64 nr_blocks;
	u64 nr_chunks;
	u32 *used;
	u16 *pending;		/* announced dying, not yet released */
	u64 nr_free;
	struct alloc_window win[ALLOC_WINDOWS];
	int cur;		/* window allocating now, or -1 */
	u64 cursor;		/* next PBN to try */
	u64 loading;		/* chunk being read, or NO_CHUNK */
	bool load_disturbed;	/* a block of it was announced or released */

	/*
	 * One window load at a time; taken without lock held.  Protects
	 * spare and counts: allocated once, so that loading a window never
	 * needs memory.
	 */
	struct mutex load_mutex;
	unsigned long *spare;
	__le32 *counts;
};

static u32 chunk_size(struct dedup_alloc *al, u64 c)
{
	u64 first = c * DEDUP_CHUNK_BLOCKS;

	return min_t(u64, DEDUP_CHUNK_BLOCKS, al->nr_blocks - first);
}

static int find_window(struct dedup_alloc *al, u64 chunk)
{
	int i;

	for (i = 0; i < ALLOC_WINDOWS; i++)
		if (al->win[i].chunk == chunk)
			return i;
	return -1;
}

static u64 chunk_of(u64 pbn)
{
	return div_u64(pbn, DEDUP_CHUNK_BLOCKS);
}

/* Takes a free block from window w; lock held, w->free > 0. */
static u64 take(struct dedup_alloc *al, int w)
{
	struct alloc_window *win = &al->win[w];
	u64 first = win->chunk * DEDUP_CHUNK_BLOCKS;
	u64 start = 0, b;

	lockdep_assert_held(&al->lock);
	if (al->cursor > first && al->cursor < first + DEDUP_CHUNK_BLOCKS)
		start = al->cursor - first;
	b = find_next_zero_bit(win->bits, DEDUP_CHUNK_BLOCKS, start);
	if (b >= DEDUP_CHUNK_BLOCKS)
		b = find_first_zero_bit(win->bits, DEDUP_CHUNK_BLOCKS);
	__set_bit(b, win->bits);
	win->free--;
	win->outstanding++;
	al->used[win->chunk]++;
	al->nr_free--;
	al->cursor = first + b + 1;
	return first + b;
}

/* A loaded window with free blocks, the current one first; lock held. */
static int usable_window(struct dedup_alloc *al)
{
	int i;

	lockdep_assert_held(&al->lock);
	if (al->cur >= 0 && al->win[al->cur].free)
		return al->cur;
	for (i = 0; i < ALLOC_WINDOWS; i++)
		if (al->win[i].chunk != NO_CHUNK && al->win[i].free)
			return i;
	return -1;
}

/*
 * The next chunk from *pos on (cyclically, looking at no more than *left
 * chunks) that has free blocks, no pending frees and no window; lock held.
 * NO_CHUNK if none.
 */
static u64 next_chunk(struct dedup_alloc *al, u64 *pos, u64 *left)
{
	u64 c = *pos;

	lockdep_assert_held(&al->lock);
	for (; *left; (*left)--, c++) {
		if (c >= al->nr_chunks)
			c = 0;
		if (al->used[c] < chunk_size(al, c) && !al->pending[c] &&
		    find_window(al, c) < 0) {
			(*left)--;
			*pos = c + 1;
			return c;
		}
	}
	return NO_CHUNK;
}

/* A window slot that can be (re)used; lock held.  -1 if all are pinned. */
static int free_slot(struct dedup_alloc *al)
{
	int i, best = -1;

	lockdep_assert_held(&al->lock);
	for (i = 0; i < ALLOC_WINDOWS; i++) {
		struct alloc_window *win = &al->win[i];

		if (win->chunk == NO_CHUNK)
			return i;
		if (!win->outstanding && i != al->cur &&
		    (best < 0 || win->free < al->win[best].free))
			best = i;
	}
	return best;
}

/*
 * Builds chunk c's bitmap from the published refcount array into bits;
 * returns the number of blocks in use there.
 */
static int read_chunk(struct dedup_alloc *al, u64 c, unsigned long *bits,
		      u32 *in_use)
{
	u32 size = chunk_size(al, c), i, n = 0;
	__le32 *counts = al->counts;
	int r = 0, rb;

	bitmap_zero(bits, DEDUP_CHUNK_BLOCKS);
	bitmap_set(bits, size, DEDUP_CHUNK_BLOCKS - size);
	for (rb = 0; rb < DEDUP_CHUNK_RC_BLOCKS && !r; rb++) {
		u32 first = rb * DEDUP_REFCOUNTS_PER_BLOCK;

		if (first >= size)
			break;
		if (rb)
			dedup_fault_delay(DEDUP_FAULT_ALLOC_READ);
		r = al->read(al->context, c * DEDUP_CHUNK_RC_BLOCKS + rb,
			     counts);
		for (i = 0; !r && i < DEDUP_REFCOUNTS_PER_BLOCK &&
		     first + i < size; i++)
			if (counts[i]) {
				__set_bit(first + i, bits);
				n++;
			}
	}
	*in_use = n;
	return r;
}

/*
 * Loads a window for a chunk with allocatable blocks.  0 when a window
 * with free blocks exists afterwards; -EAGAIN when blocks are free but
 * cannot be handed out until a commit publishes or releases some;
 * -EILSEQ when a chunk's in-use count disagrees with its reference
 * counts; -ENOSPC or an I/O error otherwise.
 */
static int load_window(struct dedup_alloc *al)
{
	u64 c, pos, left;
	u32 in_use;
	int r, w;

	mutex_lock(&al->load_mutex);
	spin_lock(&al->lock);
	pos = chunk_of(al->cursor);
	left = al->nr_chunks;
	for (;;) {
		if (usable_window(al) >= 0) {
			r = 0;
			break;
		}
		if (!al->nr_free) {
			r = -ENOSPC;
			break;
		}
		c = next_chunk(al, &pos, &left);
		if (c == NO_CHUNK || free_slot(al) < 0) {
			r = -EAGAIN;
			break;
		}
		al->loading = c;
		al->load_disturbed = false;
		spin_unlock(&al->lock);
		r = read_chunk(al, c, al->spare, &in_use);
		spin_lock(&al->lock);
		al->loading = NO_CHUNK;
		if (r)
			break;
		/* A block of c announced or released meanwhile: not now. */
		if (al->load_disturbed || al->pending[c])
			continue;
		if (in_use != al->used[c]) {
			DMERR_LIMIT("chunk %llu: %u blocks in use, %u counted",
				    c, in_use, al->used[c]);
			r = -EILSEQ;
			break;
		}
		w = free_slot(al);
		if (w < 0)
			continue;
		swap(al->win[w].bits, al->spare);
		bitmap_zero(al->win[w].dying, DEDUP_CHUNK_BLOCKS);
		al->win[w].chunk = c;
		al->win[w].free = chunk_size(al, c) - in_use;
		al->win[w].outstanding = 0;
		al->cur = w;
	}
	spin_unlock(&al->lock);
	mutex_unlock(&al->load_mutex);
	return r;
}

int dedup_alloc_get(struct dedup_alloc *al, u64 *pbn)
{
	int w, r;

	for (;;) {
		spin_lock(&al->lock);
		w = usable_window(al);
		if (w >= 0) {
			al->cur = w;
			*pbn = take(al, w);
			spin_unlock(&al->lock);
			return 0;
		}
		r = al->nr_free ? 0 : -ENOSPC;
		spin_unlock(&al->lock);
		if (r)
			return r;
		r = load_window(al);
		if (r)
			return r;
	}
}

void dedup_alloc_dying(struct dedup_alloc *al, u64 pbn)
{
	u64 c = chunk_of(pbn);
	int w;

	spin_lock(&al->lock);
	if (!WARN_ON_ONCE(c >= al->nr_chunks ||
			  al->pending[c] == DEDUP_CHUNK_BLOCKS)) {
		al->pending[c]++;
		if (c == al->loading)
			al->load_disturbed = true;
		w = find_window(al, c);
		if (w >= 0)
			__set_bit(pbn - c * DEDUP_CHUNK_BLOCKS, al->win[w].dying);
	}
	spin_unlock(&al->lock);
}

/* A committed block's release, announced or not; lock held. */
static bool release_committed(struct dedup_alloc *al, u64 c, int w, u32 bit)
{
	lockdep_assert_held(&al->lock);
	if (WARN_ON_ONCE(!al->pending[c]))
		return false;
	al->pending[c]--;
	if (c == al->loading)
		al->load_disturbed = true;
	/*
	 * A window loaded after the announcement would have to call the
	 * block free already: it may have handed it out again since.
	 */
	return w < 0 || !WARN_ON_ONCE(!test_and_clear_bit(bit,
							  al->win[w].dying));
}

void dedup_alloc_put(struct dedup_alloc *al, u64 pbn, bool was_committed)
{
	u64 c = chunk_of(pbn);
	u32 bit = pbn - c * DEDUP_CHUNK_BLOCKS;
	bool ok = true;
	int w;

	spin_lock(&al->lock);
	w = find_window(al, c);
	if (was_committed)
		ok = release_committed(al, c, w, bit);
	if (w >= 0 && ok) {
		struct alloc_window *win = &al->win[w];

		if (test_and_clear_bit(bit, win->bits))
			win->free++;
		if (!was_committed && !WARN_ON_ONCE(!win->outstanding))
			win->outstanding--;
	} else if (w < 0) {
		WARN_ON_ONCE(!was_committed);
	}
	/* A refused release leaves the block in use (until reopened). */
	if (ok && !WARN_ON_ONCE(!al->used[c])) {
		al->used[c]--;
		al->nr_free++;
	}
	spin_unlock(&al->lock);
}

void dedup_alloc_published(struct dedup_alloc *al, u64 pbn)
{
	int w;

	spin_lock(&al->lock);
	w = find_window(al, chunk_of(pbn));
	if (!WARN_ON_ONCE(w < 0 || !al->win[w].outstanding))
		al->win[w].outstanding--;
	spin_unlock(&al->lock);
}

/*
 * Create, resize, figures
 */
static void *alloc_per_chunk(u64 nr_chunks, size_t size)
{
	return kvcalloc(max_t(u64, nr_chunks, 1), size, GFP_KERNEL);
}

struct dedup_alloc *dedup_alloc_create(u64 nr_blocks, u64 cursor,
				       dedup_alloc_read_fn read, void *context)
{
	struct dedup_alloc *al;
	int i;

	al = kzalloc(sizeof(*al), GFP_KERNEL);
	if (!al)
		return NULL;
	al->read = read;
	al->context = context;
	spin_lock_init(&al->lock);
	mutex_init(&al->load_mutex);
	al->nr_blocks = nr_blocks;
	al->nr_chunks = div_u64(nr_blocks + DEDUP_CHUNK_BLOCKS - 1,
				DEDUP_CHUNK_BLOCKS);
	al->used = alloc_per_chunk(al->nr_chunks, sizeof(*al->used));
	al->pending = alloc_per_chunk(al->nr_chunks, sizeof(*al->pending));
	al->nr_free = nr_blocks;
	al->cur = -1;
	al->loading = NO_CHUNK;
	al->cursor = cursor < nr_blocks ? cursor : 0;
	al->spare = bitmap_alloc(DEDUP_CHUNK_BLOCKS, GFP_KERNEL);
	al->counts = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_KERNEL);
	for (i = 0; i < ALLOC_WINDOWS; i++) {
		al->win[i].chunk = NO_CHUNK;
		al->win[i].bits = bitmap_alloc(DEDUP_CHUNK_BLOCKS, GFP_KERNEL);
		al->win[i].dying = bitmap_alloc(DEDUP_CHUNK_BLOCKS, GFP_KERNEL);
		if (!al->win[i].bits || !al->win[i].dying)
			break;
	}
	if (i < ALLOC_WINDOWS || !al->spare || !al->counts || !al->used ||
	    !al->pending) {
		dedup_alloc_destroy(al);
		return NULL;
	}
	return al;
}

void dedup_alloc_destroy(struct dedup_alloc *al)
{
	int i;

	if (!al)
		return;
	for (i = 0; i < ALLOC_WINDOWS; i++) {
		bitmap_free(al->win[i].bits);
		bitmap_free(al->win[i].dying);
	}
	bitmap_free(al->spare);
	kfree(al->counts);
	kvfree(al->used);
	kvfree(al->pending);
	kfree(al);
}

void dedup_alloc_set_used(struct dedup_alloc *al, u64 chunk, u32 used)
{
	if (chunk >= al->nr_chunks)
		return;
	spin_lock(&al->lock);
	al->nr_free += al->used[chunk];
	al->used[chunk] = min(used, chunk_size(al, chunk));
	al->nr_free -= al->used[chunk];
	spin_unlock(&al->lock);
}

int dedup_alloc_resize(struct dedup_alloc *al, u64 nr_blocks)
{
	u64 nr_chunks = div_u64(nr_blocks + DEDUP_CHUNK_BLOCKS - 1,
				DEDUP_CHUNK_BLOCKS);
	u64 last = al->nr_chunks - 1;
	u32 *used, *old, old_size;
	u16 *pending, *old_pending;
	int w;

	if (nr_blocks <= al->nr_blocks)
		return nr_blocks == al->nr_blocks ? 0 : -EINVAL;
	used = alloc_per_chunk(nr_chunks, sizeof(*used));
	pending = alloc_per_chunk(nr_chunks, sizeof(*pending));
	if (!used || !pending) {
		kvfree(used);
		kvfree(pending);
		return -ENOMEM;
	}

	spin_lock(&al->lock);
	memcpy(used, al->used, al->nr_chunks * sizeof(*used));
	memcpy(pending, al->pending, al->nr_chunks * sizeof(*pending));
	old = al->used;
	old_pending = al->pending;
	al->used = used;
	al->pending = pending;
	old_size = chunk_size(al, last);
	al->nr_free += nr_blocks - al->nr_blocks;
	al->nr_blocks = nr_blocks;
	al->nr_chunks = nr_chunks;
	/* The old last chunk may have been partial: its window grows. */
	w = find_window(al, last);
	if (w >= 0) {
		u32 size = chunk_size(al, last);

		bitmap_clear(al->win[w].bits, old_size, size - old_size);
		al->win[w].free += size - old_size;
	}
	spin_unlock(&al->lock);
	kvfree(old);
	kvfree(old_pending);
	return 0;
}

u64 dedup_alloc_free(struct dedup_alloc *al)
{
	u64 n;

	spin_lock(&al->lock);
	n = al->nr_free;
	spin_unlock(&al->lock);
	return n;
}

u64 dedup_alloc_cursor(struct dedup_alloc *al)
{
	return READ_ONCE(al->cursor);
}

u64 dedup_alloc_ram(struct dedup_alloc *al)
{
	return sizeof(*al) +
		al->nr_chunks * (sizeof(*al->used) + sizeof(*al->pending)) +
		(2 * ALLOC_WINDOWS + 1) * BITS_TO_LONGS(DEDUP_CHUNK_BLOCKS) *
		sizeof(long) + DEDUP_ARRAY_PAYLOAD;
}

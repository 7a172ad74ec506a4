// SPDX-License-Identifier: GPL-2.0
/*
 * The path of every bio through the "dedup" target.
 *
 * Writes are cut at data block boundaries in map(), reads at every
 * DEDUP_READ_BLOCKS blocks (max_io_len), and handed to workers; map()
 * waits for no I/O.  A read whose blocks no other bio holds and whose
 * mappings the generations or the readers' caches have is served in
 * map() itself (map_read()).  Reads, writes and discards have workers
 * of their own, so that writers waiting for room in the open generation
 * (dedup_cow_admit()) hold up no read, and a large discard, which goes at
 * the pace of commits (dedup_cow_admit_discard()), holds up no write; a
 * flush is queued for the commit straight from map().  A worker holds
 * the LBNs of its bio (a "cell": one block, or a read's range) for the
 * life of the bio, so the reads and writes of one block run in arrival
 * order, a read never sees a mapping whose data write is still in flight,
 * and no block a read is reading is freed and reused under it.  A read
 * goes to the data device in one piece per run of blocks that are
 * contiguous there (or zero).  A discard takes the cells of its blocks
 * one at a time as it goes, so a write sent after it may get to a block
 * first (the block layer orders no two bios in flight at once).
 *
 * Write of a block: read-modify-write if partial, then zero detection,
 * fingerprint, lookup.  A hit (verified by byte comparison when asked, or
 * when the hash is not collision resistant) shares the block; a miss
 * allocates a block, writes the data, and only then records the mapping.
 * FUA writes and flushes complete when the generation holding them is
 * durable (dm-dedup-gen.c); everything else behaves like a disk with a
 * volatile write cache.
 *
 * Errors: a failed metadata call fails the bio and, when it says the
 * metadata is broken, the pool (dedup_pool_metadata_failed()); a data
 * device error fails only its bio.  The pool's mode (see "DOC: modes"
 * below) picks the handler of each kind of bio.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/mempool.h>
#include <linux/workqueue.h>

#include "dm-dedup-fault.h"
#include "dm-dedup-io.h"

static void dedup_pool_metadata_failed(struct dedup_pool *pool,
				       const char *op, int r);

static struct bio *io_bio(struct dedup_io *io)
{
	return dm_bio_from_per_bio_data(io, sizeof(*io));
}

static const char *dev_name_of(struct dedup_c *dc)
{
	return dc->pool->name;
}

/* Errors of a metadata call that say the metadata is broken. */
static bool is_metadata_error(int r)
{
	return r == -EILSEQ || r == -EIO || r == -ENOTBLK;
}

/*
 * Cells: one bio at a time per LBN, in arrival order.  A bio holds the
 * blocks [lbn, lbn + nr): one for a write or a discard's step, up to
 * DEDUP_READ_BLOCKS for a read, never across a multiple of it; so bios
 * whose ranges overlap hash to one list.  Each list holds its holders and
 * waiters in arrival order, and a bio may go when no bio before it in its
 * list overlaps it.
 */
static struct list_head *cell_list(struct dedup_c *dc, u64 lbn)
{
	return &dc->cells[hash_64(lbn >> DEDUP_READ_SHIFT, DEDUP_CELL_BITS)];
}

static bool cells_overlap(struct dedup_io *a, struct dedup_io *b)
{
	return a->lbn < b->lbn + b->nr && b->lbn < a->lbn + a->nr;
}

/* Whether a bio before io in its list overlaps it. */
static bool cell_blocked(struct dedup_c *dc, struct dedup_io *io)
{
	struct list_head *list = cell_list(dc, io->lbn);
	struct dedup_io *e;

	lockdep_assert_held(&dc->cell_lock);
	list_for_each_entry(e, list, cell_node) {
		if (e == io)
			return false;
		if (cells_overlap(e, io))
			return true;
	}
	return false;
}

/*
 * io takes the blocks [lbn, lbn + nr) in arrival order: it waits for the
 * bios before it that overlap them, or (!wait) gives up at once, leaving
 * no trace in the list: false.
 */
static bool cell_take(struct dedup_c *dc, struct dedup_io *io, u64 lbn,
		      unsigned int nr, bool wait)
{
	bool granted;

	WARN_ON_ONCE(!nr || (lbn >> DEDUP_READ_SHIFT) !=
		     ((lbn + nr - 1) >> DEDUP_READ_SHIFT));
	io->lbn = lbn;
	io->nr = nr;
	spin_lock_irq(&dc->cell_lock);
	list_add_tail(&io->cell_node, cell_list(dc, lbn));
	granted = !cell_blocked(dc, io);
	io->granted = granted;
	if (!granted && !wait)
		list_del(&io->cell_node);
	spin_unlock_irq(&dc->cell_lock);

	if (!granted) {
		if (!wait)
			return false;
		/*
		 * Acquire: what the bios before io did to these blocks (their
		 * records in the generations) is seen once the grant is.
		 */
		wait_event(dc->cell_wait, smp_load_acquire(&io->granted));
	}
	io->cell_held = true;
	return true;
}

static void cell_lock(struct dedup_c *dc, struct dedup_io *io, u64 lbn)
{
	cell_take(dc, io, lbn, 1, true);
}

static void cell_unlock(struct dedup_c *dc, struct dedup_io *io)
{
	struct list_head *list = cell_list(dc, io->lbn);
	struct dedup_io *e;
	unsigned long flags;
	bool woken = false;

	spin_lock_irqsave(&dc->cell_lock, flags);
	list_del(&io->cell_node);
	io->cell_held = false;
	/* Only the waiters that overlapped io may go now. */
	list_for_each_entry(e, list, cell_node) {
		if (e->granted || !cells_overlap(e, io) || cell_blocked(dc, e))
			continue;
		/* Release: pairs with the acquire in cell_take(). */
		smp_store_release(&e->granted, true);
		woken = true;
	}
	spin_unlock_irqrestore(&dc->cell_lock, flags);
	if (woken)
		wake_up_all(&dc->cell_wait);
}

/*
 * Data device I/O on whole blocks
 */
static struct bio *block_bio(struct dedup_c *dc, struct page *page, u64 pbn,
			     blk_opf_t opf)
{
	unsigned int i, n = dc->block_size >> PAGE_SHIFT;
	struct bio *bio;

	bio = bio_alloc_bioset(dc->data_dev->bdev, n, opf, GFP_NOIO, &dc->bs);
	bio->bi_iter.bi_sector = pbn << dc->block_shift;
	for (i = 0; i < n; i++)
		__bio_add_page(bio, nth_page(page, i), PAGE_SIZE, 0);
	return bio;
}

static int read_block(struct dedup_c *dc, u64 pbn, struct page *page)
{
	struct bio *bio = block_bio(dc, page, pbn, REQ_OP_READ);
	int r = submit_bio_wait(bio);

	bio_put(bio);
	return r;
}

/*
 * Completion
 */
static void finish_io(struct dedup_io *io, int r, u64 gen)
{
	struct dedup_c *dc = io->dc;
	struct bio *bio = io_bio(io);

	if (io->buf) {
		mempool_free(io->buf, dc->buf_pool);
		io->buf = NULL;
	}
	if (r) {
		if (r == -ENOSPC)
			DMERR_LIMIT("%s: no free data blocks", dev_name_of(dc));
		bio->bi_status = errno_to_blk_status(r);
		bio_endio(bio);
		return;
	}
	if (io->cell_held)
		cell_unlock(dc, io);
	if (bio->bi_opf & REQ_FUA)
		dedup_cow_complete_when_durable(dc->pool->cow, bio, gen);
	else
		bio_endio(bio);
}

/*
 * A metadata call failed: the bio fails, and the pool if the metadata is
 * broken.  (A data device error fails only its bio: finish_io.)
 */
static void fail_meta(struct dedup_io *io, const char *op, int r)
{
	if (is_metadata_error(r))
		dedup_pool_metadata_failed(io->dc->pool, op, r);
	finish_io(io, r, 0);
}

static void record_and_finish(struct dedup_io *io, u64 value,
			      unsigned int flags)
{
	u64 gen = 0;
	int r;

	r = dedup_cow_record(io->dc->pool->cow, io->lbn, value, flags,
			     io->own_claim ? &io->claim : NULL, io->fp, &gen);
	if (r && (flags & DEDUP_REC_NEW)) {
		if (io->own_claim)
			dedup_cow_release_claim(io->dc->pool->cow, &io->claim);
		dedup_cow_unalloc_block(io->dc->pool->cow, value);
	}
	io->own_claim = false;
	if (r)
		fail_meta(io, "record", r);
	else
		finish_io(io, 0, gen);
}

/*
 * Stages
 */
static void stage_worker(struct work_struct *w)
{
	struct dedup_stage_worker *sw = container_of(w, struct dedup_stage_worker,
						     work);
	struct dedup_stage *st = sw->stage;
	struct dedup_io *io;
	unsigned long flags;

	for (;;) {
		spin_lock_irqsave(&st->lock, flags);
		io = list_first_entry_or_null(&st->items, struct dedup_io,
					      stage_entry);
		if (!io) {
			sw->running = false;
			st->nr_running--;
			spin_unlock_irqrestore(&st->lock, flags);
			return;
		}
		list_del(&io->stage_entry);
		st->nr_items--;
		spin_unlock_irqrestore(&st->lock, flags);
		st->fn(io);
		cond_resched();
	}
}

static void stage_add(struct dedup_stage *st, struct dedup_io *io)
{
	struct dedup_stage_worker *kick = NULL;
	unsigned long flags;
	unsigned int i;

	spin_lock_irqsave(&st->lock, flags);
	list_add_tail(&io->stage_entry, &st->items);
	st->nr_items++;
	/* Running workers take it, unless there are more ios than them. */
	if (st->nr_items > st->nr_running && st->nr_running < st->nr) {
		for (i = 0; st->workers[i].running; i++)
			;
		kick = &st->workers[i];
		kick->running = true;
		st->nr_running++;
	}
	spin_unlock_irqrestore(&st->lock, flags);
	if (kick)
		queue_work(st->wq, &kick->work);
}

static int stage_init(struct dedup_stage *st, struct workqueue_struct *wq,
		      void (*fn)(struct dedup_io *io), unsigned int nr)
{
	unsigned int i;

	spin_lock_init(&st->lock);
	INIT_LIST_HEAD(&st->items);
	st->fn = fn;
	st->wq = wq;
	st->nr = nr;
	st->nr_items = 0;
	st->nr_running = 0;
	st->workers = kcalloc(nr, sizeof(*st->workers), GFP_KERNEL);
	if (!st->workers)
		return -ENOMEM;
	for (i = 0; i < nr; i++) {
		INIT_WORK(&st->workers[i].work, stage_worker);
		st->workers[i].stage = st;
	}
	return 0;
}

static void stage_exit(struct dedup_stage *st)
{
	kfree(st->workers);
	st->workers = NULL;
}

static void write_done(struct dedup_io *io)
{
	if (io->error) {
		if (io->own_claim)
			dedup_cow_release_claim(io->dc->pool->cow, &io->claim);
		io->own_claim = false;
		dedup_cow_unalloc_block(io->dc->pool->cow, io->pbn);
		finish_io(io, io->error, 0);
		return;
	}
	record_and_finish(io, io->pbn, DEDUP_REC_NEW |
			  (io->noindex ? DEDUP_REC_NOINDEX : 0));
}

/*
 * A data write completes either inside submit_bio_noacct() (a RAM disk, a
 * pmem device: the submitting worker then records it at once) or later, from
 * the device's completion context (a done worker records it).  Whichever of
 * write_new_block() and the endio comes second does it.
 */
enum dedup_wstate {
	DEDUP_WRITE_SUBMITTING,
	DEDUP_WRITE_SUBMITTED,
	DEDUP_WRITE_COMPLETED,
};

static void data_write_endio(struct bio *bio)
{
	struct dedup_io *io = bio->bi_private;

	io->error = blk_status_to_errno(bio->bi_status);
	bio_put(bio);
	if (atomic_xchg(&io->wstate, DEDUP_WRITE_COMPLETED) ==
	    DEDUP_WRITE_SUBMITTED)
		stage_add(&io->dc->done, io);
}

/*
 * Writes
 */

/*
 * Whether the pool takes a change now: -ENOSPC when there is no room for
 * its metadata (out_of_metadata_space); else waits while the open
 * generation is full, and a discard's block also while the generation
 * holds its share of discards.  (In ro and fail modes changes fail
 * before this.)
 */
static int admit(struct dedup_c *dc, bool discard)
{
	enum dedup_mode mode = dedup_pool_mode(dc->pool);
	int r;

	r = discard ? dedup_cow_admit_discard(dc->pool->cow) :
		dedup_cow_admit(dc->pool->cow);
	if (r == -ENOSPC)
		dedup_pool_set_mode(dc->pool, DEDUP_MODE_OUT_OF_METADATA_SPACE,
				    "no room for more metadata");
	else if (!r && mode == DEDUP_MODE_OUT_OF_METADATA_SPACE)
		dedup_pool_set_mode(dc->pool, DEDUP_MODE_RW,
				    "metadata space available again");
	return r;
}

/* 0 if the block at pbn holds exactly buf, 1 if not, or an error. */
static int verify_block(struct dedup_c *dc, u64 pbn, struct page *buf)
{
	struct page *page = mempool_alloc(dc->verify_pool, GFP_NOIO);
	int r = read_block(dc, pbn, page);

	if (!r)
		r = memcmp(page_address(page), page_address(buf),
			   dc->block_size) ? 1 : 0;
	mempool_free(page, dc->verify_pool);
	return r;
}

static void write_new_block(struct dedup_io *io)
{
	struct dedup_c *dc = io->dc;
	struct bio *bio;
	int r;

	r = dedup_cow_alloc_block(dc->pool->cow, &io->pbn);
	if (r) {
		if (io->own_claim)
			dedup_cow_release_claim(dc->pool->cow, &io->claim);
		io->own_claim = false;
		if (r == -ENOSPC) {
			dedup_pool_set_mode(dc->pool,
					    DEDUP_MODE_OUT_OF_DATA_SPACE,
					    "no free data block");
			finish_io(io, r, 0);
		} else {
			fail_meta(io, "allocate", r);
		}
		return;
	}
	if (dedup_pool_mode(dc->pool) == DEDUP_MODE_OUT_OF_DATA_SPACE)
		dedup_pool_set_mode(dc->pool, DEDUP_MODE_RW,
				    "data blocks free again");
	bio = block_bio(dc, io->buf, io->pbn, REQ_OP_WRITE);
	bio->bi_end_io = data_write_endio;
	bio->bi_private = io;
	atomic_set(&io->wstate, DEDUP_WRITE_SUBMITTING);
	submit_bio_noacct(bio);
	if (atomic_xchg(&io->wstate, DEDUP_WRITE_SUBMITTED) ==
	    DEDUP_WRITE_COMPLETED)
		write_done(io);
}

/* The whole new content of io->lbn is in io->buf. */
static void write_block(struct dedup_io *io)
{
	struct dedup_c *dc = io->dc;
	void *data = page_address(io->buf);
	struct dedup_skip skip = { .nr = 0 };
	u64 pbn;
	int r;

	if (dedup_block_is_zero(data, dc->block_size)) {
		record_and_finish(io, DEDUP_ZERO_PBN, 0);
		return;
	}
	r = dedup_hash_block(dc->hash, data, dc->block_size, io->fp);
	if (r) {
		finish_io(io, r, 0);
		return;
	}

	for (;;) {
		u64 gen = 0;

		r = dedup_cow_lookup_fp(dc->pool->cow, io->fp, &skip, &pbn,
					&io->claim);
		if (r < 0) {
			fail_meta(io, "lookup", r);
			return;
		}
		if (r == DEDUP_FP_MISS) {
			io->own_claim = true;
			write_new_block(io);
			return;
		}
		if (dc->verify || !dedup_hash_trusted(dc->hash)) {
			r = verify_block(dc, pbn, io->buf);
			if (r < 0) {
				/* A data read error: this write fails alone. */
				finish_io(io, r, 0);
				return;
			}
			if (r) {
				/* A true collision: store it, unindexed. */
				io->noindex = true;
				write_new_block(io);
				return;
			}
		}
		r = dedup_cow_record(dc->pool->cow, io->lbn, pbn, DEDUP_REC_HIT,
				     &io->claim, io->fp, &gen);
		if (r == -EMLINK) {
			/*
			 * Shared as often as a count allows: look for another
			 * copy with room (the index may hold several, in
			 * memory and committed), and past DEDUP_SKIP_MAX of
			 * them store one more, indexed, without a claim (a
			 * concurrent writer may store one too: harmless).
			 */
			skip.pbn[skip.nr++] = pbn;
			if (skip.nr == DEDUP_SKIP_MAX) {
				write_new_block(io);
				return;
			}
			continue;
		}
		if (r != -EAGAIN) {
			if (r)
				fail_meta(io, "record", r);
			else
				finish_io(io, 0, gen);
			return;
		}
	}
}

/*
 * The data is hashed and written from a copy, not from the bio's pages: a
 * writer may change its buffer while the write is in flight (O_DIRECT, a
 * guest's memory under QEMU's cache=none), and a block whose content is not
 * the one its fingerprint names would then be shared with every later write
 * of that fingerprint.  The copy costs less than the hash (doc/performance.md).
 */
static void copy_from_bio(struct bio *bio, void *dst)
{
	struct bvec_iter iter;
	struct bio_vec bv;

	bio_for_each_segment(bv, bio, iter) {
		memcpy_from_bvec(dst, &bv);
		dst += bv.bv_len;
	}
}

static void process_write(struct dedup_io *io, struct bio *bio)
{
	struct dedup_c *dc = io->dc;
	sector_t sector = dm_target_offset(dc->ti, bio->bi_iter.bi_sector);
	sector_t offset = sector & (dc->block_sectors - 1);
	void *data;
	u64 value;
	int r;

	r = admit(dc, false);
	if (r) {
		finish_io(io, r, 0);
		return;
	}
	cell_lock(dc, io, sector >> dc->block_shift);

	io->buf = mempool_alloc(dc->buf_pool, GFP_NOIO);
	data = page_address(io->buf);
	if (offset || bio_sectors(bio) != dc->block_sectors) {
		/* Partial: read-modify-write of the whole block. */
		r = dedup_cow_find_lbn(dc->pool->cow, io->lbn, &value);
		if (r && r != -ENODATA) {
			fail_meta(io, "lookup", r);
			return;
		}
		if (r == -ENODATA || value == DEDUP_ZERO_PBN) {
			memset(data, 0, dc->block_size);
		} else {
			/* A data read error fails this write alone. */
			r = read_block(dc, value, io->buf);
			if (r) {
				finish_io(io, r, 0);
				return;
			}
		}
	}
	copy_from_bio(bio, data + (offset << SECTOR_SHIFT));
	write_block(io);
}

/*
 * Reads, discards, flushes
 */
/*
 * One piece of a read: the bio's first "sectors" sectors, all of them in
 * zero or unmapped blocks (value DEDUP_ZERO_PBN), or in blocks contiguous
 * on the data device from value on; the rest of the bio follows.  False,
 * the bio untouched, if the piece could not be split off (GFP_NOWAIT).
 */
static bool read_piece(struct dedup_c *dc, struct bio *bio, u64 value,
		       sector_t offset, unsigned int sectors, gfp_t gfp)
{
	struct bio *piece = bio;

	if (sectors < bio_sectors(bio)) {
		/* Only map()'s split has a fallback (the read worker). */
		piece = gfp == GFP_NOWAIT && dedup_fault_alloc() ? NULL :
			bio_split(bio, sectors, gfp, &dc->bs);
		if (!piece)
			return false;
		bio_chain(piece, bio);
	}
	if (value == DEDUP_ZERO_PBN) {
		zero_fill_bio(piece);
		bio_endio(piece);
		return true;
	}
	bio_set_dev(piece, dc->data_dev->bdev);
	piece->bi_iter.bi_sector = (value << dc->block_shift) + offset;
	dm_submit_bio_remap(bio, piece == bio ? NULL : piece);
	return true;
}

/* The blocks [*first, *first + return) of a read bio. */
static unsigned int read_range(struct dedup_c *dc, struct bio *bio,
			       u64 *first)
{
	sector_t sector = dm_target_offset(dc->ti, bio->bi_iter.bi_sector);

	*first = sector >> dc->block_shift;
	return ((sector + bio_sectors(bio) - 1) >> dc->block_shift) -
		*first + 1;
}

/*
 * The nr blocks of a read, their mappings in value: to the data device in
 * as few pieces as the blocks are contiguous there.  In map() (gfp
 * GFP_NOWAIT: a wait for the bio_set there could wait for the pieces it
 * has queued itself) a piece that cannot be split off leaves the rest of
 * the bio to the caller: false.
 */
static bool submit_read(struct dedup_c *dc, struct bio *bio, unsigned int nr,
			u64 *value, gfp_t gfp)
{
	sector_t offset = dm_target_offset(dc->ti, bio->bi_iter.bi_sector) &
		(dc->block_sectors - 1);
	unsigned int i, j, sectors;

	/*
	 * dm polls the clone only: pieces split from it must complete by
	 * interrupt (as blk-merge does before a split).
	 */
	if (nr > 1)
		bio_clear_polled(bio);
	for (i = 0; i < nr; i++)
		if (value[i] == DEDUP_UNMAPPED)
			value[i] = DEDUP_ZERO_PBN;
	for (i = 0; i < nr; i = j) {
		for (j = i + 1; j < nr; j++)
			if (value[i] == DEDUP_ZERO_PBN ?
			    value[j] != DEDUP_ZERO_PBN :
			    value[j] != value[i] + (j - i))
				break;
		sectors = min_t(sector_t, ((sector_t)(j - i) << dc->block_shift) -
				offset, bio_sectors(bio));
		if (!read_piece(dc, bio, value[i], offset, sectors, gfp))
			return false;
		offset = 0;
	}
	return true;
}

/*
 * A read of up to DEDUP_READ_BLOCKS blocks holds them all while their
 * mappings are looked up and the data is read (so no block it reads can
 * be freed and reused meanwhile).  map_read() may have taken them.
 */
static void process_read(struct dedup_io *io, struct bio *bio)
{
	struct dedup_c *dc = io->dc;
	u64 first, value[DEDUP_READ_BLOCKS];
	unsigned int nr;
	int r;

	BUILD_BUG_ON(DEDUP_READ_BLOCKS > DEDUP_FIND_LBNS_MAX);
	if (!bio_sectors(bio)) {
		bio_endio(bio);
		return;
	}
	atomic64_inc(&dc->worker_reads);
	nr = read_range(dc, bio, &first);
	if (!io->cell_held)
		cell_take(dc, io, first, nr, true);
	r = dedup_cow_find_lbns(dc->pool->cow, first, nr, false, value);
	if (r) {
		fail_meta(io, "lookup", r);
		return;
	}
	submit_read(dc, bio, nr, value, GFP_NOIO);
}

/*
 * A read served in map(), without a worker: when no bio holds or waits
 * for its blocks and their mappings need no metadata read.  Else it gives
 * its cells back and goes to the read workers, which take cells in
 * order.  Only in a mode whose reads are process_read()'s.
 *
 * A read whose pieces could not all be split off keeps its cells (the
 * pieces sent read its blocks) and goes to read_rest, whose worker never
 * waits for a cell: on dc->reads it could sit behind workers that wait
 * for its own cells.
 */
static bool map_read(struct dedup_c *dc, struct dedup_io *io,
		     struct bio *bio)
{
	u64 first, value[DEDUP_READ_BLOCKS];
	unsigned int nr;

	if (READ_ONCE(dc->pool->ops)->read != process_read ||
	    !bio_sectors(bio))
		return false;
	nr = read_range(dc, bio, &first);
	if (!cell_take(dc, io, first, nr, false))
		return false;
	if (dedup_fault_fail(DEDUP_FAULT_MAP_MISS) ||
	    dedup_cow_find_lbns(dc->pool->cow, first, nr, true, value)) {
		cell_unlock(dc, io);
		return false;
	}
	if (submit_read(dc, bio, nr, value, GFP_NOWAIT))
		atomic64_inc(&dc->map_reads);
	else
		stage_add(&dc->read_rest, io);
	return true;
}

/*
 * The whole blocks [*lbn, *last) of a discard; partial ones are left
 * alone, so a discard may drop nothing.
 */
static void discard_blocks(struct dedup_c *dc, struct bio *bio, u64 *lbn,
			   u64 *last)
{
	sector_t start = dm_target_offset(dc->ti, bio->bi_iter.bi_sector);

	*lbn = (start + dc->block_sectors - 1) >> dc->block_shift;
	*last = (start + bio_sectors(bio)) >> dc->block_shift;
}

static void process_discard(struct dedup_io *io, struct bio *bio)
{
	struct dedup_c *dc = io->dc;
	u64 lbn, last;
	int r = 0;

	discard_blocks(dc, bio, &lbn, &last);
	for (; lbn < last && !r; lbn++) {
		u64 gen;

		r = admit(dc, true);
		if (r) {
			finish_io(io, r, 0);
			return;
		}
		cell_lock(dc, io, lbn);
		r = dedup_cow_record(dc->pool->cow, lbn, DEDUP_UNMAPPED, 0, NULL,
				     NULL, &gen);
		cell_unlock(dc, io);
		cond_resched();
	}
	if (r)
		fail_meta(io, "discard", r);
	else
		finish_io(io, 0, 0);
}

/* A bio the pool's mode does not serve. */
static void fail_bio(struct dedup_io *io, struct bio *bio)
{
	finish_io(io, -EIO, 0);
}

/* A discard in ro or fail mode: it fails if it would drop a block. */
static void fail_discard(struct dedup_io *io, struct bio *bio)
{
	u64 lbn, last;

	discard_blocks(io->dc, bio, &lbn, &last);
	finish_io(io, lbn < last ? -EIO : 0, 0);
}

/*
 * The pool's modes
 */

/**
 * DOC: modes
 *
 * As dm-thin's pool: rw -> out_of_data_space / out_of_metadata_space ->
 * ro -> fail, and dedup_pool_set_mode() is the one place that changes the
 * mode and what it does: which bios are served, which fail (the per-mode
 * handlers of process_bio()), and whether the commit pipeline may change
 * anything (read-only from ro on: dedup_cow_set_read_only(), which also
 * makes the metadata refuse every change).  A unique write that finds no
 * free data block puts the pool in out_of_data_space (duplicate and zero
 * writes go on); the release of freed blocks or a grown data device takes
 * it back to rw.  A change that finds no room for its metadata (the commit
 * in flight and the open generation could use the rest) puts it in
 * out_of_metadata_space, where writes and discards fail with ENOSPC and
 * reads go on; a metadata device grown by reload takes it back.  A failed
 * metadata operation puts it in ro, and when the metadata itself is
 * damaged (corrupt block, I/O error) sets needs_check on disk; if even
 * that write fails, fail.  A failed flush of the data device puts it in ro
 * without needs_check.  ro and fail are left only by loading the metadata
 * anew, after dedup_check (and dedup_check --clear-needs-check-flag).
 * Each change is logged once and raises a dm event, as does the metadata
 * low-water mark.
 */
static const char *const mode_names[] = {
	[DEDUP_MODE_RW] = "rw",
	[DEDUP_MODE_OUT_OF_DATA_SPACE] = "out_of_data_space",
	[DEDUP_MODE_OUT_OF_METADATA_SPACE] = "out_of_metadata_space",
	[DEDUP_MODE_RO] = "ro",
	[DEDUP_MODE_FAIL] = "fail",
};

const char *dedup_pool_mode_name(struct dedup_pool *pool)
{
	return mode_names[dedup_pool_mode(pool)];
}

static void event_worker(struct work_struct *w)
{
	struct dedup_pool *pool = container_of(w, struct dedup_pool,
					       event_work);
	struct dm_target *ti;

	/* A table clears pool->ti and flushes this work before it goes. */
	spin_lock(&pool->mode_lock);
	ti = pool->ti;
	spin_unlock(&pool->mode_lock);
	if (ti)
		dm_table_event(ti->table);
}

/* The handlers of each mode: what is served, what fails at once. */
static const struct dedup_mode_ops rw_ops = {
	.read = process_read, .write = process_write,
	.discard = process_discard,
};

static const struct dedup_mode_ops ro_ops = {
	.read = process_read, .write = fail_bio, .discard = fail_discard,
};

static const struct dedup_mode_ops fail_ops = {
	.read = fail_bio, .write = fail_bio, .discard = fail_discard,
};

static const struct dedup_mode_ops *ops_of(enum dedup_mode mode)
{
	if (mode == DEDUP_MODE_FAIL)
		return &fail_ops;
	return mode == DEDUP_MODE_RO ? &ro_ops : &rw_ops;
}

/*
 * Takes mode, unless that is a way back from ro or fail; true when it did.
 * Only one caller can take a mode, so only one logs the change.
 */
static bool take_mode(struct dedup_pool *pool, enum dedup_mode mode)
{
	enum dedup_mode old;

	spin_lock(&pool->mode_lock);
	old = pool->mode;
	/* ro and fail are left only by loading the metadata anew. */
	if (old == mode || (old >= DEDUP_MODE_RO && mode < old)) {
		spin_unlock(&pool->mode_lock);
		return false;
	}
	WRITE_ONCE(pool->ops, ops_of(mode));
	WRITE_ONCE(pool->mode, mode);
	spin_unlock(&pool->mode_lock);

	if (mode >= DEDUP_MODE_RO && pool->cow)
		dedup_cow_set_read_only(pool->cow);
	return true;
}

/* Logs a mode just taken and raises a dm event. */
static void announce_mode(struct dedup_pool *pool, enum dedup_mode mode,
			  const char *why)
{
	if (mode >= DEDUP_MODE_RO)
		DMERR("%s: switching to %s mode: %s", pool->name,
		      mode_names[mode], why);
	else if (mode == DEDUP_MODE_RW)
		DMINFO("%s: switching to rw mode: %s", pool->name, why);
	else
		DMWARN("%s: switching to %s mode: %s", pool->name,
		       mode_names[mode], why);
	queue_work(system_long_wq, &pool->event_work);
}

/*
 * Switches to mode, unless that is a way back from ro or fail; true when
 * it did.  why, NULL at construction, is logged with the change.
 */
static bool set_mode(struct dedup_pool *pool, enum dedup_mode mode,
		     const char *why)
{
	if (!take_mode(pool, mode))
		return false;
	if (why)
		announce_mode(pool, mode, why);
	return true;
}

void dedup_pool_set_mode(struct dedup_pool *pool, enum dedup_mode mode,
			 const char *why)
{
	set_mode(pool, mode, why);
}

static void needs_check_worker(struct work_struct *w)
{
	struct dedup_pool *pool = container_of(w, struct dedup_pool,
					       needs_check_work);
	int r = dedup_meta_set_needs_check(pool->md);

	if (r) {
		DMERR("%s: could not set needs_check on the metadata: %d",
		      pool->name, r);
		set_mode(pool, DEDUP_MODE_FAIL,
			 "the metadata cannot be written");
	}
}

/*
 * The one way into ro mode after a metadata operation failed.  Metadata
 * damage (a corrupt block, an I/O error of the metadata device) also sets
 * needs_check on disk; running out of space or memory does not.  Only the
 * failure that takes ro mode logs; in a pool already read-only (an earlier
 * failure, or needs_check at activation) a failure fails its bio only.
 */
static void dedup_pool_metadata_failed(struct dedup_pool *pool,
				       const char *op, int r)
{
	if (!take_mode(pool, DEDUP_MODE_RO))
		return;
	DMERR("%s: metadata operation '%s' failed: error = %d", pool->name,
	      op, r);
	announce_mode(pool, DEDUP_MODE_RO, "metadata operation failed");
	if (r != -ENOSPC && r != -ENOMEM)
		queue_work(system_long_wq, &pool->needs_check_work);
}

static void cow_metadata_failed(void *context, const char *op, int r)
{
	dedup_pool_metadata_failed(context, op, r);
}

/*
 * The data device could not be flushed, so the writes of the generation
 * being committed are not known to be durable: the commit is abandoned and
 * the pool goes read-only, but the metadata on disk is intact (no
 * needs_check).  Loading the table anew returns to rw.
 */
static void cow_data_failed(void *context, const char *op, int r)
{
	struct dedup_pool *pool = context;

	if (!take_mode(pool, DEDUP_MODE_RO))
		return;
	DMERR("%s: %s failed: error = %d", pool->name, op, r);
	announce_mode(pool, DEDUP_MODE_RO, "data device failed");
}

static void cow_space_event(void *context, enum dedup_space_event e)
{
	struct dedup_pool *pool = context;
	bool send = false;

	switch (e) {
	case DEDUP_DATA_SPACE_FREED:
		if (dedup_pool_mode(pool) == DEDUP_MODE_OUT_OF_DATA_SPACE)
			set_mode(pool, DEDUP_MODE_RW, "data blocks freed");
		break;
	case DEDUP_METADATA_LOW:
		spin_lock(&pool->mode_lock);
		send = !pool->low_water_triggered;
		pool->low_water_triggered = true;
		spin_unlock(&pool->mode_lock);
		if (send) {
			DMWARN("%s: reached low water mark for metadata device: sending event.",
			       pool->name);
			queue_work(system_long_wq, &pool->event_work);
		}
		break;
	case DEDUP_METADATA_OK:
		spin_lock(&pool->mode_lock);
		pool->low_water_triggered = false;
		spin_unlock(&pool->mode_lock);
		break;
	}
}

void dedup_pool_init(struct dedup_pool *pool)
{
	spin_lock_init(&pool->mode_lock);
	INIT_WORK(&pool->needs_check_work, needs_check_worker);
	INIT_WORK(&pool->event_work, event_worker);
	pool->mode = DEDUP_MODE_RW;
	pool->ops = &rw_ops;
}

void dedup_pool_cow_callbacks(struct dedup_pool *pool,
			      struct dedup_cow_params *cp)
{
	cp->metadata_failed = cow_metadata_failed;
	cp->data_failed = cow_data_failed;
	cp->space_event = cow_space_event;
	cp->context = pool;
}

void dedup_pool_set_target(struct dedup_pool *pool, struct dm_target *ti,
			   bool going)
{
	spin_lock(&pool->mode_lock);
	if (!going)
		pool->ti = ti;
	else if (pool->ti == ti)
		pool->ti = NULL;
	spin_unlock(&pool->mode_lock);
	if (going)
		flush_work(&pool->event_work);
}

void dedup_pool_flush(struct dedup_pool *pool)
{
	flush_work(&pool->needs_check_work);
	flush_work(&pool->event_work);
}

/* The stages' entry points: the mode's handler of each bio. */
static void process_write_io(struct dedup_io *io)
{
	READ_ONCE(io->dc->pool->ops)->write(io, io_bio(io));
}

static void process_discard_io(struct dedup_io *io)
{
	READ_ONCE(io->dc->pool->ops)->discard(io, io_bio(io));
}

static void process_read_io(struct dedup_io *io)
{
	READ_ONCE(io->dc->pool->ops)->read(io, io_bio(io));
}

int dedup_map(struct dm_target *ti, struct bio *bio)
{
	struct dedup_c *dc = ti->private;
	struct dedup_io *io = dm_per_bio_data(bio, sizeof(*io));

	memset(io, 0, sizeof(*io));
	io->dc = dc;
	/* dm sends a flush with data as an empty flush, then the data. */
	if (bio->bi_opf & REQ_PREFLUSH) {
		dedup_cow_complete_when_durable(dc->pool->cow, bio, 0);
	} else if (bio_op(bio) == REQ_OP_DISCARD) {
		stage_add(&dc->discards, io);
	} else if (bio_data_dir(bio) == READ) {
		if (!map_read(dc, io, bio))
			stage_add(&dc->reads, io);
	} else {
		/* A write is cut at its first block's end; dm sends the rest. */
		sector_t left = dc->block_sectors -
			(dm_target_offset(ti, bio->bi_iter.bi_sector) &
			 (dc->block_sectors - 1));

		if (bio_sectors(bio) > left)
			dm_accept_partial_bio(bio, left);
		stage_add(&dc->submit, io);
	}
	return DM_MAPIO_SUBMITTED;
}

int dedup_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error)
{
	struct dedup_io *io = dm_per_bio_data(bio, sizeof(*io));

	if (io->cell_held)
		cell_unlock(io->dc, io);
	return DM_ENDIO_DONE;
}

/*
 * Block buffers.  Debian's kernel zeroes every page it hands out
 * (init_on_alloc), which costs more than copying the data in; so a pool's
 * reserve doubles as its free list.  mempool_alloc() first asks buf_alloc()
 * without __GFP_DIRECT_RECLAIM, which declines, and takes a buffer from the
 * reserve; only when the reserve is empty does it ask again, and then pages
 * are allocated.  mempool_free() refills the reserve first.
 */
static void *buf_alloc(gfp_t gfp, void *order)
{
	if (!(gfp & __GFP_DIRECT_RECLAIM))
		return NULL;
	return alloc_pages(gfp, (unsigned long)order);
}

static void buf_free(void *page, void *order)
{
	__free_pages(page, (unsigned long)order);
}

/* reserve: bytes of buffers kept as the free list (at least the minimum). */
static mempool_t *buf_pool_create(struct dedup_c *dc, unsigned int reserve)
{
	unsigned int order = get_order(dc->block_size);
	unsigned int nr = max_t(unsigned int, DEDUP_POOL_SIZE,
				reserve >> (order + PAGE_SHIFT));

	return mempool_create(nr, buf_alloc, buf_free, (void *)(long)order);
}

int dedup_io_create(struct dedup_c *dc)
{
	unsigned int cpus = num_online_cpus();
	unsigned int i;

	spin_lock_init(&dc->cell_lock);
	for (i = 0; i < ARRAY_SIZE(dc->cells); i++)
		INIT_LIST_HEAD(&dc->cells[i]);
	init_waitqueue_head(&dc->cell_wait);

	/*
	 * Unbound: one submitter's bios spread over every CPU.  Up to twice
	 * as many submit workers as CPUs, so that a worker waiting (for a
	 * cell, for room in the generation) leaves the CPUs busy.  One
	 * discard worker: discards wait for commits, not for CPUs, and one
	 * run of neighbouring blocks at a time keeps the bound of their
	 * metadata blocks (dm-dedup-gen.c, discard_touch()) tight.  One
	 * worker for what map_read() could not split off, which waits for
	 * no cell.
	 */
	dc->wq = alloc_workqueue("dedup_io", WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	dc->done_wq = alloc_workqueue("dedup_done",
				      WQ_MEM_RECLAIM | WQ_UNBOUND, 0);
	if (!dc->wq || !dc->done_wq ||
	    stage_init(&dc->submit, dc->wq, process_write_io,
		       max(2 * cpus, 4U)) ||
	    stage_init(&dc->discards, dc->wq, process_discard_io, 1) ||
	    stage_init(&dc->reads, dc->wq, process_read_io, max(2 * cpus, 4U)) ||
	    stage_init(&dc->read_rest, dc->wq, process_read_io, 1) ||
	    stage_init(&dc->done, dc->done_wq, write_done, max(cpus, 2U)))
		return -ENOMEM;
	dc->buf_pool = buf_pool_create(dc, DEDUP_BUF_RESERVE);
	/* Verify reads happen on every hit with verify or a weak hash only. */
	dc->verify_pool = buf_pool_create(dc, dc->verify ||
					  !dedup_hash_trusted(dc->hash) ?
					  DEDUP_BUF_RESERVE : 0);
	if (!dc->buf_pool || !dc->verify_pool)
		return -ENOMEM;
	return bioset_init(&dc->bs, DEDUP_POOL_SIZE, 0, BIOSET_NEED_BVECS);
}

void dedup_io_destroy(struct dedup_c *dc)
{
	if (dc->wq)
		destroy_workqueue(dc->wq);
	if (dc->done_wq)
		destroy_workqueue(dc->done_wq);
	stage_exit(&dc->submit);
	stage_exit(&dc->discards);
	stage_exit(&dc->reads);
	stage_exit(&dc->read_rest);
	stage_exit(&dc->done);
	mempool_destroy(dc->buf_pool);
	mempool_destroy(dc->verify_pool);
	bioset_exit(&dc->bs);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The "dedup" device-mapper target.
 *
 * This file owns the target's face (constructor, destructor, status,
 * messages, queue limits, suspend), its modes, and the path of every bio.
 * Bios are split at data block boundaries and handed to per-CPU workers;
 * map() never blocks.  A worker holds a per-LBN lock (a "cell") for the
 * life of a bio, so bios to one block run in arrival order, and a read
 * never sees a mapping whose data write is still in flight.
 *
 * Write of a block: read-modify-write if partial, then zero detection,
 * fingerprint, lookup.  A hit (verified by byte comparison when asked, or
 * when the hash is not collision resistant) shares the block; a miss
 * allocates a block, writes the data, and only then records the mapping.
 * FUA writes and flushes complete when the generation holding them is
 * durable (dm-dedup-cow-commit.c); everything else behaves like a disk with
 * a volatile write cache.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/workqueue.h>

#include "dm-dedup.h"

#define DEDUP_DEFAULT_COMMIT_PERIOD_MS	1000
#define DEDUP_MAX_COMMIT_PERIOD_MS	60000
#define DEDUP_DEFAULT_MAX_OPEN_MB	64
#define DEDUP_MAX_MAX_OPEN_MB		4096
#define DEDUP_MIN_DATA_BLOCKS		16
#define DEDUP_MIN_BLOCK_SIZE		4096
#define DEDUP_MAX_BLOCK_SIZE		65536
#define DEDUP_POOL_SIZE			16
#define DEDUP_CELL_BITS			10
#define DEDUP_DISCARD_BLOCKS		1024

enum dedup_mode {
	DEDUP_MODE_RW,
	DEDUP_MODE_RO,		/* metadata failed or needs_check: no writes */
	DEDUP_MODE_FAIL,	/* metadata unreadable: no I/O at all */
};

/*
 * The metadata and commit pipeline of one metadata device.  A table reload
 * constructs the new table while the old one is still live, so both must
 * use the same in-memory state: like dm-thin's pool, it is looked up by
 * metadata device and shared by the tables of one dm device.
 */
struct dedup_pool {
	struct list_head list;
	unsigned int ref;		/* under dedup_pools_lock */
	struct mapped_device *dm_md;	/* the dm device it belongs to */
	dev_t meta_dev;
	dev_t data_dev;
	unsigned int block_size;
	char hash_name[DEDUP_HASH_NAME_LEN];
	char name[16];			/* of the dm device, for logs */

	struct dedup_meta *md;
	struct dedup_cow *cow;
	enum dedup_mode mode;		/* READ_ONCE/WRITE_ONCE */
	atomic_t failed_once;
	struct work_struct needs_check_work;
};

/* Protects dedup_pools and the ref of each pool on it. */
static DEFINE_MUTEX(dedup_pools_lock);
static LIST_HEAD(dedup_pools);

struct dedup_c {
	struct dm_target *ti;
	struct dm_dev *meta_dev;
	struct dm_dev *data_dev;
	unsigned int block_size;	/* bytes */
	unsigned int block_shift;	/* log2(sectors per block) */
	sector_t block_sectors;
	u64 data_nr_blocks;

	/* table features */
	char hash_name[DEDUP_HASH_NAME_LEN];
	unsigned int commit_period_ms;
	unsigned int max_open_mb;
	bool verify;
	bool blocking_commit;
	bool discard_passdown;
	bool error_if_no_space;

	struct dedup_pool *pool;
	struct dedup_hash *hash;

	struct workqueue_struct *wq;		/* per-CPU bio workers */
	struct workqueue_struct *done_wq;	/* after data writes */
	mempool_t *buf_pool;			/* one block: the data */
	mempool_t *verify_pool;			/* one block: verify reads */
	struct bio_set bs;

	/*
	 * Protects cells: the LBNs that a bio holds, each with the bios
	 * waiting for it in arrival order.  Taken from end_io (irq).
	 */
	spinlock_t cell_lock;
	struct hlist_head cells[1 << DEDUP_CELL_BITS];
	wait_queue_head_t cell_wait;
};

struct dedup_io {
	struct dedup_c *dc;
	struct work_struct work;
	struct work_struct done_work;

	/* cell */
	struct hlist_node cell_node;
	struct list_head cell_waiters;	/* when holding */
	struct list_head cell_entry;	/* when waiting */
	u64 lbn;
	bool cell_held;
	bool granted;

	struct page *buf;
	u64 pbn;
	bool own_claim;
	bool noindex;
	int error;
	struct dedup_claim claim;
	u8 fp[DEDUP_MAX_FP_SIZE];
};

static struct bio *io_bio(struct dedup_io *io)
{
	return dm_bio_from_per_bio_data(io, sizeof(*io));
}

/*
 * Modes and the one metadata failure path
 */
static const char *dev_name_of(struct dedup_c *dc)
{
	return dc->pool->name;
}

static void needs_check_worker(struct work_struct *w)
{
	struct dedup_pool *pool = container_of(w, struct dedup_pool,
					       needs_check_work);
	int r = dedup_meta_set_needs_check(pool->md);

	if (r)
		DMERR("%s: could not set needs_check on the metadata: %d",
		      pool->name, r);
}

/* The one way into read-only mode after a metadata error. */
static void metadata_operation_failed(struct dedup_pool *pool, const char *op,
				      int r)
{
	if (atomic_xchg(&pool->failed_once, 1))
		return;
	DMERR("%s: metadata operation '%s' failed: error = %d; switching to read-only mode",
	      pool->name, op, r);
	if (READ_ONCE(pool->mode) == DEDUP_MODE_RW)
		WRITE_ONCE(pool->mode, DEDUP_MODE_RO);
	queue_work(system_long_wq, &pool->needs_check_work);
}

static void cow_metadata_failed(void *context, const char *op, int r)
{
	metadata_operation_failed(context, op, r);
}

/* Errors of a metadata call that say the metadata is broken. */
static bool is_metadata_error(int r)
{
	return r == -EILSEQ || r == -EIO || r == -ENOTBLK;
}

/*
 * Cells: one bio at a time per LBN, in arrival order
 */
static struct dedup_io *cell_find(struct dedup_c *dc, u64 lbn)
{
	struct dedup_io *io;

	hlist_for_each_entry(io, &dc->cells[hash_64(lbn, DEDUP_CELL_BITS)],
			     cell_node)
		if (io->lbn == lbn)
			return io;
	return NULL;
}

static void cell_lock(struct dedup_c *dc, struct dedup_io *io, u64 lbn)
{
	struct dedup_io *holder;

	io->lbn = lbn;
	INIT_LIST_HEAD(&io->cell_waiters);
	spin_lock_irq(&dc->cell_lock);
	holder = cell_find(dc, lbn);
	if (!holder) {
		hlist_add_head(&io->cell_node,
			       &dc->cells[hash_64(lbn, DEDUP_CELL_BITS)]);
		io->cell_held = true;
		spin_unlock_irq(&dc->cell_lock);
		return;
	}
	io->granted = false;
	list_add_tail(&io->cell_entry, &holder->cell_waiters);
	spin_unlock_irq(&dc->cell_lock);

	wait_event(dc->cell_wait, READ_ONCE(io->granted));
	io->cell_held = true;
}

static void cell_unlock(struct dedup_c *dc, struct dedup_io *io)
{
	struct dedup_io *next = NULL;
	unsigned long flags;

	spin_lock_irqsave(&dc->cell_lock, flags);
	hlist_del(&io->cell_node);
	io->cell_held = false;
	if (!list_empty(&io->cell_waiters)) {
		next = list_first_entry(&io->cell_waiters, struct dedup_io,
					cell_entry);
		list_del(&next->cell_entry);
		INIT_LIST_HEAD(&next->cell_waiters);
		list_splice_init(&io->cell_waiters, &next->cell_waiters);
		hlist_add_head(&next->cell_node,
			       &dc->cells[hash_64(next->lbn, DEDUP_CELL_BITS)]);
		WRITE_ONCE(next->granted, true);
	}
	spin_unlock_irqrestore(&dc->cell_lock, flags);
	if (next)
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
		metadata_operation_failed(io->dc->pool, op, r);
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

static void write_done_worker(struct work_struct *w)
{
	struct dedup_io *io = container_of(w, struct dedup_io, done_work);

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

static void data_write_endio(struct bio *bio)
{
	struct dedup_io *io = bio->bi_private;

	io->error = blk_status_to_errno(bio->bi_status);
	bio_put(bio);
	queue_work(io->dc->done_wq, &io->done_work);
}

/*
 * Writes
 */

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
		if (r == -ENOSPC)
			finish_io(io, r, 0);
		else
			fail_meta(io, "allocate", r);
		return;
	}
	bio = block_bio(dc, io->buf, io->pbn, REQ_OP_WRITE);
	bio->bi_end_io = data_write_endio;
	bio->bi_private = io;
	submit_bio_noacct(bio);
}

/* The whole new content of io->lbn is in io->buf. */
static void write_block(struct dedup_io *io)
{
	struct dedup_c *dc = io->dc;
	void *data = page_address(io->buf);
	u64 pbn, skip = DEDUP_UNMAPPED;
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

		r = dedup_cow_lookup_fp(dc->pool->cow, io->fp, skip, &pbn,
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
			/* Shared as often as a count allows: another copy. */
			skip = pbn;
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

	if (READ_ONCE(dc->pool->mode) != DEDUP_MODE_RW) {
		finish_io(io, -EIO, 0);
		return;
	}
	dedup_cow_admit(dc->pool->cow);
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
static void process_read(struct dedup_io *io, struct bio *bio)
{
	struct dedup_c *dc = io->dc;
	sector_t sector = dm_target_offset(dc->ti, bio->bi_iter.bi_sector);
	u64 value;
	int r;

	if (READ_ONCE(dc->pool->mode) == DEDUP_MODE_FAIL) {
		finish_io(io, -EIO, 0);
		return;
	}
	cell_lock(dc, io, sector >> dc->block_shift);
	r = dedup_cow_find_lbn(dc->pool->cow, io->lbn, &value);
	if (r == -ENODATA || (!r && value == DEDUP_ZERO_PBN)) {
		zero_fill_bio(bio);
		bio_endio(bio);
		return;
	}
	if (r) {
		fail_meta(io, "lookup", r);
		return;
	}
	bio_set_dev(bio, dc->data_dev->bdev);
	bio->bi_iter.bi_sector = (value << dc->block_shift) +
		(sector & (dc->block_sectors - 1));
	dm_submit_bio_remap(bio, NULL);
}

static void process_discard(struct dedup_io *io, struct bio *bio)
{
	struct dedup_c *dc = io->dc;
	sector_t start = dm_target_offset(dc->ti, bio->bi_iter.bi_sector);
	sector_t end = start + bio_sectors(bio);
	u64 lbn = (start + dc->block_sectors - 1) >> dc->block_shift;
	u64 last = end >> dc->block_shift;
	int r = 0;

	if (READ_ONCE(dc->pool->mode) != DEDUP_MODE_RW) {
		finish_io(io, -EIO, 0);
		return;
	}
	/* Only whole blocks can be dropped; partial ones are left alone. */
	for (; lbn < last && !r; lbn++) {
		u64 gen;

		dedup_cow_admit(dc->pool->cow);
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

static void process_bio(struct work_struct *w)
{
	struct dedup_io *io = container_of(w, struct dedup_io, work);
	struct bio *bio = io_bio(io);

	if (bio_op(bio) == REQ_OP_DISCARD)
		process_discard(io, bio);
	else if (bio->bi_opf & REQ_PREFLUSH)
		dedup_cow_complete_when_durable(io->dc->pool->cow, bio, 0);
	else if (bio_data_dir(bio) == READ)
		process_read(io, bio);
	else
		process_write(io, bio);
}

static int dedup_map(struct dm_target *ti, struct bio *bio)
{
	struct dedup_c *dc = ti->private;
	struct dedup_io *io = dm_per_bio_data(bio, sizeof(*io));

	memset(io, 0, sizeof(*io));
	io->dc = dc;
	INIT_WORK(&io->work, process_bio);
	INIT_WORK(&io->done_work, write_done_worker);
	queue_work(dc->wq, &io->work);
	return DM_MAPIO_SUBMITTED;
}

static int dedup_end_io(struct dm_target *ti, struct bio *bio,
			blk_status_t *error)
{
	struct dedup_io *io = dm_per_bio_data(bio, sizeof(*io));

	if (io->cell_held)
		cell_unlock(io->dc, io);
	return DM_ENDIO_DONE;
}

/*
 * Pools
 */
static void destroy_pool(struct dedup_pool *pool)
{
	if (pool->cow)
		dedup_cow_destroy(pool->cow);
	if (pool->md) {
		flush_work(&pool->needs_check_work);
		/* A clean shutdown saves the fingerprint index. */
		dedup_meta_close(pool->md, pool->cow &&
				 READ_ONCE(pool->mode) == DEDUP_MODE_RW);
	}
	kfree(pool);
}

static void put_pool(struct dedup_pool *pool)
{
	bool last;

	mutex_lock(&dedup_pools_lock);
	last = !--pool->ref;
	if (last)
		list_del(&pool->list);
	mutex_unlock(&dedup_pools_lock);
	if (last)
		destroy_pool(pool);
}

static void cow_params(struct dedup_c *dc, struct dedup_cow_params *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->data_bdev = dc->data_dev->bdev;
	cp->data_block_size = dc->block_size;
	cp->fp_size = dedup_hash_size(dc->hash);
	cp->commit_period_ms = dc->commit_period_ms;
	cp->max_open_mb = dc->max_open_mb;
	cp->blocking_commit = dc->blocking_commit;
	cp->discard_passdown = dc->discard_passdown;
	cp->error_if_no_space = dc->error_if_no_space;
}

static int create_pool(struct dedup_c *dc, char **error)
{
	struct dedup_meta_geometry geo;
	struct dedup_cow_params cp;
	struct dedup_pool *pool;
	int r;

	pool = kzalloc(sizeof(*pool), GFP_KERNEL);
	if (!pool) {
		*error = "Cannot allocate pool";
		return -ENOMEM;
	}
	pool->ref = 1;
	pool->dm_md = dm_table_get_md(dc->ti->table);
	pool->meta_dev = dc->meta_dev->bdev->bd_dev;
	pool->data_dev = dc->data_dev->bdev->bd_dev;
	pool->block_size = dc->block_size;
	strscpy(pool->hash_name, dc->hash_name, sizeof(pool->hash_name));
	strscpy(pool->name, dm_device_name(pool->dm_md), sizeof(pool->name));
	INIT_WORK(&pool->needs_check_work, needs_check_worker);

	geo.data_block_size = dc->block_size;
	geo.hash_name = dc->hash_name;
	geo.fp_size = dedup_hash_size(dc->hash);
	geo.data_nr_blocks = dc->data_nr_blocks;
	pool->md = dedup_meta_open(dc->meta_dev->bdev, &geo, error);
	if (IS_ERR(pool->md)) {
		r = PTR_ERR(pool->md);
		pool->md = NULL;
		goto bad;
	}
	if (dedup_meta_needs_check(pool->md)) {
		DMWARN("%s: metadata needs checking (dedup_check); read-only",
		       pool->name);
		pool->mode = DEDUP_MODE_RO;
	}

	cow_params(dc, &cp);
	cp.md = pool->md;
	cp.metadata_failed = cow_metadata_failed;
	cp.context = pool;
	pool->cow = dedup_cow_create(&cp);
	if (IS_ERR(pool->cow)) {
		r = PTR_ERR(pool->cow);
		pool->cow = NULL;
		*error = "Cannot start commit pipeline";
		goto bad;
	}
	list_add(&pool->list, &dedup_pools);
	dc->pool = pool;
	return 0;

bad:
	destroy_pool(pool);
	return r;
}

/* Shares the pool of the live table when this one replaces it. */
static int bind_pool(struct dedup_c *dc, char **error)
{
	dev_t meta = dc->meta_dev->bdev->bd_dev;
	struct dedup_pool *pool;
	int r = 0;

	mutex_lock(&dedup_pools_lock);
	list_for_each_entry(pool, &dedup_pools, list) {
		if (pool->meta_dev != meta)
			continue;
		if (pool->dm_md != dm_table_get_md(dc->ti->table)) {
			*error = "Metadata device already in use";
			r = -EBUSY;
		} else if (pool->data_dev != dc->data_dev->bdev->bd_dev ||
			   pool->block_size != dc->block_size ||
			   strcmp(pool->hash_name, dc->hash_name)) {
			*error = "Cannot change data device, block size or hash";
			r = -EINVAL;
		} else {
			pool->ref++;
			dc->pool = pool;
		}
		mutex_unlock(&dedup_pools_lock);
		return r;
	}
	r = create_pool(dc, error);
	mutex_unlock(&dedup_pools_lock);
	return r;
}

/*
 * Constructor and destructor
 */
static void dedup_free(struct dedup_c *dc)
{
	if (dc->pool)
		put_pool(dc->pool);
	if (dc->wq)
		destroy_workqueue(dc->wq);
	if (dc->done_wq)
		destroy_workqueue(dc->done_wq);
	mempool_destroy(dc->buf_pool);
	mempool_destroy(dc->verify_pool);
	bioset_exit(&dc->bs);
	if (dc->hash)
		dedup_hash_destroy(dc->hash);
	if (dc->data_dev)
		dm_put_device(dc->ti, dc->data_dev);
	if (dc->meta_dev)
		dm_put_device(dc->ti, dc->meta_dev);
	kfree(dc);
}

static int parse_uint(const char *s, unsigned int min, unsigned int max,
		      unsigned int *v)
{
	return kstrtouint(s, 10, v) || *v < min || *v > max ? -EINVAL : 0;
}

static int parse_features(struct dedup_c *dc, unsigned int argc, char **argv,
			  char **error)
{
	unsigned int n, i;

	if (!argc)
		return 0;
	if (kstrtouint(argv[0], 10, &n) || n > argc - 1) {
		*error = "Invalid feature count";
		return -EINVAL;
	}
	if (n < argc - 1) {
		*error = "Too many arguments";
		return -EINVAL;
	}
	for (i = 1; i <= n; i++) {
		const char *f = argv[i];
		bool period = !strcasecmp(f, "commit_period_ms");

		if (period || !strcasecmp(f, "max_open_mb")) {
			if (i == n) {
				*error = "Missing feature value";
				return -EINVAL;
			}
			i++;
			if (period && parse_uint(argv[i], 1,
						 DEDUP_MAX_COMMIT_PERIOD_MS,
						 &dc->commit_period_ms)) {
				*error = "Invalid commit period";
				return -EINVAL;
			}
			if (!period && parse_uint(argv[i], 1,
						  DEDUP_MAX_MAX_OPEN_MB,
						  &dc->max_open_mb)) {
				*error = "Invalid max_open_mb";
				return -EINVAL;
			}
		} else if (!strcasecmp(f, "verify")) {
			dc->verify = true;
		} else if (!strcasecmp(f, "blocking_commit")) {
			dc->blocking_commit = true;
		} else if (!strcasecmp(f, "no_discard_passdown")) {
			dc->discard_passdown = false;
		} else if (!strcasecmp(f, "error_if_no_space")) {
			dc->error_if_no_space = true;
		} else {
			*error = "Unknown feature";
			return -EINVAL;
		}
	}
	return 0;
}

static int open_devices(struct dedup_c *dc, char **argv)
{
	struct dm_target *ti = dc->ti;
	fmode_t mode = dm_table_get_mode(ti->table);
	int r;

	r = dm_get_device(ti, argv[0], mode, &dc->meta_dev);
	if (r) {
		ti->error = "Error opening metadata device";
		return r;
	}
	r = dm_get_device(ti, argv[1], mode, &dc->data_dev);
	if (r) {
		ti->error = "Error opening data device";
		return r;
	}
	if (dc->meta_dev->bdev == dc->data_dev->bdev) {
		ti->error = "Metadata and data devices must differ";
		return -EINVAL;
	}
	if (ti->len & (dc->block_sectors - 1)) {
		ti->error = "Length not a multiple of block size";
		return -EINVAL;
	}
	dc->data_nr_blocks = bdev_nr_sectors(dc->data_dev->bdev) >>
		dc->block_shift;
	if (dc->data_nr_blocks < DEDUP_MIN_DATA_BLOCKS) {
		ti->error = "Data device too small";
		return -EINVAL;
	}
	if (bdev_nr_bytes(dc->meta_dev->bdev) <
	    (u64)DEDUP_MIN_METADATA_BLOCKS * DEDUP_METADATA_BLOCK_SIZE) {
		ti->error = "Metadata device too small";
		return -EINVAL;
	}
	return 0;
}

static int create_io_resources(struct dedup_c *dc)
{
	unsigned int order = get_order(dc->block_size);
	int r;

	dc->wq = alloc_workqueue("dedup_io", WQ_MEM_RECLAIM, 0);
	dc->done_wq = alloc_workqueue("dedup_done", WQ_MEM_RECLAIM, 0);
	if (!dc->wq || !dc->done_wq)
		return -ENOMEM;
	dc->buf_pool = mempool_create_page_pool(DEDUP_POOL_SIZE, order);
	dc->verify_pool = mempool_create_page_pool(DEDUP_POOL_SIZE, order);
	if (!dc->buf_pool || !dc->verify_pool)
		return -ENOMEM;
	r = bioset_init(&dc->bs, DEDUP_POOL_SIZE, 0, BIOSET_NEED_BVECS);
	return r;
}

/*
 * <metadata dev> <data dev> <block size> <hash> [<#features> <feature>*]
 */
static int dedup_ctr(struct dm_target *ti, unsigned int argc, char **argv)
{
	struct dedup_c *dc;
	char *error = NULL;
	unsigned int bs;
	int r;

	if (argc < 4) {
		ti->error = "Invalid argument count";
		return -EINVAL;
	}
	dc = kzalloc(sizeof(*dc), GFP_KERNEL);
	if (!dc) {
		ti->error = "Cannot allocate context";
		return -ENOMEM;
	}
	dc->ti = ti;
	dc->commit_period_ms = DEDUP_DEFAULT_COMMIT_PERIOD_MS;
	dc->max_open_mb = DEDUP_DEFAULT_MAX_OPEN_MB;
	dc->discard_passdown = true;
	spin_lock_init(&dc->cell_lock);
	init_waitqueue_head(&dc->cell_wait);

	r = -EINVAL;
	if (kstrtouint(argv[2], 10, &bs)) {
		ti->error = "Invalid block size";
		goto bad;
	}
	if (!is_power_of_2(bs)) {
		ti->error = "Block size not a power of two";
		goto bad;
	}
	if (bs < DEDUP_MIN_BLOCK_SIZE || bs > DEDUP_MAX_BLOCK_SIZE) {
		ti->error = "Block size out of range";
		goto bad;
	}
	dc->block_size = bs;
	dc->block_sectors = bs >> SECTOR_SHIFT;
	dc->block_shift = ilog2(dc->block_sectors);

	strscpy(dc->hash_name, argv[3], sizeof(dc->hash_name));
	dc->hash = dedup_hash_create(argv[3]);
	if (IS_ERR(dc->hash)) {
		dc->hash = NULL;
		ti->error = "Unknown hash";
		goto bad;
	}

	r = parse_features(dc, argc - 4, argv + 4, &error);
	if (r) {
		ti->error = error;
		goto bad;
	}

	r = open_devices(dc, argv);
	if (r)
		goto bad;

	r = create_io_resources(dc);
	if (r) {
		ti->error = "Cannot allocate I/O resources";
		goto bad;
	}

	r = bind_pool(dc, &error);
	if (r) {
		ti->error = error;
		goto bad;
	}

	r = dm_set_target_max_io_len(ti, dc->block_sectors);
	if (r) {
		ti->error = "Cannot set maximum I/O size";
		goto bad;
	}
	ti->num_flush_bios = 1;
	ti->flush_supported = true;
	ti->num_discard_bios = 1;
	ti->discards_supported = true;
	ti->accounts_remapped_io = true;
	ti->per_io_data_size = sizeof(struct dedup_io);
	ti->private = dc;
	return 0;

bad:
	dedup_free(dc);
	return r;
}

static void dedup_dtr(struct dm_target *ti)
{
	dedup_free(ti->private);
}

static void dedup_resume(struct dm_target *ti)
{
	struct dedup_c *dc = ti->private;
	struct dedup_cow_params cp;

	/* A reloaded table may change the features. */
	cow_params(dc, &cp);
	dedup_cow_set_features(dc->pool->cow, &cp);
}

static void dedup_postsuspend(struct dm_target *ti)
{
	struct dedup_c *dc = ti->private;

	if (READ_ONCE(dc->pool->mode) == DEDUP_MODE_RW)
		dedup_cow_commit(dc->pool->cow);
}

/*
 * Status, table and messages
 */
static const char *mode_name(struct dedup_c *dc, struct dedup_cow_stats *s)
{
	switch (READ_ONCE(dc->pool->mode)) {
	case DEDUP_MODE_RW:
		return s->no_space ? "out_of_data_space" : "rw";
	case DEDUP_MODE_RO:
		return "ro";
	default:
		return "fail";
	}
}

static void emit_table(struct dedup_c *dc, char *result, unsigned int maxlen)
{
	unsigned int sz = 0, n = 0;

	n += dc->commit_period_ms != DEDUP_DEFAULT_COMMIT_PERIOD_MS ? 2 : 0;
	n += dc->max_open_mb != DEDUP_DEFAULT_MAX_OPEN_MB ? 2 : 0;
	n += dc->verify + dc->blocking_commit + !dc->discard_passdown +
		dc->error_if_no_space;

	DMEMIT("%s %s %u %s", dc->meta_dev->name, dc->data_dev->name,
	       dc->block_size, dc->hash_name);
	if (!n)
		return;
	DMEMIT(" %u", n);
	if (dc->commit_period_ms != DEDUP_DEFAULT_COMMIT_PERIOD_MS)
		DMEMIT(" commit_period_ms %u", dc->commit_period_ms);
	if (dc->max_open_mb != DEDUP_DEFAULT_MAX_OPEN_MB)
		DMEMIT(" max_open_mb %u", dc->max_open_mb);
	if (dc->verify)
		DMEMIT(" verify");
	if (dc->blocking_commit)
		DMEMIT(" blocking_commit");
	if (!dc->discard_passdown)
		DMEMIT(" no_discard_passdown");
	if (dc->error_if_no_space)
		DMEMIT(" error_if_no_space");
}

struct dedup_figures {
	struct dedup_counters c;
	struct dedup_cow_stats s;
	struct dedup_meta_stats m;
	u64 mapped, unique, zero, hits, data_used;
};

static void get_figures(struct dedup_c *dc, struct dedup_figures *f)
{
	dedup_cow_get_stats(dc->pool->cow, &f->s, &f->c);
	dedup_meta_get_stats(dc->pool->md, &f->m);
	f->mapped = f->c.nr_mapped + f->s.d_mapped;
	f->unique = f->c.nr_unique + f->s.d_unique;
	f->zero = f->c.nr_zero + f->s.d_zero;
	f->hits = f->c.dedup_hits + f->s.hits;
	f->data_used = f->unique;
}

static void dedup_status(struct dm_target *ti, status_type_t type,
			 unsigned int status_flags, char *result,
			 unsigned int maxlen)
{
	struct dedup_c *dc = ti->private;
	struct dedup_figures f;
	unsigned int sz = 0;

	switch (type) {
	case STATUSTYPE_INFO:
		get_figures(dc, &f);
		DMEMIT("%s %s %llu %llu/%llu %llu/%llu %llu %llu %llu %llu",
		       mode_name(dc, &f.s),
		       dedup_meta_needs_check(dc->pool->md) ? "needs_check" : "-",
		       f.c.transaction_id, f.data_used, dc->data_nr_blocks,
		       f.c.meta_used, f.c.meta_total, f.mapped, f.unique,
		       f.hits, f.zero);
		DMEMIT(" %llu %llu %llu %llu %u %llu %llu",
		       f.c.commits, f.s.last_commit_ms, f.s.longest_commit_ms,
		       f.s.last_commit_blocks, f.s.commit_in_flight,
		       f.s.bp_waits, f.s.longest_wait_us);
		break;
	case STATUSTYPE_TABLE:
		emit_table(dc, result, maxlen);
		break;
	case STATUSTYPE_IMA:
		*result = '\0';
		break;
	}
}

static const char *index_state_name(enum dedup_index_state s)
{
	switch (s) {
	case DEDUP_INDEX_LOADING:
		return "loading";
	case DEDUP_INDEX_REBUILDING:
		return "rebuilding";
	default:
		return "ready";
	}
}

static void emit_stats(struct dedup_c *dc, char *result, unsigned int maxlen)
{
	struct dedup_figures f;
	unsigned int sz = 0;

	get_figures(dc, &f);
	DMEMIT("mode=%s\nneeds_check=%d\ntransaction_id=%llu\n",
	       mode_name(dc, &f.s), dedup_meta_needs_check(dc->pool->md),
	       f.c.transaction_id);
	DMEMIT("data_block_size=%u\ndata_used_blocks=%llu\ndata_total_blocks=%llu\n",
	       dc->block_size, f.data_used, dc->data_nr_blocks);
	DMEMIT("data_allocatable_blocks=%llu\ndata_pending_free_blocks=%llu\n",
	       f.m.data_free, f.s.pending_frees);
	DMEMIT("metadata_used_blocks=%llu\nmetadata_total_blocks=%llu\n",
	       f.c.meta_used, f.c.meta_total);
	DMEMIT("mapped_blocks=%llu\nunique_blocks=%llu\ndedup_hits=%llu\nzero_blocks=%llu\nzero_writes=%llu\n",
	       f.mapped, f.unique, f.hits, f.zero,
	       f.c.zero_writes + f.s.zero_writes);
	DMEMIT("commits=%llu\nlast_commit_ms=%llu\nlongest_commit_ms=%llu\nlast_commit_blocks=%llu\ncommit_in_flight=%u\n",
	       f.c.commits, f.s.last_commit_ms, f.s.longest_commit_ms,
	       f.s.last_commit_blocks, f.s.commit_in_flight);
	DMEMIT("backpressure_waits=%llu\nlongest_wait_us=%llu\n",
	       f.s.bp_waits, f.s.longest_wait_us);
	DMEMIT("index_state=%s\nindex_entries=%llu\nindex_ram_bytes=%llu\n",
	       index_state_name(f.m.index_state), f.m.index_entries,
	       f.m.index_ram_bytes);
	DMEMIT("index_progress=%llu\nindex_total=%llu\nallocator_ram_bytes=%llu\n",
	       f.m.index_progress, f.m.index_total, f.m.alloc_ram_bytes);
}

static int dedup_message(struct dm_target *ti, unsigned int argc,
			 char **argv, char *result, unsigned int maxlen)
{
	struct dedup_c *dc = ti->private;
	unsigned int ms;

	if (argc == 1 && !strcasecmp(argv[0], "commit")) {
		if (READ_ONCE(dc->pool->mode) != DEDUP_MODE_RW) {
			DMERR("%s: commit refused: not in rw mode",
			      dev_name_of(dc));
			return -EROFS;
		}
		return dedup_cow_commit(dc->pool->cow);
	}
	if (argc == 1 && !strcasecmp(argv[0], "stats")) {
		emit_stats(dc, result, maxlen);
		return 1;
	}
	if (argc == 2 && !strcasecmp(argv[0], "commit_period_ms")) {
		if (parse_uint(argv[1], 1, DEDUP_MAX_COMMIT_PERIOD_MS, &ms)) {
			DMERR("%s: invalid commit period '%s'",
			      dev_name_of(dc), argv[1]);
			return -EINVAL;
		}
		dc->commit_period_ms = ms;
		dedup_cow_set_commit_period(dc->pool->cow, ms);
		return 0;
	}
	DMERR("%s: unknown message '%s' with %u argument(s)",
	      dev_name_of(dc), argc ? argv[0] : "", argc);
	return -EINVAL;
}

static int dedup_iterate_devices(struct dm_target *ti,
				 iterate_devices_callout_fn fn, void *data)
{
	struct dedup_c *dc = ti->private;

	/* The logical size may exceed the data device: that is the point. */
	return fn(ti, dc->data_dev, 0, dc->data_nr_blocks << dc->block_shift,
		  data);
}

static void dedup_io_hints(struct dm_target *ti, struct queue_limits *limits)
{
	struct dedup_c *dc = ti->private;

	blk_limits_io_min(limits, dc->block_size);
	blk_limits_io_opt(limits, dc->block_size);
	limits->discard_granularity = dc->block_size;
	limits->max_discard_sectors = dc->block_sectors * DEDUP_DISCARD_BLOCKS;
	limits->max_hw_discard_sectors = limits->max_discard_sectors;
}

static struct target_type dedup_target = {
	.name = "dedup",
	.version = {1, 0, 0},
	.module = THIS_MODULE,
	.ctr = dedup_ctr,
	.dtr = dedup_dtr,
	.map = dedup_map,
	.end_io = dedup_end_io,
	.postsuspend = dedup_postsuspend,
	.resume = dedup_resume,
	.status = dedup_status,
	.message = dedup_message,
	.iterate_devices = dedup_iterate_devices,
	.io_hints = dedup_io_hints,
};

static int __init dm_dedup_init(void)
{
	int r = dedup_gen_module_init();

	if (r)
		return r;
	r = dm_register_target(&dedup_target);
	if (r)
		dedup_gen_module_exit();
	return r;
}

static void __exit dm_dedup_exit(void)
{
	dm_unregister_target(&dedup_target);
	dedup_gen_module_exit();
}

module_init(dm_dedup_init);
module_exit(dm_dedup_exit);

MODULE_DESCRIPTION("device-mapper inline block deduplication target");
MODULE_VERSION(DM_DEDUP_VERSION);
MODULE_AUTHOR("dm-dedup developers");
MODULE_LICENSE("GPL");

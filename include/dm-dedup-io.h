/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-io.h - the bio path and the pool's modes (dm-dedup-io.c), for
 * the dm face (dm-dedup-target.c): the per-table context, the pool shared
 * by a dm device's tables, and the per-bio state.
 */
#ifndef DM_DEDUP_IO_H
#define DM_DEDUP_IO_H

#include <linux/bio.h>
#include <linux/device-mapper.h>
#include <linux/mempool.h>
#include <linux/workqueue.h>

#include "dm-dedup-cow-commit.h"
#include "dm-dedup-hash.h"

#define DEDUP_POOL_SIZE			16
#define DEDUP_BUF_RESERVE		(1U << 20)	/* bytes of block buffers kept */
#define DEDUP_CELL_BITS			10
/*
 * A read is remapped in pieces of contiguous blocks, up to this many
 * blocks (aligned, so that no bio crosses a multiple of it); cells are
 * hashed by that span, so that bios whose ranges overlap meet in one list.
 */
#define DEDUP_READ_SHIFT		5
#define DEDUP_READ_BLOCKS		(1U << DEDUP_READ_SHIFT)

/*
 * The pool's modes, in degrading order (dm-thin's pool modes).  The
 * out-of-space modes return to rw by themselves when space appears (blocks
 * freed, a device grown by reload); ro and fail only by loading the
 * metadata anew after dedup_check, as with dm-thin.
 */
enum dedup_mode {
	DEDUP_MODE_RW,
	DEDUP_MODE_OUT_OF_DATA_SPACE,	/* unique writes fail: no free block */
	DEDUP_MODE_OUT_OF_METADATA_SPACE, /* writes and discards fail */
	DEDUP_MODE_RO,			/* metadata failed, or needs_check */
	DEDUP_MODE_FAIL,		/* metadata unusable: no I/O at all */
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
	bool closing;			/* under dedup_pools_lock */
	struct mapped_device *dm_md;	/* the dm device it belongs to */
	dev_t meta_dev;
	dev_t data_dev;
	unsigned int block_size;
	char hash_name[DEDUP_HASH_NAME_LEN];
	char name[16];			/* of the dm device, for logs */

	struct dedup_meta *md;
	struct dedup_cow *cow;
	struct work_struct needs_check_work;
	struct work_struct event_work;

	/*
	 * Protects mode, ops, low_water_triggered and ti: the state machine
	 * of dedup_pool_set_mode(), the only failure state of the pool.  A
	 * leaf lock; mode and ops are also read without it (READ_ONCE) by
	 * the I/O path.
	 */
	spinlock_t mode_lock;
	enum dedup_mode mode;
	const struct dedup_mode_ops *ops;	/* the mode's bio handlers */
	bool low_water_triggered;	/* metadata low-water event sent */
	struct dm_target *ti;		/* the live table's, for events */
};

/*
 * A stage of the bio path: a FIFO of dedup_ios run by a few workers that
 * each take one at a time and go on while there are more, so a deep queue
 * costs no wake-up per bio and one submitter's bios spread over the CPUs.
 */
struct dedup_io;
struct dedup_stage;

struct dedup_stage_worker {
	struct work_struct work;
	struct dedup_stage *stage;
	bool running;			/* queued or in its loop */
};

/*
 * A FIFO of ios and up to nr workers taking from it.  A worker is queued
 * only when the FIFO holds more ios than workers are running, so a busy
 * stage costs no wake-up per io.
 */
struct dedup_stage {
	/*
	 * Protects items, nr_items, nr_running and each worker's running.
	 * Taken from endio.
	 */
	spinlock_t lock;
	struct list_head items;
	unsigned int nr_items;
	unsigned int nr_running;
	void (*fn)(struct dedup_io *io);
	struct workqueue_struct *wq;
	unsigned int nr;
	struct dedup_stage_worker *workers;
};

struct dedup_c {
	struct dm_target *ti;
	struct dm_dev *meta_dev;
	struct dm_dev *data_dev;
	unsigned int block_size;	/* bytes */
	unsigned int block_shift;	/* log2(sectors per block) */
	sector_t block_sectors;
	u64 data_nr_blocks;
	u64 meta_nr_blocks;		/* 4 KiB blocks */

	/* table features */
	char hash_name[DEDUP_HASH_NAME_LEN];
	struct dedup_features f;	/* asked for by this table's line */
	bool verify;

	struct dedup_pool *pool;
	struct dedup_hash *hash;

	struct workqueue_struct *wq;		/* bio workers */
	struct workqueue_struct *done_wq;	/* after data writes */
	struct dedup_stage submit;		/* writes from map() */
	struct dedup_stage discards;		/* discards from map() */
	struct dedup_stage reads;		/* reads from map() */
	struct dedup_stage read_rest;		/* their rest, cells held */
	struct dedup_stage done;		/* data writes completed */
	mempool_t *buf_pool;			/* one block: the data */
	mempool_t *verify_pool;			/* one block: verify reads */
	struct bio_set bs;
	atomic64_t map_reads;			/* reads served in map() */
	atomic64_t worker_reads;		/* reads a worker served */

	/*
	 * Protects cells: the LBN ranges of the bios that hold or wait for
	 * them, each list in arrival order.  Taken from end_io (irq).
	 */
	spinlock_t cell_lock;
	struct list_head cells[1 << DEDUP_CELL_BITS];
	wait_queue_head_t cell_wait;
};

/* Per-bio state (the target's per_io_data). */
struct dedup_io {
	struct dedup_c *dc;
	struct list_head stage_entry;

	/* cell: the blocks [lbn, lbn + nr) */
	struct list_head cell_node;
	u64 lbn;
	unsigned int nr;
	bool cell_held;
	bool granted;

	struct page *buf;
	u64 pbn;
	atomic_t wstate;		/* data write: enum dedup_wstate */
	bool own_claim;
	bool noindex;
	int error;
	struct dedup_claim claim;
	u8 fp[DEDUP_MAX_FP_SIZE];
};

/* The handlers of one mode (dedup_pool_set_mode() switches them). */
struct dedup_mode_ops {
	void (*read)(struct dedup_io *io, struct bio *bio);
	void (*write)(struct dedup_io *io, struct bio *bio);
	void (*discard)(struct dedup_io *io, struct bio *bio);
};

/*
 * The pool's modes: init (rw) before the pipeline exists, then the
 * pipeline's callbacks into the mode machine (cow_callbacks); set_mode
 * (why: logged, or NULL at construction) switches what the mode does;
 * set_target is the live table, for events (going: that table leaves);
 * flush waits for the pool's work before it goes.
 */
void dedup_pool_init(struct dedup_pool *pool);
void dedup_pool_cow_callbacks(struct dedup_pool *pool,
			      struct dedup_cow_params *cp);
void dedup_pool_set_mode(struct dedup_pool *pool, enum dedup_mode mode,
			 const char *why);
const char *dedup_pool_mode_name(struct dedup_pool *pool);
void dedup_pool_set_target(struct dedup_pool *pool, struct dm_target *ti,
			   bool going);
void dedup_pool_flush(struct dedup_pool *pool);

static inline enum dedup_mode dedup_pool_mode(struct dedup_pool *pool)
{
	return READ_ONCE(pool->mode);
}

/* The bio path: its resources per table, and the target's map/end_io. */
int dedup_io_create(struct dedup_c *dc);
void dedup_io_destroy(struct dedup_c *dc);
int dedup_map(struct dm_target *ti, struct bio *bio);
int dedup_end_io(struct dm_target *ti, struct bio *bio, blk_status_t *error);

#endif /* DM_DEDUP_IO_H */

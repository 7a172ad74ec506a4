// SPDX-License-Identifier: GPL-2.0
/*
 * The "dedup" device-mapper target: its face.
 *
 * This file owns the constructor and destructor, the pools (one per
 * metadata device, shared by the tables of a dm device), suspend and
 * resume (with online growth of both devices), status, table and messages.
 * The path of a bio and the pool's modes are in dm-dedup-io.c.
 */
#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/module.h>
#include <linux/workqueue.h>

#include "dm-dedup-io.h"

/*
 * The most data blocks one discard bio covers (the table line's limits and
 * defaults are in dm-dedup-format.h, shared with the tools).
 */
#define DEDUP_DISCARD_BLOCKS		1024

/* Protects dedup_pools, and the ref and closing of each pool on it. */
static DEFINE_MUTEX(dedup_pools_lock);
static LIST_HEAD(dedup_pools);
/*
 * A closing pool left the list (dedup_pools_closed counts them): a table
 * waiting for its metadata device may go.
 */
static DECLARE_WAIT_QUEUE_HEAD(dedup_pools_wait);
static atomic_t dedup_pools_closed = ATOMIC_INIT(0);

/*
 * Pools
 */
/* Closes what the pool opened; the pool itself stays. */
static void close_pool(struct dedup_pool *pool)
{
	if (pool->cow)
		dedup_cow_destroy(pool->cow);
	dedup_pool_flush(pool);
	/* A clean shutdown saves the fingerprint index. */
	if (pool->md)
		dedup_meta_close(pool->md, pool->cow &&
				 dedup_pool_mode(pool) < DEDUP_MODE_RO);
}

/*
 * The last table of a pool closes it (a final commit and the index save,
 * which can take seconds) without dedup_pools_lock, so that other pools'
 * tables come and go meanwhile; the pool stays on the list, closing, until
 * it is closed, so a new table on the same metadata device waits for that
 * instead of opening it twice.
 */
static void put_pool(struct dedup_pool *pool, struct dm_target *ti)
{
	bool last;

	dedup_pool_set_target(pool, ti, true);
	mutex_lock(&dedup_pools_lock);
	last = !--pool->ref;
	pool->closing = last;
	mutex_unlock(&dedup_pools_lock);
	if (!last)
		return;
	close_pool(pool);
	mutex_lock(&dedup_pools_lock);
	list_del(&pool->list);
	atomic_inc(&dedup_pools_closed);
	mutex_unlock(&dedup_pools_lock);
	wake_up_all(&dedup_pools_wait);
	kfree(pool);
}

static void cow_params(struct dedup_c *dc, struct dedup_pool *pool,
		       struct dedup_cow_params *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->data_bdev = dc->data_dev->bdev;
	cp->data_block_size = dc->block_size;
	cp->fp_size = dedup_hash_size(dc->hash);
	cp->f = dc->f;
	cp->md = pool->md;
	dedup_pool_cow_callbacks(pool, cp);
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
	dedup_pool_init(pool);

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
	cow_params(dc, pool, &cp);
	pool->cow = dedup_cow_create(&cp);
	if (IS_ERR(pool->cow)) {
		r = PTR_ERR(pool->cow);
		pool->cow = NULL;
		*error = "Cannot start commit pipeline";
		goto bad;
	}
	if (dedup_meta_needs_check(pool->md)) {
		DMWARN("%s: metadata needs checking (dedup_check); read-only",
		       pool->name);
		dedup_pool_set_mode(pool, DEDUP_MODE_RO, NULL);
	}
	list_add(&pool->list, &dedup_pools);
	dc->pool = pool;
	return 0;

bad:
	close_pool(pool);
	kfree(pool);
	return r;
}

/* Shares the pool of the live table when this one replaces it. */
static int bind_pool(struct dedup_c *dc, char **error)
{
	dev_t meta = dc->meta_dev->bdev->bd_dev;
	struct dedup_pool *pool;
	int closed, r = 0;

again:
	mutex_lock(&dedup_pools_lock);
	list_for_each_entry(pool, &dedup_pools, list) {
		if (pool->meta_dev != meta)
			continue;
		if (pool->closing) {
			/* Its last table is going: open it when it is gone. */
			closed = atomic_read(&dedup_pools_closed);
			mutex_unlock(&dedup_pools_lock);
			wait_event(dedup_pools_wait,
				   atomic_read(&dedup_pools_closed) != closed);
			goto again;
		}
		if (pool->dm_md != dm_table_get_md(dc->ti->table)) {
			*error = "Metadata device already in use";
			r = -EBUSY;
		} else if (pool->data_dev != dc->data_dev->bdev->bd_dev ||
			   pool->block_size != dc->block_size ||
			   strcmp(pool->hash_name, dc->hash_name)) {
			*error = "Cannot change data device, block size or hash";
			r = -EINVAL;
		} else if (dc->data_nr_blocks <
			   dedup_meta_data_blocks(pool->md)) {
			*error = "Data device smaller than recorded";
			r = -EINVAL;
		} else if (dc->meta_nr_blocks <
			   dedup_meta_metadata_blocks(pool->md)) {
			*error = "Metadata device smaller than recorded";
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
		put_pool(dc->pool, dc->ti);
	dedup_io_destroy(dc);
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
						 &dc->f.commit_period_ms)) {
				*error = "Invalid commit period";
				return -EINVAL;
			}
			if (!period && parse_uint(argv[i], 1,
						  DEDUP_MAX_MAX_OPEN_MB,
						  &dc->f.max_open_mb)) {
				*error = "Invalid max_open_mb";
				return -EINVAL;
			}
		} else if (!strcasecmp(f, "verify")) {
			dc->verify = true;
		} else if (!strcasecmp(f, "blocking_commit")) {
			dc->f.blocking_commit = true;
		} else if (!strcasecmp(f, "no_discard_passdown")) {
			dc->f.discard_passdown = false;
		} else if (!strcasecmp(f, "error_if_no_space")) {
			dc->f.error_if_no_space = true;
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
	dc->meta_nr_blocks = bdev_nr_bytes(dc->meta_dev->bdev) /
		DEDUP_METADATA_BLOCK_SIZE;
	if (dc->meta_nr_blocks < DEDUP_MIN_METADATA_BLOCKS) {
		ti->error = "Metadata device too small";
		return -EINVAL;
	}
	return 0;
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
	dc->f.commit_period_ms = DEDUP_DEFAULT_COMMIT_PERIOD_MS;
	dc->f.max_open_mb = DEDUP_DEFAULT_MAX_OPEN_MB;
	dc->f.discard_passdown = true;

	r = -EINVAL;
	if (kstrtouint(argv[2], 10, &bs)) {
		ti->error = "Invalid block size";
		goto bad;
	}
	if (!is_power_of_2(bs)) {
		ti->error = "Block size not a power of two";
		goto bad;
	}
	if (bs < DEDUP_MIN_DATA_BLOCK_SIZE || bs > DEDUP_MAX_DATA_BLOCK_SIZE) {
		ti->error = "Block size out of range";
		goto bad;
	}
	if (bs < PAGE_SIZE) {
		ti->error = "Block size smaller than page size";
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

	r = dedup_io_create(dc);
	if (r) {
		ti->error = "Cannot allocate I/O resources";
		goto bad;
	}

	r = bind_pool(dc, &error);
	if (r) {
		ti->error = error;
		goto bad;
	}

	/* Writes are cut at each block in dedup_map(), reads at this. */
	r = dm_set_target_max_io_len(ti, dc->block_sectors * DEDUP_READ_BLOCKS);
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

/*
 * Before the table goes live: a data or metadata device that grew (the
 * table was reloaded after lvextend, say) is taken into use.
 */
static int dedup_preresume(struct dm_target *ti)
{
	struct dedup_c *dc = ti->private;
	struct dedup_pool *pool = dc->pool;
	int r;

	if (dedup_pool_mode(pool) >= DEDUP_MODE_RO)
		return 0;
	if (dc->data_nr_blocks > dedup_meta_data_blocks(pool->md)) {
		r = dedup_cow_grow_data(pool->cow, dc->data_nr_blocks);
		if (r) {
			DMERR("%s: cannot grow the data device to %llu blocks: %d",
			      pool->name, dc->data_nr_blocks, r);
			return r;
		}
		DMINFO("%s: data device grown to %llu blocks", pool->name,
		       dc->data_nr_blocks);
		if (dedup_pool_mode(pool) == DEDUP_MODE_OUT_OF_DATA_SPACE)
			dedup_pool_set_mode(pool, DEDUP_MODE_RW,
					    "data device grown");
	}
	if (dc->meta_nr_blocks > dedup_meta_metadata_blocks(pool->md)) {
		r = dedup_cow_grow_metadata(pool->cow, dc->meta_nr_blocks);
		if (r) {
			DMERR("%s: cannot grow the metadata device to %llu blocks: %d",
			      pool->name, dc->meta_nr_blocks, r);
			return r;
		}
		DMINFO("%s: metadata device grown to %llu blocks", pool->name,
		       dc->meta_nr_blocks);
		if (dedup_pool_mode(pool) == DEDUP_MODE_OUT_OF_METADATA_SPACE)
			dedup_pool_set_mode(pool, DEDUP_MODE_RW,
					    "metadata device grown");
	}
	return 0;
}

static void dedup_resume(struct dm_target *ti)
{
	struct dedup_c *dc = ti->private;

	/* A reloaded table may change the features. */
	dedup_cow_set_features(dc->pool->cow, &dc->f);
	dedup_pool_set_target(dc->pool, ti, false);
}

static void dedup_postsuspend(struct dm_target *ti)
{
	struct dedup_c *dc = ti->private;

	if (dedup_pool_mode(dc->pool) < DEDUP_MODE_RO)
		dedup_cow_commit(dc->pool->cow);
}

/*
 * Status, table and messages
 */
static const char *mode_name(struct dedup_c *dc)
{
	return dedup_pool_mode_name(dc->pool);
}

static void emit_table(struct dedup_c *dc, char *result, unsigned int maxlen)
{
	unsigned int sz = 0, n = 0;

	n += dc->f.commit_period_ms != DEDUP_DEFAULT_COMMIT_PERIOD_MS ? 2 : 0;
	n += dc->f.max_open_mb != DEDUP_DEFAULT_MAX_OPEN_MB ? 2 : 0;
	n += dc->verify + dc->f.blocking_commit + !dc->f.discard_passdown +
		dc->f.error_if_no_space;

	DMEMIT("%s %s %u %s", dc->meta_dev->name, dc->data_dev->name,
	       dc->block_size, dc->hash_name);
	if (!n)
		return;
	DMEMIT(" %u", n);
	if (dc->f.commit_period_ms != DEDUP_DEFAULT_COMMIT_PERIOD_MS)
		DMEMIT(" commit_period_ms %u", dc->f.commit_period_ms);
	if (dc->f.max_open_mb != DEDUP_DEFAULT_MAX_OPEN_MB)
		DMEMIT(" max_open_mb %u", dc->f.max_open_mb);
	if (dc->verify)
		DMEMIT(" verify");
	if (dc->f.blocking_commit)
		DMEMIT(" blocking_commit");
	if (!dc->f.discard_passdown)
		DMEMIT(" no_discard_passdown");
	if (dc->f.error_if_no_space)
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
		       mode_name(dc),
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
	       mode_name(dc), dedup_meta_needs_check(dc->pool->md),
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
	DMEMIT("generation_buckets=%llu\n", f.s.gen_buckets);
	DMEMIT("reads_in_map=%lld\nreads_in_worker=%lld\n",
	       atomic64_read(&dc->map_reads),
	       atomic64_read(&dc->worker_reads));
	DMEMIT("read_copies=%llu\nread_copy_hits=%llu\n",
	       f.m.read_copies, f.m.read_copy_hits);
}

static int dedup_message(struct dm_target *ti, unsigned int argc,
			 char **argv, char *result, unsigned int maxlen)
{
	struct dedup_c *dc = ti->private;
	unsigned int ms;

	if (argc == 1 && !strcasecmp(argv[0], "commit")) {
		if (dedup_pool_mode(dc->pool) >= DEDUP_MODE_RO) {
			DMERR("%s: commit refused: %s mode", dc->pool->name,
			      mode_name(dc));
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
			      dc->pool->name, argv[1]);
			return -EINVAL;
		}
		dc->f.commit_period_ms = ms;
		dedup_cow_set_features(dc->pool->cow, &dc->f);
		return 0;
	}
	DMERR("%s: unknown message '%s' with %u argument(s)",
	      dc->pool->name, argc ? argv[0] : "", argc);
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
	.preresume = dedup_preresume,
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

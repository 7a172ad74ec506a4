// SPDX-License-Identifier: GPL-2.0
/*
 * The persistent metadata of dm-dedup: superblock, transaction, the
 * published (committed) view, and the verbs of include/dm-dedup.h.
 *
 * DOC: metadata
 *
 * The on-disk layout is described in include/dm-dedup-format.h and the
 * reasons for it in doc/metadata.md: five sparse arrays (dm-dedup-array.c)
 * indexed by dm_btrees in a dm-persistent-data transaction, the metadata
 * space map for region A, and on devices larger than 15.875 GiB a
 * dm_sm_disk space map for the bulk region beyond it.  In RAM: the
 * fingerprint index (dm-dedup-index.c) and the data block allocator
 * (dm-dedup-alloc.c).
 *
 * Two kinds of caller use it at the same time.
 *
 * The committer (dm-dedup-commit.c) is the only one that changes anything.
 * It applies a generation of changes to the working arrays, commits
 * (dedup_meta_commit), updates the RAM index, publishes the commit to
 * readers (dedup_meta_publish) and retires the previous one
 * (dedup_meta_retire).  Every block it writes is fresh in its transaction;
 * a block a committed root references is never written in place, and a
 * block freed by transaction T is reused by T + 1 at the earliest (the
 * space maps' rule).
 *
 * Readers (the I/O path) look things up in the *published* roots, under
 * SRCU, through two read-only dm-bufio clients of their own, never through
 * the committer's block manager: 6.1's dm_bufio_write_dirty_buffers() can
 * wait for metadata writes while holding its client's mutex, which would
 * stall a reader sharing that client for the whole write-out; and
 * dm_bm_read_lock() clears the "write locked" mark of a buffer, so a
 * reader locking a block that the committer holds for write would make the
 * committer's change vanish.  Readers reach only blocks of published roots,
 * which nobody writes; at retire, after readers of the previous roots have
 * drained, the node cache is dropped and the array blocks freed by the
 * commit are forgotten, before the next transaction may reuse them.
 *
 * Lock order: lock (committer, sleeping); the index's and the allocator's
 * spinlocks are leaves.  Readers take no lock of ours: the published roots
 * are read under SRCU (md->pub), which is also what keeps their blocks.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>
#include <asm/unaligned.h>

#include "persistent-data/dm-space-map-disk.h"

#include "dm-dedup-meta-internal.h"

/* dm-persistent-data's own, and one held block per array (committer). */
#define DEDUP_MAX_CONCURRENT_LOCKS	(5 + DEDUP_NR_ARRAYS)
#define FP_CANDIDATES			8

/*
 * Superblock validator
 */
static u32 sb_checksum(struct dedup_disk_superblock *sb)
{
	return dm_bm_checksum(&sb->flags,
			      DEDUP_METADATA_BLOCK_SIZE - sizeof(__le32),
			      DEDUP_SUPERBLOCK_CSUM_XOR);
}

static void sb_prepare_for_write(struct dm_block_validator *v,
				 struct dm_block *b, size_t block_size)
{
	struct dedup_disk_superblock *sb = dm_block_data(b);

	sb->blocknr = cpu_to_le64(dm_block_location(b));
	sb->csum = cpu_to_le32(sb_checksum(sb));
}

static int sb_check(struct dm_block_validator *v, struct dm_block *b,
		    size_t block_size)
{
	struct dedup_disk_superblock *sb = dm_block_data(b);

	if (le64_to_cpu(sb->blocknr) != dm_block_location(b))
		return -ENOTBLK;
	if (le32_to_cpu(sb->csum) != sb_checksum(sb))
		return -EILSEQ;
	return 0;
}

static struct dm_block_validator sb_validator = {
	.name = "dedup_superblock",
	.prepare_for_write = sb_prepare_for_write,
	.check = sb_check,
};

/*
 * Metadata block accounting: array blocks come from the bulk region when
 * it has room, else from region A.
 */
static bool in_bulk(struct dedup_meta *md, dm_block_t b)
{
	return md->bulk_sm && b >= md->bulk_start;
}

int dedup_meta_alloc_block(struct dedup_meta *md, dm_block_t *b)
{
	dm_block_t free = 0;
	int r;

	if (md->bulk_sm && !dm_sm_get_nr_free(md->bulk_sm, &free) && free) {
		r = dm_sm_new_block(md->bulk_sm, b);
		if (!r) {
			*b += md->bulk_start;
			return 0;
		}
		if (r != -ENOSPC)
			return r;
	}
	return dm_sm_new_block(md->metadata_sm, b);
}

void dedup_meta_block_inc(struct dedup_meta *md, dm_block_t b)
{
	int r;

	if (in_bulk(md, b))
		r = dm_sm_inc_block(md->bulk_sm, b - md->bulk_start);
	else
		r = dm_sm_inc_block(md->metadata_sm, b);
	if (r && !md->cb_error)
		md->cb_error = r;
}

/* Remembers a block freed in this transaction, for the readers' cache. */
static void note_freed(struct dedup_meta *md, dm_block_t b)
{
	if (md->nr_freed == md->freed_cap) {
		size_t cap = max_t(size_t, 256, md->freed_cap * 2);
		unsigned int noio = memalloc_noio_save();
		u64 *n = dedup_fault_alloc() ? NULL :
			kvmalloc_array(cap, sizeof(*n), GFP_KERNEL | __GFP_NOWARN);

		memalloc_noio_restore(noio);
		if (!n) {
			/* Retire will drop the whole array cache instead. */
			md->freed_cap = 0;
			md->nr_freed = SIZE_MAX;
			return;
		}
		if (md->freed)
			memcpy(n, md->freed, md->nr_freed * sizeof(*n));
		kvfree(md->freed);
		md->freed = n;
		md->freed_cap = cap;
	}
	if (md->nr_freed != SIZE_MAX)
		md->freed[md->nr_freed++] = b;
}

void dedup_meta_block_dec(struct dedup_meta *md, dm_block_t b)
{
	int r;

	if (in_bulk(md, b))
		r = dm_sm_dec_block(md->bulk_sm, b - md->bulk_start);
	else
		r = dm_sm_dec_block(md->metadata_sm, b);
	if (r && !md->cb_error)
		md->cb_error = r;
	note_freed(md, b);
}

static void space(struct dedup_meta *md, struct dedup_counters *c)
{
	dm_block_t t = 0, f = 0;

	c->meta_used = 0;
	c->meta_total = 0;
	c->meta_free_a = 0;
	c->meta_free_bulk = 0;
	c->has_bulk = md->bulk_sm;
	if (!dm_sm_get_nr_blocks(md->metadata_sm, &t) &&
	    !dm_sm_get_nr_free(md->metadata_sm, &f)) {
		c->meta_total += t;
		c->meta_used += t - f;
		c->meta_free_a = f;
	}
	if (md->bulk_sm && !dm_sm_get_nr_blocks(md->bulk_sm, &t) &&
	    !dm_sm_get_nr_free(md->bulk_sm, &f)) {
		c->meta_total += t;
		c->meta_used += t - f;
		c->meta_free_bulk = f;
	}
}

void dedup_meta_space(struct dedup_meta *md, struct dedup_counters *c)
{
	mutex_lock(&md->lock);
	space(md, c);
	mutex_unlock(&md->lock);
}

/*
 * Growing the metadata: region A up to its cap, then a bulk region.
 */
static int grow(struct dedup_meta *md, u64 nr_blocks)
{
	u64 a_target = min(nr_blocks, DEDUP_REGION_A_MAX_BLOCKS);
	dm_block_t a_now;
	int r;

	r = dm_sm_get_nr_blocks(md->metadata_sm, &a_now);
	if (r)
		return r;
	if (a_target > a_now) {
		r = dm_sm_extend(md->metadata_sm, a_target - a_now);
		if (r)
			return r;
	}
	if (nr_blocks <= DEDUP_REGION_A_MAX_BLOCKS)
		return 0;
	if (!md->bulk_sm) {
		md->bulk_sm = dm_sm_disk_create(md->tm, nr_blocks -
						DEDUP_REGION_A_MAX_BLOCKS);
		if (IS_ERR(md->bulk_sm)) {
			r = PTR_ERR(md->bulk_sm);
			md->bulk_sm = NULL;
			return r;
		}
		md->bulk_start = DEDUP_REGION_A_MAX_BLOCKS;
		md->bulk_nr_blocks = nr_blocks - DEDUP_REGION_A_MAX_BLOCKS;
		md->sb.incompat_flags |= DEDUP_INCOMPAT_BULK;
		return 0;
	}
	if (nr_blocks - md->bulk_start > md->bulk_nr_blocks) {
		r = dm_sm_extend(md->bulk_sm, nr_blocks - md->bulk_start -
				 md->bulk_nr_blocks);
		if (r)
			return r;
		md->bulk_nr_blocks = nr_blocks - md->bulk_start;
	}
	return 0;
}

/*
 * Open, format, close
 */
static const u32 entry_sizes[DEDUP_NR_ARRAYS] = {
	[DEDUP_A_LBN] = sizeof(__le64),
	[DEDUP_A_REFCOUNT] = sizeof(__le32),
	[DEDUP_A_FP] = 0,			/* fp_size */
	[DEDUP_A_SUMMARY] = sizeof(__le32),
	[DEDUP_A_SAVE] = DEDUP_INDEX_BUCKET_SIZE,
	[DEDUP_A_SAVE_DIR] = sizeof(__le64),
};

static const enum dedup_array_kind kinds[DEDUP_NR_ARRAYS] = {
	[DEDUP_A_LBN] = DEDUP_ARRAY_LBN,
	[DEDUP_A_REFCOUNT] = DEDUP_ARRAY_REFCOUNT,
	[DEDUP_A_FP] = DEDUP_ARRAY_FP,
	[DEDUP_A_SUMMARY] = DEDUP_ARRAY_SUMMARY,
	[DEDUP_A_SAVE] = DEDUP_ARRAY_SAVE,
	[DEDUP_A_SAVE_DIR] = DEDUP_ARRAY_SAVE_DIR,
};

static u64 *sb_root(struct dedup_sb *sb, enum dedup_array_id id)
{
	switch (id) {
	case DEDUP_A_LBN:
		return &sb->lbn_root;
	case DEDUP_A_REFCOUNT:
		return &sb->refcount_root;
	case DEDUP_A_FP:
		return &sb->fp_root;
	case DEDUP_A_SUMMARY:
		return &sb->summary_root;
	case DEDUP_A_SAVE:
		return &sb->save_root;
	default:
		return &sb->save_dir_root;
	}
}

static void init_arrays(struct dedup_meta *md)
{
	int i;

	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		dedup_array_init(md, &md->arrays[i], kinds[i],
				 entry_sizes[i] ?: md->fp_size,
				 *sb_root(&md->sb, i));
}

static int superblock_all_zeroes(struct dm_block_manager *bm, bool *result)
{
	struct dm_block *b;
	int r;

	/* No validator: the block may be all zeroes. */
	r = dm_bm_read_lock(bm, DEDUP_SUPERBLOCK_LOCATION, NULL, &b);
	if (r)
		return r;
	*result = !memchr_inv(dm_block_data(b), 0, DEDUP_METADATA_BLOCK_SIZE);
	dm_bm_unlock(b);
	return 0;
}

static void fill_geometry(struct dedup_meta *md,
			  const struct dedup_meta_geometry *geo)
{
	struct dedup_sb *sb = &md->sb;

	sb->magic = DEDUP_MAGIC;
	sb->version = DEDUP_METADATA_VERSION;
	sb->metadata_block_size = DEDUP_METADATA_BLOCK_SIZE;
	sb->data_block_size = geo->data_block_size;
	sb->fp_size = geo->fp_size;
	strscpy(sb->hash_name, geo->hash_name, sizeof(sb->hash_name));
	sb->data_nr_blocks = geo->data_nr_blocks;
}

static int __commit(struct dedup_meta *md, u64 hits, u64 zero_writes);

static int format_metadata(struct dedup_meta *md,
			   const struct dedup_meta_geometry *geo)
{
	int i, r;

	r = dm_tm_create_with_sm(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				 &md->tm, &md->metadata_sm);
	if (r)
		return r;
	memset(&md->sb, 0, sizeof(md->sb));
	generate_random_uuid(md->sb.uuid);
	fill_geometry(md, geo);
	r = grow(md, md->nr_blocks);
	if (r)
		return r;
	init_arrays(md);
	for (i = 0; i < DEDUP_NR_ARRAYS; i++) {
		r = dedup_array_empty(&md->arrays[i]);
		if (r)
			return r;
	}
	memset(&md->wc, 0, sizeof(md->wc));
	return __commit(md, 0, 0);
}

/*
 * Whether a space map root fits its region: dm-persistent-data trusts the
 * root's block count (the metadata space map indexes a fixed array of
 * bitmaps with it), so a crafted one must not reach it.  Its bitmap and
 * reference count roots are region A blocks.
 */
static bool sm_root_fits(const u8 *root, u64 max_blocks, u64 a_blocks)
{
	u64 n = get_unaligned_le64(root + DEDUP_SM_ROOT_NR_BLOCKS);

	return n && n <= max_blocks &&
		get_unaligned_le64(root + DEDUP_SM_ROOT_NR_ALLOCATED) <= n &&
		get_unaligned_le64(root + DEDUP_SM_ROOT_BITMAP_ROOT) < a_blocks &&
		get_unaligned_le64(root + DEDUP_SM_ROOT_REF_COUNT_ROOT) <
		a_blocks;
}

/* The roots of sb, on a device of md->nr_blocks. */
static bool sm_roots_fit(struct dedup_meta *md, struct dedup_sb *sb)
{
	u64 a = min(md->nr_blocks, DEDUP_REGION_A_MAX_BLOCKS);

	if (!sm_root_fits(sb->metadata_space_map_root, a, a))
		return false;
	return !(sb->incompat_flags & DEDUP_INCOMPAT_BULK) ||
		sm_root_fits(sb->bulk_space_map_root,
			     md->nr_blocks - DEDUP_REGION_A_MAX_BLOCKS, a);
}

/* Checks a superblock that is not all zeroes; sets *error on a mismatch. */
static int check_superblock(struct dedup_meta *md,
			    const struct dedup_meta_geometry *geo,
			    char **error)
{
	struct dedup_disk_superblock *d;
	struct dedup_sb *sb = &md->sb;
	struct dm_block *b;
	int r;

	r = dm_bm_read_lock(md->bm, DEDUP_SUPERBLOCK_LOCATION, NULL, &b);
	if (r) {
		*error = "Error reading superblock";
		return r;
	}
	d = dm_block_data(b);
	dedup_sb_unpack(d, sb);
	r = -EINVAL;
	if (sb->magic != DEDUP_MAGIC)
		*error = "Bad superblock magic";
	else if (le32_to_cpu(d->csum) != sb_checksum(d) ||
		 le64_to_cpu(d->blocknr) != DEDUP_SUPERBLOCK_LOCATION)
		*error = "Superblock checksum error";
	else if (sb->version != DEDUP_METADATA_VERSION ||
		 sb->metadata_block_size != DEDUP_METADATA_BLOCK_SIZE)
		*error = "Unsupported metadata version";
	else if ((sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED) ||
		 (sb->compat_ro_flags & ~DEDUP_COMPAT_RO_SUPPORTED))
		*error = "Unsupported metadata features";
	else if (sb->data_block_size != geo->data_block_size)
		*error = "Block size differs from metadata";
	else if (strncmp(sb->hash_name, geo->hash_name,
			 sizeof(sb->hash_name)) || sb->fp_size != geo->fp_size)
		*error = "Hash differs from metadata";
	else if (sb->data_nr_blocks > geo->data_nr_blocks)
		*error = "Data device smaller than recorded";
	else if (sb->metadata_nr_blocks > md->nr_blocks)
		*error = "Metadata device smaller than recorded";
	else if ((sb->incompat_flags & DEDUP_INCOMPAT_BULK) &&
		 (sb->bulk_start != DEDUP_REGION_A_MAX_BLOCKS ||
		  sb->bulk_start + sb->bulk_nr_blocks != sb->metadata_nr_blocks))
		*error = "Corrupt superblock";
	else if (!sm_roots_fit(md, sb))
		*error = "Corrupt space map root";
	else
		r = 0;
	dm_bm_unlock(b);
	return r;
}

static void counters_from_sb(struct dedup_meta *md)
{
	struct dedup_sb *sb = &md->sb;
	struct dedup_counters *c = &md->wc;

	c->transaction_id = sb->transaction_id;
	c->nr_mapped = sb->nr_mapped;
	c->nr_zero = sb->nr_zero;
	c->nr_unique = sb->nr_unique;
	c->dedup_hits = sb->dedup_hits;
	c->zero_writes = sb->zero_writes;
	c->commits = sb->commits;
}

static int open_metadata(struct dedup_meta *md,
			 const struct dedup_meta_geometry *geo)
{
	struct dedup_sb *sb = &md->sb;
	int r;

	r = dm_tm_open_with_sm(md->bm, DEDUP_SUPERBLOCK_LOCATION,
			       sb->metadata_space_map_root,
			       sizeof(sb->metadata_space_map_root),
			       &md->tm, &md->metadata_sm);
	if (r)
		return r;
	if (sb->incompat_flags & DEDUP_INCOMPAT_BULK) {
		md->bulk_sm = dm_sm_disk_open(md->tm, sb->bulk_space_map_root,
					      sizeof(sb->bulk_space_map_root));
		if (IS_ERR(md->bulk_sm)) {
			r = PTR_ERR(md->bulk_sm);
			md->bulk_sm = NULL;
			return r;
		}
		md->bulk_start = sb->bulk_start;
		md->bulk_nr_blocks = sb->bulk_nr_blocks;
	}
	init_arrays(md);
	counters_from_sb(md);
	md->alloc_cursor = sb->alloc_cursor;
	sb->data_nr_blocks = geo->data_nr_blocks;
	if (md->nr_blocks == sb->metadata_nr_blocks)
		return 0;
	/* Metadata to be checked is not written: the growth waits. */
	if (sb->flags & DEDUP_SB_NEEDS_CHECK) {
		md->nr_blocks = sb->metadata_nr_blocks;
		return 0;
	}
	/*
	 * The metadata device grew while the pool was down: the space maps
	 * count the new blocks free only once that is committed.
	 */
	r = grow(md, md->nr_blocks);
	return r ?: __commit(md, 0, 0);
}

/* The published view readers do not use (free since the last retire). */
static struct dedup_pub *spare_pub(struct dedup_meta *md)
{
	struct dedup_pub *cur = rcu_dereference_protected(md->pub, true);

	return cur == &md->pubs[0] ? &md->pubs[1] : &md->pubs[0];
}

static void publish(struct dedup_meta *md)
{
	struct dedup_pub *cur = rcu_dereference_protected(md->pub, true);
	struct dedup_pub *next = spare_pub(md);
	int i;

	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		next->roots[i] = md->arrays[i].root;
	next->seq = (cur ? cur->seq : 0) + 1;
	next->c = md->wc;
	space(md, &next->c);
	rcu_assign_pointer(md->pub, next);
}

/*
 * The RAM index at open: the saved one, a rebuild, or empty.
 */
static int load_saved_shard(void *context, u64 shard, u8 **buckets, u32 *nb,
			    u64 *entries);

/*
 * The geometry of a saved index that can be loaded, into g: saved by the
 * last commit, and able to address the data device (which may have grown
 * since, see save_index()) with shards at most four times as large as
 * those a new index would have.
 */
static bool saved_index_usable(struct dedup_meta *md,
			       struct dedup_index_geometry *g)
{
	struct dedup_sb *sb = &md->sb;
	struct dedup_index_geometry now;
	u64 nfp = div_u64(md->data_nr_blocks + md->fps_per_block - 1,
			  md->fps_per_block);

	if (!(sb->compat_flags & DEDUP_COMPAT_SAVED_INDEX) ||
	    sb->save_transaction_id != sb->transaction_id)
		return false;
	dedup_index_geometry(md->data_nr_blocks, md->fps_per_block, &now);
	if (sb->save_loc_bits < 8 ||
	    sb->save_loc_bits > DEDUP_INDEX_ENTRY_BITS - 16 ||
	    nfp + 1 >= (1ULL << sb->save_loc_bits) - 1 ||
	    sb->save_shard_bits > now.shard_bits ||
	    sb->save_shard_bits + 2 < now.shard_bits) {
		DMINFO("fingerprint index: the saved one (%u shard bits, %u loc bits) does not fit the data device (%u, %u); rebuilding it",
		       sb->save_shard_bits, sb->save_loc_bits, now.shard_bits,
		       now.loc_bits);
		return false;
	}
	*g = now;
	g->shard_bits = sb->save_shard_bits;
	g->loc_bits = sb->save_loc_bits;
	return true;
}

static int open_index(struct dedup_meta *md)
{
	struct dedup_index_geometry g;
	struct dedup_sb *sb = &md->sb;
	bool saved = saved_index_usable(md, &g);

	if (!saved)
		dedup_index_geometry(md->data_nr_blocks, md->fps_per_block,
				     &g);
	md->index = dedup_index_create(&g, load_saved_shard, md);
	if (IS_ERR(md->index)) {
		int r = PTR_ERR(md->index);

		md->index = NULL;
		return r;
	}
	if (saved) {
		dedup_index_set_unloaded(md->index);
		md->index_state = DEDUP_INDEX_LOADING;
		return 0;
	}
	/* A stale saved index is freed by the first commit. */
	md->drop_saved = sb->compat_flags & DEDUP_COMPAT_SAVED_INDEX;
	md->index_state = sb->nr_unique ? DEDUP_INDEX_REBUILDING :
		DEDUP_INDEX_READY;
	md->rebuild_next = 0;
	return 0;
}

/* The allocator at open: in-use counts from the summary array. */
static int open_alloc(struct dedup_meta *md)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_SUMMARY];
	__le32 *used;
	u64 bidx = 0;
	u32 i;
	int r;

	md->alloc = dedup_alloc_create(md, md->data_nr_blocks,
				       md->alloc_cursor);
	if (!md->alloc)
		return -ENOMEM;
	used = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_KERNEL);
	if (!used)
		return -ENOMEM;
	for (;; bidx++) {
		r = dedup_array_next_block(a, &bidx);
		if (r == -ENODATA) {
			r = 0;
			break;
		}
		if (!r)
			r = dedup_array_read_block(a, bidx, used);
		if (r)
			break;
		for (i = 0; i < a->per_block; i++)
			if (used[i])
				dedup_alloc_set_used(md->alloc,
						     bidx * a->per_block + i,
						     le32_to_cpu(used[i]));
	}
	kfree(used);
	return r;
}

static void free_meta(struct dedup_meta *md)
{
	int i;

	/* After a failed transaction an array block may still be held. */
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		if (md->arrays[i].held) {
			dm_bm_unlock(md->arrays[i].held);
			md->arrays[i].held = NULL;
		}
	if (md->array_cache)
		dm_bufio_client_destroy(md->array_cache);
	if (md->node_cache)
		dm_bufio_client_destroy(md->node_cache);
	if (md->alloc)
		dedup_alloc_destroy(md->alloc);
	if (md->index)
		dedup_index_destroy(md->index);
	if (md->tm) {
		dm_tm_destroy(md->tm);
		if (md->bulk_sm)
			dm_sm_destroy(md->bulk_sm);
		dm_sm_destroy(md->metadata_sm);
	}
	if (md->bm)
		dm_block_manager_destroy(md->bm);
	xa_destroy(&md->fresh);
	kvfree(md->freed);
	kvfree(md->retired);
	free_percpu(md->loc_cache);
	cleanup_srcu_struct(&md->srcu);
	kfree(md);
}

struct dedup_meta *dedup_meta_open(struct block_device *bdev,
				   const struct dedup_meta_geometry *geo,
				   char **error)
{
	struct dedup_meta *md;
	bool zeroes;
	int r;

	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md) {
		*error = "Cannot allocate metadata";
		return ERR_PTR(-ENOMEM);
	}
	mutex_init(&md->lock);
	xa_init(&md->fresh);
	r = init_srcu_struct(&md->srcu);
	if (r) {
		kfree(md);
		*error = "Cannot allocate metadata";
		return ERR_PTR(r);
	}
	/* From here on, free_meta() undoes everything. */
	md->loc_cache = dedup_fault_fail(DEDUP_FAULT_OPEN_ALLOC) ? NULL :
		alloc_percpu(struct dedup_loc_cache);
	if (!md->loc_cache) {
		r = -ENOMEM;
		*error = "Cannot allocate metadata";
		goto bad;
	}
	md->bdev = bdev;
	md->fp_size = geo->fp_size;
	md->fps_per_block = dedup_array_entries_per_block(geo->fp_size);
	md->data_nr_blocks = geo->data_nr_blocks;
	md->nr_blocks = bdev_nr_bytes(bdev) / DEDUP_METADATA_BLOCK_SIZE;

	md->bm = dm_block_manager_create(bdev, DEDUP_METADATA_BLOCK_SIZE,
					 DEDUP_MAX_CONCURRENT_LOCKS);
	if (IS_ERR(md->bm)) {
		r = PTR_ERR(md->bm);
		md->bm = NULL;
		*error = "Cannot create block manager";
		goto bad;
	}
	if (md->nr_blocks < DEDUP_MIN_METADATA_BLOCKS) {
		r = -EINVAL;
		*error = "Metadata device too small";
		goto bad;
	}

	r = superblock_all_zeroes(md->bm, &zeroes);
	if (r) {
		*error = "Error reading superblock";
		goto bad;
	}
	if (zeroes) {
		r = format_metadata(md, geo);
		if (r)
			*error = "Error formatting metadata";
	} else {
		r = check_superblock(md, geo, error);
		if (!r) {
			r = open_metadata(md, geo);
			if (r)
				*error = "Error opening metadata";
		}
	}
	if (r)
		goto bad;
	publish(md);

	r = open_index(md);
	if (!r)
		r = open_alloc(md);
	if (r) {
		*error = r == -EFBIG ? "Data device too large" :
			"Cannot build in-memory metadata";
		goto bad;
	}

	md->node_cache = dm_bufio_client_create(bdev, DEDUP_METADATA_BLOCK_SIZE,
						1, sizeof(bool),
						dedup_array_reader_buffer_new,
						NULL, 0);
	md->array_cache = IS_ERR(md->node_cache) ? NULL :
		dm_bufio_client_create(bdev, DEDUP_METADATA_BLOCK_SIZE, 1,
				       sizeof(bool),
				       dedup_array_reader_buffer_new, NULL, 0);
	if (IS_ERR_OR_NULL(md->node_cache) || IS_ERR(md->array_cache)) {
		r = IS_ERR(md->node_cache) ? PTR_ERR(md->node_cache) :
			PTR_ERR(md->array_cache);
		if (IS_ERR(md->node_cache))
			md->node_cache = NULL;
		if (IS_ERR_OR_NULL(md->array_cache))
			md->array_cache = NULL;
		*error = "Cannot create reader cache";
		goto bad;
	}
	return md;

bad:
	free_meta(md);
	return ERR_PTR(r);
}

bool dedup_meta_needs_check(struct dedup_meta *md)
{
	return READ_ONCE(md->sb.flags) & DEDUP_SB_NEEDS_CHECK;
}

void dedup_meta_counters(struct dedup_meta *md, struct dedup_counters *c)
{
	int idx = srcu_read_lock(&md->srcu);

	*c = srcu_dereference(md->pub, &md->srcu)->c;
	srcu_read_unlock(&md->srcu, idx);
}

void dedup_meta_get_stats(struct dedup_meta *md, struct dedup_meta_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->index_state = READ_ONCE(md->index_state);
	s->index_entries = dedup_index_entries(md->index);
	s->index_ram_bytes = dedup_index_ram(md->index);
	if (s->index_state == DEDUP_INDEX_LOADING) {
		s->index_progress = READ_ONCE(md->loaded_entries);
		s->index_total = md->sb.save_entries;
	} else if (s->index_state == DEDUP_INDEX_REBUILDING) {
		s->index_progress = READ_ONCE(md->rebuild_next);
		s->index_total = div_u64(md->data_nr_blocks +
					 md->fps_per_block - 1,
					 md->fps_per_block);
	}
	s->data_free = dedup_alloc_free(md->alloc);
	s->alloc_ram_bytes = dedup_alloc_ram(md->alloc);
}

/*
 * Reader side
 */
u64 dedup_meta_publish_seq(struct dedup_meta *md)
{
	int idx = srcu_read_lock(&md->srcu);
	u64 seq = srcu_dereference(md->pub, &md->srcu)->seq;

	srcu_read_unlock(&md->srcu, idx);
	return seq;
}

/* The published view of array id; md->srcu held. */
static struct dedup_view view(struct dedup_meta *md, enum dedup_array_id id)
{
	struct dedup_pub *pub = srcu_dereference(md->pub, &md->srcu);
	struct dedup_view v = { .root = pub->roots[id], .seq = pub->seq };

	return v;
}

static int find_entry(struct dedup_meta *md, enum dedup_array_id id, u64 key,
		      void *value, u64 *seq)
{
	int idx, r;

	struct dedup_view v;

	idx = srcu_read_lock(&md->srcu);
	v = view(md, id);
	if (seq)
		*seq = v.seq;
	r = dedup_array_lookup(&md->arrays[id], v, key, value);
	srcu_read_unlock(&md->srcu, idx);
	return r;
}

int dedup_meta_find_lbn(struct dedup_meta *md, u64 lbn, u64 *value, u64 *seq)
{
	__le64 v;
	u64 x;
	int r;

	r = find_entry(md, DEDUP_A_LBN, lbn, &v, seq);
	if (r)
		return r;
	x = le64_to_cpu(v);
	if (x == DEDUP_LBN_UNMAPPED)
		return -ENODATA;
	*value = x == DEDUP_LBN_ZERO ? DEDUP_ZERO_PBN : x - DEDUP_LBN_PBN_BASE;
	return 0;
}

int dedup_meta_find_refcount(struct dedup_meta *md, u64 pbn, u32 *count,
			     u64 *seq)
{
	__le32 v;
	int r;

	r = find_entry(md, DEDUP_A_REFCOUNT, pbn, &v, seq);
	if (!r)
		*count = le32_to_cpu(v);
	return r;
}

int dedup_meta_find_fp(struct dedup_meta *md, const u8 *fp,
		       const struct dedup_skip *skip, u64 *pbn, u64 *seq)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_FP];
	u64 blocks[FP_CANDIDATES];
	struct dedup_view v;
	int n, i, idx, r = -ENODATA;
	u32 pos;

	n = dedup_index_lookup(md->index, fp, blocks, FP_CANDIDATES);
	/* A shard that cannot be loaded for want of memory: a miss. */
	if (n == -ENOMEM)
		return -ENODATA;
	if (n < 0)
		return n;
	idx = srcu_read_lock(&md->srcu);
	v = view(md, DEDUP_A_FP);
	*seq = v.seq;
	for (i = 0; i < n && r == -ENODATA; i++) {
		for (pos = 0; pos < a->per_block; pos++) {
			r = dedup_array_find_in_block(a, v, blocks[i], fp,
						      pos, &pos);
			if (r)
				break;
			*pbn = blocks[i] * a->per_block + pos;
			if (!dedup_skip_has(skip, *pbn))
				break;
			r = -ENODATA;
		}
	}
	srcu_read_unlock(&md->srcu, idx);
	return r;
}

int dedup_meta_read_published(struct dedup_meta *md, enum dedup_array_id id,
			      u64 bidx, void *buf)
{
	int idx, r;

	idx = srcu_read_lock(&md->srcu);
	r = dedup_array_lookup_block(&md->arrays[id], view(md, id), bidx, buf);
	srcu_read_unlock(&md->srcu, idx);
	return r;
}

/*
 * Data blocks
 */
int dedup_meta_alloc_data_block(struct dedup_meta *md, u64 *pbn)
{
	return dedup_alloc_get(md->alloc, pbn);
}

void dedup_meta_unalloc_data_block(struct dedup_meta *md, u64 pbn)
{
	dedup_alloc_put(md->alloc, pbn, false);
}

void dedup_meta_release_data_block(struct dedup_meta *md, u64 pbn,
				   bool was_committed)
{
	dedup_alloc_put(md->alloc, pbn, was_committed);
}

void dedup_meta_data_block_dying(struct dedup_meta *md, u64 pbn)
{
	dedup_alloc_dying(md->alloc, pbn);
}

void dedup_meta_data_block_published(struct dedup_meta *md, u64 pbn)
{
	dedup_alloc_published(md->alloc, pbn);
}

u64 dedup_meta_data_blocks(struct dedup_meta *md)
{
	return READ_ONCE(md->data_nr_blocks);
}

u64 dedup_meta_metadata_blocks(struct dedup_meta *md)
{
	return READ_ONCE(md->nr_blocks);
}

int dedup_meta_resize_metadata(struct dedup_meta *md, u64 nr_blocks)
{
	int r = -EINVAL;

	struct dedup_counters c;

	mutex_lock(&md->lock);
	if (!md->fail_io && nr_blocks >= md->nr_blocks) {
		r = grow(md, nr_blocks);
		if (!r) {
			WRITE_ONCE(md->nr_blocks, nr_blocks);
			/*
			 * The space is usable now: status says so at once.
			 * The same roots, republished with the new space (the
			 * caller excludes commits, so the spare is free).
			 */
			struct dedup_pub *cur, *next = spare_pub(md);

			cur = rcu_dereference_protected(md->pub, true);
			*next = *cur;
			space(md, &c);
			next->c.meta_used = c.meta_used;
			next->c.meta_total = c.meta_total;
			next->c.meta_free_a = c.meta_free_a;
			next->c.meta_free_bulk = c.meta_free_bulk;
			next->c.has_bulk = c.has_bulk;
			rcu_assign_pointer(md->pub, next);
			synchronize_srcu(&md->srcu);
		}
	}
	mutex_unlock(&md->lock);
	return r;
}

int dedup_meta_resize_data(struct dedup_meta *md, u64 data_nr_blocks)
{
	int r;

	mutex_lock(&md->lock);
	r = dedup_alloc_resize(md->alloc, data_nr_blocks);
	if (!r) {
		md->sb.data_nr_blocks = data_nr_blocks;
		WRITE_ONCE(md->data_nr_blocks, data_nr_blocks);
	}
	mutex_unlock(&md->lock);
	return r;
}

/*
 * Committer side: changes to the working arrays
 */
static u64 lbn_encode(u64 value)
{
	if (value == DEDUP_UNMAPPED)
		return DEDUP_LBN_UNMAPPED;
	if (value == DEDUP_ZERO_PBN)
		return DEDUP_LBN_ZERO;
	return value + DEDUP_LBN_PBN_BASE;
}

static int __set_lbn(struct dedup_meta *md, u64 lbn, u64 value)
{
	__le64 new = cpu_to_le64(lbn_encode(value)), old_le;
	u64 old;
	int r;

	r = dedup_array_update_entry(&md->arrays[DEDUP_A_LBN], lbn, &new,
				     &old_le);
	if (r)
		return r;
	old = le64_to_cpu(old_le);
	if (old == DEDUP_LBN_ZERO)
		md->wc.nr_zero--;
	else if (old != DEDUP_LBN_UNMAPPED)
		md->wc.nr_mapped--;
	if (value == DEDUP_ZERO_PBN)
		md->wc.nr_zero++;
	else if (value != DEDUP_UNMAPPED)
		md->wc.nr_mapped++;
	return 0;
}

/* Adds delta to the u32 entry idx of array id; *result is the new value. */
static int add32(struct dedup_meta *md, enum dedup_array_id id, u64 idx,
		 s64 delta, u32 *old, u32 *result)
{
	struct dedup_array *a = &md->arrays[id];
	struct dm_block *b;
	__le32 *p;
	s64 v;
	int r;

	r = dedup_array_write_entry(a, idx, delta > 0, &b, (void **)&p);
	if (r == -ENODATA) {
		*old = 0;
		return -ERANGE;
	}
	if (r)
		return r;
	*old = le32_to_cpu(*p);
	v = *old + delta;
	if (v < 0 || v > U32_MAX)
		return -ERANGE;	/* b stays the array's held block */
	*p = cpu_to_le32(v);
	*result = v;
	dedup_array_write_done(a, !v);
	return 0;
}

/* Counts a block in or out of its chunk's summary entry. */
static int summary_add(struct dedup_meta *md, u64 pbn, int delta)
{
	u32 old, now;
	int r;

	r = add32(md, DEDUP_A_SUMMARY, div_u64(pbn, DEDUP_CHUNK_BLOCKS), delta,
		  &old, &now);
	if (r == -ERANGE) {
		DMERR("summary of the chunk of block %llu out of range", pbn);
		r = -EILSEQ;
	}
	return r;
}

static int __new_block(struct dedup_meta *md, u64 pbn, u32 count,
		       const u8 *fp)
{
	u32 old, now;
	u8 old_fp[DEDUP_MAX_FP_SIZE];
	int r;

	if (!count || pbn >= md->data_nr_blocks)
		return -EINVAL;
	r = add32(md, DEDUP_A_REFCOUNT, pbn, count, &old, &now);
	if (!r && old) {
		DMERR("block %llu is allocated twice", pbn);
		r = -EILSEQ;
	}
	if (!r)
		r = dedup_array_update_entry(&md->arrays[DEDUP_A_FP], pbn, fp,
					     old_fp);
	if (!r && memchr_inv(old_fp, 0, md->fp_size)) {
		DMERR("free block %llu has a fingerprint", pbn);
		r = -EILSEQ;
	}
	if (!r)
		r = summary_add(md, pbn, 1);
	if (r)
		return r == -ERANGE ? -EILSEQ : r;
	md->wc.nr_unique++;
	return 0;
}

static int __adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			  u32 *new_count, u8 *fp)
{
	u8 zero[DEDUP_MAX_FP_SIZE] = { 0 };
	u32 old;
	int r;

	r = add32(md, DEDUP_A_REFCOUNT, pbn, delta, &old, new_count);
	if (r == -ERANGE) {
		DMERR("reference count of block %llu (%u) cannot change by %lld",
		      pbn, old, delta);
		return -EILSEQ;
	}
	if (r || !old) {
		if (!r) {
			DMERR("block %llu has no reference count", pbn);
			r = -EILSEQ;
		}
		return r;
	}
	if (*new_count)
		return 0;
	r = dedup_array_update_entry(&md->arrays[DEDUP_A_FP], pbn, zero, fp);
	if (!r)
		r = summary_add(md, pbn, -1);
	if (!r)
		md->wc.nr_unique--;
	return r;
}

#define COMMITTER_VERB(call)			\
({						\
	int __r = -EINVAL;			\
						\
	mutex_lock(&md->lock);			\
	if (!md->fail_io) {			\
		md->cb_error = 0;		\
		__r = (call);			\
		if (!__r)			\
			__r = md->cb_error;	\
	}					\
	mutex_unlock(&md->lock);		\
	__r;					\
})

int dedup_meta_set_lbn(struct dedup_meta *md, u64 lbn, u64 value)
{
	return COMMITTER_VERB(__set_lbn(md, lbn, value));
}

int dedup_meta_new_block(struct dedup_meta *md, u64 pbn, u32 count,
			 const u8 *fp)
{
	return COMMITTER_VERB(__new_block(md, pbn, count, fp));
}

int dedup_meta_adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			    u32 *new_count, u8 *fp)
{
	return COMMITTER_VERB(__adjust_block(md, pbn, delta, new_count, fp));
}

/*
 * Commit, publish, retire
 */
static int drop_saved_index(struct dedup_meta *md)
{
	int r;

	r = dedup_array_delete(&md->arrays[DEDUP_A_SAVE]);
	if (!r)
		r = dedup_array_delete(&md->arrays[DEDUP_A_SAVE_DIR]);
	if (!r) {
		md->sb.compat_flags &= ~DEDUP_COMPAT_SAVED_INDEX;
		md->sb.save_transaction_id = 0;
		md->sb.save_entries = 0;
		md->drop_saved = false;
	}
	return r;
}

static int __commit(struct dedup_meta *md, u64 hits, u64 zero_writes)
{
	struct dedup_disk_superblock *d;
	struct dedup_sb sb;
	struct dm_block *sblock;
	size_t len;
	int i, r;

	if (md->drop_saved && md->index_state != DEDUP_INDEX_LOADING) {
		r = drop_saved_index(md);
		/* Out of memory before it changed anything: next commit. */
		if (r && r != -ENOMEM)
			return r;
	}
	/* No array block may stay locked over the commit. */
	for (i = 0; i < DEDUP_NR_ARRAYS; i++) {
		r = dedup_array_release(&md->arrays[i]);
		if (r)
			return r;
	}
	if (md->bulk_sm) {
		r = dm_sm_commit(md->bulk_sm);
		if (r)
			return r;
	}
	r = dm_tm_pre_commit(md->tm);
	if (r)
		return r;

	md->wc.transaction_id++;
	md->wc.dedup_hits += hits;
	md->wc.zero_writes += zero_writes;
	md->wc.commits++;

	sb = md->sb;
	sb.transaction_id = md->wc.transaction_id;
	sb.nr_mapped = md->wc.nr_mapped;
	sb.nr_zero = md->wc.nr_zero;
	sb.nr_unique = md->wc.nr_unique;
	sb.dedup_hits = md->wc.dedup_hits;
	sb.zero_writes = md->wc.zero_writes;
	sb.commits = md->wc.commits;
	sb.metadata_nr_blocks = md->nr_blocks;
	sb.bulk_start = md->bulk_start;
	sb.bulk_nr_blocks = md->bulk_nr_blocks;
	sb.alloc_cursor = md->alloc ? dedup_alloc_cursor(md->alloc) :
		md->alloc_cursor;
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		*sb_root(&sb, i) = md->arrays[i].root;
	memset(sb.metadata_space_map_root, 0, sizeof(sb.metadata_space_map_root));
	memset(sb.bulk_space_map_root, 0, sizeof(sb.bulk_space_map_root));
	r = dm_sm_root_size(md->metadata_sm, &len);
	if (!r)
		r = dm_sm_copy_root(md->metadata_sm, sb.metadata_space_map_root,
				    len);
	if (!r && md->bulk_sm) {
		r = dm_sm_root_size(md->bulk_sm, &len);
		if (!r)
			r = dm_sm_copy_root(md->bulk_sm, sb.bulk_space_map_root,
					    len);
	}
	if (r)
		return r;

	r = dm_bm_write_lock_zero(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				  &sb_validator, &sblock);
	if (r)
		return r;
	d = dm_block_data(sblock);
	dedup_sb_pack(&sb, d);
	r = dm_tm_commit(md->tm, sblock);
	if (r)
		return r;
	md->sb = sb;

	/* The blocks this transaction freed may be reused by the next. */
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		dedup_array_end_transaction(&md->arrays[i]);
	xa_destroy(&md->fresh);
	swap(md->freed, md->retired);
	swap(md->nr_freed, md->nr_retired);
	swap(md->freed_cap, md->retired_cap);
	md->nr_freed = 0;
	return 0;
}

int dedup_meta_commit(struct dedup_meta *md, u64 hits, u64 zero_writes)
{
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->fail_io) {
		md->cb_error = 0;
		r = __commit(md, hits, zero_writes);
		if (r)
			md->fail_io = true;
	}
	mutex_unlock(&md->lock);
	return r;
}

int dedup_meta_index_add(struct dedup_meta *md, const u8 *fp, u64 pbn)
{
	return dedup_index_insert(md->index, fp, pbn, false);
}

void dedup_meta_index_remove(struct dedup_meta *md, const u8 *fp, u64 pbn)
{
	dedup_index_remove(md->index, fp, pbn);
}

void dedup_meta_publish(struct dedup_meta *md)
{
	publish(md);
}

void dedup_meta_retire(struct dedup_meta *md)
{
	size_t i;

	synchronize_srcu(&md->srcu);
	dm_bufio_forget_buffers(md->node_cache, 0, md->nr_blocks);
	mutex_lock(&md->lock);
	if (md->nr_retired == SIZE_MAX) {
		dm_bufio_forget_buffers(md->array_cache, 0, md->nr_blocks);
	} else {
		for (i = 0; i < md->nr_retired; i++)
			dm_bufio_forget(md->array_cache, md->retired[i]);
	}
	md->nr_retired = 0;
	mutex_unlock(&md->lock);
}

int dedup_meta_set_needs_check(struct dedup_meta *md)
{
	struct dm_block *sblock;
	int r;

	mutex_lock(&md->lock);
	/* No more changes to the working arrays: they are abandoned. */
	md->fail_io = true;
	md->sb.flags |= DEDUP_SB_NEEDS_CHECK;
	/*
	 * The last committed superblock, plus the flag.  Flushing writes the
	 * abandoned transaction's fresh blocks too, but no superblock points
	 * at them, so the committed state is untouched.
	 */
	r = dm_bm_write_lock_zero(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				  &sb_validator, &sblock);
	if (!r) {
		dedup_sb_pack(&md->sb, dm_block_data(sblock));
		dm_bm_unlock(sblock);
		r = dm_bm_flush(md->bm);
	}
	mutex_unlock(&md->lock);
	return r;
}

/*
 * The RAM index: loading a saved one, rebuilding, saving
 */

/* Reads n saved buckets from position pos of the published save array. */
static int read_buckets(struct dedup_meta *md, u64 pos, u64 n, u8 *out,
			u8 *blk)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_SAVE];
	u64 bidx;
	u32 off, take;
	int r;

	while (n) {
		bidx = div_u64_rem(pos, a->per_block, &off);
		r = dedup_meta_read_published(md, DEDUP_A_SAVE, bidx, blk);
		if (r)
			return r;
		take = min_t(u64, n, a->per_block - off);
		memcpy(out, blk + off * DEDUP_INDEX_BUCKET_SIZE,
		       (size_t)take * DEDUP_INDEX_BUCKET_SIZE);
		out += (size_t)take * DEDUP_INDEX_BUCKET_SIZE;
		pos += take;
		n -= take;
	}
	return 0;
}

static int load_saved_shard(void *context, u64 shard, u8 **buckets, u32 *nb,
			    u64 *entries)
{
	struct dedup_meta *md = context;
	struct dedup_disk_save_shard h;
	unsigned int noio;
	__le64 dir;
	u64 pos;
	u8 *blk;
	int r;

	*buckets = NULL;
	*nb = 0;
	*entries = 0;
	r = find_entry(md, DEDUP_A_SAVE_DIR, div_u64(shard, DEDUP_SAVE_GROUP),
		       &dir, NULL);
	if (r || !dir)
		return r;
	blk = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_NOIO);
	if (!blk)
		return -ENOMEM;
	for (pos = le64_to_cpu(dir) - 1; ; pos += 1 + le32_to_cpu(h.nr_buckets)) {
		r = read_buckets(md, pos, 1, (u8 *)&h, blk);
		if (r)
			break;
		if (le32_to_cpu(h.magic) != DEDUP_SAVE_SHARD_MAGIC) {
			DMERR_LIMIT("saved index: no shard record at bucket %llu",
				    pos);
			r = -EILSEQ;
			break;
		}
		if (le64_to_cpu(h.shard) > shard ||
		    div_u64(le64_to_cpu(h.shard), DEDUP_SAVE_GROUP) !=
		    div_u64(shard, DEDUP_SAVE_GROUP))
			break;
		if (le64_to_cpu(h.shard) < shard)
			continue;
		*nb = le32_to_cpu(h.nr_buckets);
		*entries = le64_to_cpu(h.nr_entries);
		noio = memalloc_noio_save();
		*buckets = dedup_fault_alloc() ? NULL :
			kvmalloc_array(*nb, DEDUP_INDEX_BUCKET_SIZE,
				       GFP_KERNEL | __GFP_NOWARN);
		memalloc_noio_restore(noio);
		r = *buckets ? read_buckets(md, pos + 1, *nb, *buckets, blk) :
			-ENOMEM;
		break;
	}
	kfree(blk);
	if (r) {
		kvfree(*buckets);
		*buckets = NULL;
		*nb = 0;
	}
	return r;
}

/*
 * Loads up to budget saved shards, in the order they were saved, from
 * md->load_pos on; *more is false after the last one.
 */
static int load_step(struct dedup_meta *md, unsigned int budget, bool *more)
{
	struct dedup_disk_save_shard h;
	unsigned int noio;
	u8 *blk, *buckets;
	u32 nb;
	int r = 0;

	blk = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_NOIO);
	if (!blk)
		return -ENOMEM;
	*more = true;
	while (budget-- && !r) {
		r = read_buckets(md, md->load_pos, 1, (u8 *)&h, blk);
		if (r)
			break;
		if (!h.magic) {
			*more = false;
			break;
		}
		nb = le32_to_cpu(h.nr_buckets);
		if (le32_to_cpu(h.magic) != DEDUP_SAVE_SHARD_MAGIC) {
			DMERR_LIMIT("saved index: no shard record at bucket %llu",
				    md->load_pos);
			r = -EILSEQ;
			break;
		}
		noio = memalloc_noio_save();
		buckets = kvmalloc_array(max(nb, 1U), DEDUP_INDEX_BUCKET_SIZE,
					 GFP_KERNEL | __GFP_NOWARN);
		memalloc_noio_restore(noio);
		if (!buckets) {
			r = -ENOMEM;
			break;
		}
		r = read_buckets(md, md->load_pos + 1, nb, buckets, blk);
		if (!r)
			r = dedup_index_install(md->index, le64_to_cpu(h.shard),
						buckets, nb,
						le64_to_cpu(h.nr_entries));
		kvfree(buckets);
		if (!r) {
			md->load_pos += 1 + nb;
			WRITE_ONCE(md->loaded_entries, md->loaded_entries +
				   le64_to_cpu(h.nr_entries));
		}
	}
	kfree(blk);
	return r;
}

/*
 * Scans fp blocks of the working fp array into the index for up to
 * max_ms (at least one block).
 */
static int rebuild_step(struct dedup_meta *md, unsigned int max_ms)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_FP];
	ktime_t end = ktime_add_ms(ktime_get(), max_ms);
	u8 *blk;
	u64 bidx;
	u32 i;
	int r = 0;

	lockdep_assert_held(&md->lock);
	blk = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_NOIO);
	if (!blk)
		return -ENOMEM;
	do {
		bidx = md->rebuild_next;
		r = dedup_array_next_block(a, &bidx);
		if (r == -ENODATA) {
			r = 0;
			WRITE_ONCE(md->index_state, DEDUP_INDEX_READY);
			break;
		}
		if (!r)
			r = dedup_array_read_block(a, bidx, blk);
		for (i = 0; !r && i < a->per_block; i++)
			if (memchr_inv(blk + i * a->entry_size, 0, a->entry_size))
				r = dedup_index_insert(md->index,
						       blk + i * a->entry_size,
						       bidx * a->per_block + i,
						       true);
		if (r)
			break;
		WRITE_ONCE(md->rebuild_next, bidx + 1);
	} while (ktime_before(ktime_get(), end));
	kfree(blk);
	return r;
}

/*
 * Every saved shard was handed over, or loading failed (r): the index is
 * ready, or rebuilds what the saved one lacked.  Either way the saved
 * index's blocks go with the next commit.
 */
static void end_loading(struct dedup_meta *md, int r)
{
	u64 bad;

	dedup_index_all_loaded(md->index);
	bad = dedup_index_bad_shards(md->index);
	mutex_lock(&md->lock);
	if (r || bad) {
		if (r)
			DMWARN("fingerprint index: loading the saved one failed (%d); rebuilding it",
			       r);
		md->rebuild_next = 0;
		WRITE_ONCE(md->index_state, DEDUP_INDEX_REBUILDING);
	} else {
		WRITE_ONCE(md->index_state, DEDUP_INDEX_READY);
	}
	md->drop_saved = true;
	mutex_unlock(&md->lock);
}

bool dedup_meta_index_load(struct dedup_meta *md, unsigned int budget)
{
	bool more = true;
	int r;

	if (READ_ONCE(md->index_state) != DEDUP_INDEX_LOADING)
		return false;
	r = load_step(md, budget, &more);
	if (r || !more)
		end_loading(md, r);
	return !r && more;
}

bool dedup_meta_saved_index_dropping(struct dedup_meta *md)
{
	return READ_ONCE(md->drop_saved) && !dedup_meta_needs_check(md);
}

bool dedup_meta_index_rebuild(struct dedup_meta *md, unsigned int max_ms)
{
	int r;

	if (READ_ONCE(md->index_state) != DEDUP_INDEX_REBUILDING)
		return false;
	mutex_lock(&md->lock);
	r = md->fail_io ? 0 : rebuild_step(md, max_ms);
	if (r) {
		DMERR_LIMIT("fingerprint index: rebuilding failed: %d; duplicates are stored again until reload",
			    r);
		/* Incomplete: never saved, rebuilt at the next activation. */
		md->index_incomplete = true;
		WRITE_ONCE(md->index_state, DEDUP_INDEX_READY);
	}
	mutex_unlock(&md->lock);
	return READ_ONCE(md->index_state) == DEDUP_INDEX_REBUILDING;
}

struct save_state {
	struct dedup_meta *md;
	u8 *blk;		/* staging block of buckets */
	u64 pos;		/* next bucket position */
	u64 last_group;
	u64 entries;
};

static int save_bucket(struct save_state *st, const void *bucket)
{
	struct dedup_array *a = &st->md->arrays[DEDUP_A_SAVE];
	u64 bidx;
	u32 off;
	int r = 0;

	bidx = div_u64_rem(st->pos, a->per_block, &off);
	memcpy(st->blk + off * DEDUP_INDEX_BUCKET_SIZE, bucket,
	       DEDUP_INDEX_BUCKET_SIZE);
	st->pos++;
	if (off + 1 == a->per_block) {
		r = dedup_array_write_block(a, bidx, st->blk);
		memset(st->blk, 0, DEDUP_ARRAY_PAYLOAD);
	}
	return r;
}

static int save_shard(void *context, u64 shard, const u8 *buckets, u32 nb,
		      u64 entries)
{
	struct save_state *st = context;
	struct dedup_disk_save_shard h;
	u64 group = div_u64(shard, DEDUP_SAVE_GROUP);
	u32 i;
	int r = 0;

	if (group != st->last_group) {
		__le64 dir = cpu_to_le64(st->pos + 1);

		r = dedup_array_update_entry(&st->md->arrays[DEDUP_A_SAVE_DIR],
					     group, &dir, NULL);
		st->last_group = group;
	}
	memset(&h, 0, sizeof(h));
	h.magic = cpu_to_le32(DEDUP_SAVE_SHARD_MAGIC);
	h.nr_buckets = cpu_to_le32(nb);
	h.shard = cpu_to_le64(shard);
	h.nr_entries = cpu_to_le64(entries);
	if (!r)
		r = save_bucket(st, &h);
	for (i = 0; !r && i < nb; i++)
		r = save_bucket(st, buckets + (size_t)i * DEDUP_INDEX_BUCKET_SIZE);
	st->entries += entries;
	return r;
}

/* Writes the RAM index into the save arrays and commits; md->lock held. */
static int save_index(struct dedup_meta *md)
{
	struct dedup_index_geometry g;
	struct save_state st = { .md = md, .last_group = ~0ULL };
	struct dedup_array *a = &md->arrays[DEDUP_A_SAVE];
	int r;

	st.blk = kzalloc(DEDUP_ARRAY_PAYLOAD, GFP_KERNEL);
	if (!st.blk)
		return -ENOMEM;
	/*
	 * A previous saved index still there (no commit since it was
	 * loaded) goes in a commit of its own: blocks freed in a transaction
	 * are reused only by the next, so the two copies never need room
	 * at once.
	 */
	if (md->sb.compat_flags & DEDUP_COMPAT_SAVED_INDEX) {
		r = drop_saved_index(md);
		if (!r)
			r = __commit(md, 0, 0);
		if (r) {
			kfree(st.blk);
			return r;
		}
	}
	r = dedup_index_save(md->index, save_shard, &st);
	if (!r && st.pos % a->per_block)
		r = dedup_array_write_block(a, div_u64(st.pos, a->per_block),
					    st.blk);
	kfree(st.blk);
	if (r)
		return r;
	/*
	 * The buckets are laid out in the geometry the index was created
	 * with, which is the data device's at the last activation: a grow
	 * since does not change it.
	 */
	dedup_index_get_geometry(md->index, &g);
	md->sb.compat_flags |= DEDUP_COMPAT_SAVED_INDEX;
	md->sb.save_transaction_id = md->wc.transaction_id + 1;
	md->sb.save_entries = st.entries;
	md->sb.save_shard_bits = g.shard_bits;
	md->sb.save_loc_bits = g.loc_bits;
	return __commit(md, 0, 0);
}

void dedup_meta_close(struct dedup_meta *md, bool save)
{
	int r;

	mutex_lock(&md->lock);
	if (save && !md->fail_io) {
		/* A saved index still loading is finished first. */
		while (md->index_state == DEDUP_INDEX_LOADING) {
			mutex_unlock(&md->lock);
			dedup_meta_index_load(md, 1024);
			mutex_lock(&md->lock);
		}
		/* Nothing committed since it was saved: still valid. */
		if (md->index_state == DEDUP_INDEX_READY &&
		    !md->index_incomplete &&
		    !((md->sb.compat_flags & DEDUP_COMPAT_SAVED_INDEX) &&
		      md->sb.save_transaction_id == md->sb.transaction_id)) {
			md->cb_error = 0;
			r = save_index(md);
			if (r)
				DMERR("could not save the fingerprint index (%d); the next load rebuilds it",
				      r);
		}
	}
	mutex_unlock(&md->lock);
	free_meta(md);
}

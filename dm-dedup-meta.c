// SPDX-License-Identifier: GPL-2.0
/*
 * The persistent metadata of dm-dedup behind an opaque handle: open and
 * close, superblock, transaction, the published (committed) view, and the
 * verbs of include/dm-dedup-meta.h.
 */

/**
 * DOC: metadata
 *
 * The on-disk layout is described in include/dm-dedup-format.h and the
 * reasons for it in doc/metadata.md: six sparse arrays (dm-dedup-array.c)
 * indexed by dm_btrees in a dm-persistent-data transaction, whose blocks
 * the space accounting (dm-dedup-space.c) counts in region A and, on
 * devices larger than 15.875 GiB, a bulk region beyond it.  In RAM: the
 * fingerprint index (dm-dedup-index.c), loaded from a saved copy
 * (dm-dedup-index-save.c) or rebuilt here, and the data block allocator
 * (dm-dedup-alloc.c), which reads the published refcount array through a
 * callback of ours.
 *
 * Two kinds of caller use it at the same time.
 *
 * The committer (dm-dedup-cow-commit.c) is the only one that changes
 * anything.
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
 * drained, the btree nodes and the array blocks freed by the commit are
 * forgotten by the readers' caches (and copies, dm-dedup-copies.c), before
 * the next transaction may reuse them; the rest stay cached.
 *
 * Lock order: lock (committer, sleeping); the index's and the allocator's
 * spinlocks are leaves.  Readers take no lock of ours: the published roots
 * are read under SRCU (md->pub), which is also what keeps their blocks.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <linux/vmalloc.h>
#include <asm/unaligned.h>

#include <linux/srcu.h>

#include "dm-dedup-alloc.h"
#include "dm-dedup-array.h"
#include "dm-dedup-copies.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-index.h"
#include "dm-dedup-index-save.h"
#include "dm-dedup-meta.h"
#include "dm-dedup-space.h"

/* dm-persistent-data's own, and one held block per array (committer). */
#define DEDUP_MAX_CONCURRENT_LOCKS	(5 + DEDUP_NR_ARRAYS)
#define FP_CANDIDATES			8

/*
 * Published state: what readers see.  Immutable once published; two of
 * them alternate (the one not published is rewritten only after readers
 * of it have drained, at retire).
 */
struct dedup_pub {
	u64 roots[DEDUP_NR_ARRAYS];
	u64 seq;			/* publish sequence number */
	struct dedup_counters c;
};

struct dedup_meta {
	struct block_device *bdev;
	unsigned int fp_size;
	unsigned int fps_per_block;
	u64 data_nr_blocks;

	/*
	 * Protects everything the committer changes: the persistent-data
	 * objects, the space accounting, the arrays' working roots, sb and
	 * wc.  Taken by every committer-side verb and by open/close; never
	 * by readers.  Held across metadata I/O.
	 */
	struct mutex lock;
	/*
	 * Set by the pool's mode machine (dedup_meta_set_read_only()) when
	 * the pool leaves rw for good: no committer verb changes anything
	 * from then on, and the working transaction is never committed.
	 */
	bool read_only;

	struct dm_block_manager *bm;
	struct dm_transaction_manager *tm;
	struct dedup_space *space;
	struct dedup_array_env env;	/* what the arrays use of us */

	struct dedup_array arrays[DEDUP_NR_ARRAYS];
	/*
	 * disk_sb is the superblock of the last commit (or as loaded); sb is
	 * what the next commit writes: disk_sb plus the working transaction's
	 * changes (feature flags, the saved index, the data device's size).
	 */
	struct dedup_sb sb;
	struct dedup_sb disk_sb;
	struct dedup_counters wc;	/* working counters */
	u64 alloc_cursor;

	/*
	 * The published commit: pub points at one of pubs, under srcu
	 * (readers: srcu_dereference); the committer changes it with
	 * rcu_assign_pointer and rewrites the other one only after retire.
	 */
	struct dedup_pub pubs[2];
	struct dedup_pub __rcu *pub;
	/* Readers of published roots; drained at retire. */
	struct srcu_struct srcu;
	/* Room for retire's walk of the changed btree nodes (under lock). */
	struct dedup_node_diff node_diff;

	struct dedup_index *index;
	struct dedup_alloc *alloc;

	/*
	 * The RAM index's origin: loading the saved one (save_* of sb, its
	 * arrays still referenced by their published roots), rebuilding it
	 * from the fp array (rebuild_next: next fp block to scan), or done.
	 * Committer only, but for index_state, read by status, and saved,
	 * the loader's.
	 */
	enum dedup_index_state index_state;
	struct dedup_saved_index saved;
	u64 rebuild_next;
	bool drop_saved;		/* next commit frees the saved index */
	bool index_incomplete;		/* loading/rebuilding failed */
	bool rebuild_short;		/* rebuilding is short of memory */
};

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

/* The space figures of the working transaction into c. */
static void space(struct dedup_meta *md, struct dedup_counters *c)
{
	struct dedup_space_counts sc;

	dedup_space_counts(md->space, &sc);
	c->meta_used = sc.used;
	c->meta_total = sc.total;
	c->meta_free_a = sc.free_a;
	c->meta_free_bulk = sc.free_bulk;
	c->has_bulk = sc.has_bulk;
}

/* Region A up to its cap, then a bulk region (recorded in the superblock). */
static int grow(struct dedup_meta *md, u64 nr_blocks)
{
	bool bulk;
	int r;

	lockdep_assert_held(&md->lock);
	r = dedup_space_grow(md->space, nr_blocks, &bulk);
	if (bulk)
		md->sb.incompat_flags |= DEDUP_INCOMPAT_BULK;
	return r;
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

/* The space accounting and the arrays, on md->tm made with region A's sm. */
static int init_arrays(struct dedup_meta *md, struct dm_space_map *sm)
{
	int i;

	md->space = dedup_space_create(md->tm, sm);
	if (!md->space) {
		dm_sm_destroy(sm);
		return -ENOMEM;
	}
	md->env.bm = md->bm;
	md->env.tm = md->tm;
	md->env.space = md->space;
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		dedup_array_init(&md->env, &md->arrays[i], i, kinds[i],
				 entry_sizes[i] ?: md->fp_size,
				 *sb_root(&md->sb, i));
	return 0;
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

static int __commit(struct dedup_meta *md, u64 hits, u64 zero_writes,
		    bool readers);

static int format_metadata(struct dedup_meta *md,
			   const struct dedup_meta_geometry *geo)
{
	struct dm_transaction_manager *tm;
	struct dm_space_map *sm;
	int i, r;

	/* On failure it has destroyed tm, but left the pointer set. */
	r = dm_tm_create_with_sm(md->bm, DEDUP_SUPERBLOCK_LOCATION, &tm, &sm);
	if (r)
		return r;
	md->tm = tm;
	memset(&md->sb, 0, sizeof(md->sb));
	generate_random_uuid(md->sb.uuid);
	fill_geometry(md, geo);
	r = init_arrays(md, sm);
	if (!r)
		r = grow(md, md->env.nr_blocks);
	if (r)
		return r;
	for (i = 0; i < DEDUP_NR_ARRAYS; i++) {
		r = dedup_array_empty(&md->arrays[i]);
		if (r)
			return r;
	}
	memset(&md->wc, 0, sizeof(md->wc));
	return __commit(md, 0, 0, false);
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

/* The roots of sb, on a device of md->env.nr_blocks. */
static bool sm_roots_fit(struct dedup_meta *md, struct dedup_sb *sb)
{
	u64 a = min(md->env.nr_blocks, DEDUP_REGION_A_MAX_BLOCKS);

	if (!sm_root_fits(sb->metadata_space_map_root, a, a))
		return false;
	return !(sb->incompat_flags & DEDUP_INCOMPAT_BULK) ||
		sm_root_fits(sb->bulk_space_map_root,
			     md->env.nr_blocks - DEDUP_REGION_A_MAX_BLOCKS, a);
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
	else if (sb->metadata_nr_blocks > md->env.nr_blocks)
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
	struct dm_transaction_manager *tm;
	struct dm_space_map *sm;
	int r;

	/* As in format_metadata(): md->tm only once it exists. */
	r = dm_tm_open_with_sm(md->bm, DEDUP_SUPERBLOCK_LOCATION,
			       sb->metadata_space_map_root,
			       sizeof(sb->metadata_space_map_root), &tm, &sm);
	if (r)
		return r;
	md->tm = tm;
	r = init_arrays(md, sm);
	if (!r && (sb->incompat_flags & DEDUP_INCOMPAT_BULK))
		r = dedup_space_open_bulk(md->space, sb->bulk_space_map_root,
					  sizeof(sb->bulk_space_map_root),
					  sb->bulk_start, sb->bulk_nr_blocks);
	if (r)
		return r;
	counters_from_sb(md);
	md->alloc_cursor = sb->alloc_cursor;
	sb->data_nr_blocks = geo->data_nr_blocks;
	if (md->env.nr_blocks == sb->metadata_nr_blocks)
		return 0;
	/* Metadata to be checked is not written: the growth waits. */
	if (sb->flags & DEDUP_SB_NEEDS_CHECK) {
		md->env.nr_blocks = sb->metadata_nr_blocks;
		return 0;
	}
	/*
	 * The metadata device grew while the pool was down: the space maps
	 * count the new blocks free only once that is committed.
	 */
	r = grow(md, md->env.nr_blocks);
	return r ?: __commit(md, 0, 0, false);
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
static int read_published(void *context, enum dedup_array_id id, u64 bidx,
			  void *buf);

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
	dedup_saved_init(&md->saved, read_published, md);
	md->index = dedup_index_create(&g, dedup_saved_load_shard, &md->saved);
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
/* The allocator's way to the published refcount array. */
static int read_refcounts(void *context, u64 rc_block, void *buf)
{
	return read_published(context, DEDUP_A_REFCOUNT, rc_block, buf);
}

static int open_alloc(struct dedup_meta *md)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_SUMMARY];
	__le32 *used;
	u64 bidx = 0;
	u32 i;
	int r;

	md->alloc = dedup_alloc_create(md->data_nr_blocks, md->alloc_cursor,
				       read_refcounts, md);
	if (!md->alloc)
		return -ENOMEM;
	used = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_KERNEL);
	if (!used) {
		r = -ENOMEM;
		goto bad;
	}
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
	if (!r)
		return 0;
bad:
	dedup_alloc_destroy(md->alloc);
	md->alloc = NULL;
	return r;
}

/* The transaction manager and what hangs on it (NULL-safe). */
static void close_transaction(struct dedup_meta *md)
{
	int i;

	/* After a failed transaction an array block may still be held. */
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		if (md->arrays[i].held) {
			dm_bm_unlock(md->arrays[i].held);
			md->arrays[i].held = NULL;
		}
	if (md->tm)
		dm_tm_destroy(md->tm);
	dedup_space_destroy(md->space);
	md->tm = NULL;
	md->space = NULL;
}

/*
 * The readers' copies of lbn array blocks: 1/512 of RAM (a copy maps 508
 * data blocks, so 8 MiB of them map 4 GiB of data on a 4 GiB machine),
 * at least 1 MiB and at most 64 MiB a device.
 */
static unsigned int copies_max(void)
{
	return clamp_t(unsigned long, totalram_pages() >> 9, 256, 16384);
}

/* The readers' block caches: btree nodes, and array blocks. */
static int open_caches(struct dedup_meta *md)
{
	struct dm_bufio_client *c;

	c = dm_bufio_client_create(md->bdev, DEDUP_METADATA_BLOCK_SIZE, 1,
				   sizeof(bool), dedup_array_reader_buffer_new,
				   NULL, 0);
	if (IS_ERR(c))
		return PTR_ERR(c);
	md->env.node_cache = c;
	c = dm_bufio_client_create(md->bdev, DEDUP_METADATA_BLOCK_SIZE, 1,
				   sizeof(bool), dedup_array_reader_buffer_new,
				   NULL, 0);
	if (IS_ERR(c)) {
		dm_bufio_client_destroy(md->env.node_cache);
		return PTR_ERR(c);
	}
	md->env.array_cache = c;
	/* Without them lookups of LBNs go through the array cache alone. */
	md->env.copies = dedup_copies_create(dedup_fault_copies_max(copies_max()));
	if (!md->env.copies)
		DMWARN("no memory for the readers' copies of lbn array blocks");
	/* Without it each retire forgets every node. */
	if (dedup_node_diff_init(&md->node_diff))
		DMWARN("no memory to keep the node cache across commits");
	return 0;
}

static void close_caches(struct dedup_meta *md)
{
	dedup_node_diff_exit(&md->node_diff);
	dedup_copies_destroy(md->env.copies);
	md->env.copies = NULL;
	dm_bufio_client_destroy(md->env.array_cache);
	dm_bufio_client_destroy(md->env.node_cache);
}

/* Formats the metadata, or opens and checks what is there. */
static int open_or_format(struct dedup_meta *md,
			  const struct dedup_meta_geometry *geo, char **error)
{
	bool zeroes;
	int r;

	r = superblock_all_zeroes(md->bm, &zeroes);
	if (r) {
		*error = "Error reading superblock";
		return r;
	}
	if (zeroes) {
		r = format_metadata(md, geo);
		if (r)
			*error = "Error formatting metadata";
		return r;
	}
	r = check_superblock(md, geo, error);
	if (r)
		return r;
	md->disk_sb = md->sb;
	r = open_metadata(md, geo);
	if (r)
		*error = "Error opening metadata";
	return r;
}

struct dedup_meta *dedup_meta_open(struct block_device *bdev,
				   const struct dedup_meta_geometry *geo,
				   char **error)
{
	struct dedup_meta *md;
	int r;

	*error = "Cannot allocate metadata";
	md = kzalloc(sizeof(*md), GFP_KERNEL);
	if (!md)
		return ERR_PTR(-ENOMEM);
	mutex_init(&md->lock);
	md->bdev = bdev;
	md->fp_size = geo->fp_size;
	md->fps_per_block = dedup_array_entries_per_block(geo->fp_size);
	md->data_nr_blocks = geo->data_nr_blocks;
	md->env.nr_blocks = bdev_nr_bytes(bdev) / DEDUP_METADATA_BLOCK_SIZE;
	r = init_srcu_struct(&md->srcu);
	if (r)
		goto bad_md;
	r = -ENOMEM;
	md->env.loc_cache = dedup_fault_fail(DEDUP_FAULT_OPEN_ALLOC) ? NULL :
		alloc_percpu(struct dedup_loc_cache);
	if (!md->env.loc_cache)
		goto bad_srcu;
	if (md->env.nr_blocks < DEDUP_MIN_METADATA_BLOCKS) {
		r = -EINVAL;
		*error = "Metadata device too small";
		goto bad_loc_cache;
	}
	md->bm = dm_block_manager_create(bdev, DEDUP_METADATA_BLOCK_SIZE,
					 DEDUP_MAX_CONCURRENT_LOCKS);
	if (IS_ERR(md->bm)) {
		r = PTR_ERR(md->bm);
		*error = "Cannot create block manager";
		goto bad_loc_cache;
	}
	r = open_caches(md);
	if (r) {
		*error = "Cannot create reader cache";
		goto bad_bm;
	}
	/* Nobody else knows md yet: the lock is for the helpers' checks. */
	mutex_lock(&md->lock);
	r = open_or_format(md, geo, error);
	if (!r)
		publish(md);
	mutex_unlock(&md->lock);
	if (r)
		goto bad_transaction;
	r = open_index(md);
	if (r)
		goto bad_index;
	r = open_alloc(md);
	if (r)
		goto bad_alloc;
	return md;

bad_alloc:
	dedup_index_destroy(md->index);
bad_index:
	*error = r == -EFBIG ? "Data device too large" :
		"Cannot build in-memory metadata";
bad_transaction:
	close_transaction(md);
	close_caches(md);
bad_bm:
	dm_block_manager_destroy(md->bm);
bad_loc_cache:
	free_percpu(md->env.loc_cache);
bad_srcu:
	cleanup_srcu_struct(&md->srcu);
bad_md:
	kfree(md);
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
		s->index_progress = READ_ONCE(md->saved.loaded_entries);
		s->index_total = md->sb.save_entries;
	} else if (s->index_state == DEDUP_INDEX_REBUILDING) {
		s->index_progress = READ_ONCE(md->rebuild_next);
		s->index_total = div_u64(md->data_nr_blocks +
					 md->fps_per_block - 1,
					 md->fps_per_block);
	}
	s->data_free = dedup_alloc_free(md->alloc);
	s->alloc_ram_bytes = dedup_alloc_ram(md->alloc);
	s->read_copies = dedup_copies_held(md->env.copies);
	s->read_copy_hits = dedup_copies_hits(md->env.copies);
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
static struct dedup_view pub_view(struct dedup_pub *pub,
				  enum dedup_array_id id)
{
	struct dedup_view v = { .root = pub->roots[id], .seq = pub->seq };

	return v;
}

static struct dedup_view view(struct dedup_meta *md, enum dedup_array_id id)
{
	return pub_view(srcu_dereference(md->pub, &md->srcu), id);
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

int dedup_meta_find_lbns(struct dedup_meta *md, u64 lbn, unsigned int nr,
			 bool cached, u64 *values)
{
	struct dedup_view v;
	unsigned int i;
	int idx, r;
	u64 x;

	idx = srcu_read_lock(&md->srcu);
	v = view(md, DEDUP_A_LBN);
	v.cached = cached;
	r = dedup_array_lookup_run(&md->arrays[DEDUP_A_LBN], v, lbn, nr,
				   values);
	srcu_read_unlock(&md->srcu, idx);
	for (i = 0; i < nr && !r; i++) {
		x = le64_to_cpu((__force __le64)values[i]);
		values[i] = x == DEDUP_LBN_UNMAPPED ? DEDUP_UNMAPPED :
			x == DEDUP_LBN_ZERO ? DEDUP_ZERO_PBN :
			x - DEDUP_LBN_PBN_BASE;
	}
	return r;
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

/*
 * 0 if block pbn, whose fingerprint matched in view v, is in use there;
 * -ENODATA if it is free: a free block may keep a stale fingerprint
 * (INCOMPAT_STALE_FP).
 */
static int in_use_in_view(struct dedup_meta *md, struct dedup_view v,
			  u64 pbn)
{
	__le32 count;
	int r;

	r = dedup_array_lookup(&md->arrays[DEDUP_A_REFCOUNT], v, pbn, &count);
	return r ? r : count ? 0 : -ENODATA;
}

int dedup_meta_find_fp(struct dedup_meta *md, const u8 *fp,
		       const struct dedup_skip *skip, u64 *pbn, u64 *seq)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_FP];
	u64 blocks[FP_CANDIDATES];
	struct dedup_pub *pub;
	struct dedup_view v, rv;
	int n, i, idx, r = -ENODATA;
	u32 pos;

	n = dedup_index_lookup(md->index, fp, blocks, FP_CANDIDATES);
	/* A shard that cannot be loaded for want of memory: a miss. */
	if (n == -ENOMEM)
		return -ENODATA;
	if (n < 0)
		return n;
	idx = srcu_read_lock(&md->srcu);
	pub = srcu_dereference(md->pub, &md->srcu);
	v = pub_view(pub, DEDUP_A_FP);
	rv = pub_view(pub, DEDUP_A_REFCOUNT);
	*seq = v.seq;
	for (i = 0; i < n && r == -ENODATA; i++) {
		for (pos = 0; pos < a->per_block; pos++) {
			r = dedup_array_find_in_block(a, v, blocks[i], fp,
						      pos, &pos);
			if (r)
				break;
			*pbn = blocks[i] * a->per_block + pos;
			r = dedup_skip_has(skip, *pbn) ? -ENODATA :
				in_use_in_view(md, rv, *pbn);
			if (r != -ENODATA)
				break;
		}
	}
	srcu_read_unlock(&md->srcu, idx);
	return r;
}

/*
 * The payload of block bidx of array id in the published commit (zero if
 * absent), under md->srcu taken inside: how the allocator and the saved
 * index's loader read.
 */
static int read_published(void *context, enum dedup_array_id id, u64 bidx,
			  void *buf)
{
	struct dedup_meta *md = context;
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
	return READ_ONCE(md->env.nr_blocks);
}

int dedup_meta_resize_metadata(struct dedup_meta *md, u64 nr_blocks)
{
	struct dedup_pub *next;
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->read_only && nr_blocks >= md->env.nr_blocks) {
		r = grow(md, nr_blocks);
		if (!r) {
			WRITE_ONCE(md->env.nr_blocks, nr_blocks);
			/*
			 * The space is usable now: status says so at once.
			 * The same roots, republished with the new space (the
			 * caller excludes commits, so the spare is free).
			 */
			next = spare_pub(md);
			*next = *rcu_dereference_protected(md->pub, true);
			space(md, &next->c);
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

	lockdep_assert_held(&md->lock);
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

	lockdep_assert_held(&md->lock);
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
	/* A free block keeps its fingerprint only under INCOMPAT_STALE_FP. */
	if (!r && memchr_inv(old_fp, 0, md->fp_size) &&
	    !(md->sb.incompat_flags & DEDUP_INCOMPAT_STALE_FP)) {
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

/*
 * A block whose count reaches zero keeps its fingerprint in the fp array
 * (INCOMPAT_STALE_FP): clearing it would rewrite one fingerprint block per
 * dead block, most of what a discard or a random overwriter makes a commit
 * write.  Lookups and the rebuild read a fingerprint only where the count
 * is not zero (doc/metadata.md, "Discards").
 */
static int __adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			  u32 *new_count, u8 *fp)
{
	u32 old;
	int r;

	lockdep_assert_held(&md->lock);
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
	md->sb.incompat_flags |= DEDUP_INCOMPAT_STALE_FP;
	r = dedup_array_get_entry(&md->arrays[DEDUP_A_FP], pbn, fp);
	if (!r)
		r = summary_add(md, pbn, -1);
	if (!r)
		md->wc.nr_unique--;
	return r;
}

/*
 * A committer verb: under md->lock, refused once read-only, and failing
 * with the first error a btree value callback met meanwhile.
 */
#define COMMITTER_VERB(call)					\
({								\
	int __r = -EINVAL;					\
								\
	mutex_lock(&md->lock);					\
	if (!md->read_only) {					\
		dedup_space_take_error(md->space);		\
		__r = (call);					\
		if (!__r)					\
			__r = dedup_space_take_error(md->space);\
	}							\
	mutex_unlock(&md->lock);				\
	__r;							\
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

	lockdep_assert_held(&md->lock);
	r = dedup_saved_delete(&md->arrays[DEDUP_A_SAVE],
			       &md->arrays[DEDUP_A_SAVE_DIR]);
	if (!r) {
		md->sb.compat_flags &= ~DEDUP_COMPAT_SAVED_INDEX;
		md->sb.save_transaction_id = 0;
		md->sb.save_entries = 0;
		md->drop_saved = false;
	}
	return r;
}

/*
 * readers: the commit is published to readers (the pool runs), so the
 * array blocks it wrote are worth copying into their cache.
 */
static int __commit(struct dedup_meta *md, u64 hits, u64 zero_writes,
		    bool readers)
{
	struct dedup_disk_superblock *d;
	struct dedup_sb sb;
	struct dm_block *sblock;
	int i, r;

	lockdep_assert_held(&md->lock);
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
	r = dedup_space_pre_commit(md->space);
	if (r)
		return r;
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
	sb.metadata_nr_blocks = md->env.nr_blocks;
	sb.bulk_start = dedup_space_bulk_start(md->space);
	sb.bulk_nr_blocks = dedup_space_bulk_blocks(md->space);
	sb.alloc_cursor = md->alloc ? dedup_alloc_cursor(md->alloc) :
		md->alloc_cursor;
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		*sb_root(&sb, i) = md->arrays[i].root;
	r = dedup_space_copy_roots(md->space, sb.metadata_space_map_root,
				   sb.bulk_space_map_root,
				   sizeof(sb.metadata_space_map_root));
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
	md->disk_sb = sb;
	/* Readers of this commit find the array blocks it wrote cached. */
	if (readers)
		dedup_space_visit_fresh(md->space, DEDUP_CACHE_WRITTEN_MAX,
					dedup_array_cache_written, &md->env);

	/* The blocks this transaction freed may be reused by the next. */
	for (i = 0; i < DEDUP_NR_ARRAYS; i++)
		dedup_array_end_transaction(&md->arrays[i]);
	dedup_space_end_transaction(md->space);
	return 0;
}

int dedup_meta_commit(struct dedup_meta *md, u64 hits, u64 zero_writes)
{
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->read_only) {
		dedup_space_take_error(md->space);
		r = __commit(md, hits, zero_writes, true);
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

/*
 * The node cache forgets the nodes the published commit freed: those of the
 * previous published roots (the spare pub, rewritten only at the next
 * publish) that the current ones no longer reach.
 */
static void forget_freed_nodes(struct dedup_meta *md)
{
	struct dedup_pub *cur = rcu_dereference_protected(md->pub,
				lockdep_is_held(&md->lock));
	struct dedup_pub *old = spare_pub(md);
	int i, r = -ENOMEM;

	lockdep_assert_held(&md->lock);
	if (md->node_diff.set[0] && !dedup_fault_alloc()) {
		for (i = 0, r = 0; !r && i < DEDUP_NR_ARRAYS; i++)
			r = dedup_array_forget_freed_nodes(&md->arrays[i],
							   &md->node_diff,
							   old->roots[i],
							   cur->roots[i]);
	}
	if (r) {
		dm_bufio_forget_buffers(md->env.node_cache, 0,
					md->env.nr_blocks);
		/* Arrays not walked may have freed their leaf root. */
		memset(md->node_diff.leaf_root, 0,
		       sizeof(md->node_diff.leaf_root));
	}
}

void dedup_meta_retire(struct dedup_meta *md)
{
	synchronize_srcu(&md->srcu);
	mutex_lock(&md->lock);
	forget_freed_nodes(md);
	dedup_array_forget_retired(&md->env);
	mutex_unlock(&md->lock);
}

void dedup_meta_set_read_only(struct dedup_meta *md)
{
	mutex_lock(&md->lock);
	md->read_only = true;
	mutex_unlock(&md->lock);
}

int dedup_meta_set_needs_check(struct dedup_meta *md)
{
	struct dm_block *sblock;
	int r;

	mutex_lock(&md->lock);
	/* No more changes to the working arrays: they are abandoned. */
	md->read_only = true;
	md->sb.flags |= DEDUP_SB_NEEDS_CHECK;
	md->disk_sb.flags |= DEDUP_SB_NEEDS_CHECK;
	/*
	 * The last committed superblock, plus the flag: none of the abandoned
	 * transaction's feature flags (a bulk region it grew, stale
	 * fingerprints it left).  Flushing writes that transaction's fresh
	 * blocks too, but no superblock points at them, so the committed
	 * state is untouched.
	 */
	r = dm_bm_write_lock_zero(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				  &sb_validator, &sblock);
	if (!r) {
		dedup_sb_pack(&md->disk_sb, dm_block_data(sblock));
		dm_bm_unlock(sblock);
		r = dm_bm_flush(md->bm);
	}
	mutex_unlock(&md->lock);
	return r;
}

/*
 * The RAM index: loading a saved one, rebuilding, saving
 */

/*
 * The working count of block pbn, read a refcount block at a time into rc
 * (*rc_bidx: the block rc holds, ~0 for none).
 */
static int rebuild_count(struct dedup_meta *md, u64 pbn, __le32 *rc,
			 u64 *rc_bidx, u32 *count)
{
	u64 b = div_u64(pbn, DEDUP_REFCOUNTS_PER_BLOCK);
	int r;

	if (b != *rc_bidx) {
		r = dedup_array_read_block(&md->arrays[DEDUP_A_REFCOUNT], b,
					   rc);
		if (r)
			return r;
		*rc_bidx = b;
	}
	*count = le32_to_cpu(rc[pbn - b * DEDUP_REFCOUNTS_PER_BLOCK]);
	return 0;
}

/*
 * Scans fp blocks of the working fp array into the index for up to
 * max_ms (at least one block), skipping the stale fingerprints of free
 * blocks.
 */
static int rebuild_step(struct dedup_meta *md, unsigned int max_ms)
{
	struct dedup_array *a = &md->arrays[DEDUP_A_FP];
	ktime_t end = ktime_add_ms(ktime_get(), max_ms);
	u64 bidx, pbn, rc_bidx = ~0ULL;
	__le32 *rc;
	u32 i, count;
	u8 *blk;
	int r = 0;

	lockdep_assert_held(&md->lock);
	blk = kmalloc(2 * DEDUP_ARRAY_PAYLOAD, GFP_NOIO);
	if (!blk)
		return -ENOMEM;
	rc = (__le32 *)(blk + DEDUP_ARRAY_PAYLOAD);
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
		for (i = 0; !r && i < a->per_block; i++) {
			if (!memchr_inv(blk + i * a->entry_size, 0,
					a->entry_size))
				continue;
			pbn = bidx * a->per_block + i;
			r = rebuild_count(md, pbn, rc, &rc_bidx, &count);
			if (!r && count)
				r = dedup_index_insert(md->index,
						       blk + i * a->entry_size,
						       pbn, true);
		}
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
	r = dedup_saved_load_step(&md->saved, md->index, budget, &more);
	if (r || !more)
		end_loading(md, r);
	return !r && more;
}

bool dedup_meta_saved_index_dropping(struct dedup_meta *md)
{
	return READ_ONCE(md->drop_saved) && !dedup_meta_needs_check(md);
}

int dedup_meta_index_rebuild(struct dedup_meta *md, unsigned int max_ms)
{
	u64 next, entries;
	int r;

	if (READ_ONCE(md->index_state) != DEDUP_INDEX_REBUILDING)
		return 0;
	mutex_lock(&md->lock);
	next = md->rebuild_next;
	entries = dedup_index_entries(md->index);
	r = md->read_only ? 0 : rebuild_step(md, max_ms);
	if (r == -ENOMEM) {
		/*
		 * The scan keeps its place (rebuild_next moves on only past
		 * a whole block, and inserting an entry twice is a no-op).
		 * A step that got something done goes on at once; one that
		 * got nothing done waits.
		 */
		if (!md->rebuild_short)
			DMWARN("fingerprint index: rebuilding is short of memory; retrying");
		md->rebuild_short = true;
		if (md->rebuild_next != next ||
		    dedup_index_entries(md->index) != entries)
			r = 0;
	} else if (r) {
		DMERR_LIMIT("fingerprint index: rebuilding failed: %d; duplicates are stored again until reload",
			    r);
		/* Incomplete: never saved, rebuilt at the next activation. */
		md->index_incomplete = true;
		WRITE_ONCE(md->index_state, DEDUP_INDEX_READY);
	}
	if (!r && md->rebuild_short &&
	    READ_ONCE(md->index_state) != DEDUP_INDEX_REBUILDING) {
		DMINFO("fingerprint index: rebuilt after a shortage of memory");
		md->rebuild_short = false;
	}
	mutex_unlock(&md->lock);
	if (r == -ENOMEM)
		return r;
	return READ_ONCE(md->index_state) == DEDUP_INDEX_REBUILDING;
}

/* Writes the RAM index into the save arrays and commits. */
static int save_index(struct dedup_meta *md)
{
	struct dedup_index_geometry g;
	u64 entries;
	int r;

	lockdep_assert_held(&md->lock);
	/*
	 * A previous saved index still there (no commit since it was
	 * loaded) goes in a commit of its own: blocks freed in a transaction
	 * are reused only by the next, so the two copies never need room
	 * at once.
	 */
	if (md->sb.compat_flags & DEDUP_COMPAT_SAVED_INDEX) {
		r = drop_saved_index(md);
		if (!r)
			r = __commit(md, 0, 0, false);
		if (r)
			return r;
	}
	r = dedup_saved_write(&md->arrays[DEDUP_A_SAVE],
			      &md->arrays[DEDUP_A_SAVE_DIR], md->index, &entries);
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
	md->sb.save_entries = entries;
	md->sb.save_shard_bits = g.shard_bits;
	md->sb.save_loc_bits = g.loc_bits;
	return __commit(md, 0, 0, false);
}

void dedup_meta_close(struct dedup_meta *md, bool save)
{
	int r;

	mutex_lock(&md->lock);
	if (save && !md->read_only) {
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
			dedup_space_take_error(md->space);
			r = save_index(md);
			if (r)
				DMERR("could not save the fingerprint index (%d); the next load rebuilds it",
				      r);
		}
	}
	mutex_unlock(&md->lock);
	dedup_alloc_destroy(md->alloc);
	dedup_index_destroy(md->index);
	close_transaction(md);
	close_caches(md);
	dm_block_manager_destroy(md->bm);
	free_percpu(md->env.loc_cache);
	cleanup_srcu_struct(&md->srcu);
	kfree(md);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The persistent metadata of dm-dedup.
 *
 * This file owns everything on the metadata device: the superblock, the
 * three dm_btrees (lbn -> pbn, pbn -> refcount, fingerprint -> pbn) and the
 * metadata space map, all through dm-persistent-data.  The on-disk format
 * is described in include/dm-dedup-format.h.  Callers see an opaque
 * struct dedup_meta and the verbs declared in include/dm-dedup.h.
 *
 * Two kinds of caller use it at the same time:
 *
 * The committer (dm-dedup-cow-commit.c) is the only one that changes
 * anything.  It applies a generation of changes to the *working* trees
 * through the transaction manager and commits.  Every block it writes is a
 * shadow or a fresh block; a block that a committed root references is
 * never written in place, and a block freed by transaction T is reused by
 * T + 1 at the earliest (sm_metadata's rule).
 *
 * Readers (the I/O path) look things up in a *committed* transaction's
 * roots.  They do not use the transaction manager: 6.1's
 * dm_bufio_write_dirty_buffers() can wait for metadata writes while holding
 * its client's mutex, which would stall any reader sharing that client for
 * as long as the write-out takes.  So readers go through a second dm-bufio
 * client of their own, read-only, and walk the btree nodes themselves with
 * the same checks as dm-btree's validator.  Because readers only ever see
 * blocks reachable from a published root, and those blocks are immutable
 * until freed, the two caches never disagree about a block a reader can
 * reach - provided that the reader cache forgets everything once readers of
 * the previous root have drained (dedup_meta_drop_reader_cache()), before
 * the next transaction may reuse the blocks that root alone referenced.
 *
 * A further reason to keep readers off the committer's block manager:
 * dm_bm_read_lock() clears the "write locked" mark of a buffer, so a reader
 * locking a block that the committer holds for write would make the
 * committer's change vanish.  Readers here never touch that client.
 */
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/slab.h>
#include <linux/uuid.h>
#include <asm/unaligned.h>

#include "persistent-data/dm-block-manager.h"
#include "persistent-data/dm-btree.h"
#include "persistent-data/dm-space-map.h"
#include "persistent-data/dm-space-map-metadata.h"
#include "persistent-data/dm-transaction-manager.h"

#include "dm-dedup.h"

#define DEDUP_MAX_CONCURRENT_LOCKS	5

/* The on-disk btree node layout of dm-persistent-data. */
#define BTREE_CSUM_XOR		121107
#define BTREE_INTERNAL_NODE	1
#define BTREE_LEAF_NODE		2
#define BTREE_MAX_DEPTH		16

struct btree_node_disk {
	__le32 csum;
	__le32 flags;
	__le64 blocknr;
	__le32 nr_entries;
	__le32 max_entries;
	__le32 value_size;
	__le32 padding;
	__le64 keys[];
} __packed;

struct dedup_meta {
	struct block_device *bdev;

	/*
	 * Protects the persistent-data objects below and the working state.
	 * Taken by every committer-side call (and open/close); never by
	 * readers.  Held across metadata I/O.
	 */
	struct mutex lock;
	bool fail_io;

	struct dm_block_manager *bm;
	struct dm_space_map *metadata_sm;
	struct dm_transaction_manager *tm;
	struct dm_btree_info lbn_info;
	struct dm_btree_info ref_info;
	struct dm_btree_info index_info;

	/* Working (uncommitted) state. */
	struct dedup_roots working;
	struct dedup_counters wc;
	struct dedup_disk_superblock sb;	/* last committed, disk format */

	/*
	 * Protects the committed roots and counters, which status and the
	 * publish step read.  A leaf lock.
	 */
	spinlock_t committed_lock;
	struct dedup_roots committed;
	struct dedup_counters cc;

	/* Readers only. */
	struct dm_bufio_client *reader;
	/* Every fingerprint of the working index (see dedup_meta_find_fp). */
	struct dedup_filter *filter;
	u64 nr_meta_blocks;

	unsigned int fp_size;
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

/*
 * Open, format, close
 */
static void setup_infos(struct dedup_meta *md)
{
	md->lbn_info.tm = md->tm;
	md->lbn_info.levels = 1;
	md->lbn_info.value_type.size = sizeof(__le64);

	md->ref_info.tm = md->tm;
	md->ref_info.levels = 1;
	md->ref_info.value_type.size = sizeof(struct dedup_disk_refcount);

	md->index_info.tm = md->tm;
	md->index_info.levels = 1;
	md->index_info.value_type.size = sizeof(struct dedup_disk_index_entry);
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
	struct dedup_disk_superblock *sb = &md->sb;

	sb->magic = cpu_to_le64(DEDUP_MAGIC);
	sb->version = cpu_to_le32(DEDUP_METADATA_VERSION);
	sb->metadata_block_size = cpu_to_le32(DEDUP_METADATA_BLOCK_SIZE);
	sb->data_block_size = cpu_to_le32(geo->data_block_size);
	sb->fp_size = cpu_to_le32(geo->fp_size);
	strscpy(sb->hash_name, geo->hash_name, sizeof(sb->hash_name));
	sb->data_nr_blocks = cpu_to_le64(geo->data_nr_blocks);
}

static int format_metadata(struct dedup_meta *md,
			   const struct dedup_meta_geometry *geo)
{
	int r;

	r = dm_tm_create_with_sm(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				 &md->tm, &md->metadata_sm);
	if (r)
		return r;
	setup_infos(md);

	r = dm_btree_empty(&md->lbn_info, &md->working.lbn);
	if (!r)
		r = dm_btree_empty(&md->ref_info, &md->working.refcount);
	if (!r)
		r = dm_btree_empty(&md->index_info, &md->working.index);
	if (r)
		return r;

	memset(&md->sb, 0, sizeof(md->sb));
	generate_random_uuid(md->sb.uuid);
	fill_geometry(md, geo);
	memset(&md->wc, 0, sizeof(md->wc));
	return 0;
}

/* Checks a superblock that is not all zeroes; sets *error on a mismatch. */
static int check_superblock(struct dedup_meta *md,
			    const struct dedup_meta_geometry *geo,
			    char **error)
{
	struct dedup_disk_superblock *sb;
	struct dm_block *b;
	int r;

	r = dm_bm_read_lock(md->bm, DEDUP_SUPERBLOCK_LOCATION, NULL, &b);
	if (r) {
		*error = "Error reading superblock";
		return r;
	}
	sb = dm_block_data(b);
	r = -EINVAL;
	if (le64_to_cpu(sb->magic) != DEDUP_MAGIC)
		*error = "Bad superblock magic";
	else if (le32_to_cpu(sb->csum) != sb_checksum(sb) ||
		 le64_to_cpu(sb->blocknr) != DEDUP_SUPERBLOCK_LOCATION)
		*error = "Superblock checksum error";
	else if (le32_to_cpu(sb->version) != DEDUP_METADATA_VERSION ||
		 le32_to_cpu(sb->metadata_block_size) !=
		 DEDUP_METADATA_BLOCK_SIZE)
		*error = "Unsupported metadata version";
	else if (le32_to_cpu(sb->incompat_flags) & ~DEDUP_INCOMPAT_SUPPORTED)
		*error = "Unsupported metadata features";
	else if (le32_to_cpu(sb->data_block_size) != geo->data_block_size)
		*error = "Block size differs from metadata";
	else if (strncmp(sb->hash_name, geo->hash_name,
			 sizeof(sb->hash_name)) ||
		 le32_to_cpu(sb->fp_size) != geo->fp_size)
		*error = "Hash differs from metadata";
	else if (le64_to_cpu(sb->data_nr_blocks) > geo->data_nr_blocks)
		*error = "Data device smaller than recorded";
	else
		r = 0;
	if (!r)
		memcpy(&md->sb, sb, sizeof(md->sb));
	dm_bm_unlock(b);
	return r;
}

static void counters_from_sb(struct dedup_meta *md)
{
	struct dedup_disk_superblock *sb = &md->sb;
	struct dedup_counters *c = &md->wc;

	c->transaction_id = le64_to_cpu(sb->transaction_id);
	c->nr_mapped = le64_to_cpu(sb->nr_mapped);
	c->nr_zero = le64_to_cpu(sb->nr_zero);
	c->nr_unique = le64_to_cpu(sb->nr_unique);
	c->nr_indexed = le64_to_cpu(sb->nr_indexed);
	c->dedup_hits = le64_to_cpu(sb->dedup_hits);
	c->zero_writes = le64_to_cpu(sb->zero_writes);
	c->commits = le64_to_cpu(sb->commits);
}

static int open_metadata(struct dedup_meta *md,
			 const struct dedup_meta_geometry *geo)
{
	struct dedup_disk_superblock *sb = &md->sb;
	int r;

	r = dm_tm_open_with_sm(md->bm, DEDUP_SUPERBLOCK_LOCATION,
			       sb->metadata_space_map_root,
			       sizeof(sb->metadata_space_map_root),
			       &md->tm, &md->metadata_sm);
	if (r)
		return r;
	setup_infos(md);

	md->working.lbn = le64_to_cpu(sb->lbn_root);
	md->working.refcount = le64_to_cpu(sb->refcount_root);
	md->working.index = le64_to_cpu(sb->index_root);
	counters_from_sb(md);
	/* A grown data device is recorded by the next commit. */
	sb->data_nr_blocks = cpu_to_le64(geo->data_nr_blocks);
	return 0;
}

static void update_space(struct dedup_meta *md, struct dedup_counters *c)
{
	dm_block_t total = 0, free = 0;

	if (!dm_sm_get_nr_blocks(md->metadata_sm, &total) &&
	    !dm_sm_get_nr_free(md->metadata_sm, &free)) {
		c->meta_total = total;
		c->meta_used = total - free;
	}
}

static void publish_committed(struct dedup_meta *md)
{
	struct dedup_counters c = md->wc;

	update_space(md, &c);
	spin_lock(&md->committed_lock);
	md->committed = md->working;
	md->cc = c;
	spin_unlock(&md->committed_lock);
}

static int __commit(struct dedup_meta *md, u64 hits, u64 zero_writes);

static int filter_walk_fn(void *context, uint64_t *keys, void *leaf)
{
	struct dedup_disk_index_entry *ie = leaf;

	dedup_filter_add(context, ie->fp);
	return 0;
}

static int build_filter(struct dedup_meta *md, u64 entries)
{
	md->filter = dedup_filter_create(entries);
	if (!md->filter)
		return -ENOMEM;
	return dm_btree_walk(&md->index_info, md->working.index,
			     filter_walk_fn, md->filter);
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
	spin_lock_init(&md->committed_lock);
	md->bdev = bdev;
	md->fp_size = geo->fp_size;

	md->bm = dm_block_manager_create(bdev, DEDUP_METADATA_BLOCK_SIZE,
					 DEDUP_MAX_CONCURRENT_LOCKS);
	if (IS_ERR(md->bm)) {
		r = PTR_ERR(md->bm);
		*error = "Cannot create block manager";
		goto bad_bm;
	}
	md->nr_meta_blocks = bdev_nr_bytes(bdev) / DEDUP_METADATA_BLOCK_SIZE;
	if (md->nr_meta_blocks < DEDUP_MIN_METADATA_BLOCKS) {
		r = -EINVAL;
		*error = "Metadata device too small";
		goto bad_tm;
	}

	r = superblock_all_zeroes(md->bm, &zeroes);
	if (r) {
		*error = "Error reading superblock";
		goto bad_tm;
	}
	if (zeroes) {
		r = format_metadata(md, geo);
		if (!r)
			r = __commit(md, 0, 0);
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
		goto bad_tm;
	publish_committed(md);

	r = build_filter(md, geo->data_nr_blocks);
	if (r) {
		*error = "Cannot build fingerprint filter";
		goto bad_tm;
	}

	md->reader = dm_bufio_client_create(bdev, DEDUP_METADATA_BLOCK_SIZE,
					    1, 0, NULL, NULL, 0);
	if (IS_ERR(md->reader)) {
		r = PTR_ERR(md->reader);
		*error = "Cannot create reader cache";
		goto bad_tm;
	}
	return md;

bad_tm:
	if (md->filter)
		dedup_filter_destroy(md->filter);
	if (md->tm) {
		dm_tm_destroy(md->tm);
		dm_sm_destroy(md->metadata_sm);
	}
	dm_block_manager_destroy(md->bm);
bad_bm:
	kfree(md);
	return ERR_PTR(r);
}

void dedup_meta_close(struct dedup_meta *md)
{
	dm_bufio_client_destroy(md->reader);
	dedup_filter_destroy(md->filter);
	dm_tm_destroy(md->tm);
	dm_sm_destroy(md->metadata_sm);
	dm_block_manager_destroy(md->bm);
	kfree(md);
}

bool dedup_meta_needs_check(struct dedup_meta *md)
{
	return le32_to_cpu(md->sb.flags) & DEDUP_SB_NEEDS_CHECK;
}

void dedup_meta_committed(struct dedup_meta *md, struct dedup_roots *roots,
			  struct dedup_counters *c)
{
	spin_lock(&md->committed_lock);
	if (roots)
		*roots = md->committed;
	if (c)
		*c = md->cc;
	spin_unlock(&md->committed_lock);
}

/*
 * Reader side: read-only btree walks through the reader cache
 */

/*
 * Reads and checks node b.  On success the buffer is held (*bp) and must be
 * released with dm_bufio_release().
 */
static int read_node(struct dedup_meta *md, u64 b, u32 leaf_value_size,
		     struct dm_buffer **bp, struct btree_node_disk **np)
{
	struct btree_node_disk *n;
	u32 flags, nr, max, vsize;

	if (b >= md->nr_meta_blocks)
		return -EILSEQ;
	n = dm_bufio_read(md->reader, b, bp);
	if (IS_ERR(n))
		return PTR_ERR(n);

	/* Checked on every read: the check is cheap next to the I/O path. */
	flags = le32_to_cpu(n->flags);
	nr = le32_to_cpu(n->nr_entries);
	max = le32_to_cpu(n->max_entries);
	vsize = le32_to_cpu(n->value_size);
	if (le64_to_cpu(n->blocknr) != b ||
	    le32_to_cpu(n->csum) != dm_bm_checksum(&n->flags,
						   DEDUP_METADATA_BLOCK_SIZE -
						   sizeof(__le32),
						   BTREE_CSUM_XOR) ||
	    (flags != BTREE_INTERNAL_NODE && flags != BTREE_LEAF_NODE) ||
	    vsize != (flags == BTREE_LEAF_NODE ? leaf_value_size :
		      sizeof(__le64)) ||
	    nr > max ||
	    sizeof(*n) + (u64)max * (sizeof(__le64) + vsize) >
	    DEDUP_METADATA_BLOCK_SIZE) {
		dm_bufio_release(*bp);
		DMERR_LIMIT("metadata block %llu is corrupt", b);
		return -EILSEQ;
	}
	*np = n;
	return 0;
}

/* The index of the last key <= key, or -1. */
static int lower_bound(struct btree_node_disk *n, u64 key)
{
	int lo = -1, hi = le32_to_cpu(n->nr_entries);

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(n->keys[mid]) <= key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void *node_value(struct btree_node_disk *n, int i, u32 vsize)
{
	return (u8 *)&n->keys[le32_to_cpu(n->max_entries)] + (size_t)i * vsize;
}

/*
 * Finds key (exact) or, with next, the first key >= key.  Copies the value
 * (vsize bytes) and the key found.
 */
static int walk(struct dedup_meta *md, u64 root, u64 key, bool next,
		u32 vsize, u64 *rkey, void *value)
{
	u64 b = root, fallback = 0;
	bool have_fallback = false;
	int depth, i, nr, r;

	for (depth = 0; depth < BTREE_MAX_DEPTH; depth++) {
		struct btree_node_disk *n;
		struct dm_buffer *buf;

		r = read_node(md, b, vsize, &buf, &n);
		if (r)
			return r;
		nr = le32_to_cpu(n->nr_entries);
		i = lower_bound(n, key);

		if (le32_to_cpu(n->flags) == BTREE_LEAF_NODE) {
			if (next && (i < 0 || le64_to_cpu(n->keys[i]) < key))
				i++;
			if (i >= 0 && i < nr &&
			    (next || le64_to_cpu(n->keys[i]) == key)) {
				*rkey = le64_to_cpu(n->keys[i]);
				memcpy(value, node_value(n, i, vsize), vsize);
				dm_bufio_release(buf);
				return 0;
			}
			dm_bufio_release(buf);
			if (!next || !have_fallback)
				return -ENODATA;
			/* Everything under fallback is > key: take its first. */
			b = fallback;
			key = 0;
			have_fallback = false;
			continue;
		}

		if (i < 0) {
			if (!next || !nr) {
				dm_bufio_release(buf);
				return -ENODATA;
			}
			i = 0;
		}
		if (next && i + 1 < nr) {
			fallback = le64_to_cpu(*(__le64 *)node_value(n, i + 1,
								     sizeof(__le64)));
			have_fallback = true;
		}
		b = le64_to_cpu(*(__le64 *)node_value(n, i, sizeof(__le64)));
		dm_bufio_release(buf);
	}
	DMERR_LIMIT("metadata btree deeper than %d", BTREE_MAX_DEPTH);
	return -EILSEQ;
}

int dedup_meta_find_lbn(struct dedup_meta *md, const struct dedup_roots *roots,
			u64 lbn, u64 *value)
{
	__le64 v;
	u64 k;
	int r;

	r = walk(md, roots->lbn, lbn, false, sizeof(v), &k, &v);
	if (!r)
		*value = le64_to_cpu(v);
	return r;
}

int dedup_meta_find_refcount(struct dedup_meta *md,
			     const struct dedup_roots *roots,
			     u64 pbn, u32 *count)
{
	struct dedup_disk_refcount v;
	u64 k;
	int r;

	r = walk(md, roots->refcount, pbn, false, sizeof(v), &k, &v);
	if (!r)
		*count = le32_to_cpu(v.count);
	return r;
}

static u64 fp_prefix(const u8 *fp)
{
	return get_unaligned_be64(fp) & ~DEDUP_INDEX_SLOT_MASK;
}

int dedup_meta_find_fp(struct dedup_meta *md, const struct dedup_roots *roots,
		       const u8 *fp, u64 *pbn)
{
	struct dedup_disk_index_entry v;
	u64 prefix = fp_prefix(fp), key = prefix, k;
	int r;

	/*
	 * The filter holds the working index, a superset of the published
	 * one except for entries the committer is removing; those belong to
	 * blocks that the frozen generation marks dead, which callers check
	 * before they get here.
	 */
	if (!dedup_filter_may_contain(md->filter, fp))
		return -ENODATA;
	for (;;) {
		r = walk(md, roots->index, key, true, sizeof(v), &k, &v);
		if (r)
			return r;
		if ((k & ~DEDUP_INDEX_SLOT_MASK) != prefix)
			return -ENODATA;
		if (!memcmp(v.fp, fp, md->fp_size)) {
			*pbn = le64_to_cpu(v.pbn);
			return 0;
		}
		if ((k & DEDUP_INDEX_SLOT_MASK) == DEDUP_INDEX_SLOT_MASK)
			return -ENODATA;
		key = k + 1;
	}
}

void dedup_meta_drop_reader_cache(struct dedup_meta *md)
{
	dm_bufio_forget_buffers(md->reader, 0, md->nr_meta_blocks);
}

/*
 * Committer side: changes to the working trees
 */
static int __set_lbn(struct dedup_meta *md, u64 lbn, u64 value)
{
	struct dm_btree_info *info = &md->lbn_info;
	__le64 old_le, new_le;
	u64 old = DEDUP_UNMAPPED;
	int r;

	r = dm_btree_lookup(info, md->working.lbn, &lbn, &old_le);
	if (!r)
		old = le64_to_cpu(old_le);
	else if (r != -ENODATA)
		return r;
	if (old == value)
		return 0;

	if (value == DEDUP_UNMAPPED) {
		r = dm_btree_remove(info, md->working.lbn, &lbn,
				    &md->working.lbn);
	} else {
		new_le = cpu_to_le64(value);
		__dm_bless_for_disk(&new_le);
		r = dm_btree_insert(info, md->working.lbn, &lbn, &new_le,
				    &md->working.lbn);
	}
	if (r)
		return r;

	if (old == DEDUP_ZERO_PBN)
		md->wc.nr_zero--;
	else if (old != DEDUP_UNMAPPED)
		md->wc.nr_mapped--;
	if (value == DEDUP_ZERO_PBN)
		md->wc.nr_zero++;
	else if (value != DEDUP_UNMAPPED)
		md->wc.nr_mapped++;
	return 0;
}

int dedup_meta_set_lbn(struct dedup_meta *md, u64 lbn, u64 value)
{
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->fail_io)
		r = __set_lbn(md, lbn, value);
	mutex_unlock(&md->lock);
	return r;
}

/*
 * Finds a free slot for fp among the index keys sharing its prefix, and
 * checks that fp is not there already.  *key is DEDUP_NO_INDEX if all
 * slots are taken (the block is then stored but not indexed).
 */
static int find_index_slot(struct dedup_meta *md, const u8 *fp, u64 *key)
{
	struct dedup_disk_index_entry v;
	u64 prefix = fp_prefix(fp), expect = prefix, next = prefix, k;
	bool found_free = false;
	int r;

	for (;;) {
		r = dm_btree_lookup_next(&md->index_info, md->working.index,
					 &next, &k, &v);
		if (r == -ENODATA || (!r && (k & ~DEDUP_INDEX_SLOT_MASK) !=
				      prefix))
			break;
		if (r)
			return r;
		if (!memcmp(v.fp, fp, md->fp_size)) {
			DMERR("index already holds the fingerprint of block %llu",
			      le64_to_cpu(v.pbn));
			return -EILSEQ;
		}
		if (!found_free && k != expect) {
			*key = expect;
			found_free = true;
		}
		if ((k & DEDUP_INDEX_SLOT_MASK) == DEDUP_INDEX_SLOT_MASK) {
			if (!found_free)
				*key = DEDUP_NO_INDEX;
			return 0;
		}
		expect = k + 1;
		next = k + 1;
	}
	if (!found_free)
		*key = expect;
	return 0;
}

static int __add_block(struct dedup_meta *md, u64 pbn, u32 count,
		       const u8 *fp)
{
	struct dedup_disk_refcount rc;
	struct dedup_disk_index_entry ie;
	u64 key = DEDUP_NO_INDEX;
	int r;

	if (!count)
		return -EINVAL;
	r = dm_btree_lookup(&md->ref_info, md->working.refcount, &pbn, &rc);
	if (r != -ENODATA) {
		if (!r) {
			DMERR("block %llu is allocated twice", pbn);
			r = -EILSEQ;
		}
		return r;
	}

	if (fp) {
		r = find_index_slot(md, fp, &key);
		if (r)
			return r;
	}
	if (key != DEDUP_NO_INDEX) {
		memset(&ie, 0, sizeof(ie));
		ie.pbn = cpu_to_le64(pbn);
		memcpy(ie.fp, fp, md->fp_size);
		__dm_bless_for_disk(&ie);
		r = dm_btree_insert(&md->index_info, md->working.index, &key,
				    &ie, &md->working.index);
		if (r)
			return r;
		dedup_filter_add(md->filter, fp);
		md->wc.nr_indexed++;
	}

	rc.count = cpu_to_le32(count);
	rc.flags = 0;
	rc.index_key = cpu_to_le64(key);
	__dm_bless_for_disk(&rc);
	r = dm_btree_insert(&md->ref_info, md->working.refcount, &pbn, &rc,
			    &md->working.refcount);
	if (r)
		return r;
	md->wc.nr_unique++;
	return 0;
}

int dedup_meta_add_block(struct dedup_meta *md, u64 pbn, u32 count,
			 const u8 *fp)
{
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->fail_io)
		r = __add_block(md, pbn, count, fp);
	mutex_unlock(&md->lock);
	return r;
}

static int remove_index_entry(struct dedup_meta *md, u64 key, u64 pbn)
{
	struct dedup_disk_index_entry ie;
	int r;

	r = dm_btree_lookup(&md->index_info, md->working.index, &key, &ie);
	if (r == -ENODATA || (!r && le64_to_cpu(ie.pbn) != pbn)) {
		DMERR("index entry %llx of block %llu is missing", key, pbn);
		return -EILSEQ;
	}
	if (r)
		return r;
	r = dm_btree_remove(&md->index_info, md->working.index, &key,
			    &md->working.index);
	if (!r) {
		dedup_filter_remove(md->filter, ie.fp);
		md->wc.nr_indexed--;
	}
	return r;
}

static int __adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			  u32 *new_count)
{
	struct dedup_disk_refcount rc;
	s64 count;
	int r;

	r = dm_btree_lookup(&md->ref_info, md->working.refcount, &pbn, &rc);
	if (r == -ENODATA) {
		DMERR("block %llu has no reference count", pbn);
		return -EILSEQ;
	}
	if (r)
		return r;

	count = (s64)le32_to_cpu(rc.count) + delta;
	if (count < 0 || count > U32_MAX) {
		DMERR("reference count of block %llu out of range", pbn);
		return -EILSEQ;
	}
	*new_count = count;
	if (!delta)
		return 0;

	if (!count) {
		u64 key = le64_to_cpu(rc.index_key);

		if (key != DEDUP_NO_INDEX) {
			r = remove_index_entry(md, key, pbn);
			if (r)
				return r;
		}
		r = dm_btree_remove(&md->ref_info, md->working.refcount, &pbn,
				    &md->working.refcount);
		if (!r)
			md->wc.nr_unique--;
		return r;
	}

	rc.count = cpu_to_le32(count);
	__dm_bless_for_disk(&rc);
	return dm_btree_insert(&md->ref_info, md->working.refcount, &pbn, &rc,
			       &md->working.refcount);
}

int dedup_meta_adjust_block(struct dedup_meta *md, u64 pbn, s64 delta,
			    u32 *new_count)
{
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->fail_io)
		r = __adjust_block(md, pbn, delta, new_count);
	mutex_unlock(&md->lock);
	return r;
}

/*
 * Commit
 */
static void fill_superblock(struct dedup_meta *md,
			    struct dedup_disk_superblock *sb)
{
	struct dedup_counters *c = &md->wc;

	sb->transaction_id = cpu_to_le64(c->transaction_id);
	sb->lbn_root = cpu_to_le64(md->working.lbn);
	sb->refcount_root = cpu_to_le64(md->working.refcount);
	sb->index_root = cpu_to_le64(md->working.index);
	sb->nr_mapped = cpu_to_le64(c->nr_mapped);
	sb->nr_zero = cpu_to_le64(c->nr_zero);
	sb->nr_unique = cpu_to_le64(c->nr_unique);
	sb->nr_indexed = cpu_to_le64(c->nr_indexed);
	sb->dedup_hits = cpu_to_le64(c->dedup_hits);
	sb->zero_writes = cpu_to_le64(c->zero_writes);
	sb->commits = cpu_to_le64(c->commits);
}

static int __commit(struct dedup_meta *md, u64 hits, u64 zero_writes)
{
	struct dedup_disk_superblock sb;
	struct dm_block *sblock;
	size_t root_len;
	int r;

	r = dm_tm_pre_commit(md->tm);
	if (r)
		return r;
	r = dm_sm_root_size(md->metadata_sm, &root_len);
	if (r)
		return r;

	md->wc.transaction_id++;
	md->wc.dedup_hits += hits;
	md->wc.zero_writes += zero_writes;
	md->wc.commits++;
	sb = md->sb;
	fill_superblock(md, &sb);
	memset(sb.metadata_space_map_root, 0,
	       sizeof(sb.metadata_space_map_root));
	r = dm_sm_copy_root(md->metadata_sm, sb.metadata_space_map_root,
			    root_len);
	if (r)
		return r;

	r = dm_bm_write_lock_zero(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				  &sb_validator, &sblock);
	if (r)
		return r;
	memcpy(dm_block_data(sblock), &sb, sizeof(sb));
	r = dm_tm_commit(md->tm, sblock);
	if (r)
		return r;
	md->sb = sb;
	return 0;
}

int dedup_meta_commit(struct dedup_meta *md, u64 hits, u64 zero_writes)
{
	int r = -EINVAL;

	mutex_lock(&md->lock);
	if (!md->fail_io) {
		r = __commit(md, hits, zero_writes);
		if (r)
			md->fail_io = true;
		else
			publish_committed(md);
	}
	mutex_unlock(&md->lock);
	return r;
}

int dedup_meta_set_needs_check(struct dedup_meta *md)
{
	struct dm_block *sblock;
	int r;

	mutex_lock(&md->lock);
	/* No more changes to the working trees: they are abandoned. */
	md->fail_io = true;
	md->sb.flags = cpu_to_le32(le32_to_cpu(md->sb.flags) |
				   DEDUP_SB_NEEDS_CHECK);
	/*
	 * The last committed superblock, plus the flag.  Flushing writes the
	 * abandoned transaction's shadows too, but no superblock points at
	 * them, so the committed trees are untouched.
	 */
	r = dm_bm_write_lock_zero(md->bm, DEDUP_SUPERBLOCK_LOCATION,
				  &sb_validator, &sblock);
	if (!r) {
		memcpy(dm_block_data(sblock), &md->sb, sizeof(md->sb));
		dm_bm_unlock(sblock);
		r = dm_bm_flush(md->bm);
	}
	mutex_unlock(&md->lock);
	return r;
}

struct block_walk {
	dedup_block_fn fn;
	void *context;
};

static int block_walk_fn(void *context, uint64_t *keys, void *leaf)
{
	struct block_walk *w = context;
	struct dedup_disk_refcount *rc = leaf;

	return w->fn(w->context, keys[0], le32_to_cpu(rc->count));
}

int dedup_meta_walk_blocks(struct dedup_meta *md, dedup_block_fn fn, void *context)
{
	struct block_walk w = { .fn = fn, .context = context };
	int r;

	mutex_lock(&md->lock);
	r = dm_btree_walk(&md->ref_info, md->committed.refcount,
			  block_walk_fn, &w);
	mutex_unlock(&md->lock);
	return r;
}

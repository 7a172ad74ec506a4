// SPDX-License-Identifier: GPL-2.0
/*
 * Sparse arrays of fixed-size entries on the metadata device.
 */

/**
 * DOC: sparse arrays
 *
 * An array is a single-level dm_btree mapping an array-block index to the
 * location of a 4 KiB array block: a struct dedup_disk_array_header, then
 * entries.  Blocks that were never written do not exist and read as zero,
 * so an array indexed by LBN or PBN costs nothing where nothing is stored.
 * An array block that becomes all zero is dropped again.
 *
 * The committer changes arrays copy-on-write.  The first change to an
 * array block in a transaction copies it to a block allocated for this
 * transaction ("fresh"), points the btree at the copy and lets the btree's
 * value type release the original; later changes in the same transaction
 * write the fresh block in place.  A block that a committed root reaches is
 * therefore never written, and the space accounting lists every array block
 * a transaction frees (dm-dedup-space.c), which is what lets the readers'
 * array cache forget exactly those blocks before they can be reused.  The committer changes
 * entries in index order, so it keeps the block it wrote last locked (the
 * array's held block) until it needs another: one lock, and one all-zero
 * check, per block and run of entries rather than per entry.
 *
 * Readers walk a *published* root through two dm-bufio clients of their
 * own (the environment's node_cache for btree nodes, array_cache for array
 * blocks), never through the committer's block manager: see
 * dm-dedup-meta.c.  The
 * walker checks every node as dm-btree's validator would.
 */
#include <linux/device-mapper.h>
#include <linux/dm-bufio.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/sort.h>

#include "persistent-data/dm-btree-internal.h"

#include "dm-dedup-array.h"
#include "dm-dedup-copies.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-space.h"

#define BTREE_CSUM_XOR		121107
#define BTREE_MAX_DEPTH		16

/*
 * Array block validator (committer side)
 */
static u32 array_csum(struct dedup_disk_array_header *h)
{
	return dm_bm_checksum(&h->kind, DEDUP_METADATA_BLOCK_SIZE - sizeof(__le32),
			      DEDUP_ARRAY_CSUM_XOR);
}

static void array_prepare_for_write(struct dm_block_validator *v,
				    struct dm_block *b, size_t block_size)
{
	struct dedup_disk_array_header *h = dm_block_data(b);

	h->blocknr = cpu_to_le64(dm_block_location(b));
	h->csum = cpu_to_le32(array_csum(h));
}

static int array_check(struct dm_block_validator *v, struct dm_block *b,
		       size_t block_size)
{
	struct dedup_disk_array_header *h = dm_block_data(b);

	if (le64_to_cpu(h->blocknr) != dm_block_location(b)) {
		DMERR_LIMIT("array block %llu: wrong location %llu",
			    (u64)dm_block_location(b), le64_to_cpu(h->blocknr));
		return -ENOTBLK;
	}
	if (le32_to_cpu(h->csum) != array_csum(h)) {
		DMERR_LIMIT("array block %llu: checksum error",
			    (u64)dm_block_location(b));
		return -EILSEQ;
	}
	return 0;
}

static struct dm_block_validator array_validator = {
	.name = "dedup_array",
	.prepare_for_write = array_prepare_for_write,
	.check = array_check,
};

/* Kind, index and entry size of a block that passed the validator. */
static int check_header(struct dedup_array *a, const void *data, u64 bidx)
{
	struct dedup_array_header h;

	dedup_array_header_unpack(data, &h);
	if (h.kind != a->kind || h.index != bidx ||
	    h.entry_size != a->entry_size) {
		DMERR_LIMIT("array block %llu: kind %u index %llu, expected kind %u index %llu",
			    h.blocknr, h.kind, h.index, a->kind, bidx);
		return -EILSEQ;
	}
	return 0;
}

static void *payload(void *block)
{
	return (u8 *)block + DEDUP_ARRAY_HEADER_SIZE;
}

/*
 * The btree's values are array block locations, counted in the space map
 * that owns them.
 */
static void value_inc(void *context, const void *value, unsigned int count)
{
	const __le64 *v = value;
	unsigned int i;

	for (i = 0; i < count; i++)
		dedup_space_inc(context, le64_to_cpu(v[i]));
}

static void value_dec(void *context, const void *value, unsigned int count)
{
	const __le64 *v = value;
	unsigned int i;

	for (i = 0; i < count; i++)
		dedup_space_dec(context, le64_to_cpu(v[i]));
}

static int value_equal(void *context, const void *value1, const void *value2)
{
	return !memcmp(value1, value2, sizeof(__le64));
}

void dedup_array_init(struct dedup_array_env *env, struct dedup_array *a,
		      unsigned int id, enum dedup_array_kind kind,
		      u32 entry_size, u64 root)
{
	a->env = env;
	a->id = id;
	a->kind = kind;
	a->entry_size = entry_size;
	a->per_block = dedup_array_entries_per_block(entry_size);
	a->info.tm = env->tm;
	a->info.levels = 1;
	a->info.value_type.context = env->space;
	a->info.value_type.size = sizeof(__le64);
	a->info.value_type.inc = value_inc;
	a->info.value_type.dec = value_dec;
	a->info.value_type.equal = value_equal;
	a->root = root;
	a->last_loc = 0;
	a->held = NULL;
}

int dedup_array_empty(struct dedup_array *a)
{
	int r = dedup_array_release(a);

	a->last_loc = 0;
	return r ? r : dm_btree_empty(&a->info, &a->root);
}

void dedup_array_end_transaction(struct dedup_array *a)
{
	a->last_loc = 0;
}

/*
 * Committer side
 */

static int insert_loc(struct dedup_array *a, u64 bidx, u64 loc)
{
	__le64 v = cpu_to_le64(loc);
	int r;

	__dm_bless_for_disk(&v);
	r = dm_btree_insert(&a->info, a->root, &bidx, &v, &a->root);
	if (!r)
		r = dedup_space_take_error(a->env->space);
	return r;
}

/* A zeroed array block for bidx, in the btree; write locked in *blk. */
static int create_block(struct dedup_array *a, u64 bidx, struct dm_block **blk)
{
	struct dedup_array_env *env = a->env;
	struct dedup_array_header h = {
		.kind = a->kind, .index = bidx, .entry_size = a->entry_size,
	};
	dm_block_t loc;
	int r;

	r = dedup_space_alloc(env->space, &loc);
	if (r)
		return r;
	dedup_space_mark_fresh(env->space, loc);
	r = insert_loc(a, bidx, loc);
	if (r) {
		dedup_space_dec(env->space, loc);
		return r;
	}
	r = dm_bm_write_lock_zero(env->bm, loc, &array_validator, blk);
	if (r)
		return r;
	h.blocknr = loc;
	dedup_array_header_pack(&h, dm_block_data(*blk));
	a->last_index = bidx;
	a->last_loc = loc;
	return 0;
}

/* Copies block old (of bidx) to a fresh block; write locked in *blk. */
static int shadow_block(struct dedup_array *a, u64 bidx, u64 old,
			struct dm_block **blk)
{
	struct dedup_array_env *env = a->env;
	struct dm_block *ob;
	dm_block_t loc;
	int r;

	r = dm_bm_read_lock(env->bm, old, &array_validator, &ob);
	if (r)
		return r;
	r = check_header(a, dm_block_data(ob), bidx);
	if (r) {
		dm_bm_unlock(ob);
		return r;
	}
	r = dedup_space_alloc(env->space, &loc);
	if (r) {
		dm_bm_unlock(ob);
		return r;
	}
	r = dm_bm_write_lock_zero(env->bm, loc, &array_validator, blk);
	if (r) {
		dm_bm_unlock(ob);
		dedup_space_dec(env->space, loc);
		return r;
	}
	memcpy(dm_block_data(*blk), dm_block_data(ob),
	       DEDUP_METADATA_BLOCK_SIZE);
	dm_bm_unlock(ob);
	dm_bm_unlock(*blk);

	/* The btree releases old through value_dec. */
	dedup_space_mark_fresh(env->space, loc);
	r = insert_loc(a, bidx, loc);
	if (r)
		return r;
	a->last_index = bidx;
	a->last_loc = loc;
	return dm_bm_write_lock(env->bm, loc, &array_validator, blk);
}

/* Where block bidx of the working array is (0 if nowhere). */
static int find_loc(struct dedup_array *a, u64 bidx, u64 *loc)
{
	__le64 v;
	int r;

	if (a->last_loc && a->last_index == bidx) {
		*loc = a->last_loc;
		return 0;
	}
	r = dm_btree_lookup(&a->info, a->root, &bidx, &v);
	if (r == -ENODATA) {
		*loc = 0;
		return 0;
	}
	if (!r) {
		*loc = le64_to_cpu(v);
		a->last_index = bidx;
		a->last_loc = *loc;
	}
	return r;
}

/* Copies len bytes at off of working block bidx's payload (zero if absent). */
static int working_copy_out(struct dedup_array *a, u64 bidx, size_t off,
			    void *out, size_t len)
{
	struct dm_block *b;
	u64 loc;
	int r;

	/* The held block is bidx's working copy: no lock, no lookup. */
	if (a->held && a->held_bidx == bidx) {
		memcpy(out, payload(dm_block_data(a->held)) + off, len);
		return 0;
	}
	r = dedup_array_release(a);
	if (!r)
		r = find_loc(a, bidx, &loc);
	if (r)
		return r;
	if (!loc) {
		memset(out, 0, len);
		return 0;
	}
	r = dm_bm_read_lock(a->env->bm, loc, &array_validator, &b);
	if (r)
		return r;
	r = check_header(a, dm_block_data(b), bidx);
	if (!r)
		memcpy(out, payload(dm_block_data(b)) + off, len);
	dm_bm_unlock(b);
	return r;
}

int dedup_array_get_entry(struct dedup_array *a, u64 idx, void *value)
{
	u64 bidx = div_u64(idx, a->per_block);
	u32 off = idx - bidx * a->per_block;

	return working_copy_out(a, bidx, (size_t)off * a->entry_size, value,
				a->entry_size);
}

static int remove_block(struct dedup_array *a, u64 bidx)
{
	int r;

	a->last_loc = 0;
	r = dm_btree_remove(&a->info, a->root, &bidx, &a->root);
	if (!r)
		r = dedup_space_take_error(a->env->space);
	return r;
}

/*
 * Unlocks the held block, if any, and drops it from the array if an entry
 * became zero while it was held and none is left.
 */
int dedup_array_release(struct dedup_array *a)
{
	struct dm_block *b = a->held;
	bool zero;

	if (!b)
		return 0;
	a->held = NULL;
	zero = a->held_zeroed && !memchr_inv(payload(dm_block_data(b)), 0,
					     DEDUP_ARRAY_PAYLOAD);
	dm_bm_unlock(b);
	return zero ? remove_block(a, a->held_bidx) : 0;
}

/*
 * Entry idx, write locked in *b (the array's held block: see
 * dedup_array_write_done()), created (zero) if create, else -ENODATA if
 * its block does not exist.
 */
int dedup_array_write_entry(struct dedup_array *a, u64 idx, bool create,
			    struct dm_block **b, void **entry)
{
	u64 bidx = div_u64(idx, a->per_block), loc;
	u32 off = idx - bidx * a->per_block;
	int r;

	if (a->held && a->held_bidx == bidx) {
		*b = a->held;
		*entry = payload(dm_block_data(*b)) + off * a->entry_size;
		return 0;
	}
	r = dedup_array_release(a);
	if (r)
		return r;
	r = find_loc(a, bidx, &loc);
	if (r)
		return r;
	if (!loc) {
		if (!create)
			return -ENODATA;
		r = create_block(a, bidx, b);
	} else if (dedup_space_fresh(a->env->space, loc)) {
		r = dm_bm_write_lock(a->env->bm, loc, &array_validator, b);
		if (!r) {
			r = check_header(a, dm_block_data(*b), bidx);
			if (r)
				dm_bm_unlock(*b);
		}
		a->last_index = bidx;
		a->last_loc = loc;
	} else {
		r = shadow_block(a, bidx, loc, b);
	}
	if (!r) {
		*entry = payload(dm_block_data(*b)) + off * a->entry_size;
		a->held = *b;
		a->held_bidx = bidx;
		a->held_zeroed = false;
	}
	return r;
}

/*
 * The caller is done with the entry dedup_array_write_entry() returned; its
 * block stays locked as the held block.  check_zero: the entry is now zero.
 */
void dedup_array_write_done(struct dedup_array *a, bool check_zero)
{
	if (check_zero)
		a->held_zeroed = true;
}

int dedup_array_update_entry(struct dedup_array *a, u64 idx,
			     const void *value, void *old)
{
	bool zero = !memchr_inv(value, 0, a->entry_size);
	struct dm_block *b;
	void *p;
	int r;

	r = dedup_array_write_entry(a, idx, !zero, &b, &p);
	if (r == -ENODATA) {
		/* Zero into a block that does not exist: nothing to do. */
		if (old)
			memset(old, 0, a->entry_size);
		return 0;
	}
	if (r)
		return r;
	if (old)
		memcpy(old, p, a->entry_size);
	memcpy(p, value, a->entry_size);
	dedup_array_write_done(a, zero);
	return 0;
}

int dedup_array_write_block(struct dedup_array *a, u64 bidx, const void *buf)
{
	struct dm_block *b;
	void *p;
	int r;

	r = dedup_array_write_entry(a, bidx * a->per_block, true, &b, &p);
	if (r)
		return r;
	memcpy(payload(dm_block_data(b)), buf, DEDUP_ARRAY_PAYLOAD);
	dedup_array_write_done(a, false);
	return 0;
}

int dedup_array_delete(struct dedup_array *a)
{
	int r = dedup_array_release(a);

	if (r)
		return r;
	a->last_loc = 0;
	r = dm_btree_del(&a->info, a->root);
	if (!r)
		r = dedup_space_take_error(a->env->space);
	if (!r)
		r = dm_btree_empty(&a->info, &a->root);
	return r;
}

int dedup_array_next_block(struct dedup_array *a, u64 *bidx)
{
	__le64 v;
	u64 key = *bidx;
	int r;

	r = dedup_array_release(a);
	if (r)
		return r;
	r = dm_btree_lookup_next(&a->info, a->root, &key, bidx, &v);
	return r;
}

int dedup_array_read_block(struct dedup_array *a, u64 bidx, void *buf)
{
	return working_copy_out(a, bidx, 0, buf, DEDUP_ARRAY_PAYLOAD);
}

/*
 * Reader side: read-only btree walks through the readers' caches
 *
 * A block's checks run once, when dm-bufio reads it into a buffer: each
 * buffer carries a "checked" flag (its aux data), which dm-bufio's
 * alloc_callback clears whenever the buffer is given to a block.
 */
void dedup_array_reader_buffer_new(struct dm_buffer *b)
{
	*(bool *)dm_bufio_get_aux_data(b) = false;
}

static bool checked(struct dm_buffer *b)
{
	return *(bool *)dm_bufio_get_aux_data(b);
}

static void set_checked(struct dm_buffer *b)
{
	*(bool *)dm_bufio_get_aux_data(b) = true;
}

/*
 * The readers' copy of block b: read if need be, or (cached) only if
 * dm-bufio holds it already, else -EWOULDBLOCK.
 */
static void *get_block(struct dm_bufio_client *c, u64 b, bool cached,
		       struct dm_buffer **bp)
{
	void *data;

	if (!cached)
		return dm_bufio_read(c, b, bp);
	data = dm_bufio_get(c, b, bp);
	return data ? data : ERR_PTR(-EWOULDBLOCK);
}

/*
 * Reads and checks node b.  On success the buffer is held (*bp) and must be
 * released with dm_bufio_release().
 */
static int read_node(struct dedup_array_env *env, u64 b, bool cached,
		     struct dm_buffer **bp, struct btree_node **np)
{
	struct btree_node *n;
	struct node_header *h;
	u32 flags, nr, max, vsize;

	if (b >= READ_ONCE(env->nr_blocks))
		return -EILSEQ;
	n = get_block(env->node_cache, b, cached, bp);
	if (IS_ERR(n))
		return PTR_ERR(n);
	*np = n;
	if (checked(*bp))
		return 0;

	h = &n->header;
	flags = le32_to_cpu(h->flags);
	nr = le32_to_cpu(h->nr_entries);
	max = le32_to_cpu(h->max_entries);
	vsize = le32_to_cpu(h->value_size);
	if (le64_to_cpu(h->blocknr) != b ||
	    le32_to_cpu(h->csum) != dm_bm_checksum(&h->flags,
						   DEDUP_METADATA_BLOCK_SIZE -
						   sizeof(__le32),
						   BTREE_CSUM_XOR) ||
	    (flags != INTERNAL_NODE && flags != LEAF_NODE) ||
	    vsize != sizeof(__le64) || nr > max ||
	    sizeof(*h) + (u64)max * (sizeof(__le64) + vsize) >
	    DEDUP_METADATA_BLOCK_SIZE) {
		dm_bufio_release(*bp);
		DMERR_LIMIT("metadata block %llu is corrupt", b);
		return -EILSEQ;
	}
	set_checked(*bp);
	return 0;
}

/* The index of the last key <= key, or -1. */
static int find_lower(struct btree_node *n, u64 key)
{
	int lo = -1, hi = le32_to_cpu(n->header.nr_entries);

	while (hi - lo > 1) {
		int mid = lo + (hi - lo) / 2;

		if (le64_to_cpu(n->keys[mid]) <= key)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static u64 node_value(struct btree_node *n, int i)
{
	__le64 *values = (__le64 *)&n->keys[le32_to_cpu(n->header.max_entries)];

	return le64_to_cpu(values[i]);
}

/* The value of key in the btree at root, or -ENODATA. */
static int btree_find(struct dedup_array_env *env, u64 root, bool cached,
		      u64 key, u64 *value)
{
	u64 b = root;
	int depth, i, r;

	for (depth = 0; depth < BTREE_MAX_DEPTH; depth++) {
		struct btree_node *n;
		struct dm_buffer *buf;
		bool leaf;

		r = read_node(env, b, cached, &buf, &n);
		if (r)
			return r;
		i = find_lower(n, key);
		leaf = le32_to_cpu(n->header.flags) == LEAF_NODE;
		if (i < 0 || (leaf && le64_to_cpu(n->keys[i]) != key)) {
			dm_bufio_release(buf);
			return -ENODATA;
		}
		b = node_value(n, i);
		dm_bufio_release(buf);
		if (leaf) {
			*value = b;
			return 0;
		}
	}
	DMERR_LIMIT("metadata btree deeper than %d", BTREE_MAX_DEPTH);
	return -EILSEQ;
}

void dedup_array_forget_retired(struct dedup_array_env *env)
{
	const u64 *blocks;
	size_t i, nr = dedup_space_retired(env->space, &blocks);

	if (nr == SIZE_MAX) {
		dm_bufio_forget_buffers(env->array_cache, 0, env->nr_blocks);
		if (env->copies)
			dedup_copies_forget_all(env->copies);
	} else {
		for (i = 0; i < nr; i++) {
			dm_bufio_forget(env->array_cache, blocks[i]);
			if (env->copies)
				dedup_copies_forget(env->copies, blocks[i]);
		}
	}
	dedup_space_end_retire(env->space);
}

/*
 * The committer's cache holds the block (it has just written it) unless
 * memory pressure made it let the block go: then it is read back here, as
 * a reader would.  dm-bufio finds the buffer as it does for a read (a
 * clean one evicted, or a wait).  The block cannot be in the readers'
 * cache already: it was free before this transaction, and retire made
 * that cache forget it when it was freed; nor can a reader reach it
 * before the publish.  Its checks run at the first reader's lookup, as
 * for a block read from disk.
 */
void dedup_array_cache_written(void *context, dm_block_t b)
{
	struct dedup_array_env *env = context;
	struct dm_buffer *rb;
	struct dm_block *blk;
	void *data;

	if (dm_bm_read_lock(env->bm, b, &array_validator, &blk))
		return;
	data = dm_bufio_new(env->array_cache, b, &rb);
	if (!IS_ERR(data)) {
		memcpy(data, dm_block_data(blk), DEDUP_METADATA_BLOCK_SIZE);
		*(bool *)dm_bufio_get_aux_data(rb) = false;
		dm_bufio_release(rb);
	}
	dm_bm_unlock(blk);
}

/*
 * The nodes a commit freed, for the node cache
 *
 * At retire the node cache forgets the nodes of the retired commit's trees
 * that the new trees no longer reach: the nodes dm-btree shadowed or
 * deleted in the transaction, which the next one may reuse.  Every other
 * node stays cached.  Both trees are intact on disk then (the new one is
 * committed, and what the transaction freed is not reused before the next
 * one).  The walk goes level by level from the two roots, descending only
 * where they differ (a node both trees reach at a level is shared with all
 * below it), so it reads the nodes the commit changed, not the tree.  Old
 * nodes are mostly cached (readers walked them); new ones are read as
 * readers would read them after the publish.  A level of the old tree
 * whose first differing node is a leaf is all leaves: only that first one
 * is read.  A node freed is unreachable from the new root, and so are all
 * its ancestors: the walk reaches every one.  When the root split or
 * merged, the levels no longer match: the walk then goes through the old
 * tree's internal nodes and forgets all of them and its leaves (the
 * readers read again what the new tree still has), or, wider than
 * DEDUP_NODE_DIFF_MAX a level, gives up; never a stale node.
 */
static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/*
 * Appends the children of node b, if it is internal, to out[*nr..cap);
 * *internal says whether it is.
 */
static int node_children(struct dedup_array_env *env, u64 b, u64 *out,
			 size_t *nr, size_t cap, bool *internal)
{
	struct btree_node *n;
	struct dm_buffer *buf;
	u32 i, cnt;
	int r;

	r = read_node(env, b, false, &buf, &n);
	if (r)
		return r;
	*internal = le32_to_cpu(n->header.flags) == INTERNAL_NODE;
	cnt = *internal ? le32_to_cpu(n->header.nr_entries) : 0;
	if (*nr + cnt > cap) {
		r = -E2BIG;
	} else {
		for (i = 0; i < cnt; i++)
			out[(*nr)++] = node_value(n, i);
	}
	dm_bufio_release(buf);
	return r;
}

/* Keeps in a[] and b[] (sorted) only what the other does not hold. */
static void drop_common(u64 *a, size_t *na, u64 *b, size_t *nb)
{
	size_t i = 0, j = 0, ka = 0, kb = 0;

	sort(a, *na, sizeof(*a), cmp_u64, NULL);
	sort(b, *nb, sizeof(*b), cmp_u64, NULL);
	while (i < *na || j < *nb) {
		if (j == *nb || (i < *na && a[i] < b[j])) {
			a[ka++] = a[i++];
		} else if (i == *na || b[j] < a[i]) {
			b[kb++] = b[j++];
		} else {
			i++;
			j++;
		}
	}
	*na = ka;
	*nb = kb;
}

int dedup_node_diff_init(struct dedup_node_diff *d)
{
	size_t i;

	d->cursor = kmalloc(sizeof(*d->cursor), GFP_KERNEL);
	if (!d->cursor)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(d->set); i++) {
		d->set[i] = kvmalloc_array(DEDUP_NODE_DIFF_MAX, sizeof(u64),
					   GFP_KERNEL);
		if (!d->set[i]) {
			dedup_node_diff_exit(d);
			return -ENOMEM;
		}
	}
	return 0;
}

void dedup_node_diff_exit(struct dedup_node_diff *d)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(d->set); i++) {
		kvfree(d->set[i]);
		d->set[i] = NULL;
	}
	kfree(d->cursor);
	d->cursor = NULL;
}

/*
 * Whether root, a tree the committer just wrote, is a single leaf: from
 * the committer's cache (it wrote the root).  Asked only when the old root
 * was a leaf: an internal new root then split from it in this transaction,
 * and the cursor's walk down its leftmost path and its prefetch of the
 * root's children meet nodes written by it too.
 */
static bool root_is_leaf(struct dedup_array *a, struct dedup_node_diff *d,
			 u64 root)
{
	int r = dm_btree_cursor_begin(&a->info, root, false, d->cursor);
	bool leaf = (!r || r == -ENODATA) && d->cursor->depth == 1;

	dm_btree_cursor_end(d->cursor);
	return leaf;
}

int dedup_array_forget_freed_nodes(struct dedup_array *a,
				   struct dedup_node_diff *d, u64 old_root,
				   u64 new_root)
{
	struct dedup_array_env *env = a->env;
	u64 *old = d->set[0], *new = d->set[1];
	u64 *next_old = d->set[2], *next_new = d->set[3];
	size_t nr_old = 0, nr_new = 0, nx_old, nx_new, i;
	bool internal, child, old_leaf = false;
	int depth, r;

	if (!old_root || old_root == new_root)
		return 0;
	if (old_root == d->leaf_root[a->id]) {
		/* A single leaf: freed, and nothing below it. */
		dm_bufio_forget(env->node_cache, old_root);
		old_leaf = true;
		goto new_root;
	}
	old[nr_old++] = old_root;
	if (new_root)
		new[nr_new++] = new_root;
	for (depth = 0; depth < BTREE_MAX_DEPTH; depth++) {
		drop_common(old, &nr_old, new, &nr_new);
		if (!nr_old)
			goto new_root;
		nx_old = 0;
		r = node_children(env, old[0], next_old, &nx_old,
				  DEDUP_NODE_DIFF_MAX, &internal);
		if (!depth)
			old_leaf = !internal;
		for (i = 1; !r && internal && i < nr_old; i++)
			r = node_children(env, old[i], next_old, &nx_old,
					  DEDUP_NODE_DIFF_MAX, &child);
		if (r)
			return r;
		for (i = 0; i < nr_old; i++)
			dm_bufio_forget(env->node_cache, old[i]);
		if (!nx_old)
			goto new_root;
		nx_new = 0;
		for (i = 0; i < nr_new; i++) {
			r = node_children(env, new[i], next_new, &nx_new,
					  DEDUP_NODE_DIFF_MAX, &child);
			if (r)
				return r;
		}
		swap(old, next_old);
		swap(new, next_new);
		nr_old = nx_old;
		nr_new = nx_new;
	}
	DMERR_LIMIT("metadata btree deeper than %d", BTREE_MAX_DEPTH);
	/* The caller forgets every node and every known leaf root. */
	return -EILSEQ;

new_root:
	/*
	 * Remembered only after a leaf root (a root that splits has two
	 * children, both just written): a deeper tree's root is read from
	 * the node cache at the next retire, where readers keep it.
	 */
	d->leaf_root[a->id] = old_leaf && new_root &&
		root_is_leaf(a, d, new_root) ? new_root : 0;
	return 0;
}

/* A cached "this array block does not exist in that view". */
#define LOC_ABSENT	(~0ULL)

/* The per-CPU cached location of array block bidx in view v, or 0. */
static u64 cached_loc(struct dedup_array *a, struct dedup_view v, u64 bidx)
{
	struct dedup_loc_cache *lc = get_cpu_ptr(a->env->loc_cache);
	struct dedup_loc_entry *e = &lc->e[a->id]
		[hash_64(bidx, ilog2(DEDUP_LOC_CACHE))];
	u64 loc = e->seq == v.seq && e->bidx == bidx ? e->loc : 0;

	put_cpu_ptr(a->env->loc_cache);
	return loc;
}

static void cache_loc(struct dedup_array *a, struct dedup_view v, u64 bidx,
		      u64 loc)
{
	struct dedup_loc_cache *lc = get_cpu_ptr(a->env->loc_cache);
	struct dedup_loc_entry *e = &lc->e[a->id]
		[hash_64(bidx, ilog2(DEDUP_LOC_CACHE))];

	e->seq = v.seq;
	e->bidx = bidx;
	e->loc = loc;
	put_cpu_ptr(a->env->loc_cache);
}

/* Where array block bidx of a published view is; 0 if absent. */
static int published_loc(struct dedup_array *a, struct dedup_view v,
			 u64 bidx, u64 *locp)
{
	struct dedup_array_env *env = a->env;
	u64 loc = cached_loc(a, v, bidx);
	int r;

	*locp = 0;
	if (loc == LOC_ABSENT)
		return 0;
	if (!loc) {
		r = btree_find(env, v.root, v.cached, bidx, &loc);
		if (r == -ENODATA) {
			cache_loc(a, v, bidx, LOC_ABSENT);
			return 0;
		}
		if (r)
			return r;
		if (loc >= READ_ONCE(env->nr_blocks) || !loc) {
			DMERR_LIMIT("array block %llu beyond the metadata device",
				    loc);
			return -EILSEQ;
		}
		cache_loc(a, v, bidx, loc);
	}
	*locp = loc;
	return 0;
}

/*
 * Reads array block bidx, at loc (published_loc()), of a published view; NULL
 * (no error) if absent.
 */
static int read_array_block(struct dedup_array *a, struct dedup_view v,
			    u64 bidx, u64 loc, struct dm_buffer **bp,
			    void **data)
{
	struct dedup_array_env *env = a->env;
	struct dedup_disk_array_header *h;
	int r;

	*data = NULL;
	if (!loc)
		return 0;
	h = get_block(env->array_cache, loc, v.cached, bp);
	if (IS_ERR(h))
		return PTR_ERR(h);
	if (!checked(*bp) && (le64_to_cpu(h->blocknr) != loc ||
			      le32_to_cpu(h->csum) != array_csum(h))) {
		DMERR_LIMIT("array block %llu is corrupt", loc);
		r = -EILSEQ;
	} else {
		set_checked(*bp);
		r = check_header(a, h, bidx);
	}
	if (r) {
		dm_bufio_release(*bp);
		return r;
	}
	*data = h;
	return 0;
}

/*
 * Copies len bytes at offset off of block bidx's payload (zero if absent).
 * An lbn array block comes from the readers' copies when they have it
 * (dm-dedup-copies.c), else from the array cache, and is copied for the
 * next lookups.
 */
static int copy_out(struct dedup_array *a, struct dedup_view v, u64 bidx,
		    size_t off, void *out, size_t len)
{
	struct dedup_copies *copies = a->id == DEDUP_A_LBN ?
		a->env->copies : NULL;
	struct dm_buffer *b;
	void *data;
	u64 loc;
	int r;

	r = published_loc(a, v, bidx, &loc);
	if (r)
		return r;
	if (copies && loc &&
	    dedup_copies_read(copies, loc, bidx, off, out, len))
		return 0;
	r = read_array_block(a, v, bidx, loc, &b, &data);
	if (r)
		return r;
	if (!data) {
		memset(out, 0, len);
		return 0;
	}
	memcpy(out, payload(data) + off, len);
	if (copies)
		dedup_copies_add(copies, loc, bidx, payload(data));
	dm_bufio_release(b);
	return 0;
}

int dedup_array_lookup(struct dedup_array *a, struct dedup_view v, u64 idx,
		       void *value)
{
	u64 bidx = div_u64(idx, a->per_block);
	u32 off = idx - bidx * a->per_block;

	return copy_out(a, v, bidx, (size_t)off * a->entry_size, value,
			a->entry_size);
}

int dedup_array_lookup_run(struct dedup_array *a, struct dedup_view v, u64 idx,
			   unsigned int nr, void *values)
{
	u8 *out = values;
	int r = 0;

	while (nr && !r) {
		u64 bidx = div_u64(idx, a->per_block);
		u32 off = idx - bidx * a->per_block;
		unsigned int n = min(nr, a->per_block - off);

		r = copy_out(a, v, bidx, (size_t)off * a->entry_size, out,
			     (size_t)n * a->entry_size);
		out += (size_t)n * a->entry_size;
		idx += n;
		nr -= n;
	}
	return r;
}

int dedup_array_lookup_block(struct dedup_array *a, struct dedup_view v,
			     u64 bidx, void *buf)
{
	return copy_out(a, v, bidx, 0, buf, DEDUP_ARRAY_PAYLOAD);
}

int dedup_array_find_in_block(struct dedup_array *a, struct dedup_view v,
			      u64 bidx, const void *value, u32 from, u32 *pos)
{
	struct dm_buffer *b;
	void *data;
	u64 loc;
	u8 *p;
	u32 i;
	int r;

	r = published_loc(a, v, bidx, &loc);
	if (!r)
		r = read_array_block(a, v, bidx, loc, &b, &data);
	if (r)
		return r;
	if (!data)
		return -ENODATA;
	p = payload(data);
	r = -ENODATA;
	for (i = from; i < a->per_block; i++)
		if (!memcmp(p + i * a->entry_size, value, a->entry_size)) {
			*pos = i;
			r = 0;
			break;
		}
	dm_bufio_release(b);
	return r;
}

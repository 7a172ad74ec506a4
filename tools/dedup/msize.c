// SPDX-License-Identifier: GPL-2.0
/*
 * msize.c - how large a metadata device a dm-dedup target needs, and how
 * much RAM its fingerprint index takes (struct dd_msize): the arithmetic
 * dedup_metadata_size prints and dedup_setup checks a metadata device
 * against.  It is doc/metadata.md's (sections 5 and 6):
 *
 *  - every unique data block has a fingerprint (fp_size bytes) and a
 *    reference count (4 bytes), every mapped logical block an 8-byte LBN
 *    entry, in 4096-byte array blocks with a 32-byte header: 36.3 B per
 *    unique block and 8.1 B per mapped LBN with sha256; the fingerprints
 *    are counted for every data block, not only the unique ones, as a
 *    freed block keeps its fingerprint (array_blocks());
 *  - every array block costs a btree entry in region A, about 24 B at the
 *    fill dm-btree leaves keep, and a bulk block 2 bits of bitmap;
 *  - the RAM index holds a 6-byte entry per unique block in 8-entry
 *    (48-byte) buckets at a load of 78.5-92 %: 6.5-7.6 B of bucket per
 *    entry, 7.1 on average, and with page rounding about 7.2 B of RAM;
 *  - a clean shutdown saves those buckets as they are (84 to an array
 *    block, 4032 of its 4064 bytes) plus a header bucket per non-empty
 *    shard, and a directory of one __le64 per 64 shards: 7.1 B x 4096 /
 *    4032 = 7.2 B per unique block, so 43.5 B per unique block with
 *    sha256 (+20 %).  Counted shard by shard (shard_buckets()), since a
 *    data device much larger than its unique data has small shards, which
 *    cost more per entry.  They are array blocks like the others: in the
 *    bulk region while it has room (dedup_meta_alloc_block()), else in
 *    region A, and a btree entry in region A each;
 *  - one saved copy is counted: a saved index stays allocated while it is
 *    loaded after activation, the first commit after loading ends drops
 *    it (the loader sets drop_saved then, and __commit() acts on it once
 *    the index is not loading), and save_index() drops what is left
 *    before it writes the new copy.  That leaves the old copy to the
 *    save's own transaction, where freed blocks are not reused, only when
 *    no commit followed the load (all ran while it loaded), or a crash
 *    left a stale copy and nothing was committed since: such a save needs
 *    room for two copies, and if it fails, the next activation rebuilds;
 *  - region A is at most DEDUP_REGION_A_MAX_BLOCKS blocks (15.875 GiB);
 *    beyond it array blocks go to the bulk region, so a device that needs
 *    more is region A's full size plus the bulk region.
 */
#include <math.h>

#include "dedup/dedup.h"

#define BLOCK		DEDUP_METADATA_BLOCK_SIZE
#define PAYLOAD		DEDUP_ARRAY_PAYLOAD
#define NODE_COST	24.0	/* region A bytes per array block */
#define BITMAP_COST	0.25	/* bytes of sm bitmap per block */
#define INDEX_SAVED	7.1	/* bucket bytes per entry, large shards */
#define INDEX_RAM	7.2	/* RAM per index entry, pages rounded */
#define BUCKETS		(PAYLOAD / DEDUP_INDEX_BUCKET_SIZE)
#define SLACK		1.01
/*
 * Region A blocks the target keeps free before it admits a write
 * (dedup_cow_meta_room()): the worst case of one write's commit and 64
 * blocks, 85 in all, plus a reserve of 1/64 of the device, 32 to 4096.
 */
#define ADMIT_BLOCKS	85.0

static double headroom(double total)
{
	return ADMIT_BLOCKS + fmin(fmax(floor(total / 64), 32), 4096);
}

/*
 * Array blocks for u unique blocks, l mapped LBNs and d data blocks,
 * dense.  The fp array is counted for the whole data device: a freed
 * block keeps its fingerprint (DEDUP_INCOMPAT_STALE_FP), so its
 * fingerprint block stays, and the allocator goes round every chunk with
 * free blocks over time.
 */
static double array_blocks(double u, double l, double d, uint32_t fp_size)
{
	double fps = dedup_array_entries_per_block(fp_size);
	double chunks = ceil(u / DEDUP_CHUNK_BLOCKS);

	return ceil(d / fps) + ceil(u / DEDUP_REFCOUNTS_PER_BLOCK) +
	       ceil(chunks / DEDUP_REFCOUNTS_PER_BLOCK) +
	       ceil(l / dedup_array_entries_per_block(8));
}

/* The RAM index's shards, as the module chooses them. */
static double index_shards(double data_blocks, uint32_t fp_size)
{
	unsigned int shard_bits, loc_bits;

	dedup_index_geometry_bits((uint64_t)data_blocks,
				  dedup_array_entries_per_block(fp_size),
				  &shard_bits, &loc_bits);
	return ldexp(1, shard_bits);
}

/*
 * The mean buckets of a shard of a Poisson(lambda) number of entries,
 * inserted one by one, over the 64 growth factors of dm-dedup-index.c: a
 * shard of nb buckets grows when one more entry would fill more than
 * 92 % x f of its 8 nb slots (needs_growth()), to 85 % x f (buckets_for()),
 * f = spread_of() / 1024 = 1 - (h x 78 >> 6) / 1024 for h = 0..63.  That is
 * about 7.1 B of bucket per entry in shards of hundreds of entries or
 * more, and more in smaller ones, which have a bucket at least.
 */
static double shard_buckets(double lambda)
{
	double nb[64] = { 0 }, sum = 0, p, f;
	double k, kmax = lambda + 12 * sqrt(lambda) + 30;
	int h;

	if (lambda <= 0)
		return 0;
	for (k = 0; k <= kmax; k++) {
		p = exp(k * log(lambda) - lambda - lgamma(k + 1));
		for (h = 0; h < 64; h++) {
			f = 1024 - ((h * 78) >> 6);
			sum += p * nb[h] / 64;
			if ((k + 1) * 25 * 1024 > nb[h] * 8 * 23 * f)
				nb[h] = ceil((k + 1) * 20 * 1024 / (8 * 17 * f));
		}
	}
	return sum;
}

/*
 * Array blocks of the saved index of u entries in that many shards: the
 * shards' buckets and a header bucket per non-empty shard, and the
 * directory, one entry per group of shards.  *per_entry: the bytes of
 * array block per entry, the directory left out.
 */
static double saved_blocks(double u, double shards, double *per_entry)
{
	double used = -expm1(-u / shards) * shards;
	double buckets = shards * shard_buckets(u / shards) + used;
	double dir = ceil(ceil(shards / DEDUP_SAVE_GROUP) /
			  dedup_array_entries_per_block(8));

	*per_entry = u ? buckets / BUCKETS * BLOCK / u : 0;
	return ceil(buckets / BUCKETS) + ceil(-expm1(-used / dir) * dir);
}

void dd_msize(struct dd_msize *z)
{
	double a_max = DEDUP_REGION_A_MAX_BLOCKS, bs = z->block_size;
	double fp_size = dd_hash_size(z->alg), per_bulk, max_bulk;
	int i;

	z->data_blocks = floor(z->data / bs);
	if (!z->have_ratio)
		z->ratio = z->have_logical && z->logical > z->data ?
			z->logical / z->data : 1.0;
	if (!z->have_logical)
		z->logical = z->data * z->ratio;
	z->lbns = floor(z->logical / bs);
	z->unique = fmin(z->data_blocks, ceil(z->lbns / z->ratio));

	/* the arrays and the saved index, then where they go */
	z->saved = saved_blocks(z->unique,
				index_shards(z->data_blocks, fp_size),
				&z->saved_per_unique);
	z->arrays = array_blocks(z->unique, z->lbns, z->data_blocks, fp_size) +
		    z->saved;
	z->a_used = 1 + z->arrays * (1 + NODE_COST / BLOCK);
	z->a_used += ceil(z->a_used / (PAYLOAD * 4.0)) + 1;
	z->bulk = 0;
	z->fits = true;
	if (z->a_used * SLACK + headroom(z->a_used) <= a_max) {
		z->need = z->a_used;
		z->meta = ceil(z->a_used * SLACK);
		/* the headroom grows with the device: a fixed point */
		for (i = 0; i < 4; i++)
			z->meta = fmin(ceil(z->a_used * SLACK + headroom(z->meta)),
				       a_max);
	} else {
		z->bulk = ceil(z->arrays * SLACK);
		z->a_used = 1 + z->arrays * NODE_COST / BLOCK +
			    z->bulk * BITMAP_COST / BLOCK + 256;
		z->meta = a_max + z->bulk;
		z->fits = z->a_used * SLACK + headroom(z->meta) <= a_max;
		z->need = a_max + z->arrays;
	}
	z->index_ram = z->unique * INDEX_RAM;
	z->alloc_ram = ceil(z->data_blocks / DEDUP_CHUNK_BLOCKS) * 4;

	/* the largest sizes one device supports, written once */
	z->per_unique = (fp_size + 4.0) * BLOCK / PAYLOAD;
	/* the saved index of a large device, for the largest sizes */
	z->per_saved = INDEX_SAVED * BLOCK /
		       (BUCKETS * DEDUP_INDEX_BUCKET_SIZE);
	z->per_lbn = 8.0 * BLOCK / PAYLOAD;
	per_bulk = NODE_COST + BITMAP_COST;
	z->max_a_unique = a_max * BLOCK /
			  (z->per_unique + z->per_saved + z->per_lbn) /
			  (1 + NODE_COST / BLOCK);
	max_bulk = (a_max - 256) * BLOCK / per_bulk * BLOCK;
	z->max_unique = max_bulk / (z->per_unique + z->per_saved + z->per_lbn);
	z->max_meta = a_max * BLOCK + max_bulk;
	z->index_ram_per_unique = INDEX_RAM;
}

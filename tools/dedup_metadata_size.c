// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_metadata_size - how large a metadata device a dm-dedup target
 * needs, and how much RAM its fingerprint index takes, from the sizes of
 * its data and logical devices, block size, hash and expected dedup ratio
 * (like thin_metadata_size).  The arithmetic is doc/metadata.md's (sections
 * 5 and 6):
 *
 *  - every unique data block has a fingerprint (fp_size bytes) and a
 *    reference count (4 bytes), every mapped logical block an 8-byte LBN
 *    entry, in 4096-byte array blocks with a 32-byte header: 36.3 B per
 *    unique block and 8.1 B per mapped LBN with sha256;
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
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

struct sizes {
	double data, logical;	/* bytes */
	double ratio;
	uint32_t block_size;
	enum dd_hash_alg alg;
	bool numeric;
	bool have_logical, have_ratio;
};

/* A size in bytes (dd_parse_size()). */
static int parse_size(const char *s, double *v)
{
	uint64_t bytes;

	if (dd_parse_size(s, &bytes))
		return -1;
	*v = bytes;
	return 0;
}

static const char *human(double bytes, char *buf, size_t len)
{
	static const char * const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB",
				       "EiB" };
	int u = 0;

	while (bytes >= 1024 && u < 6) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", bytes, units[u]);
	return buf;
}

/* Array blocks for u unique blocks and l mapped LBNs, dense. */
static double array_blocks(double u, double l, uint32_t fp_size)
{
	double fps = dedup_array_entries_per_block(fp_size);
	double chunks = ceil(u / DEDUP_CHUNK_BLOCKS);

	return ceil(u / fps) + ceil(u / DEDUP_REFCOUNTS_PER_BLOCK) +
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-size", required_argument, NULL, 'd' },
		{ "logical-size", required_argument, NULL, 'l' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "hash", required_argument, NULL, 'H' },
		{ "dedup-ratio", required_argument, NULL, 'r' },
		{ "numeric-only", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sizes z = { .block_size = 4096, .alg = DD_HASH_SHA256 };
	int i;
	double bs, data_blocks, u, l, arrays, saved, a_max = DEDUP_REGION_A_MAX_BLOCKS;
	double a_used, bulk = 0, meta, need, index_ram, alloc_ram, per_bulk;
	double per_unique, per_saved, per_lbn, max_bulk, max_unique, max_a_unique;
	double saved_per_unique;
	uint32_t fp_size;
	bool fits = true;
	char b1[32], b2[32];
	double v;
	int o;

	while ((o = getopt_long(argc, argv, "d:l:b:H:r:nh", opts, NULL)) != -1) {
		switch (o) {
		case 'd':
			if (parse_size(optarg, &z.data))
				goto bad_size;
			break;
		case 'l':
			if (parse_size(optarg, &z.logical))
				goto bad_size;
			z.have_logical = true;
			break;
		case 'b':
			if (parse_size(optarg, &v) ||
			    !dedup_data_block_size_ok((uint64_t)v)) {
				fprintf(stderr, "dedup_metadata_size: --block-size must be a power of two in %u..%u\n",
					DEDUP_MIN_DATA_BLOCK_SIZE,
					DEDUP_MAX_DATA_BLOCK_SIZE);
				return 2;
			}
			z.block_size = v;
			break;
		case 'H':
			z.alg = dd_hash_lookup(optarg);
			if (z.alg == DD_HASH_NONE) {
				fprintf(stderr, "dedup_metadata_size: unknown hash %s\n",
					optarg);
				return 2;
			}
			break;
		case 'r':
			z.ratio = strtod(optarg, NULL);
			if (!(z.ratio >= 1.0)) {
				fprintf(stderr, "dedup_metadata_size: --dedup-ratio must be at least 1\n");
				return 2;
			}
			z.have_ratio = true;
			break;
		case 'n':
			z.numeric = true;
			break;
		case 'h':
			printf("Usage: dedup_metadata_size --data-size <size> [options]\n"
			       "  -d, --data-size <size>     data device (K, M, G, T, P suffixes)\n"
			       "  -l, --logical-size <size>  logical device, all of it written\n"
			       "                             (default: data size x dedup ratio)\n"
			       "  -r, --dedup-ratio <r>      mapped logical blocks per unique block\n"
			       "                             (default: logical / data, or 1)\n"
			       "  -b, --block-size <size>    data block size (4096)\n"
			       "  -H, --hash <name>          sha256 | blake2b-256 | xxhash64 (sha256)\n"
			       "  -n, --numeric-only         print the metadata device size in bytes only\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc || z.data <= 0) {
		fprintf(stderr, "dedup_metadata_size: --data-size is required (see --help)\n");
		return 2;
	}
	bs = z.block_size;
	fp_size = dd_hash_size(z.alg);
	data_blocks = floor(z.data / bs);
	if (!z.have_ratio)
		z.ratio = z.have_logical && z.logical > z.data ?
			z.logical / z.data : 1.0;
	if (!z.have_logical)
		z.logical = z.data * z.ratio;
	l = floor(z.logical / bs);
	u = fmin(data_blocks, ceil(l / z.ratio));

	/* the arrays and the saved index, then where they go */
	saved = saved_blocks(u, index_shards(data_blocks, fp_size),
			     &saved_per_unique);
	arrays = array_blocks(u, l, fp_size) + saved;
	a_used = 1 + arrays * (1 + NODE_COST / BLOCK);
	a_used += ceil(a_used / (PAYLOAD * 4.0)) + 1;
	if (a_used * SLACK + headroom(a_used) <= a_max) {
		need = a_used;
		meta = ceil(a_used * SLACK);
		/* the headroom grows with the device: a fixed point */
		for (i = 0; i < 4; i++)
			meta = fmin(ceil(a_used * SLACK + headroom(meta)), a_max);
	} else {
		bulk = ceil(arrays * SLACK);
		a_used = 1 + arrays * NODE_COST / BLOCK + bulk * BITMAP_COST / BLOCK +
			 256;
		meta = a_max + bulk;
		fits = a_used * SLACK + headroom(meta) <= a_max;
		need = a_max + arrays;
	}
	index_ram = u * INDEX_RAM;
	alloc_ram = ceil(data_blocks / DEDUP_CHUNK_BLOCKS) * 4;

	/* the largest sizes one device supports, written once */
	per_unique = (fp_size + 4.0) * BLOCK / PAYLOAD;
	/* the saved index of a large device, for the largest sizes */
	per_saved = INDEX_SAVED * BLOCK / (BUCKETS * DEDUP_INDEX_BUCKET_SIZE);
	per_lbn = 8.0 * BLOCK / PAYLOAD;
	per_bulk = NODE_COST + BITMAP_COST;
	max_a_unique = a_max * BLOCK / (per_unique + per_saved + per_lbn) /
		(1 + NODE_COST / BLOCK);
	max_bulk = (a_max - 256) * BLOCK / per_bulk * BLOCK;
	max_unique = max_bulk / (per_unique + per_saved + per_lbn);

	if (z.numeric) {
		printf("%.0f\n", meta * BLOCK);
		return fits ? 0 : 1;
	}
	printf("data          %s in %u-byte blocks: %.0f blocks, %.0f unique (%s)\n",
	       human(z.data, b1, sizeof(b1)), z.block_size, data_blocks, u,
	       human(u * bs, b2, sizeof(b2)));
	printf("logical       %s: %.0f mapped blocks, dedup ratio %.2f\n",
	       human(z.logical, b1, sizeof(b1)), l, u ? l / u : 0.0);
	printf("per block     %.1f B per unique block (%s) + %.1f B of saved index, %.1f B per mapped LBN\n",
	       per_unique, dd_hash_name(z.alg),
	       u ? saved_per_unique : per_saved, per_lbn);
	printf("arrays        %.0f blocks (%s)\n", arrays - saved,
	       human((arrays - saved) * BLOCK, b1, sizeof(b1)));
	printf("saved index:  %.0f blocks (%s), written at a clean shutdown\n",
	       saved, human(saved * BLOCK, b1, sizeof(b1)));
	if (bulk)
		printf("region A      %s used of %s (btree entries, space maps)\n",
		       human(a_used * BLOCK, b1, sizeof(b1)),
		       human(a_max * BLOCK, b2, sizeof(b2)));
	else
		printf("region A      %s (no bulk region needed)\n",
		       human(meta * BLOCK, b1, sizeof(b1)));
	if (bulk)
		printf("bulk region   %s\n", human(bulk * BLOCK, b1, sizeof(b1)));
	printf("metadata needed: %s\n", human(need * BLOCK, b1, sizeof(b1)));
	printf("metadata device: %s (%.0f bytes, %.0f blocks, 1 %% slack)%s\n",
	       human(meta * BLOCK, b1, sizeof(b1)), meta * BLOCK, meta,
	       fits ? "" : ": does NOT fit one metadata device");
	printf("index RAM:       %s (%.1f B per unique block); allocator %s\n",
	       human(index_ram, b1, sizeof(b1)), INDEX_RAM,
	       human(alloc_ram, b2, sizeof(b2)));
	printf("largest, written once at %u-byte blocks: %s of unique data on region A alone (15.875 GiB), %s with a bulk region (%s of metadata)\n",
	       z.block_size, human(max_a_unique * bs, b1, sizeof(b1)),
	       human(max_unique * bs, b2, sizeof(b2)),
	       human(a_max * BLOCK + max_bulk, b2 + 16, sizeof(b2) - 16));
	return fits ? 0 : 1;

bad_size:
	fprintf(stderr, "dedup_metadata_size: bad size %s\n", optarg);
	return 2;
}

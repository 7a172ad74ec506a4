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
 *  - region A is at most DEDUP_REGION_A_MAX_BLOCKS blocks (15.875 GiB);
 *    beyond it array blocks go to the bulk region, so a device that needs
 *    more is region A's full size plus the bulk region;
 *  - the RAM index holds a 6-byte entry per unique block at 80-92 % load:
 *    about 7.0 B per unique block.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dm-dedup-format.h"
#include "ddhash.h"

#define BLOCK		DEDUP_METADATA_BLOCK_SIZE
#define PAYLOAD		DEDUP_ARRAY_PAYLOAD
#define NODE_COST	24.0	/* region A bytes per array block */
#define BITMAP_COST	0.25	/* bytes of sm bitmap per block */
#define INDEX_ENTRY	6.0
#define INDEX_LOAD	0.86	/* mean of 80 % and 92 % */
#define SLACK		1.01

struct sizes {
	double data, logical;	/* bytes */
	double ratio;
	uint32_t block_size;
	enum dd_hash_alg alg;
	bool numeric;
	bool have_logical, have_ratio;
};

static int parse_size(const char *s, double *v)
{
	char *end;
	double m = 1;

	errno = 0;
	*v = strtod(s, &end);
	if (errno || end == s || *v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		m = 1ULL << 10;
		break;
	case 'm': case 'M':
		m = 1ULL << 20;
		break;
	case 'g': case 'G':
		m = 1ULL << 30;
		break;
	case 't': case 'T':
		m = 1ULL << 40;
		break;
	case 'p': case 'P':
		m = 1ULL << 50;
		break;
	case 's':
		m = 512;
		break;
	case '\0':
		break;
	default:
		return -1;
	}
	if (*end)
		end++;
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	*v *= m;
	return *end ? -1 : 0;
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
	double bs, data_blocks, u, l, arrays, a_max = DEDUP_REGION_A_MAX_BLOCKS;
	double a_used, bulk = 0, meta, need, index_ram, alloc_ram, per_bulk;
	double per_unique, per_lbn, max_bulk, max_unique, max_a_unique;
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
			if (parse_size(optarg, &v) || v < 4096 || v > 65536 ||
			    ((uint32_t)v & ((uint32_t)v - 1))) {
				fprintf(stderr, "dedup_metadata_size: --block-size must be a power of two in 4096..65536\n");
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

	/* the arrays, then where they go */
	arrays = array_blocks(u, l, fp_size);
	a_used = 1 + arrays * (1 + NODE_COST / BLOCK);
	a_used += ceil(a_used / (PAYLOAD * 4.0)) + 1;
	if (a_used * SLACK <= a_max) {
		need = a_used;
		meta = ceil(a_used * SLACK);
	} else {
		bulk = ceil(arrays * SLACK);
		a_used = 1 + arrays * NODE_COST / BLOCK + bulk * BITMAP_COST / BLOCK +
			 256;
		fits = a_used * SLACK <= a_max;
		meta = a_max + bulk;
		need = a_max + arrays;
	}
	index_ram = u * INDEX_ENTRY / INDEX_LOAD;
	alloc_ram = ceil(data_blocks / DEDUP_CHUNK_BLOCKS) * 4;

	/* the largest sizes one device supports, written once */
	per_unique = (fp_size + 4.0) * BLOCK / PAYLOAD;
	per_lbn = 8.0 * BLOCK / PAYLOAD;
	per_bulk = NODE_COST + BITMAP_COST;
	max_a_unique = a_max * BLOCK / (per_unique + per_lbn) /
		(1 + NODE_COST / BLOCK);
	max_bulk = (a_max - 256) * BLOCK / per_bulk * BLOCK;
	max_unique = max_bulk / (per_unique + per_lbn);

	if (z.numeric) {
		printf("%.0f\n", meta * BLOCK);
		return fits ? 0 : 1;
	}
	printf("data          %s in %u-byte blocks: %.0f blocks, %.0f unique (%s)\n",
	       human(z.data, b1, sizeof(b1)), z.block_size, data_blocks, u,
	       human(u * bs, b2, sizeof(b2)));
	printf("logical       %s: %.0f mapped blocks, dedup ratio %.2f\n",
	       human(z.logical, b1, sizeof(b1)), l, u ? l / u : 0.0);
	printf("per block     %.1f B per unique block (%s), %.1f B per mapped LBN\n",
	       per_unique, dd_hash_name(z.alg), per_lbn);
	printf("arrays        %.0f blocks (%s)\n", arrays,
	       human(arrays * BLOCK, b1, sizeof(b1)));
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
	       human(index_ram, b1, sizeof(b1)), INDEX_ENTRY / INDEX_LOAD,
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

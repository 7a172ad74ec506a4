// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_metadata_size - how large a metadata device a dm-dedup target
 * needs, and how much RAM its fingerprint index takes, from the sizes of
 * its data and logical devices, block size, hash and expected dedup ratio
 * (like thin_metadata_size).  The arithmetic is dd_msize()'s
 * (dedup/msize.c, doc/metadata.md sections 5 and 6); this prints it.
 */
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"

#define BLOCK		DEDUP_METADATA_BLOCK_SIZE

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
	struct dd_msize z = { .block_size = 4096, .alg = DD_HASH_SHA256 };
	bool numeric = false;
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
			numeric = true;
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
	dd_msize(&z);

	if (numeric) {
		printf("%.0f\n", z.meta * BLOCK);
		return z.fits ? 0 : 1;
	}
	printf("data          %s in %u-byte blocks: %.0f blocks, %.0f unique (%s)\n",
	       human(z.data, b1, sizeof(b1)), z.block_size, z.data_blocks,
	       z.unique, human(z.unique * z.block_size, b2, sizeof(b2)));
	printf("logical       %s: %.0f mapped blocks, dedup ratio %.2f\n",
	       human(z.logical, b1, sizeof(b1)), z.lbns,
	       z.unique ? z.lbns / z.unique : 0.0);
	printf("per block     %.1f B per unique block (%s) + %.1f B of saved index, %.1f B per mapped LBN\n",
	       z.per_unique, dd_hash_name(z.alg),
	       z.unique ? z.saved_per_unique : z.per_saved, z.per_lbn);
	if (z.unique < z.data_blocks)
		printf("              and the fingerprints of all %.0f data blocks (a freed block keeps its own)\n",
		       z.data_blocks);
	printf("arrays        %.0f blocks (%s)\n", z.arrays - z.saved,
	       human((z.arrays - z.saved) * BLOCK, b1, sizeof(b1)));
	printf("saved index:  %.0f blocks (%s), written at a clean shutdown\n",
	       z.saved, human(z.saved * BLOCK, b1, sizeof(b1)));
	if (z.bulk)
		printf("region A      %s used of %s (btree entries, space maps)\n",
		       human(z.a_used * BLOCK, b1, sizeof(b1)),
		       human(DEDUP_REGION_A_MAX_BLOCKS * BLOCK, b2, sizeof(b2)));
	else
		printf("region A      %s (no bulk region needed)\n",
		       human(z.meta * BLOCK, b1, sizeof(b1)));
	if (z.bulk)
		printf("bulk region   %s\n", human(z.bulk * BLOCK, b1, sizeof(b1)));
	printf("metadata needed: %s\n", human(z.need * BLOCK, b1, sizeof(b1)));
	printf("metadata device: %s (%.0f bytes, %.0f blocks, 1 %% slack)%s\n",
	       human(z.meta * BLOCK, b1, sizeof(b1)), z.meta * BLOCK, z.meta,
	       z.fits ? "" : ": does NOT fit one metadata device");
	printf("index RAM:       %s (%.1f B per unique block); allocator %s\n",
	       human(z.index_ram, b1, sizeof(b1)), z.index_ram_per_unique,
	       human(z.alloc_ram, b2, sizeof(b2)));
	printf("largest, written once at %u-byte blocks: %s of unique data on region A alone (15.875 GiB), %s with a bulk region (%s of metadata)\n",
	       z.block_size, human(z.max_a_unique * z.block_size, b1, sizeof(b1)),
	       human(z.max_unique * z.block_size, b2, sizeof(b2)),
	       human(z.max_meta, b2 + 16, sizeof(b2) - 16));
	return z.fits ? 0 : 1;

bad_size:
	fprintf(stderr, "dedup_metadata_size: bad size %s\n", optarg);
	return 2;
}

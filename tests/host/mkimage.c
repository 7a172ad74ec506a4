// SPDX-License-Identifier: GPL-2.0
/*
 * mkimage - write a small, valid dm-dedup metadata image (and optionally
 * its data device) without the kernel, to test the tools on shapes the
 * module's images may not have (deep trees, every hash, slot collisions).
 *
 *   mkimage META [options]
 *     --meta-blocks N     metadata device size in 4 KiB blocks (1024)
 *     --data-blocks N     data device size in data blocks (4096)
 *     --block-size B      data block size (4096)
 *     --hash NAME         sha256 | blake2b-256 | xxhash64 (sha256)
 *     --lbns N            logical blocks written (1000)
 *     --dup N             every N consecutive LBNs share content (3)
 *     --zero N            every Nth LBN is all zeroes (0: none)
 *     --unindexed N       every Nth unique block gets no index entry (0)
 *     --fill PERCENT      btree node fill (67)
 *     --data FILE         also write the data device
 *     --leak N            N extra refcount entries no LBN maps to
 *     --meta-leak N       N extra metadata blocks counted but unreferenced
 *     --overflow          ... with counts 3, 4, ... in the space map's
 *                         overflow refcount tree
 *
 * Layout: block 0 superblock, 1 space-map index, then bitmaps, the empty
 * space-map refcount tree, and the three trees bottom-up.  Every used block
 * has count 1 in the space map.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ddmeta.h"

struct img {
	uint8_t *blocks;
	uint64_t nr_blocks;
	uint64_t next;		/* next free block */
	uint32_t fill;
};

struct kv {
	uint64_t key;
	uint8_t value[40];
};

static uint8_t *blk(struct img *im, uint64_t b)
{
	return im->blocks + b * DD_BLOCK_SIZE;
}

static uint64_t alloc_block(struct img *im)
{
	if (im->next >= im->nr_blocks) {
		fprintf(stderr, "mkimage: metadata device too small\n");
		exit(1);
	}
	return im->next++;
}

static void node_init(uint8_t *n, uint64_t b, uint32_t flags, uint32_t nr,
		      uint32_t vs)
{
	memset(n, 0, DD_BLOCK_SIZE);
	dd_put_le32(n + DD_NODE_FLAGS, flags);
	dd_put_le64(n + DD_NODE_BLOCKNR, b);
	dd_put_le32(n + DD_NODE_NR_ENTRIES, nr);
	dd_put_le32(n + DD_NODE_MAX_ENTRIES, dd_calc_max_entries(vs));
	dd_put_le32(n + DD_NODE_VALUE_SIZE, vs);
}

/* Build one level of nodes over kv; returns the parent entries. */
static struct kv *build_level(struct img *im, const struct kv *kv, size_t nr,
			      uint32_t vs, uint32_t flags, size_t *nr_out)
{
	uint32_t max = dd_calc_max_entries(vs);
	uint32_t per = max * im->fill / 100;
	size_t nodes, i, j, done = 0;
	struct kv *up;

	if (per < 2)
		per = 2;
	nodes = nr ? (nr + per - 1) / per : 1;
	up = calloc(nodes, sizeof(*up));
	for (i = 0; i < nodes; i++) {
		size_t cnt = (nr - done) / (nodes - i);
		uint64_t b = alloc_block(im);
		uint8_t *n = blk(im, b);

		if ((nr - done) % (nodes - i))
			cnt++;
		node_init(n, b, flags, cnt, vs);
		for (j = 0; j < cnt; j++) {
			dd_put_le64(n + DD_NODE_HEADER_SIZE + 8 * j,
				    kv[done + j].key);
			memcpy(n + DD_NODE_HEADER_SIZE + 8ULL * max + vs * j,
			       kv[done + j].value, vs);
		}
		dd_block_set_csum(n, DD_BTREE_CSUM_XOR);
		up[i].key = cnt ? kv[done].key : 0;
		dd_put_le64(up[i].value, b);
		done += cnt;
	}
	*nr_out = nodes;
	return up;
}

static uint64_t build_tree(struct img *im, struct kv *kv, size_t nr,
			   uint32_t vs)
{
	struct kv *level;
	size_t n;
	uint64_t root;

	level = build_level(im, kv, nr, vs, DD_LEAF_NODE, &n);
	while (n > 1) {
		struct kv *up = build_level(im, level, n, 8, DD_INTERNAL_NODE,
					    &n);

		free(level);
		level = up;
	}
	root = dd_le64(level[0].value);
	free(level);
	return root;
}

static int cmp_kv(const void *a, const void *b)
{
	const struct kv *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static void fill_content(uint8_t *buf, uint32_t size, uint64_t id)
{
	uint64_t x = id * 0x9E3779B97F4A7C15ULL + 1;
	uint32_t i;

	for (i = 0; i < size; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		dd_put_le64(buf + i, x);
	}
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "meta-blocks", required_argument, NULL, 'M' },
		{ "data-blocks", required_argument, NULL, 'D' },
		{ "block-size", required_argument, NULL, 'b' },
		{ "hash", required_argument, NULL, 'H' },
		{ "lbns", required_argument, NULL, 'l' },
		{ "dup", required_argument, NULL, 'u' },
		{ "zero", required_argument, NULL, 'z' },
		{ "unindexed", required_argument, NULL, 'n' },
		{ "fill", required_argument, NULL, 'f' },
		{ "data", required_argument, NULL, 'd' },
		{ "leak", required_argument, NULL, 'L' },
		{ "meta-leak", required_argument, NULL, 'K' },
		{ "overflow", no_argument, NULL, 'O' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t meta_blocks = 1024, data_blocks = 4096, lbns = 1000;
	uint64_t dup = 3, zero = 0, unindexed = 0, leak = 0, meta_leak = 0;
	uint32_t bs = 4096;
	const char *hash = "sha256", *data_path = NULL, *out;
	enum dd_hash_alg alg;
	struct img im = { .fill = 67 };
	struct kv *lbn, *rc, *ix;
	size_t nr_lbn = 0, nr_rc = 0, nr_ix = 0, fps;
	uint64_t i, nr_mapped = 0, nr_zero = 0, nr_bitmaps, b;
	uint8_t *content, fp[DD_HASH_MAX_DIGEST], *sb, *idx;
	uint64_t sm_ref_root, lbn_root, rc_root, ix_root, allocated, leak0;
	bool overflow = false;
	struct kv *ov;
	FILE *f, *data = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'M':
			meta_blocks = strtoull(optarg, NULL, 0);
			break;
		case 'D':
			data_blocks = strtoull(optarg, NULL, 0);
			break;
		case 'b':
			bs = strtoul(optarg, NULL, 0);
			break;
		case 'H':
			hash = optarg;
			break;
		case 'l':
			lbns = strtoull(optarg, NULL, 0);
			break;
		case 'u':
			dup = strtoull(optarg, NULL, 0);
			break;
		case 'z':
			zero = strtoull(optarg, NULL, 0);
			break;
		case 'n':
			unindexed = strtoull(optarg, NULL, 0);
			break;
		case 'f':
			im.fill = strtoul(optarg, NULL, 0);
			break;
		case 'd':
			data_path = optarg;
			break;
		case 'L':
			leak = strtoull(optarg, NULL, 0);
			break;
		case 'K':
			meta_leak = strtoull(optarg, NULL, 0);
			break;
		case 'O':
			overflow = true;
			break;
		default:
			return 2;
		}
	}
	if (optind != argc - 1 || !dup || im.fill < 1 || im.fill > 100)
		return 2;
	out = argv[optind];
	alg = dd_hash_lookup(hash);
	if (alg == DD_HASH_NONE)
		return 2;
	fps = dd_hash_size(alg);

	im.nr_blocks = meta_blocks;
	im.blocks = calloc(meta_blocks, DD_BLOCK_SIZE);
	lbn = calloc(lbns + 1, sizeof(*lbn));
	rc = calloc(lbns + leak + 1, sizeof(*rc));
	ix = calloc(lbns + 1, sizeof(*ix));
	content = malloc(bs);
	if (!im.blocks || !lbn || !rc || !ix || !content)
		return 1;
	if (data_path) {
		data = fopen(data_path, "w+");
		if (!data)
			return 1;
	}

	/* logical content: LBN i holds content id i / dup, or zeroes */
	for (i = 0; i < lbns; i++) {
		uint64_t id = i / dup, pbn = id;

		lbn[nr_lbn].key = i;
		if (zero && i % zero == zero - 1) {
			dd_put_le64(lbn[nr_lbn++].value, DEDUP_ZERO_PBN);
			nr_zero++;
			continue;
		}
		if (pbn >= data_blocks) {
			fprintf(stderr, "mkimage: data device too small\n");
			return 1;
		}
		dd_put_le64(lbn[nr_lbn++].value, pbn);
		nr_mapped++;
		if (nr_rc && rc[nr_rc - 1].key == pbn) {
			uint8_t *v = rc[nr_rc - 1].value;

			dd_put_le32(v, dd_le32(v) + 1);
			continue;
		}
		fill_content(content, bs, id);
		if (data) {
			fseek(data, (long)(pbn * bs), SEEK_SET);
			fwrite(content, 1, bs, data);
		}
		rc[nr_rc].key = pbn;
		dd_put_le32(rc[nr_rc].value, 1);
		dd_put_le64(rc[nr_rc].value + 8, DEDUP_NO_INDEX);
		if (!unindexed || nr_rc % unindexed != unindexed - 1) {
			dd_hash(alg, content, bs, fp);
			ix[nr_ix].key = DEDUP_INDEX_KEY(dd_be64(fp), 0);
			dd_put_le64(ix[nr_ix].value, pbn);
			memcpy(ix[nr_ix].value + 8, fp, fps);
			nr_ix++;
			dd_put_le64(rc[nr_rc].value + 8, 0);	/* set below */
		}
		nr_rc++;
	}
	/* leaked data blocks: counted, unindexed, unmapped, after the rest */
	for (i = 0; i < leak; i++) {
		uint64_t pbn = (nr_rc ? rc[nr_rc - 1].key + 1 : 0);

		if (pbn >= data_blocks)
			return 1;
		rc[nr_rc].key = pbn;
		dd_put_le32(rc[nr_rc].value, 1);
		dd_put_le64(rc[nr_rc].value + 8, DEDUP_NO_INDEX);
		nr_rc++;
	}
	if (data) {
		/* size the data device */
		fseek(data, (long)(data_blocks * bs - 1), SEEK_SET);
		fputc(0, data);
		fclose(data);
	}
	/* equal 48-bit prefixes take the next slots; link refcount -> index */
	qsort(ix, nr_ix, sizeof(*ix), cmp_kv);
	for (i = 0; i < nr_ix; i++) {
		struct kv k, *r;

		if (i && ix[i].key <= ix[i - 1].key)
			ix[i].key = ix[i - 1].key + 1;
		k.key = dd_le64(ix[i].value);
		r = bsearch(&k, rc, nr_rc, sizeof(k), cmp_kv);
		if (r)
			dd_put_le64(r->value + 8, ix[i].key);
	}

	/* layout */
	im.next = 1;
	nr_bitmaps = (meta_blocks + DD_ENTRIES_PER_BITMAP - 1) /
		     DD_ENTRIES_PER_BITMAP;
	b = alloc_block(&im);	/* space-map index */
	im.next += nr_bitmaps;
	lbn_root = build_tree(&im, lbn, nr_lbn, 8);
	rc_root = build_tree(&im, rc, nr_rc,
			     sizeof(struct dedup_disk_refcount));
	ix_root = build_tree(&im, ix, nr_ix,
			     sizeof(struct dedup_disk_index_entry));
	leak0 = im.next;
	im.next += meta_leak;
	ov = calloc(meta_leak + 1, sizeof(*ov));
	if (!ov)
		return 1;
	for (i = 0; overflow && i < meta_leak; i++) {
		ov[i].key = leak0 + i;
		dd_put_le32(ov[i].value, 3 + i);
	}
	sm_ref_root = build_tree(&im, ov, overflow ? meta_leak : 0, 4);
	allocated = im.next;

	/* space map: blocks 0 .. allocated-1 have count 1 */
	idx = blk(&im, b);
	dd_put_le64(idx + 8, b);
	for (i = 0; i < nr_bitmaps; i++) {
		uint64_t bb = b + 1 + i, first = i * DD_ENTRIES_PER_BITMAP;
		uint8_t *bm = blk(&im, bb), *ie;
		uint32_t used = 0, j;

		dd_put_le64(bm + 8, bb);
		for (j = 0; j < DD_ENTRIES_PER_BITMAP; j++) {
			uint32_t bit = 2 * j + 1;	/* low bit: count 1 */

			if (first + j >= allocated)
				break;
			bm[DD_BITMAP_HEADER_SIZE + bit / 8] |= 1 << (bit % 8);
			/* high bit too: count 3, look in the overflow tree */
			if (overflow && first + j >= leak0 &&
			    first + j < leak0 + meta_leak)
				bm[DD_BITMAP_HEADER_SIZE + (bit - 1) / 8] |=
					1 << ((bit - 1) % 8);
			used++;
		}
		dd_block_set_csum(bm, DD_BITMAP_CSUM_XOR);
		ie = idx + DD_INDEX_HEADER_SIZE + DD_INDEX_ENTRY_SIZE * i;
		dd_put_le64(ie, bb);
		dd_put_le32(ie + 8, DD_ENTRIES_PER_BITMAP - used);
		dd_put_le32(ie + 12, used);
	}
	dd_block_set_csum(idx, DD_INDEX_CSUM_XOR);

	sb = blk(&im, 0);
#define SB_PUT64(f, v) dd_put_le64(sb + offsetof(struct dedup_disk_superblock, f), v)
#define SB_PUT32(f, v) dd_put_le32(sb + offsetof(struct dedup_disk_superblock, f), v)
	for (i = 0; i < 16; i++)
		sb[offsetof(struct dedup_disk_superblock, uuid) + i] = 0xa0 + i;
	SB_PUT64(magic, DEDUP_MAGIC);
	SB_PUT32(version, DEDUP_METADATA_VERSION);
	SB_PUT32(metadata_block_size, DD_BLOCK_SIZE);
	SB_PUT32(data_block_size, bs);
	SB_PUT32(fp_size, fps);
	memcpy(sb + offsetof(struct dedup_disk_superblock, hash_name), hash,
	       strlen(hash));
	SB_PUT64(data_nr_blocks, data_blocks);
	SB_PUT64(transaction_id, 7);
	{
		uint8_t *smr = sb + offsetof(struct dedup_disk_superblock,
					     metadata_space_map_root);

		dd_put_le64(smr, meta_blocks);
		dd_put_le64(smr + 8, allocated);
		dd_put_le64(smr + 16, b);
		dd_put_le64(smr + 24, sm_ref_root);
	}
	SB_PUT64(lbn_root, lbn_root);
	SB_PUT64(refcount_root, rc_root);
	SB_PUT64(index_root, ix_root);
	SB_PUT64(nr_mapped, nr_mapped);
	SB_PUT64(nr_zero, nr_zero);
	SB_PUT64(nr_unique, nr_rc);
	SB_PUT64(nr_indexed, nr_ix);
	SB_PUT64(dedup_hits, nr_mapped - nr_rc);
	SB_PUT64(zero_writes, nr_zero);
	SB_PUT64(commits, 7);
	dd_block_set_csum(sb, DEDUP_SUPERBLOCK_CSUM_XOR);

	f = fopen(out, "w");
	if (!f || fwrite(im.blocks, DD_BLOCK_SIZE, meta_blocks, f) != meta_blocks ||
	    fclose(f))
		return 1;
	printf("%llu blocks used, lbn %zu, unique %zu, indexed %zu\n",
	       (unsigned long long)allocated, nr_lbn, nr_rc, nr_ix);
	return 0;
}

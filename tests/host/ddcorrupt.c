// SPDX-License-Identifier: GPL-2.0
/*
 * ddcorrupt - damage a dm-dedup metadata image in one precise way, for the
 * host tests of dedup_check.  Each command prints what it did as
 * space-separated numbers on stdout so the test can assert the exact
 * message the checker must print.
 *
 *   ddcorrupt IMG find KIND
 *       first block of KIND: superblock sm-index sm-bitmap
 *       {smref,lbn,refcount,index}-{internal,leaf}  prints: BLOCK
 *       (smref: the space map's overflow refcount tree)
 *   ddcorrupt IMG flip BLOCK OFFSET      xor one byte with 0xff
 *   ddcorrupt IMG swap-keys BLOCK        swap keys 0 and 1 of a btree node,
 *                                        fix the checksum  prints: BLOCK 1
 *   ddcorrupt IMG refcount-inc           count + 1 in the first refcount
 *                                        entry, fix the checksum
 *                                        prints: BLOCK PBN OLD NEW
 *   ddcorrupt IMG index-free             first index entry -> the lowest PBN
 *                                        without a refcount entry, fix the
 *                                        checksum   prints: BLOCK KEY OLD NEW
 *   ddcorrupt IMG cycle TREE             point the last child of the root of
 *                                        TREE (lbn, refcount, index; must be
 *                                        internal) at the root itself
 *                                        prints: ROOT
 *   ddcorrupt IMG dup-fp                 copy the fingerprint of the first
 *                                        index entry into the second, fix
 *                                        the checksum   prints: BLOCK KEY1 KEY0
 *   ddcorrupt IMG sb-set FIELD VALUE     set a superblock field (flags,
 *                                        incompat_flags, nr_mapped, ...),
 *                                        fix the checksum
 *   ddcorrupt IMG fuzz SEED N            change 1-4 random bytes in each of
 *                                        N random metadata blocks, fixing
 *                                        the checksums so deeper checks run
 *
 * Exit status 0 when done, 1 when the image has nothing to corrupt there,
 * 2 on usage or I/O errors.
 */
#include <stdlib.h>
#include <string.h>

#include "ddmeta.h"

struct ctx {
	struct dd_dev dev;
	struct dd_sb sb;
	struct dd_meta m;
	struct dd_sm sm;
	struct dd_tree trees[DD_NR_TREES];
	uint64_t *pbns;		/* refcount keys, walk (sorted) order */
	size_t nr_pbns;
	size_t cap_pbns;
};

static void collect_pbn(struct dd_tree *t, uint64_t block, uint32_t index,
			uint64_t key, const uint8_t *value)
{
	struct ctx *c = t->priv;

	(void)block;
	(void)index;
	(void)value;
	if (c->nr_pbns == c->cap_pbns) {
		c->cap_pbns = c->cap_pbns ? 2 * c->cap_pbns : 1024;
		c->pbns = realloc(c->pbns, c->cap_pbns * sizeof(*c->pbns));
		if (!c->pbns)
			exit(2);
	}
	c->pbns[c->nr_pbns++] = key;
}

static int load(struct ctx *c, const char *path)
{
	uint8_t b[DD_BLOCK_SIZE];
	uint64_t roots[DD_NR_TREES];
	int id;

	memset(c, 0, sizeof(*c));
	dd_log.quiet = true;
	if (dd_dev_open(&c->dev, path, true))
		return -1;
	if (dd_dev_read(&c->dev, 0, b, sizeof(b)) ||
	    dd_sb_check(b, &c->sb) != DD_SB_OK)
		return -1;
	if (dd_meta_init(&c->m, &c->dev, &c->sb))
		return -1;
	dd_meta_ref(&c->m, 0, DD_KIND_SUPER, 0, "superblock");
	dd_sm_check_root(&c->sm, &c->sb, c->m.dev_blocks);
	if (dd_sm_load(&c->m, &c->sm))
		return -1;
	roots[DD_TREE_LBN] = c->sb.lbn_root;
	roots[DD_TREE_REFCOUNT] = c->sb.refcount_root;
	roots[DD_TREE_INDEX] = c->sb.index_root;
	for (id = DD_TREE_LBN; id < DD_NR_TREES; id++) {
		c->trees[id].id = id;
		c->trees[id].priv = c;
		c->trees[id].entry = id == DD_TREE_REFCOUNT ? collect_pbn : NULL;
		if (dd_walk_tree(&c->m, &c->trees[id], roots[id], 0, "superblock"))
			return -1;
	}
	return 0;
}

static int kind_of(const char *name)
{
	static const char * const trees[] = {
		"smref", "lbn", "refcount", "index"
	};
	char buf[64];
	int t;

	if (!strcmp(name, "superblock"))
		return DD_KIND_SUPER;
	if (!strcmp(name, "sm-index"))
		return DD_KIND_SM_INDEX;
	if (!strcmp(name, "sm-bitmap"))
		return DD_KIND_SM_BITMAP;
	for (t = 0; t < DD_NR_TREES; t++) {
		snprintf(buf, sizeof(buf), "%s-internal", trees[t]);
		if (!strcmp(name, buf))
			return dd_tree_kind(t, DD_INTERNAL_NODE);
		snprintf(buf, sizeof(buf), "%s-leaf", trees[t]);
		if (!strcmp(name, buf))
			return dd_tree_kind(t, DD_LEAF_NODE);
	}
	return -1;
}

static int64_t find(struct ctx *c, int kind)
{
	uint64_t b;

	for (b = 0; b < c->m.nr_blocks; b++)
		if (c->m.refs[b] && c->m.kind[b] == kind)
			return b;
	return -1;
}

static int rd(struct ctx *c, uint64_t b, uint8_t *buf)
{
	return dd_dev_read(&c->dev, b * DD_BLOCK_SIZE, buf, DD_BLOCK_SIZE) ? -1 : 0;
}

static int wr(struct ctx *c, uint64_t b, uint8_t *buf)
{
	return dd_dev_write(&c->dev, b * DD_BLOCK_SIZE, buf, DD_BLOCK_SIZE);
}

static int sb_field(const char *name, size_t *off, size_t *size)
{
	static const struct {
		const char *name;
		size_t off;
		size_t size;
	} f[] = {
#define F(x) { #x, offsetof(struct dedup_disk_superblock, x), \
	       sizeof(((struct dedup_disk_superblock *)0)->x) }
		F(flags), F(version), F(incompat_flags), F(compat_flags),
		F(data_block_size), F(fp_size), F(data_nr_blocks),
		F(lbn_root), F(refcount_root), F(index_root), F(nr_mapped),
		F(nr_zero), F(nr_unique), F(nr_indexed), F(magic),
#undef F
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(f); i++) {
		if (!strcmp(f[i].name, name)) {
			*off = f[i].off;
			*size = f[i].size;
			return 0;
		}
	}
	return -1;
}

static uint32_t csum_xor(int kind)
{
	if (kind == DD_KIND_SUPER)
		return DEDUP_SUPERBLOCK_CSUM_XOR;
	if (kind == DD_KIND_SM_INDEX)
		return DD_INDEX_CSUM_XOR;
	if (kind == DD_KIND_SM_BITMAP)
		return DD_BITMAP_CSUM_XOR;
	return DD_BTREE_CSUM_XOR;
}

static uint64_t rnd_state;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static int fuzz(struct ctx *c, uint64_t seed, unsigned int n)
{
	uint64_t *used, nr = 0, b;
	uint8_t buf[DD_BLOCK_SIZE];
	unsigned int i, j, k;

	used = malloc(c->m.nr_blocks * sizeof(*used));
	if (!used)
		return 2;
	for (b = 0; b < c->m.nr_blocks; b++)
		if (c->m.refs[b])
			used[nr++] = b;
	rnd_state = seed * 0x9E3779B97F4A7C15ULL + 1;
	for (i = 0; i < n && nr; i++) {
		b = used[rnd() % nr];
		if (rd(c, b, buf))
			break;
		k = 1 + rnd() % 4;
		for (j = 0; j < k; j++) {
			/* mostly headers and keys: where the checks are */
			unsigned int off = rnd() % 3 ? 4 + rnd() % 252 :
					   4 + rnd() % (DD_BLOCK_SIZE - 4);
			uint8_t mask = rnd() % 2 ? 1U << (rnd() % 8) : (uint8_t)rnd();

			buf[off] ^= mask ? mask : 0x80;
		}
		dd_block_set_csum(buf, csum_xor(c->m.kind[b]));
		printf("%llu\n", (unsigned long long)b);
		if (wr(c, b, buf))
			break;
	}
	free(used);
	return 0;
}

int main(int argc, char **argv)
{
	uint8_t b[DD_BLOCK_SIZE];
	const char *cmd;
	struct ctx c;
	int64_t blk;

	if (argc < 3)
		return 2;
	cmd = argv[2];
	if (!strcmp(cmd, "flip") && argc == 5) {
		uint64_t n = strtoull(argv[3], NULL, 0);
		uint64_t off = strtoull(argv[4], NULL, 0);

		if (off >= DD_BLOCK_SIZE || dd_dev_open(&c.dev, argv[1], true) ||
		    rd(&c, n, b))
			return 2;
		b[off] ^= 0xff;
		return wr(&c, n, b) ? 2 : 0;
	}
	if (load(&c, argv[1]))
		return 2;

	if (!strcmp(cmd, "find") && argc == 4) {
		int kind = kind_of(argv[3]);

		if (kind < 0)
			return 2;
		blk = find(&c, kind);
		if (blk < 0)
			return 1;
		printf("%lld\n", (long long)blk);
		return 0;
	}
	if (!strcmp(cmd, "swap-keys") && argc == 4) {
		uint64_t n = strtoull(argv[3], NULL, 0), k0, k1;
		uint8_t *keys = b + DD_NODE_HEADER_SIZE;

		if (rd(&c, n, b))
			return 2;
		if (dd_le32(b + DD_NODE_NR_ENTRIES) < 2)
			return 1;
		k0 = dd_le64(keys);
		k1 = dd_le64(keys + 8);
		dd_put_le64(keys, k1);
		dd_put_le64(keys + 8, k0);
		dd_block_set_csum(b, DD_BTREE_CSUM_XOR);
		printf("%llu 1\n", (unsigned long long)n);
		return wr(&c, n, b) ? 2 : 0;
	}
	if (!strcmp(cmd, "refcount-inc") && argc == 3) {
		uint8_t *v;
		uint32_t old;

		blk = find(&c, dd_tree_kind(DD_TREE_REFCOUNT, DD_LEAF_NODE));
		if (blk < 0 || rd(&c, blk, b))
			return 1;
		if (!dd_le32(b + DD_NODE_NR_ENTRIES))
			return 1;
		v = b + DD_NODE_HEADER_SIZE +
		    8 * dd_le32(b + DD_NODE_MAX_ENTRIES);
		old = dd_le32(v);
		dd_put_le32(v, old + 1);
		dd_block_set_csum(b, DD_BTREE_CSUM_XOR);
		printf("%lld %llu %u %u\n", (long long)blk,
		       (unsigned long long)dd_le64(b + DD_NODE_HEADER_SIZE),
		       old, old + 1);
		return wr(&c, blk, b) ? 2 : 0;
	}
	if (!strcmp(cmd, "index-free") && argc == 3) {
		uint64_t pbn = 0, old;
		size_t i;
		uint8_t *v;

		for (i = 0; i < c.nr_pbns && c.pbns[i] <= pbn; i++)
			if (c.pbns[i] == pbn)
				pbn++;
		if (pbn >= c.sb.data_nr_blocks)
			return 1;
		blk = find(&c, dd_tree_kind(DD_TREE_INDEX, DD_LEAF_NODE));
		if (blk < 0 || rd(&c, blk, b))
			return 1;
		if (!dd_le32(b + DD_NODE_NR_ENTRIES))
			return 1;
		v = b + DD_NODE_HEADER_SIZE +
		    8 * dd_le32(b + DD_NODE_MAX_ENTRIES);
		old = dd_le64(v);
		dd_put_le64(v, pbn);
		dd_block_set_csum(b, DD_BTREE_CSUM_XOR);
		printf("%lld 0x%016llx %llu %llu\n", (long long)blk,
		       (unsigned long long)dd_le64(b + DD_NODE_HEADER_SIZE),
		       (unsigned long long)old, (unsigned long long)pbn);
		return wr(&c, blk, b) ? 2 : 0;
	}
	if (!strcmp(cmd, "cycle") && argc == 4) {
		uint64_t root = !strcmp(argv[3], "lbn") ? c.sb.lbn_root :
				!strcmp(argv[3], "refcount") ? c.sb.refcount_root :
				c.sb.index_root;
		uint32_t nr;

		if (rd(&c, root, b))
			return 2;
		nr = dd_le32(b + DD_NODE_NR_ENTRIES);
		if (dd_le32(b + DD_NODE_FLAGS) != DD_INTERNAL_NODE || !nr)
			return 1;
		dd_put_le64(b + DD_NODE_HEADER_SIZE +
			    8 * dd_le32(b + DD_NODE_MAX_ENTRIES) + 8 * (nr - 1),
			    root);
		dd_block_set_csum(b, DD_BTREE_CSUM_XOR);
		printf("%llu\n", (unsigned long long)root);
		return wr(&c, root, b) ? 2 : 0;
	}
	if (!strcmp(cmd, "dup-fp") && argc == 3) {
		uint8_t *v;

		blk = find(&c, dd_tree_kind(DD_TREE_INDEX, DD_LEAF_NODE));
		if (blk < 0 || rd(&c, blk, b))
			return 1;
		if (dd_le32(b + DD_NODE_NR_ENTRIES) < 2)
			return 1;
		v = b + DD_NODE_HEADER_SIZE +
		    8 * dd_le32(b + DD_NODE_MAX_ENTRIES);
		memcpy(v + 40 + 8, v + 8, DEDUP_MAX_FP_SIZE);
		dd_block_set_csum(b, DD_BTREE_CSUM_XOR);
		printf("%lld 0x%016llx 0x%016llx\n", (long long)blk,
		       (unsigned long long)dd_le64(b + DD_NODE_HEADER_SIZE + 8),
		       (unsigned long long)dd_le64(b + DD_NODE_HEADER_SIZE));
		return wr(&c, blk, b) ? 2 : 0;
	}
	if (!strcmp(cmd, "sb-set") && argc == 5) {
		uint64_t val = strtoull(argv[4], NULL, 0);
		size_t off, size;

		if (sb_field(argv[3], &off, &size) || rd(&c, 0, b))
			return 2;
		if (size == 4)
			dd_put_le32(b + off, (uint32_t)val);
		else
			dd_put_le64(b + off, val);
		dd_block_set_csum(b, DEDUP_SUPERBLOCK_CSUM_XOR);
		return wr(&c, 0, b) ? 2 : 0;
	}
	if (!strcmp(cmd, "fuzz") && argc == 5)
		return fuzz(&c, strtoull(argv[3], NULL, 0),
			    strtoul(argv[4], NULL, 0));
	fprintf(stderr, "ddcorrupt: bad command\n");
	return 2;
}

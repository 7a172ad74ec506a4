// SPDX-License-Identifier: GPL-2.0
/*
 * ddcorrupt - damage a dm-dedup metadata image (version 2) in one precise
 * way, for the host tests of dedup_check.  Each command prints what it did
 * as space-separated numbers on stdout, so that the test can assert the
 * exact message the checker must print.
 *
 *   ddcorrupt IMG find KIND            first block of KIND; prints BLOCK.
 *       KIND: superblock sm-index sm-bitmap smref-leaf bulk-bitmap
 *       bulk-index-leaf, ARRAY-internal ARRAY-leaf ARRAY-block with ARRAY
 *       one of lbn refcount fp summary save save_dir
 *   ddcorrupt IMG flip BLOCK OFFSET    xor one byte with 0xff
 *   ddcorrupt IMG swap-keys BLOCK      swap keys 0 and 1 of a btree node,
 *                                      fix the checksum; prints BLOCK 1
 *   ddcorrupt IMG refcount-inc         count + 1 of the first PBN in use
 *                                      prints BLOCK PBN OLD NEW
 *   ddcorrupt IMG fp-free              a fingerprint for the first free PBN
 *                                      of an fp block; prints BLOCK PBN
 *   ddcorrupt IMG stale-fp             fp-free, and DEDUP_INCOMPAT_STALE_FP
 *                                      set in the superblock (checksum
 *                                      fixed); prints BLOCK PBN
 *   ddcorrupt IMG stale-fp-dup         stale-fp with the fingerprint of the
 *                                      first PBN in use; prints BLOCK PBN
 *                                      LIVEPBN
 *   ddcorrupt IMG fp-clear             clear the fingerprint of the first
 *                                      PBN in use; prints RCBLOCK PBN COUNT
 *   ddcorrupt IMG summary-inc          first summary entry + 1
 *                                      prints BLOCK CHUNK OLD NEW
 *   ddcorrupt IMG lbn-beyond           first mapped LBN -> PBN data_nr_blocks
 *                                      prints BLOCK LBN PBN
 *   ddcorrupt IMG leak                 count 1 for the first free block of
 *                                      region A (index and root adjusted)
 *                                      prints BLOCK
 *   ddcorrupt IMG double               count 2 for the first array block of
 *                                      region A's space map; prints BLOCK
 *   ddcorrupt IMG share                second entry of the first lbn tree
 *                                      leaf names the first's array block
 *                                      prints BLOCK LEAF
 *   ddcorrupt IMG cycle ARRAY          last child of the (internal) root of
 *                                      ARRAY's tree := the root; prints ROOT
 *   ddcorrupt IMG sb-set FIELD VALUE   set a superblock field, fix the
 *                                      checksum
 *   ddcorrupt IMG sm-root SM FIELD VALUE
 *                                      set a field of a space map root in
 *                                      the superblock (SM: metadata or bulk;
 *                                      FIELD: nr_blocks nr_allocated
 *                                      bitmap_root ref_count_root), fix the
 *                                      checksum
 *   ddcorrupt IMG save-shard-last      nr_entries + 1 in the record of the
 *                                      last saved index shard (the array
 *                                      block's checksum fixed)
 *                                      prints BLOCK SHARD OLD NEW
 *   ddcorrupt IMG fuzz SEED N          change 1-4 random bytes in each of N
 *                                      random metadata blocks, fixing the
 *                                      checksums so deeper checks run
 *
 * Exit status 0 when done, 1 when the image has nothing to corrupt there,
 * 2 on usage or I/O errors.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"
#include "pdata/log.h"

/* The image as dedup_check loads it, opened for writing. */
static int load(struct dd_meta *x, const char *path)
{
	dd_meta_init(x);
	pd_log.quiet = true;
	if (dd_meta_open(x, path, true) || dd_meta_read_super(x) != DD_META_OK)
		return -1;
	dd_meta_load(x);
	return 0;
}

static void rd(struct dd_meta *x, uint64_t b, uint8_t *buf)
{
	if (pd_dev_read(&x->dev, b * DD_BLOCK_SIZE, buf, DD_BLOCK_SIZE))
		exit(2);
}

/* Writes buf at b with the checksum its kind needs. */
static void wr(struct dd_meta *x, uint64_t b, uint8_t *buf)
{
	const char *k = pd_kind_name(x->c.refs.kind[b]);

	if (!b)
		pd_block_set_csum(buf, DEDUP_SUPERBLOCK_CSUM_XOR);
	else if (strstr(k, "array block"))
		pd_block_set_csum(buf, DEDUP_ARRAY_CSUM_XOR);
	else if (strstr(k, "bitmap"))
		pd_block_set_csum(buf, PD_SM_BITMAP_CSUM_XOR);
	else if (strstr(k, "space map index") && !strstr(k, "tree"))
		pd_block_set_csum(buf, PD_SM_INDEX_CSUM_XOR);
	else if (strstr(k, "node") || strstr(k, "leaf"))
		pd_block_set_csum(buf, PD_BTREE_CSUM_XOR);
	if (pd_dev_write(&x->dev, b * DD_BLOCK_SIZE, buf, DD_BLOCK_SIZE))
		exit(2);
}

static const char *kind_for(const char *arg, char *buf, size_t len)
{
	static const struct {
		const char *arg, *kind;
	} fixed[] = {
		{ "superblock", "superblock" },
		{ "sm-index", "space map index" },
		{ "sm-bitmap", "space map bitmap" },
		{ "smref-leaf", "space map refcount tree leaf" },
		{ "bulk-bitmap", "bulk space map bitmap" },
		{ "bulk-index-leaf", "bulk space map index tree leaf" },
	};
	const char *dash = strrchr(arg, '-');
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		if (!strcmp(arg, fixed[i].arg))
			return fixed[i].kind;
	if (!dash)
		return NULL;
	if (!strcmp(dash, "-internal"))
		snprintf(buf, len, "%.*s tree internal node",
			 (int)(dash - arg), arg);
	else if (!strcmp(dash, "-leaf"))
		snprintf(buf, len, "%.*s tree leaf", (int)(dash - arg), arg);
	else if (!strcmp(dash, "-block"))
		snprintf(buf, len, "%.*s array block", (int)(dash - arg), arg);
	else
		return NULL;
	return buf;
}

static int find(struct dd_meta *x, const char *kind, uint64_t *out)
{
	uint64_t b;

	for (b = 0; b < x->c.refs.nr_blocks; b++)
		if (x->c.refs.count[b] &&
		    !strcmp(pd_kind_name(x->c.refs.kind[b]), kind)) {
			*out = b;
			return 0;
		}
	return -1;
}

static uint8_t *entry(uint8_t *blk, uint32_t size, uint32_t i)
{
	return blk + DEDUP_ARRAY_HEADER_SIZE + (size_t)size * i;
}

/* First array block of id and the first entry in it matching want. */
static int first_entry(struct dd_meta *x, enum dd_array_id id, bool nonzero,
		       uint8_t *blk, size_t *bi, uint32_t *ei)
{
	struct dd_array *a = &x->a[id];
	size_t i;
	uint32_t j;

	for (i = 0; i < a->nr_blocks; i++) {
		rd(x, a->blocks[i].loc, blk);
		for (j = 0; j < a->per_block; j++)
			if (pd_all_zero(entry(blk, a->entry_size, j),
					a->entry_size, NULL) != nonzero) {
				*bi = i;
				*ei = j;
				return 0;
			}
	}
	return -1;
}

/* Add one to the first non-zero 32-bit count of array @id. */
static int count_inc(struct dd_meta *x, enum dd_array_id id)
{
	struct dd_array *a = &x->a[id];
	uint8_t blk[DD_BLOCK_SIZE];
	size_t i;
	uint32_t j, old;

	if (first_entry(x, id, true, blk, &i, &j))
		return 1;
	old = pd_le32(entry(blk, 4, j));
	pd_put_le32(entry(blk, 4, j), old + 1);
	wr(x, a->blocks[i].loc, blk);
	printf("%llu %llu %u %u\n", (unsigned long long)a->blocks[i].loc,
	       (unsigned long long)(a->blocks[i].bidx * a->per_block + j), old,
	       old + 1);
	return 0;
}

static int cmd_refcount_inc(struct dd_meta *x)
{
	return count_inc(x, DD_A_REFCOUNT);
}

/*
 * Gives the first free PBN of an fp block a fingerprint: 0x5a bytes, or
 * with dup those of the first PBN that has one; prints BLOCK PBN, and with
 * dup that PBN.
 */
static int fp_free(struct dd_meta *x, bool dup)
{
	struct dd_array *a = &x->a[DD_A_FP];
	uint8_t blk[DD_BLOCK_SIZE], fp[DEDUP_MAX_FP_SIZE];
	uint64_t live = 0;
	size_t i;
	uint32_t j;

	memset(fp, 0x5a, sizeof(fp));
	if (dup) {
		if (first_entry(x, DD_A_FP, true, blk, &i, &j))
			return 1;
		memcpy(fp, entry(blk, a->entry_size, j), a->entry_size);
		live = a->blocks[i].bidx * a->per_block + j;
	}
	if (first_entry(x, DD_A_FP, false, blk, &i, &j) ||
	    a->blocks[i].bidx * a->per_block + j >= x->s.sb.data_nr_blocks)
		return 1;
	memcpy(entry(blk, a->entry_size, j), fp, a->entry_size);
	wr(x, a->blocks[i].loc, blk);
	printf("%llu %llu", (unsigned long long)a->blocks[i].loc,
	       (unsigned long long)(a->blocks[i].bidx * a->per_block + j));
	if (dup)
		printf(" %llu", (unsigned long long)live);
	printf("\n");
	return 0;
}

static int cmd_fp_free(struct dd_meta *x)
{
	return fp_free(x, false);
}

/* fp_free() on an image with DEDUP_INCOMPAT_STALE_FP set. */
static int cmd_stale_fp(struct dd_meta *x, bool dup)
{
	uint8_t blk[DD_BLOCK_SIZE];
	uint8_t *f = blk + offsetof(struct dedup_disk_superblock,
				    incompat_flags);
	int r = fp_free(x, dup);

	if (r)
		return r;
	rd(x, 0, blk);
	pd_put_le32(f, pd_le32(f) | DEDUP_INCOMPAT_STALE_FP);
	wr(x, 0, blk);
	return 0;
}

static int cmd_fp_clear(struct dd_meta *x)
{
	struct dd_array *a = &x->a[DD_A_FP], *r = &x->a[DD_A_REFCOUNT];
	uint8_t blk[DD_BLOCK_SIZE], rblk[DD_BLOCK_SIZE];
	uint64_t pbn;
	size_t i, k;
	uint32_t j;

	if (first_entry(x, DD_A_FP, true, blk, &i, &j))
		return 1;
	pbn = a->blocks[i].bidx * a->per_block + j;
	memset(entry(blk, a->entry_size, j), 0, a->entry_size);
	wr(x, a->blocks[i].loc, blk);
	for (k = 0; k < r->nr_blocks; k++)
		if (r->blocks[k].bidx == pbn / r->per_block)
			break;
	if (k == r->nr_blocks)
		return 1;
	rd(x, r->blocks[k].loc, rblk);
	printf("%llu %llu %u\n", (unsigned long long)r->blocks[k].loc,
	       (unsigned long long)pbn,
	       pd_le32(entry(rblk, 4, pbn % r->per_block)));
	return 0;
}

static int cmd_summary_inc(struct dd_meta *x)
{
	return count_inc(x, DD_A_SUMMARY);
}

static int cmd_lbn_beyond(struct dd_meta *x)
{
	struct dd_array *a = &x->a[DD_A_LBN];
	uint8_t blk[DD_BLOCK_SIZE];
	size_t i;
	uint32_t j;

	for (i = 0; i < a->nr_blocks; i++) {
		rd(x, a->blocks[i].loc, blk);
		for (j = 0; j < a->per_block; j++) {
			uint64_t v = pd_le64(entry(blk, 8, j));

			if (v < DEDUP_LBN_PBN_BASE)
				continue;
			pd_put_le64(entry(blk, 8, j), x->s.sb.data_nr_blocks +
				    DEDUP_LBN_PBN_BASE);
			wr(x, a->blocks[i].loc, blk);
			printf("%llu %llu %llu\n",
			       (unsigned long long)a->blocks[i].loc,
			       (unsigned long long)(a->blocks[i].bidx *
						    a->per_block + j),
			       (unsigned long long)x->s.sb.data_nr_blocks);
			return 0;
		}
	}
	return 1;
}

/* Sets region A's count of b to v (0..2), keeping index and root right. */
static int set_count(struct dd_meta *x, uint64_t b, unsigned int v)
{
	struct pd_sm *sm = &x->msm;
	uint32_t i = b / PD_SM_ENTRIES_PER_BITMAP, off = b % PD_SM_ENTRIES_PER_BITMAP;
	uint8_t blk[DD_BLOCK_SIZE], idx[DD_BLOCK_SIZE], sb[DD_BLOCK_SIZE];
	uint8_t *ie, *data = blk + PD_SM_BITMAP_HEADER_SIZE;
	unsigned int old;
	int delta;

	if (!sm->root_ok || i >= sm->nr_bitmaps || !sm->bitmap_ok[i])
		return 1;
	rd(x, sm->bitmap_block[i], blk);
	old = pd_bitmap_get(data, off);
	pd_bitmap_set(data, off, v);
	wr(x, sm->bitmap_block[i], blk);
	delta = (v != 0) - (old != 0);
	if (!delta)
		return 0;
	rd(x, sm->index_block, idx);
	ie = idx + PD_SM_INDEX_HEADER_SIZE + PD_SM_INDEX_ENTRY_SIZE * i;
	pd_put_le32(ie + 8, pd_le32(ie + 8) - delta);
	wr(x, sm->index_block, idx);
	rd(x, 0, sb);
	ie = sb + offsetof(struct dedup_disk_superblock,
			   metadata_space_map_root) + 8;
	pd_put_le64(ie, pd_le64(ie) + delta);
	wr(x, 0, sb);
	return 0;
}

static int cmd_leak(struct dd_meta *x)
{
	uint64_t b;
	uint32_t count;

	for (b = 1; b < x->msm.root.nr_blocks; b++)
		if (!x->c.refs.count[b] && pd_sm_count(&x->msm, b, &count) &&
		    !count)
			break;
	if (b == x->msm.root.nr_blocks || set_count(x, b, 1))
		return 1;
	printf("%llu\n", (unsigned long long)b);
	return 0;
}

static int cmd_double(struct dd_meta *x)
{
	uint64_t b;

	for (b = 1; b < x->msm.root.nr_blocks; b++)
		if (x->c.refs.count[b] == 1 && strstr(pd_kind_name(x->c.refs.kind[b]),
						     "array block"))
			break;
	if (b == x->msm.root.nr_blocks || set_count(x, b, 2))
		return 1;
	printf("%llu\n", (unsigned long long)b);
	return 0;
}

static int cmd_share(struct dd_meta *x)
{
	struct dd_array *a = &x->a[DD_A_LBN];
	uint8_t blk[DD_BLOCK_SIZE];
	uint32_t max;

	if (a->nr_blocks < 2 || a->blocks[0].leaf != a->blocks[1].leaf)
		return 1;
	rd(x, a->blocks[0].leaf, blk);
	max = pd_le32(blk + PD_NODE_MAX_ENTRIES);
	memcpy(pd_node_value(blk, max, 8, 1), pd_node_value(blk, max, 8, 0), 8);
	wr(x, a->blocks[0].leaf, blk);
	printf("%llu %llu\n", (unsigned long long)a->blocks[0].loc,
	       (unsigned long long)a->blocks[0].leaf);
	return 0;
}

static int cmd_swap_keys(struct dd_meta *x, uint64_t b)
{
	uint8_t blk[DD_BLOCK_SIZE], t[8];

	rd(x, b, blk);
	if (pd_le32(blk + PD_NODE_NR_ENTRIES) < 2)
		return 1;
	memcpy(t, pd_node_key(blk, 0), 8);
	memcpy(pd_node_key(blk, 0), pd_node_key(blk, 1), 8);
	memcpy(pd_node_key(blk, 1), t, 8);
	wr(x, b, blk);
	printf("%llu 1\n", (unsigned long long)b);
	return 0;
}

static int cmd_cycle(struct dd_meta *x, const char *name)
{
	uint8_t blk[DD_BLOCK_SIZE];
	uint64_t root;
	uint32_t nr, max;
	int i;

	for (i = 0; i < DD_NR_ARRAYS; i++)
		if (!strcmp(dd_array_name(i), name))
			break;
	if (i == DD_NR_ARRAYS)
		return 2;
	root = *dd_array_root(&x->s.sb, i);
	rd(x, root, blk);
	if (pd_le32(blk + PD_NODE_FLAGS) != PD_INTERNAL_NODE)
		return 1;
	nr = pd_le32(blk + PD_NODE_NR_ENTRIES);
	max = pd_le32(blk + PD_NODE_MAX_ENTRIES);
	pd_put_le64(pd_node_value(blk, max, 8, nr - 1), root);
	wr(x, root, blk);
	printf("%llu\n", (unsigned long long)root);
	return 0;
}

static int cmd_sb_set(struct dd_meta *x, const char *field, const char *value)
{
	static const struct {
		const char *name;
		size_t off;
		int size;
	} fields[] = {
#define F(f) { #f, offsetof(struct dedup_disk_superblock, f), \
	       sizeof(((struct dedup_disk_superblock *)0)->f) }
		F(flags), F(blocknr), F(magic), F(version), F(incompat_flags),
		F(compat_flags), F(compat_ro_flags), F(metadata_block_size),
		F(data_block_size), F(fp_size), F(data_nr_blocks),
		F(metadata_nr_blocks), F(transaction_id), F(bulk_start),
		F(bulk_nr_blocks), F(lbn_root), F(refcount_root), F(fp_root),
		F(summary_root), F(save_root), F(save_dir_root),
		F(save_transaction_id), F(save_entries), F(save_shard_bits),
		F(save_loc_bits), F(alloc_cursor), F(nr_mapped), F(nr_zero),
		F(nr_unique), F(dedup_hits), F(zero_writes), F(commits),
#undef F
	};
	uint8_t blk[DD_BLOCK_SIZE];
	uint64_t v = strtoull(value, NULL, 0);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(fields[i].name, field))
			break;
	if (i == ARRAY_SIZE(fields))
		return 2;
	rd(x, 0, blk);
	if (fields[i].size == 4)
		pd_put_le32(blk + fields[i].off, v);
	else
		pd_put_le64(blk + fields[i].off, v);
	pd_block_set_csum(blk, DEDUP_SUPERBLOCK_CSUM_XOR);
	if (pd_dev_write(&x->dev, 0, blk, DD_BLOCK_SIZE))
		return 2;
	return 0;
}

static int cmd_sm_root(struct dd_meta *x, const char *sm, const char *field,
		       const char *value)
{
	static const char *const fields[] = {
		"nr_blocks", "nr_allocated", "bitmap_root", "ref_count_root",
	};
	uint8_t blk[DD_BLOCK_SIZE];
	size_t i, off;

	for (i = 0; i < ARRAY_SIZE(fields); i++)
		if (!strcmp(fields[i], field))
			break;
	if (i == ARRAY_SIZE(fields))
		return 2;
	if (!strcmp(sm, "metadata"))
		off = offsetof(struct dedup_disk_superblock,
			       metadata_space_map_root);
	else if (!strcmp(sm, "bulk"))
		off = offsetof(struct dedup_disk_superblock,
			       bulk_space_map_root);
	else
		return 2;
	rd(x, 0, blk);
	pd_put_le64(blk + off + 8 * i, strtoull(value, NULL, 0));
	pd_block_set_csum(blk, DEDUP_SUPERBLOCK_CSUM_XOR);
	return pd_dev_write(&x->dev, 0, blk, DD_BLOCK_SIZE) ? 2 : 0;
}

/* The array block of a that holds entry pos, read into blk; or NULL. */
static const struct dd_ablock *block_of(struct dd_meta *x, struct dd_array *a,
					uint64_t pos, uint8_t *blk)
{
	size_t i;

	for (i = 0; i < a->nr_blocks; i++)
		if (a->blocks[i].bidx == pos / a->per_block) {
			rd(x, a->blocks[i].loc, blk);
			return &a->blocks[i];
		}
	return NULL;
}

static int cmd_save_shard_last(struct dd_meta *x)
{
	struct dd_array *a = &x->a[DD_A_SAVE];
	const struct dd_ablock *ab, *last_ab = NULL;
	uint8_t blk[DD_BLOCK_SIZE];
	uint64_t pos = 0, last = 0, shard, n;
	uint8_t *h;

	for (;;) {
		ab = block_of(x, a, pos, blk);
		if (!ab)
			break;
		h = entry(blk, a->entry_size, pos % a->per_block);
		if (pd_le32(h) != DEDUP_SAVE_SHARD_MAGIC)
			break;
		last_ab = ab;
		last = pos;
		pos += 1 + pd_le32(h + 4);
	}
	if (!last_ab)
		return 1;
	block_of(x, a, last, blk);
	h = entry(blk, a->entry_size, last % a->per_block);
	shard = pd_le64(h + 8);
	n = pd_le64(h + 16);
	pd_put_le64(h + 16, n + 1);
	wr(x, last_ab->loc, blk);
	printf("%llu %llu %llu %llu\n", (unsigned long long)last_ab->loc,
	       (unsigned long long)shard, (unsigned long long)n,
	       (unsigned long long)n + 1);
	return 0;
}

static int cmd_fuzz(struct dd_meta *x, unsigned int seed, unsigned int n)
{
	uint64_t *used = NULL, nr = 0, b;
	uint8_t blk[DD_BLOCK_SIZE];
	unsigned int i, k, bytes;

	srand(seed);
	for (b = 0; b < x->c.refs.nr_blocks; b++)
		if (x->c.refs.count[b]) {
			used = pd_realloc(used, (nr + 1) * sizeof(*used));
			used[nr++] = b;
		}
	if (!nr)
		return 1;
	for (i = 0; i < n; i++) {
		b = used[(unsigned int)rand() % nr];
		rd(x, b, blk);
		bytes = 1 + rand() % 4;
		for (k = 0; k < bytes; k++) {
			/* mostly headers and the first entries */
			unsigned int off = rand() % 4 ? 4 + rand() % 200 :
				4 + rand() % (DD_BLOCK_SIZE - 4);

			blk[off] ^= 1 + rand() % 255;
		}
		wr(x, b, blk);
		printf("%llu\n", (unsigned long long)b);
	}
	free(used);
	return 0;
}

int main(int argc, char **argv)
{
	struct dd_meta *x = pd_calloc(1, sizeof(*x));
	const char *cmd;
	char kbuf[64];
	uint64_t b;

	if (argc < 3) {
		fprintf(stderr, "usage: ddcorrupt IMG COMMAND [ARGS]\n");
		return 2;
	}
	if (load(x, argv[1]))
		return 2;
	cmd = argv[2];
	if (!strcmp(cmd, "find") && argc == 4) {
		const char *k = kind_for(argv[3], kbuf, sizeof(kbuf));

		if (!k || find(x, k, &b))
			return 1;
		printf("%llu\n", (unsigned long long)b);
		return 0;
	}
	if (!strcmp(cmd, "flip") && argc == 5) {
		uint8_t blk[DD_BLOCK_SIZE];

		b = strtoull(argv[3], NULL, 0);
		rd(x, b, blk);
		blk[strtoul(argv[4], NULL, 0) % DD_BLOCK_SIZE] ^= 0xff;
		return pd_dev_write(&x->dev, b * DD_BLOCK_SIZE, blk,
				    DD_BLOCK_SIZE) ? 2 : 0;
	}
	if (!strcmp(cmd, "swap-keys") && argc == 4)
		return cmd_swap_keys(x, strtoull(argv[3], NULL, 0));
	if (!strcmp(cmd, "refcount-inc"))
		return cmd_refcount_inc(x);
	if (!strcmp(cmd, "fp-free"))
		return cmd_fp_free(x);
	if (!strcmp(cmd, "stale-fp"))
		return cmd_stale_fp(x, false);
	if (!strcmp(cmd, "stale-fp-dup"))
		return cmd_stale_fp(x, true);
	if (!strcmp(cmd, "fp-clear"))
		return cmd_fp_clear(x);
	if (!strcmp(cmd, "summary-inc"))
		return cmd_summary_inc(x);
	if (!strcmp(cmd, "lbn-beyond"))
		return cmd_lbn_beyond(x);
	if (!strcmp(cmd, "leak"))
		return cmd_leak(x);
	if (!strcmp(cmd, "double"))
		return cmd_double(x);
	if (!strcmp(cmd, "share"))
		return cmd_share(x);
	if (!strcmp(cmd, "cycle") && argc == 4)
		return cmd_cycle(x, argv[3]);
	if (!strcmp(cmd, "sb-set") && argc == 5)
		return cmd_sb_set(x, argv[3], argv[4]);
	if (!strcmp(cmd, "sm-root") && argc == 6)
		return cmd_sm_root(x, argv[3], argv[4], argv[5]);
	if (!strcmp(cmd, "save-shard-last"))
		return cmd_save_shard_last(x);
	if (!strcmp(cmd, "fuzz") && argc == 5)
		return cmd_fuzz(x, atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "ddcorrupt: unknown command or arguments\n");
	return 2;
}

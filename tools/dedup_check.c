// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_check - offline consistency checker for dm-dedup metadata.
 *
 * Order of work: the superblock; the metadata space map (index, bitmaps,
 * overflow refcount btree) into a per-block count array; the refcount
 * tree into an array sorted by PBN; the index tree into an array; the lbn
 * tree, streamed, counting the LBNs of every PBN.  Then the cross checks,
 * the space-map comparison against the references counted while walking,
 * and the superblock counters.  Memory is O(metadata blocks + refcount
 * entries + index entries); LBN mappings are never held.
 *
 * Exit status: 0 clean (warnings allowed), 1 errors found, 2 usage or I/O
 * error, or metadata of a newer format that this tool refuses to check.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ddmeta.h"

#define EXIT_CLEAN	0
#define EXIT_ERRORS	1
#define EXIT_USAGE	2

struct rc_ent {
	uint64_t pbn;
	uint64_t index_key;
	uint64_t leaf;
	uint32_t count;
	uint32_t mapped;
};

struct ix_ent {
	uint64_t key;
	uint64_t pbn;
	uint64_t leaf;
	uint8_t fp[DEDUP_MAX_FP_SIZE];
};

struct check {
	const char *path;
	const char *data_path;
	double sample;		/* percent of index entries to verify */
	bool sb_only;
	bool clear_needs_check;

	struct dd_dev dev;
	struct dd_dev data;
	struct dd_sb sb;
	struct dd_meta m;
	struct dd_sm sm;
	struct dd_tree trees[DD_NR_TREES];

	struct rc_ent *rc;
	size_t nr_rc;
	size_t cap_rc;
	struct ix_ent *ix;
	size_t nr_ix;
	size_t cap_ix;

	uint64_t lbn_mapped;
	uint64_t lbn_zero;
	uint64_t data_checked;
	bool io_error;
};

static void *grow(void *p, size_t *cap, size_t size)
{
	size_t n = *cap ? *cap * 2 : 1024;

	p = realloc(p, n * size);
	if (!p) {
		fprintf(stderr, "dedup_check: out of memory\n");
		exit(EXIT_USAGE);
	}
	*cap = n;
	return p;
}

static int cmp_rc(const void *a, const void *b)
{
	const struct rc_ent *x = a, *y = b;

	return x->pbn < y->pbn ? -1 : x->pbn > y->pbn;
}

static int cmp_ix_key(const void *a, const void *b)
{
	const struct ix_ent *x = a, *y = b;

	return x->key < y->key ? -1 : x->key > y->key;
}

static int cmp_ix_pbn(const void *a, const void *b)
{
	const struct ix_ent *x = a, *y = b;

	if (x->pbn != y->pbn)
		return x->pbn < y->pbn ? -1 : 1;
	return cmp_ix_key(a, b);
}

static size_t fp_cmp_size;

static int cmp_ix_fp(const void *a, const void *b)
{
	const struct ix_ent *x = *(const struct ix_ent * const *)a;
	const struct ix_ent *y = *(const struct ix_ent * const *)b;
	int r = memcmp(x->fp, y->fp, fp_cmp_size);

	if (r)
		return r;
	return cmp_ix_key(x, y);
}

/* qsort() with a NULL base is undefined, even for 0 elements */
static void sort(void *base, size_t n, size_t size,
		 int (*cmp)(const void *, const void *))
{
	if (n)
		qsort(base, n, size, cmp);
}

static struct rc_ent *find_rc(struct check *c, uint64_t pbn)
{
	struct rc_ent k = { .pbn = pbn };

	if (!c->nr_rc)
		return NULL;
	return bsearch(&k, c->rc, c->nr_rc, sizeof(k), cmp_rc);
}

static struct ix_ent *find_ix(struct check *c, uint64_t key)
{
	struct ix_ent k = { .key = key };

	if (!c->nr_ix)
		return NULL;
	return bsearch(&k, c->ix, c->nr_ix, sizeof(k), cmp_ix_key);
}

/* ------------------------------------------------------------------ */
/* leaf entry callbacks */

static void refcount_entry(struct dd_tree *t, uint64_t block, uint32_t index,
			   uint64_t key, const uint8_t *value)
{
	static const char *what = "refcount tree leaf";
	struct check *c = t->priv;
	struct rc_ent *e;
	uint32_t count = dd_le32(value);
	uint32_t flags = dd_le32(value + 4);

	if (c->sb.data_geometry_ok && key >= c->sb.data_nr_blocks)
		dd_error(block, what, "entry %u: PBN %llu beyond the data device (%llu blocks)",
			 index, (unsigned long long)key,
			 (unsigned long long)c->sb.data_nr_blocks);
	if (!count)
		dd_error(block, what, "entry %u: PBN %llu has count 0",
			 index, (unsigned long long)key);
	if (flags)
		dd_error(block, what, "entry %u: PBN %llu has flags 0x%x, must be 0",
			 index, (unsigned long long)key, flags);

	if (c->nr_rc == c->cap_rc)
		c->rc = grow(c->rc, &c->cap_rc, sizeof(*c->rc));
	e = &c->rc[c->nr_rc++];
	e->pbn = key;
	e->count = count;
	e->index_key = dd_le64(value + 8);
	e->leaf = block;
	e->mapped = 0;
}

static void index_entry(struct dd_tree *t, uint64_t block, uint32_t index,
			uint64_t key, const uint8_t *value)
{
	static const char *what = "index tree leaf";
	struct check *c = t->priv;
	struct ix_ent *e;
	uint64_t pbn = dd_le64(value);
	const uint8_t *fp = value + 8;
	size_t off;

	if (pbn == DEDUP_ZERO_PBN ||
	    (c->sb.data_geometry_ok && pbn >= c->sb.data_nr_blocks))
		dd_error(block, what, "entry 0x%016llx points to PBN %llu beyond the data device (%llu blocks)",
			 (unsigned long long)key, (unsigned long long)pbn,
			 (unsigned long long)c->sb.data_nr_blocks);
	if (c->sb.fp_ok) {
		uint64_t prefix = dd_be64(fp) & ~DEDUP_INDEX_SLOT_MASK;

		if ((key & ~DEDUP_INDEX_SLOT_MASK) != prefix)
			dd_error(block, what, "entry 0x%016llx: key prefix does not match the fingerprint prefix 0x%012llx",
				 (unsigned long long)key,
				 (unsigned long long)(prefix >> DEDUP_INDEX_SLOT_BITS));
		for (off = c->sb.fp_size; off < DEDUP_MAX_FP_SIZE; off++) {
			if (fp[off]) {
				dd_error(block, what, "entry 0x%016llx: fingerprint byte %zu beyond fp_size %u is not zero",
					 (unsigned long long)key, off,
					 c->sb.fp_size);
				break;
			}
		}
	}

	if (c->nr_ix == c->cap_ix)
		c->ix = grow(c->ix, &c->cap_ix, sizeof(*c->ix));
	e = &c->ix[c->nr_ix++];
	e->key = key;
	e->pbn = pbn;
	e->leaf = block;
	memcpy(e->fp, fp, DEDUP_MAX_FP_SIZE);
	(void)index;
}

static void lbn_entry(struct dd_tree *t, uint64_t block, uint32_t index,
		      uint64_t key, const uint8_t *value)
{
	static const char *what = "lbn tree leaf";
	struct check *c = t->priv;
	uint64_t pbn = dd_le64(value);
	struct rc_ent *e;

	(void)index;
	if (pbn == DEDUP_ZERO_PBN) {
		c->lbn_zero++;
		return;
	}
	c->lbn_mapped++;
	if (c->sb.data_geometry_ok && pbn >= c->sb.data_nr_blocks) {
		dd_error(block, what, "LBN %llu maps to PBN %llu beyond the data device (%llu blocks)",
			 (unsigned long long)key, (unsigned long long)pbn,
			 (unsigned long long)c->sb.data_nr_blocks);
		return;
	}
	e = find_rc(c, pbn);
	if (!e) {
		if (!c->trees[DD_TREE_REFCOUNT].damaged)
			dd_error(block, what, "LBN %llu maps to PBN %llu, which has no refcount entry",
				 (unsigned long long)key,
				 (unsigned long long)pbn);
		return;
	}
	if (e->mapped < UINT32_MAX)
		e->mapped++;
}

/* ------------------------------------------------------------------ */
/* cross checks */

static void check_refcounts(struct check *c)
{
	size_t i;

	if (c->trees[DD_TREE_LBN].damaged) {
		dd_info("note: reference counts not compared: the lbn tree is damaged");
		return;
	}
	for (i = 0; i < c->nr_rc; i++) {
		struct rc_ent *e = &c->rc[i];

		if (!e->count)
			continue;	/* reported */
		if (!e->mapped)
			dd_warning(e->leaf, "refcount tree leaf", "PBN %llu has count %u but no LBN maps to it (leaked data block)",
				   (unsigned long long)e->pbn, e->count);
		else if (e->mapped != e->count)
			dd_error(e->leaf, "refcount tree leaf", "PBN %llu has count %u but %u LBNs map to it",
				 (unsigned long long)e->pbn, e->count,
				 e->mapped);
	}
}

static void check_index(struct check *c)
{
	static const char *iwhat = "index tree leaf";
	static const char *rwhat = "refcount tree leaf";
	struct ix_ent **byfp;
	size_t i;

	/* index -> refcount */
	if (c->trees[DD_TREE_REFCOUNT].damaged) {
		dd_info("note: index entries not matched to refcounts: the refcount tree is damaged");
	} else {
		for (i = 0; i < c->nr_ix; i++) {
			struct ix_ent *x = &c->ix[i];
			struct rc_ent *e;

			if (x->pbn == DEDUP_ZERO_PBN ||
			    (c->sb.data_geometry_ok &&
			     x->pbn >= c->sb.data_nr_blocks))
				continue;	/* reported */
			e = find_rc(c, x->pbn);
			if (!e)
				dd_error(x->leaf, iwhat, "entry 0x%016llx points to PBN %llu, which is not in use (no refcount entry)",
					 (unsigned long long)x->key,
					 (unsigned long long)x->pbn);
			else if (e->index_key == DEDUP_NO_INDEX)
				dd_error(x->leaf, iwhat, "entry 0x%016llx points to PBN %llu, whose refcount entry says it is not indexed",
					 (unsigned long long)x->key,
					 (unsigned long long)x->pbn);
			else if (e->index_key != x->key)
				dd_error(x->leaf, iwhat, "entry 0x%016llx points to PBN %llu, whose refcount entry names index key 0x%016llx",
					 (unsigned long long)x->key,
					 (unsigned long long)x->pbn,
					 (unsigned long long)e->index_key);
		}
	}

	/* refcount -> index */
	if (c->trees[DD_TREE_INDEX].damaged) {
		dd_info("note: refcount index keys not matched: the index tree is damaged");
	} else {
		for (i = 0; i < c->nr_rc; i++) {
			struct rc_ent *e = &c->rc[i];
			struct ix_ent *x;

			if (e->index_key == DEDUP_NO_INDEX)
				continue;
			x = find_ix(c, e->index_key);
			if (!x)
				dd_error(e->leaf, rwhat, "PBN %llu names index key 0x%016llx, which does not exist",
					 (unsigned long long)e->pbn,
					 (unsigned long long)e->index_key);
			else if (x->pbn != e->pbn)
				dd_error(e->leaf, rwhat, "PBN %llu names index key 0x%016llx, which points to PBN %llu",
					 (unsigned long long)e->pbn,
					 (unsigned long long)e->index_key,
					 (unsigned long long)x->pbn);
		}
	}

	/* no fingerprint twice */
	if (!c->sb.fp_ok || c->nr_ix < 2)
		return;
	byfp = malloc(c->nr_ix * sizeof(*byfp));
	if (!byfp) {
		fprintf(stderr, "dedup_check: out of memory\n");
		exit(EXIT_USAGE);
	}
	for (i = 0; i < c->nr_ix; i++)
		byfp[i] = &c->ix[i];
	fp_cmp_size = c->sb.fp_size;
	sort(byfp, c->nr_ix, sizeof(*byfp), cmp_ix_fp);
	for (i = 1; i < c->nr_ix; i++) {
		if (memcmp(byfp[i - 1]->fp, byfp[i]->fp, c->sb.fp_size))
			continue;
		dd_error(byfp[i]->leaf, iwhat, "entry 0x%016llx holds the same fingerprint as entry 0x%016llx (block %llu)",
			 (unsigned long long)byfp[i]->key,
			 (unsigned long long)byfp[i - 1]->key,
			 (unsigned long long)byfp[i - 1]->leaf);
	}
	free(byfp);
}

static bool trees_complete(struct check *c)
{
	int t;

	for (t = 0; t < DD_NR_TREES; t++)
		if (c->trees[t].damaged)
			return false;
	return true;
}

static void check_space_map(struct check *c)
{
	struct dd_meta *m = &c->m;
	struct dd_sm *sm = &c->sm;
	bool leaks = trees_complete(c) && sm->complete;
	uint64_t b, allocated = 0;

	if (!sm->root_ok || !sm->count)
		return;
	for (b = 0; b < sm->nr_blocks && b < m->nr_blocks; b++) {
		uint32_t count = sm->count[b];
		uint32_t refs = m->refs[b];
		const char *what = dd_kind_name(m->kind[b]);

		if (count == DD_COUNT_UNKNOWN)
			continue;
		if (count)
			allocated++;
		if (refs && !count)
			dd_error(b, what, "referenced %u times but free in the space map",
				 refs);
		else if (refs && count != refs)
			dd_error(b, what, "space map count %u but referenced %u times",
				 count, refs);
		else if (!refs && count && leaks)
			dd_warning(b, what, "space map count %u but nothing references it (leaked metadata block)",
				   count);
	}
	if (!leaks)
		dd_info("note: metadata leaks not checked: some metadata could not be walked");
	if (sm->complete && allocated != sm->nr_allocated)
		dd_error(0, "superblock", "space map nr_allocated is %llu, but %llu blocks have a non-zero count",
			 (unsigned long long)sm->nr_allocated,
			 (unsigned long long)allocated);
}

static void check_counter(struct check *c, enum dd_tree_id t,
			  const char *name, uint64_t stored, uint64_t found,
			  const char *desc)
{
	if (c->trees[t].damaged)
		return;
	if (stored != found)
		dd_error(0, "superblock", "%s is %llu, but the %s has %llu %s",
			 name, (unsigned long long)stored, dd_tree_name(t),
			 (unsigned long long)found, desc);
}

static void check_counters(struct check *c)
{
	check_counter(c, DD_TREE_LBN, "nr_mapped", c->sb.nr_mapped,
		      c->lbn_mapped, "mapped entries");
	check_counter(c, DD_TREE_LBN, "nr_zero", c->sb.nr_zero,
		      c->lbn_zero, "zero entries");
	check_counter(c, DD_TREE_REFCOUNT, "nr_unique", c->sb.nr_unique,
		      c->nr_rc, "entries");
	check_counter(c, DD_TREE_INDEX, "nr_indexed", c->sb.nr_indexed,
		      c->nr_ix, "entries");
}

/* ------------------------------------------------------------------ */
/* data device */

static void check_data(struct check *c, struct dd_dev *dev)
{
	struct dd_dev *data = dev;
	uint64_t dbs = c->sb.data_block_size, dev_blocks;
	uint8_t *buf, digest[DD_HASH_MAX_DIGEST];
	char where[160], have[2 * DD_HASH_MAX_DIGEST + 1];
	char want[2 * DD_HASH_MAX_DIGEST + 1];
	size_t i;

	if (!c->sb.data_geometry_ok || !c->sb.fp_ok ||
	    c->sb.alg == DD_HASH_NONE) {
		dd_info("note: data blocks not verified: the superblock's data geometry or hash is unusable");
		return;
	}
	dev_blocks = data->size / dbs;
	if (dev_blocks < c->sb.data_nr_blocks)
		dd_error_at(c->data_path, "data device has %llu blocks of %llu bytes, the superblock says %llu",
			    (unsigned long long)dev_blocks,
			    (unsigned long long)dbs,
			    (unsigned long long)c->sb.data_nr_blocks);
	buf = malloc(dbs);
	if (!buf) {
		fprintf(stderr, "dedup_check: out of memory\n");
		exit(EXIT_USAGE);
	}
	/* read in PBN order */
	sort(c->ix, c->nr_ix, sizeof(*c->ix), cmp_ix_pbn);
	for (i = 0; i < c->nr_ix; i++) {
		struct ix_ent *x = &c->ix[i];
		int r;

		/* an even spread: entry i is taken when floor() steps */
		if (c->sample < 100.0 &&
		    (uint64_t)((i + 1) * c->sample / 100.0) ==
		    (uint64_t)(i * c->sample / 100.0))
			continue;
		dd_progress("verifying data blocks", i, c->nr_ix);
		if (x->pbn >= dev_blocks)
			continue;	/* reported above or as a bad entry */
		snprintf(where, sizeof(where),
			 "data block %llu (index entry 0x%016llx in block %llu)",
			 (unsigned long long)x->pbn,
			 (unsigned long long)x->key,
			 (unsigned long long)x->leaf);
		r = dd_dev_read(data, x->pbn * dbs, buf, dbs);
		if (r) {
			dd_error_at(where, r < 0 ? "read error" :
				    "beyond the end of the data device");
			if (r < 0)
				c->io_error = true;
			continue;
		}
		c->data_checked++;
		dd_hash(c->sb.alg, buf, dbs, digest);
		if (!memcmp(digest, x->fp, c->sb.fp_size))
			continue;
		dd_hex(have, digest, c->sb.fp_size);
		dd_hex(want, x->fp, c->sb.fp_size);
		dd_error_at(where, "%s fingerprint mismatch: data hashes to %s, index has %s",
			    c->sb.hash_name, have, want);
	}
	dd_progress_done();
	sort(c->ix, c->nr_ix, sizeof(*c->ix), cmp_ix_key);
	dd_info("data: verified %llu of %llu indexed blocks (%llu live blocks)",
		(unsigned long long)c->data_checked,
		(unsigned long long)c->nr_ix, (unsigned long long)c->nr_rc);
	free(buf);
}

/* ------------------------------------------------------------------ */

static int clear_needs_check(struct check *c)
{
	uint8_t blk[DD_BLOCK_SIZE];
	uint32_t flags;

	if (dd_dev_read(&c->dev, 0, blk, sizeof(blk)))
		return -1;
	flags = dd_le32(blk + offsetof(struct dedup_disk_superblock, flags));
	dd_put_le32(blk + offsetof(struct dedup_disk_superblock, flags),
		    flags & ~DEDUP_SB_NEEDS_CHECK);
	dd_block_set_csum(blk, DEDUP_SUPERBLOCK_CSUM_XOR);
	if (dd_dev_write(&c->dev, 0, blk, sizeof(blk)))
		return -1;
	if (fsync(c->dev.fd)) {
		fprintf(stderr, "dedup_check: fsync %s: %s\n", c->path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_check [options] <metadata device or image>\n"
		"  -q, --quiet              print nothing; the exit status tells\n"
		"      --super-block-only   check the superblock only\n"
		"      --data-dev <dev>     verify data block fingerprints\n"
		"      --sample <N>%%        verify N%% of the indexed blocks\n"
		"      --clear-needs-check  clear the needs_check flag if clean\n"
		"      --max-messages <N>   print at most N report lines\n"
		"  -h, --help               this text\n"
		"Exit status: 0 clean, 1 errors found, 2 usage or I/O error.\n");
}

static int parse_args(struct check *c, int argc, char **argv)
{
	enum { O_SB = 256, O_DATA, O_SAMPLE, O_CLEAR, O_MAX };
	static const struct option opts[] = {
		{ "quiet", no_argument, NULL, 'q' },
		{ "super-block-only", no_argument, NULL, O_SB },
		{ "data-dev", required_argument, NULL, O_DATA },
		{ "sample", required_argument, NULL, O_SAMPLE },
		{ "clear-needs-check", no_argument, NULL, O_CLEAR },
		{ "max-messages", required_argument, NULL, O_MAX },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int o;

	c->sample = 100.0;
	while ((o = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (o) {
		case 'q':
			dd_log.quiet = true;
			break;
		case O_SB:
			c->sb_only = true;
			break;
		case O_DATA:
			c->data_path = optarg;
			break;
		case O_SAMPLE:
			errno = 0;
			c->sample = strtod(optarg, &end);
			if (*end == '%')
				end++;
			if (errno || end == optarg || *end ||
			    !(c->sample > 0.0 && c->sample <= 100.0)) {
				fprintf(stderr, "dedup_check: --sample wants a percentage in (0, 100]\n");
				return -1;
			}
			break;
		case O_CLEAR:
			c->clear_needs_check = true;
			break;
		case O_MAX:
			errno = 0;
			dd_log.max_lines = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end) {
				fprintf(stderr, "dedup_check: --max-messages wants a number\n");
				return -1;
			}
			break;
		case 'h':
			print_help(stdout);
			exit(EXIT_CLEAN);
		default:
			print_help(stderr);
			return -1;
		}
	}
	if (optind != argc - 1) {
		print_help(stderr);
		return -1;
	}
	c->path = argv[optind];
	if (c->sb_only && (c->clear_needs_check || c->data_path)) {
		fprintf(stderr, "dedup_check: --super-block-only excludes --clear-needs-check and --data-dev\n");
		return -1;
	}
	if (c->sample < 100.0 && !c->data_path) {
		fprintf(stderr, "dedup_check: --sample needs --data-dev\n");
		return -1;
	}
	return 0;
}

static void walk(struct check *c, enum dd_tree_id id, uint64_t root,
		 dd_entry_fn fn)
{
	struct dd_tree *t = &c->trees[id];

	t->id = id;
	t->entry = fn;
	t->priv = c;
	if (dd_walk_tree(&c->m, t, root, 0, "superblock")) {
		fprintf(stderr, "dedup_check: out of memory\n");
		exit(EXIT_USAGE);
	}
}

static int run(struct check *c)
{
	uint8_t blk[DD_BLOCK_SIZE];
	enum dd_sb_status st;
	int r;

	r = dd_dev_read(&c->dev, 0, blk, sizeof(blk));
	if (r < 0)
		return EXIT_USAGE;
	if (r > 0) {
		dd_error(0, "superblock", "device is smaller than one %u-byte block (%llu bytes)",
			 DD_BLOCK_SIZE, (unsigned long long)c->dev.size);
		return EXIT_ERRORS;
	}
	st = dd_sb_check(blk, &c->sb);
	if (st == DD_SB_REFUSE)
		return EXIT_USAGE;
	if (st == DD_SB_BAD)
		return EXIT_ERRORS;
	if (c->sb.flags & DEDUP_SB_NEEDS_CHECK)
		dd_info("note: the needs_check flag is set");
	dd_sm_check_root(&c->sm, &c->sb, c->dev.size / DD_BLOCK_SIZE);
	if (c->sb_only)
		goto done;

	if (dd_meta_init(&c->m, &c->dev, &c->sb))
		return EXIT_USAGE;
	dd_meta_ref(&c->m, 0, DD_KIND_SUPER, 0, "superblock");
	if (dd_sm_load(&c->m, &c->sm))
		return EXIT_USAGE;

	walk(c, DD_TREE_REFCOUNT, c->sb.refcount_root, refcount_entry);
	sort(c->rc, c->nr_rc, sizeof(*c->rc), cmp_rc);
	walk(c, DD_TREE_INDEX, c->sb.index_root, index_entry);
	sort(c->ix, c->nr_ix, sizeof(*c->ix), cmp_ix_key);
	walk(c, DD_TREE_LBN, c->sb.lbn_root, lbn_entry);
	dd_progress_done();

	check_refcounts(c);
	check_index(c);
	check_space_map(c);
	check_counters(c);
	if (c->dev.io_error)
		c->io_error = true;
	if (c->data_path)
		check_data(c, &c->data);

done:
	if (c->io_error)
		return EXIT_USAGE;
	return dd_log.errors ? EXIT_ERRORS : EXIT_CLEAN;
}

int main(int argc, char **argv)
{
	struct check c;
	int status;

	memset(&c, 0, sizeof(c));
	if (parse_args(&c, argc, argv))
		return EXIT_USAGE;
	dd_log.progress = isatty(STDERR_FILENO);
	if (dd_dev_open(&c.dev, c.path, c.clear_needs_check))
		return EXIT_USAGE;
	c.data.fd = -1;
	if (c.data_path && dd_dev_open(&c.data, c.data_path, false)) {
		dd_dev_close(&c.dev);
		return EXIT_USAGE;
	}

	status = run(&c);

	if (dd_log.suppressed)
		dd_info("(%llu further messages not shown)",
			(unsigned long long)dd_log.suppressed);
	if (status != EXIT_USAGE || dd_log.errors)
		dd_info("%s: %s: %llu errors, %llu warnings%s",
			c.path, dd_log.errors ? "errors found" : "clean",
			(unsigned long long)dd_log.errors,
			(unsigned long long)dd_log.warnings,
			c.sb_only ? " (superblock only)" : "");
	if (!c.sb_only && status == EXIT_CLEAN && !dd_log.quiet)
		dd_info("%llu mapped, %llu zero, %llu unique, %llu indexed; metadata %llu of %llu blocks in use",
			(unsigned long long)c.lbn_mapped,
			(unsigned long long)c.lbn_zero,
			(unsigned long long)c.nr_rc,
			(unsigned long long)c.nr_ix,
			(unsigned long long)c.sm.nr_allocated,
			(unsigned long long)c.sm.nr_blocks);

	if (c.clear_needs_check) {
		if (status != EXIT_CLEAN)
			dd_info("needs_check left as it is: the check was not clean");
		else if (!(c.sb.flags & DEDUP_SB_NEEDS_CHECK))
			dd_info("needs_check is not set");
		else if (clear_needs_check(&c))
			status = EXIT_USAGE;
		else
			dd_info("needs_check cleared");
	}

	free(c.rc);
	free(c.ix);
	dd_sm_free(&c.sm);
	dd_meta_free(&c.m);
	dd_dev_close(&c.data);
	dd_dev_close(&c.dev);
	return status;
}

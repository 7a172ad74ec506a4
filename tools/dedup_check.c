// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_check - offline consistency checker for dm-dedup metadata
 * (version 2, include/dm-dedup-format.h).
 *
 * Order of work: the superblock; both space maps (counts, and their own
 * blocks as references); the btrees of the six arrays (every array block
 * reached once, in region A or the bulk region); the refcount array into
 * memory (counts, per PBN, of the refcount blocks that exist); the lbn
 * array streamed, counting the LBNs of every PBN; the fp array streamed
 * (non-zero exactly where the count is, or with DEDUP_INCOMPAT_STALE_FP
 * wherever it is and ignored where it is not; the data block's digest with
 * --data-dev, the saved index); the summary array against the counts; the
 * superblock counters; the space maps against the references found.
 * Memory: 2 bytes per metadata block plus about 8 bytes per PBN slot of
 * the refcount blocks that exist, plus the saved index if there is one.
 *
 * Exit status: 0 clean (warnings allowed), 1 errors found, 2 usage or I/O
 * error, or metadata this tool refuses (another version, unknown
 * incompatible features).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "dedup/saveidx.h"
#include "pdata/le.h"
#include "pdata/log.h"

#define EXIT_CLEAN	0
#define EXIT_ERRORS	1
#define EXIT_USAGE	2

#define RC_PER		DEDUP_REFCOUNTS_PER_BLOCK

/* One refcount array block held in memory. */
struct rcb {
	uint32_t count[RC_PER];
	uint32_t mapped[RC_PER];
	uint8_t has_fp[(RC_PER + 7) / 8];
	bool ok;
};

struct check {
	const char *path;
	const char *data_path;
	double sample;		/* percent of the blocks in use to verify */
	bool sb_only;
	bool clear_needs_check;

	struct dd_meta m;
	struct pd_dev data;
	struct dd_saveidx si;
	bool si_valid;

	struct rcb *rc;		/* parallel to a[DD_A_REFCOUNT].blocks */
	uint64_t in_use;	/* PBNs with a non-zero count */
	uint64_t lbn_mapped;
	uint64_t lbn_zero;
	uint64_t fp_set;
	uint64_t fp_stale;	/* free PBNs with a fingerprint, ignored */
	uint64_t data_checked;
	uint64_t data_sampled;
	uint64_t si_missing;
	uint64_t si_found;
	bool io_error;
};

static bool array_whole(struct check *c, enum dd_array_id id)
{
	return !c->m.a[id].tree.damaged && !c->m.a[id].bad_blocks;
}

/* The refcount block holding pbn, or NULL if it does not exist. */
static struct rcb *find_rcb(struct check *c, uint64_t pbn, uint32_t *off,
			    uint64_t *loc)
{
	struct dd_array *a = &c->m.a[DD_A_REFCOUNT];
	uint64_t bidx = pbn / RC_PER;
	size_t lo = 0, hi = a->nr_blocks;
	static size_t last;

	if (last < a->nr_blocks && a->blocks[last].bidx == bidx) {
		lo = last;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (a->blocks[mid].bidx < bidx)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo == a->nr_blocks || a->blocks[lo].bidx != bidx)
			return NULL;
		last = lo;
	}
	*off = pbn % RC_PER;
	if (loc)
		*loc = a->blocks[lo].loc;
	return &c->rc[lo];
}

/* ------------------------------------------------------------------ */
/* refcount array */

static void read_refcounts(struct check *c)
{
	struct dd_array *a = &c->m.a[DD_A_REFCOUNT];
	uint64_t dnb = c->m.s.sb.data_nr_blocks;
	uint8_t *blk = pd_malloc(DD_BLOCK_SIZE);
	size_t i;
	uint32_t j;

	c->rc = pd_calloc(a->nr_blocks, sizeof(*c->rc));
	for (i = 0; i < a->nr_blocks; i++) {
		struct rcb *r = &c->rc[i];
		uint64_t first = a->blocks[i].bidx * RC_PER;
		bool beyond = false;

		if (dd_array_read(&c->m.c, a, i, blk))
			continue;
		r->ok = true;
		for (j = 0; j < RC_PER; j++) {
			r->count[j] = pd_le32(blk + DEDUP_ARRAY_HEADER_SIZE +
					      4 * j);
			if (!r->count[j])
				continue;
			if (c->m.s.data_ok && first + j >= dnb) {
				if (!beyond)
					pd_error(a->blocks[i].loc, a->block_what, "PBN %llu beyond the data device (%llu blocks) has count %u",
						 (unsigned long long)(first + j),
						 (unsigned long long)dnb,
						 r->count[j]);
				beyond = true;
				r->count[j] = 0;
				continue;
			}
			c->in_use++;
		}
		if (pd_all_zero(r->count, sizeof(r->count), NULL) && !beyond)
			pd_warning(a->blocks[i].loc, a->block_what, "all zero (the module drops such blocks)");
	}
	free(blk);
}

/* ------------------------------------------------------------------ */
/* lbn array */

static void scan_lbns(struct check *c)
{
	struct dd_array *a = &c->m.a[DD_A_LBN];
	bool rc_whole = array_whole(c, DD_A_REFCOUNT);
	uint64_t dnb = c->m.s.sb.data_nr_blocks, lbn, from = 0;
	struct dd_cursor *cur = pd_malloc(sizeof(*cur));
	const uint8_t *e;

	dd_cursor_init(cur, &c->m.c, a);
	while (dd_cursor_next(cur, from, &lbn, &e)) {
		uint64_t v = pd_le64(e), pbn;
		struct rcb *r;
		uint32_t off;

		from = lbn + 1;
		if (v == DEDUP_LBN_ZERO) {
			c->lbn_zero++;
			continue;
		}
		c->lbn_mapped++;
		pbn = v - DEDUP_LBN_PBN_BASE;
		if (c->m.s.data_ok && pbn >= dnb) {
			pd_error(cur->block, a->block_what, "LBN %llu maps to PBN %llu beyond the data device (%llu blocks)",
				 (unsigned long long)lbn,
				 (unsigned long long)pbn,
				 (unsigned long long)dnb);
			continue;
		}
		r = find_rcb(c, pbn, &off, NULL);
		if (r && r->ok && r->count[off]) {
			if (r->mapped[off] < UINT32_MAX)
				r->mapped[off]++;
		} else if (rc_whole) {
			pd_error(cur->block, a->block_what, "LBN %llu maps to PBN %llu, whose reference count is 0",
				 (unsigned long long)lbn,
				 (unsigned long long)pbn);
		}
	}
	free(cur);
}

static void compare_refcounts(struct check *c)
{
	struct dd_array *a = &c->m.a[DD_A_REFCOUNT];
	size_t i;
	uint32_t j;

	if (!array_whole(c, DD_A_LBN)) {
		pd_info("note: reference counts not compared: the lbn array is damaged");
		return;
	}
	for (i = 0; i < a->nr_blocks; i++) {
		struct rcb *r = &c->rc[i];

		for (j = 0; r->ok && j < RC_PER; j++)
			if (r->count[j] != r->mapped[j])
				pd_error(a->blocks[i].loc, a->block_what, "PBN %llu has count %u but %u LBNs map to it",
					 (unsigned long long)(a->blocks[i].bidx * RC_PER + j),
					 r->count[j], r->mapped[j]);
	}
}

/* ------------------------------------------------------------------ */
/* fp array, data blocks, saved index */

static void verify_data(struct check *c, uint64_t pbn, const uint8_t *fp,
			uint64_t block, uint8_t *buf)
{
	uint64_t dbs = c->m.s.sb.data_block_size;
	uint8_t digest[DD_HASH_MAX_DIGEST];
	char where[160], have[2 * DD_HASH_MAX_DIGEST + 1];
	char want[2 * DD_HASH_MAX_DIGEST + 1];
	int r;

	/* an even spread: block k is taken when floor() steps */
	c->data_sampled++;
	if (c->sample < 100.0 &&
	    (uint64_t)(c->data_sampled * c->sample / 100.0) ==
	    (uint64_t)((c->data_sampled - 1) * c->sample / 100.0))
		return;
	snprintf(where, sizeof(where), "data block %llu (fp array block %llu)",
		 (unsigned long long)pbn, (unsigned long long)block);
	r = pd_dev_read(&c->data, pbn * dbs, buf, dbs);
	if (r) {
		pd_error_at(where, r < 0 ? "read error" :
			    "beyond the end of the data device");
		if (r < 0)
			c->io_error = true;
		return;
	}
	c->data_checked++;
	dd_hash(c->m.s.alg, buf, dbs, digest);
	if (!memcmp(digest, fp, c->m.s.sb.fp_size))
		return;
	dd_hex(have, digest, c->m.s.sb.fp_size);
	dd_hex(want, fp, c->m.s.sb.fp_size);
	pd_error_at(where, "%s fingerprint mismatch: data hashes to %s, the fp array has %s",
		    c->m.s.hash, have, want);
}

static void scan_fps(struct check *c)
{
	struct dd_array *a = &c->m.a[DD_A_FP];
	bool rc_whole = array_whole(c, DD_A_REFCOUNT);
	uint64_t dnb = c->m.s.sb.data_nr_blocks, pbn, from = 0;
	struct dd_cursor *cur = pd_malloc(sizeof(*cur));
	uint8_t *buf = c->data_path ? pd_malloc(c->m.s.sb.data_block_size) :
		NULL;
	const uint8_t *e;
	size_t i;

	dd_cursor_init(cur, &c->m.c, a);
	while (dd_cursor_next(cur, from, &pbn, &e)) {
		struct rcb *r;
		uint32_t off;

		from = pbn + 1;
		c->fp_set++;
		if (c->m.s.data_ok && pbn >= dnb) {
			pd_error(cur->block, a->block_what, "PBN %llu beyond the data device (%llu blocks) has a fingerprint",
				 (unsigned long long)pbn,
				 (unsigned long long)dnb);
			continue;
		}
		r = find_rcb(c, pbn, &off, NULL);
		if (!r || !r->ok || !r->count[off]) {
			/* only a block in use owns its fingerprint */
			if (!rc_whole)
				continue;
			if (c->m.s.stale_fp)
				c->fp_stale++;
			else
				pd_error(cur->block, a->block_what, "PBN %llu is free (count 0) but has a fingerprint",
					 (unsigned long long)pbn);
			continue;
		}
		r->has_fp[off / 8] |= 1 << (off % 8);
		if (buf)
			verify_data(c, pbn, e, cur->block, buf);
		if (c->si_valid && c->si.usable) {
			if (dd_saveidx_find(&c->si, e, pbn / a->per_block)) {
				c->si_found++;
			} else {
				c->si_missing++;
				pd_warning(cur->block, a->block_what, "PBN %llu: its fingerprint is not in the saved index (its content is not deduplicated until the index is rebuilt)",
					   (unsigned long long)pbn);
			}
		}
	}
	free(cur);
	free(buf);
	if (c->fp_stale)
		pd_info("note: %llu free blocks keep a stale fingerprint (DEDUP_INCOMPAT_STALE_FP)",
			(unsigned long long)c->fp_stale);
	if (!array_whole(c, DD_A_FP)) {
		pd_info("note: blocks in use not matched to fingerprints: the fp array is damaged");
		return;
	}
	for (i = 0; i < c->m.a[DD_A_REFCOUNT].nr_blocks; i++) {
		struct dd_ablock *ab = &c->m.a[DD_A_REFCOUNT].blocks[i];
		struct rcb *r = &c->rc[i];
		uint32_t j;

		for (j = 0; r->ok && j < RC_PER; j++)
			if (r->count[j] && !(r->has_fp[j / 8] & (1 << (j % 8))))
				pd_error(ab->loc, c->m.a[DD_A_REFCOUNT].block_what, "PBN %llu has count %u but no fingerprint",
					 (unsigned long long)(ab->bidx * RC_PER + j),
					 r->count[j]);
	}
}

static void check_saved_index(struct check *c)
{
	const struct dedup_sb *sb = &c->m.s.sb;
	uint64_t fp_blocks;

	if (!(sb->compat_flags & DEDUP_COMPAT_SAVED_INDEX)) {
		if (c->m.a[DD_A_SAVE].nr_blocks || c->m.a[DD_A_SAVE_DIR].nr_blocks)
			pd_warning(0, "superblock", "the saved index flag is clear, but the save arrays have %zu and %zu blocks",
				   c->m.a[DD_A_SAVE].nr_blocks,
				   c->m.a[DD_A_SAVE_DIR].nr_blocks);
		return;
	}
	if (sb->save_transaction_id != sb->transaction_id) {
		pd_info("note: the saved index is of transaction %llu, the superblock's is %llu: stale, the module rebuilds the index and drops it",
			(unsigned long long)sb->save_transaction_id,
			(unsigned long long)sb->transaction_id);
		return;
	}
	if (!c->m.s.data_ok || !c->m.s.fp_ok)
		return;
	fp_blocks = (sb->data_nr_blocks + c->m.a[DD_A_FP].per_block - 1) /
		c->m.a[DD_A_FP].per_block;
	dd_saveidx_load(&c->m.c, &c->m.a[DD_A_SAVE], &c->m.a[DD_A_SAVE_DIR],
			&c->m.s, fp_blocks, &c->si);
	c->si_valid = true;
}

/* Reads every block of an array not otherwise read, for its header. */
static void read_all(struct check *c, enum dd_array_id id)
{
	uint8_t *blk = pd_malloc(DD_BLOCK_SIZE);
	size_t i;

	for (i = 0; i < c->m.a[id].nr_blocks; i++)
		dd_array_read(&c->m.c, &c->m.a[id], i, blk);
	free(blk);
}

/* ------------------------------------------------------------------ */
/* summary array */

static uint64_t chunk_of(const struct dd_array *ra, size_t i)
{
	return ra->blocks[i].bidx / DEDUP_CHUNK_RC_BLOCKS;
}

/* Blocks in use in the chunk of refcount block *i and those after it. */
static uint64_t chunk_in_use(struct check *c, size_t *i)
{
	const struct dd_array *ra = &c->m.a[DD_A_REFCOUNT];
	uint64_t ch = chunk_of(ra, *i), n = 0;
	uint32_t j;

	for (; *i < ra->nr_blocks && chunk_of(ra, *i) == ch; (*i)++)
		for (j = 0; j < RC_PER; j++)
			n += c->rc[*i].count[j] != 0;
	return n;
}

/* The summary array against the counts, chunk by chunk in order. */
static void check_summary(struct check *c)
{
	struct dd_array *a = &c->m.a[DD_A_SUMMARY];
	struct dd_array *ra = &c->m.a[DD_A_REFCOUNT];
	uint64_t dnb = c->m.s.sb.data_nr_blocks;
	uint64_t nr_chunks = (dnb + DEDUP_CHUNK_BLOCKS - 1) / DEDUP_CHUNK_BLOCKS;
	struct dd_cursor *cur = pd_malloc(sizeof(*cur));
	uint64_t chunk, from = 0, want;
	const uint8_t *e;
	size_t i = 0;
	bool whole = array_whole(c, DD_A_REFCOUNT);

	dd_cursor_init(cur, &c->m.c, a);
	for (;;) {
		bool have = dd_cursor_next(cur, from, &chunk, &e);
		uint64_t upto = have ? chunk : UINT64_MAX;

		/* chunks in use before this summary entry have none */
		while (i < ra->nr_blocks && chunk_of(ra, i) < upto) {
			uint64_t ch = chunk_of(ra, i);

			want = chunk_in_use(c, &i);
			if (want && whole && array_whole(c, DD_A_SUMMARY))
				pd_error_at("summary array", "chunk %llu has %llu blocks in use, but no summary entry",
					    (unsigned long long)ch,
					    (unsigned long long)want);
		}
		if (!have)
			break;
		from = chunk + 1;
		if (c->m.s.data_ok && chunk >= nr_chunks) {
			pd_error(cur->block, a->block_what, "entry for chunk %llu beyond the %llu chunks of the data device",
				 (unsigned long long)chunk,
				 (unsigned long long)nr_chunks);
			continue;
		}
		want = i < ra->nr_blocks && chunk_of(ra, i) == chunk ?
			chunk_in_use(c, &i) : 0;
		if (whole && pd_le32(e) != want)
			pd_error(cur->block, a->block_what, "chunk %llu counts %u blocks in use, the refcount array has %llu",
				 (unsigned long long)chunk, pd_le32(e),
				 (unsigned long long)want);
	}
	free(cur);
}

/* ------------------------------------------------------------------ */

static void check_counter(const char *name, uint64_t stored, uint64_t found,
			  const char *array, const char *what, bool whole)
{
	if (whole && stored != found)
		pd_error(0, "superblock", "%s is %llu, but the %s array has %llu %s",
			 name, (unsigned long long)stored, array,
			 (unsigned long long)found, what);
}

static void check_counters(struct check *c)
{
	const struct dedup_sb *sb = &c->m.s.sb;

	check_counter("nr_mapped", sb->nr_mapped, c->lbn_mapped, "lbn",
		      "mapped LBNs", array_whole(c, DD_A_LBN));
	check_counter("nr_zero", sb->nr_zero, c->lbn_zero, "lbn",
		      "zero LBNs", array_whole(c, DD_A_LBN));
	check_counter("nr_unique", sb->nr_unique, c->in_use, "refcount",
		      "blocks in use", array_whole(c, DD_A_REFCOUNT));
}

static bool walks_complete(struct check *c)
{
	int i;

	for (i = 0; i < DD_NR_ARRAYS; i++)
		if (c->m.a[i].tree.damaged)
			return false;
	if (!c->m.msm.complete || c->m.msm.index_tree.damaged)
		return false;
	if (c->m.s.bulk && (!c->m.bsm.complete || c->m.bsm.index_tree.damaged))
		return false;
	return true;
}

/* ------------------------------------------------------------------ */

static int clear_needs_check(struct check *c)
{
	uint8_t blk[DD_BLOCK_SIZE];
	struct dd_super s;

	if (pd_dev_read(&c->m.dev, 0, blk, sizeof(blk)))
		return -1;
	dd_super_decode(blk, &s);
	s.sb.flags &= ~DEDUP_SB_NEEDS_CHECK;
	dd_super_encode(&s.sb, blk);
	if (pd_dev_write(&c->m.dev, 0, blk, sizeof(blk)) || pd_dev_sync(&c->m.dev))
		return -1;
	return 0;
}

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_check [options] <metadata device or image>\n"
		"  -q, --quiet                  print nothing; the exit status tells\n"
		"      --super-block-only       check the superblock only\n"
		"      --data-dev <dev>         verify the fingerprints of the data blocks in use\n"
		"      --sample <N>%%            verify N%% of them\n"
		"      --clear-needs-check-flag clear the needs_check flag if clean\n"
		"      --max-messages <N>       print at most N report lines\n"
		"  -h, --help                   this text\n"
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
		{ "clear-needs-check-flag", no_argument, NULL, O_CLEAR },
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
			pd_log.quiet = true;
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
			pd_log.max_lines = strtoull(optarg, &end, 10);
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
		fprintf(stderr, "dedup_check: --super-block-only excludes --clear-needs-check-flag and --data-dev\n");
		return -1;
	}
	if (c->sample < 100.0 && !c->data_path) {
		fprintf(stderr, "dedup_check: --sample needs --data-dev\n");
		return -1;
	}
	return 0;
}

static int run(struct check *c)
{
	bool leaks;

	switch (dd_meta_read_super(&c->m)) {
	case DD_META_OK:
		break;
	case DD_META_SHORT:
		pd_error(0, "superblock", "device is smaller than one %u-byte block (%llu bytes)",
			 DD_BLOCK_SIZE, (unsigned long long)c->m.dev.size);
		return EXIT_ERRORS;
	case DD_META_BAD:
		return EXIT_ERRORS;
	default:
		return EXIT_USAGE;
	}
	if (c->m.s.sb.flags & DEDUP_SB_NEEDS_CHECK)
		pd_info("note: the needs_check flag is set");
	if (c->sb_only)
		return pd_log.errors ? EXIT_ERRORS : EXIT_CLEAN;

	dd_meta_load(&c->m);
	read_refcounts(c);
	scan_lbns(c);
	compare_refcounts(c);
	check_saved_index(c);
	if (!c->si_valid) {
		read_all(c, DD_A_SAVE);
		read_all(c, DD_A_SAVE_DIR);
	}
	scan_fps(c);
	if (c->si_valid && c->si.usable && c->si.live > c->si_found &&
	    array_whole(c, DD_A_FP))
		pd_warning(0, "superblock", "the saved index has %llu entries, %llu of them name no fingerprint of a block in use",
			   (unsigned long long)c->si.live,
			   (unsigned long long)(c->si.live - c->si_found));
	check_summary(c);
	check_counters(c);

	leaks = walks_complete(c);
	if (!leaks)
		pd_info("note: metadata leaks not checked: some metadata could not be walked");
	pd_sm_compare(&c->m.c, &c->m.msm, leaks, 0, "superblock");
	if (c->m.s.bulk)
		pd_sm_compare(&c->m.c, &c->m.bsm, leaks, 0, "superblock");
	pd_progress_done();
	if (c->data_path)
		pd_info("data: verified %llu of %llu blocks in use",
			(unsigned long long)c->data_checked,
			(unsigned long long)c->in_use);
	if (c->m.dev.io_error || c->io_error)
		return EXIT_USAGE;
	return pd_log.errors ? EXIT_ERRORS : EXIT_CLEAN;
}

int main(int argc, char **argv)
{
	struct check *c = pd_calloc(1, sizeof(*c));
	const struct dd_super *s = &c->m.s;
	uint64_t used;
	int status;

	pd_prog = "dedup_check";
	dd_meta_init(&c->m);
	c->data.fd = -1;
	if (parse_args(c, argc, argv) ||
	    dd_meta_open(&c->m, c->path, c->clear_needs_check) ||
	    (c->data_path && pd_dev_open(&c->data, c->data_path, false))) {
		dd_meta_free(&c->m);
		free(c);
		return EXIT_USAGE;
	}
	pd_log.progress = isatty(STDERR_FILENO);

	status = run(c);

	if (pd_log.suppressed)
		pd_info("(%llu further messages not shown)",
			(unsigned long long)pd_log.suppressed);
	if (status != EXIT_USAGE || pd_log.errors)
		pd_info("%s: %s: %llu errors, %llu warnings%s",
			c->path, pd_log.errors ? "errors found" : "clean",
			(unsigned long long)pd_log.errors,
			(unsigned long long)pd_log.warnings,
			c->sb_only ? " (superblock only)" : "");
	used = s->msm.nr_allocated + (s->bulk ? s->bsm.nr_allocated : 0);
	if (!c->sb_only && status == EXIT_CLEAN)
		pd_info("%llu mapped, %llu zero, %llu unique; metadata %llu of %llu blocks in use%s",
			(unsigned long long)c->lbn_mapped,
			(unsigned long long)c->lbn_zero,
			(unsigned long long)c->in_use, (unsigned long long)used,
			(unsigned long long)s->sb.metadata_nr_blocks,
			s->bulk ? " (bulk region in use)" : "");

	if (c->clear_needs_check) {
		if (status != EXIT_CLEAN)
			pd_info("needs_check left as it is: the check was not clean");
		else if (!(s->sb.flags & DEDUP_SB_NEEDS_CHECK))
			pd_info("needs_check is not set");
		else if (clear_needs_check(c))
			status = EXIT_USAGE;
		else
			pd_info("needs_check cleared");
	}

	dd_saveidx_free(&c->si);
	free(c->rc);
	pd_dev_close(&c->data);
	dd_meta_free(&c->m);
	free(c);
	return status;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_dump - print the state of dm-dedup metadata (version 2), for
 * people (default) or for scripts and dedup_restore (--format json).
 * --mappings adds every mapped LBN and every PBN in use with its count
 * and fingerprint; dedup_restore --input reads that back (the JSON form
 * both use is dedup/form.h).
 *
 * Damage found on the way is reported on stderr (the JSON document on
 * stdout stays well formed) and makes the exit status 1.  Exit status 2:
 * usage or I/O error, or a superblock that cannot be used at all.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "dedup/form.h"
#include "pdata/le.h"
#include "pdata/log.h"

#define NR_BUCKETS 33

struct dump {
	const char *path;
	bool json;
	bool mappings;

	struct dd_meta m;
	struct dd_jw w;
	uint64_t hist[NR_BUCKETS];
	uint64_t lbn_mapped;
	uint64_t lbn_zero;
	uint64_t msm_used;
	uint64_t bsm_used;
};

static unsigned int bucket(uint32_t count)
{
	unsigned int k = 0;

	while (k < NR_BUCKETS - 1 && ((uint64_t)1 << k) < count)
		k++;
	return k;
}

static uint64_t bucket_min(unsigned int k)
{
	return k ? ((uint64_t)1 << (k - 1)) + 1 : 1;
}

static uint64_t bucket_max(unsigned int k)
{
	return k == NR_BUCKETS - 1 ? UINT32_MAX : (uint64_t)1 << k;
}

/* ------------------------------------------------------------------ */
/* statistics */

static void count_entries(struct dump *d, enum dd_array_id id)
{
	struct dd_cursor *cur = pd_malloc(sizeof(*cur));
	uint64_t idx, from = 0;
	const uint8_t *e;

	dd_cursor_init(cur, &d->m.c, &d->m.a[id]);
	while (dd_cursor_next(cur, from, &idx, &e)) {
		from = idx + 1;
		d->m.a[id].nonzero++;
		if (id == DD_A_LBN) {
			if (pd_le64(e) == DEDUP_LBN_ZERO)
				d->lbn_zero++;
			else
				d->lbn_mapped++;
		} else if (id == DD_A_REFCOUNT) {
			d->hist[bucket(pd_le32(e))]++;
		}
	}
	free(cur);
}

static void load(struct dump *d)
{
	struct pd_ctx *c = &d->m.c;
	int i;

	dd_meta_load(&d->m);
	for (i = 0; i < DD_NR_ARRAYS; i++)
		count_entries(d, i);
	/* used blocks as the bitmaps say, quietly: dedup_check compares */
	d->msm_used = pd_sm_compare(c, &d->m.msm, false, 0, "superblock");
	if (d->m.s.bulk)
		d->bsm_used = pd_sm_compare(c, &d->m.bsm, false, 0,
					    "superblock");
}

/* ------------------------------------------------------------------ */
/* --mappings */

static void print_lbns(struct dump *d)
{
	struct dd_cursor *cur = pd_malloc(sizeof(*cur));
	uint64_t lbn, from = 0;
	const uint8_t *e;

	dd_cursor_init(cur, &d->m.c, &d->m.a[DD_A_LBN]);
	if (d->json)
		dd_jw_open(&d->w, DD_FORM_LBNS, '[', false);
	while (dd_cursor_next(cur, from, &lbn, &e)) {
		uint64_t v = pd_le64(e);

		from = lbn + 1;
		if (d->json)
			dd_form_write_lbn(&d->w, lbn, v);
		else if (v == DEDUP_LBN_ZERO)
			printf("lbn %llu zero\n", (unsigned long long)lbn);
		else
			printf("lbn %llu pbn %llu\n", (unsigned long long)lbn,
			       (unsigned long long)(v - DEDUP_LBN_PBN_BASE));
	}
	if (d->json)
		dd_jw_close(&d->w);
	free(cur);
}

/*
 * Every PBN with a count or a fingerprint, merging the two arrays; with
 * DEDUP_INCOMPAT_STALE_FP every PBN with a count, as the fingerprint of a
 * free block is stale: it means nothing, and dedup_restore takes no count
 * 0 with a fingerprint.
 */
static void print_pbns(struct dump *d)
{
	struct dd_cursor *rc = pd_malloc(sizeof(*rc));
	struct dd_cursor *fp = pd_malloc(sizeof(*fp));
	uint32_t fps = d->m.a[DD_A_FP].entry_size;
	uint64_t rp = 0, fpp = 0, p;
	const uint8_t *re = NULL, *fe = NULL;
	bool rh, fh;
	char hex[2 * 64 + 1];

	dd_cursor_init(rc, &d->m.c, &d->m.a[DD_A_REFCOUNT]);
	dd_cursor_init(fp, &d->m.c, &d->m.a[DD_A_FP]);
	rh = dd_cursor_next(rc, 0, &rp, &re);
	fh = dd_cursor_next(fp, 0, &fpp, &fe);
	if (d->json)
		dd_jw_open(&d->w, DD_FORM_PBNS, '[', false);
	while (rh || fh) {
		uint32_t count = 0;

		p = !fh || (rh && rp <= fpp) ? rp : fpp;
		if (rh && rp == p)
			count = pd_le32(re);
		if (fh && fpp == p && fps <= 64)
			dd_hex(hex, fe, fps);
		else
			strcpy(hex, "");
		if (count || !d->m.s.stale_fp) {
			if (d->json)
				dd_form_write_pbn(&d->w, p, count, hex);
			else
				printf("pbn %llu count %u fp %s\n",
				       (unsigned long long)p, count,
				       hex[0] ? hex : "-");
		}
		if (rh && rp == p)
			rh = dd_cursor_next(rc, p + 1, &rp, &re);
		if (fh && fpp == p)
			fh = dd_cursor_next(fp, p + 1, &fpp, &fe);
	}
	if (d->json)
		dd_jw_close(&d->w);
	free(rc);
	free(fp);
}

/* ------------------------------------------------------------------ */
/* summary */

static void json_sm(struct dd_jw *w, const char *name,
		    const struct pd_sm_root *r, uint64_t used)
{
	dd_jw_open(w, name, '{', true);
	dd_jw_u64(w, "nr_blocks", r->nr_blocks);
	dd_jw_u64(w, "nr_allocated", r->nr_allocated);
	dd_jw_u64(w, "used", used);
	dd_jw_u64(w, "bitmap_root", r->bitmap_root);
	dd_jw_u64(w, "ref_count_root", r->ref_count_root);
	dd_jw_close(w);
}

static void print_json(struct dump *d)
{
	const struct dd_super *s = &d->m.s;
	struct dd_jw *w = &d->w;
	unsigned int k;
	int id;

	dd_jw_open(w, NULL, '{', false);
	dd_form_write_super(w, s);

	dd_jw_open(w, "space_maps", '{', false);
	json_sm(w, "metadata", &s->msm, d->msm_used);
	if (s->bulk)
		json_sm(w, "bulk", &s->bsm, d->bsm_used);
	dd_jw_close(w);
	dd_jw_open(w, "metadata", '{', true);
	dd_jw_u64(w, "device_blocks", d->m.c.dev_blocks);
	dd_jw_u64(w, "used_blocks", d->msm_used + d->bsm_used);
	dd_jw_u64(w, "total_blocks",
		  s->msm.nr_blocks + (s->bulk ? s->bsm.nr_blocks : 0));
	dd_jw_close(w);

	dd_jw_open(w, "arrays", '{', false);
	for (id = 0; id < DD_NR_ARRAYS; id++) {
		struct dd_array *a = &d->m.a[id];

		dd_jw_open(w, a->name, '{', true);
		dd_jw_u64(w, "root", a->tree.root);
		dd_jw_u64(w, "depth", a->tree.depth);
		dd_jw_u64(w, "internal_nodes", a->tree.nr_internal);
		dd_jw_u64(w, "leaves", a->tree.nr_leaves);
		dd_jw_u64(w, "blocks", a->nr_blocks);
		dd_jw_u64(w, "entries", a->nonzero);
		dd_jw_bool(w, "damaged", a->tree.damaged || a->bad_blocks);
		dd_jw_close(w);
	}
	dd_jw_close(w);

	if (s->sb.nr_unique)
		dd_jw_number(w, "dedup_ratio", "%.6f",
			     (double)s->sb.nr_mapped / (double)s->sb.nr_unique);
	else
		dd_jw_null(w, "dedup_ratio");

	dd_jw_open(w, "refcount_histogram", '[', false);
	for (k = 0; k < NR_BUCKETS; k++) {
		if (!d->hist[k])
			continue;
		dd_jw_open(w, NULL, '{', true);
		dd_jw_u64(w, "min", bucket_min(k));
		dd_jw_u64(w, "max", bucket_max(k));
		dd_jw_u64(w, "blocks", d->hist[k]);
		dd_jw_close(w);
	}
	dd_jw_close(w);
}

/* The names of the incompatible features s has, for the features line. */
static const char *incompat_names(const struct dd_super *s)
{
	if (s->bulk && s->stale_fp)
		return " (bulk, stale fingerprints)";
	if (s->stale_fp)
		return " (stale fingerprints)";
	return s->bulk ? " (bulk)" : "";
}

static void print_text(struct dump *d)
{
	const struct dedup_sb *sb = &d->m.s.sb;
	char uuid[37];
	unsigned int k;
	int id;

	dd_uuid_str(uuid, sb->uuid);
	printf("dm-dedup metadata on %s\n", d->path);
	printf("  uuid              %s\n", uuid);
	printf("  version           %u, transaction %llu, flags 0x%x%s\n",
	       sb->version, (unsigned long long)sb->transaction_id, sb->flags,
	       sb->flags & DEDUP_SB_NEEDS_CHECK ? " (needs_check)" : "");
	printf("  features          incompat 0x%x%s, compat 0x%x%s, compat_ro 0x%x\n",
	       sb->incompat_flags, incompat_names(&d->m.s),
	       sb->compat_flags,
	       sb->compat_flags & DEDUP_COMPAT_SAVED_INDEX ?
	       " (saved index)" : "", sb->compat_ro_flags);
	printf("  metadata          %llu blocks of %u bytes; region A %llu of %llu in use",
	       (unsigned long long)sb->metadata_nr_blocks,
	       sb->metadata_block_size, (unsigned long long)d->msm_used,
	       (unsigned long long)d->m.s.msm.nr_blocks);
	if (d->m.s.bulk)
		printf("; bulk region from block %llu: %llu of %llu in use",
		       (unsigned long long)sb->bulk_start,
		       (unsigned long long)d->bsm_used,
		       (unsigned long long)d->m.s.bsm.nr_blocks);
	printf("\n  data              %u-byte blocks, %llu of %llu in use\n",
	       sb->data_block_size, (unsigned long long)sb->nr_unique,
	       (unsigned long long)sb->data_nr_blocks);
	printf("  hash              %s, %u-byte fingerprints\n",
	       d->m.s.hash, sb->fp_size);
	printf("  counters          mapped %llu, zero %llu, unique %llu\n",
	       (unsigned long long)sb->nr_mapped,
	       (unsigned long long)sb->nr_zero,
	       (unsigned long long)sb->nr_unique);
	printf("  since format      dedup hits %llu, zero writes %llu, commits %llu\n",
	       (unsigned long long)sb->dedup_hits,
	       (unsigned long long)sb->zero_writes,
	       (unsigned long long)sb->commits);
	if (sb->nr_unique)
		printf("  dedup ratio       %.3f (mapped / unique)\n",
		       (double)sb->nr_mapped / (double)sb->nr_unique);
	else
		printf("  dedup ratio       - (no unique blocks)\n");
	if (!(sb->compat_flags & DEDUP_COMPAT_SAVED_INDEX))
		printf("  saved index       none\n");
	else
		printf("  saved index       %s: %llu entries, %u shard bits, transaction %llu\n",
		       sb->save_transaction_id == sb->transaction_id ?
		       "valid" : "stale",
		       (unsigned long long)sb->save_entries,
		       sb->save_shard_bits,
		       (unsigned long long)sb->save_transaction_id);
	printf("  arrays            %-10s %6s %9s %9s %10s %12s\n", "root",
	       "depth", "internal", "leaves", "blocks", "entries");
	for (id = 0; id < DD_NR_ARRAYS; id++) {
		struct dd_array *a = &d->m.a[id];

		printf("    %-15s %-10llu %6u %9llu %9llu %10zu %12llu%s\n",
		       a->name, (unsigned long long)a->tree.root,
		       a->tree.depth, (unsigned long long)a->tree.nr_internal,
		       (unsigned long long)a->tree.nr_leaves, a->nr_blocks,
		       (unsigned long long)a->nonzero,
		       a->tree.damaged || a->bad_blocks ? "  (damaged)" : "");
	}
	printf("  refcount histogram\n");
	for (k = 0; k < NR_BUCKETS; k++) {
		char range[48];

		if (!d->hist[k])
			continue;
		if (bucket_min(k) == bucket_max(k))
			snprintf(range, sizeof(range), "%llu",
				 (unsigned long long)bucket_min(k));
		else
			snprintf(range, sizeof(range), "%llu-%llu",
				 (unsigned long long)bucket_min(k),
				 (unsigned long long)bucket_max(k));
		printf("    %-23s %llu\n", range, (unsigned long long)d->hist[k]);
	}
}

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_dump [options] <metadata device or image>\n"
		"  -f, --format text|json   output format (default text)\n"
		"  -m, --mappings           also list every mapped LBN, and every PBN in use\n"
		"                           with its count and fingerprint\n"
		"  -h, --help               this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "mappings", no_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct dump *d = pd_calloc(1, sizeof(*d));
	enum dd_meta_status st;
	int o, status = 2;

	pd_prog = "dedup_dump";
	dd_meta_init(&d->m);
	while ((o = getopt_long(argc, argv, "f:mh", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			if (!strcmp(optarg, "json")) {
				d->json = true;
			} else if (strcmp(optarg, "text")) {
				fprintf(stderr, "dedup_dump: unknown format %s\n",
					optarg);
				goto out;
			}
			break;
		case 'm':
			d->mappings = true;
			break;
		case 'h':
			print_help(stdout);
			status = 0;
			goto out;
		default:
			print_help(stderr);
			goto out;
		}
	}
	if (optind != argc - 1) {
		print_help(stderr);
		goto out;
	}
	d->path = argv[optind];
	pd_log.out = stderr;

	if (dd_meta_open(&d->m, d->path, false))
		goto out;
	st = dd_meta_read_super(&d->m);
	if (st == DD_META_SHORT)
		fprintf(stderr, "dedup_dump: %s is smaller than one block\n",
			d->path);
	if (st != DD_META_OK)
		goto out;
	load(d);

	dd_jw_init(&d->w, stdout);
	if (d->json)
		print_json(d);
	else
		print_text(d);
	if (d->mappings) {
		print_lbns(d);
		print_pbns(d);
	}
	if (d->json)
		dd_jw_end(&d->w);

	status = pd_log.errors ? 1 : 0;
	if (d->m.dev.io_error)
		status = 2;
	if (fflush(stdout) || ferror(stdout))
		status = 2;
out:
	dd_meta_free(&d->m);
	free(d);
	return status;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_dump - print the state of dm-dedup metadata (version 2), for
 * people (default) or for scripts and dedup_restore (--format json).
 * --mappings adds every mapped LBN and every PBN in use with its count
 * and fingerprint; dedup_restore --input reads that back.
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
#include "pdata/endian.h"
#include "pdata/log.h"

#define NR_BUCKETS 33

struct dump {
	const char *path;
	bool json;
	bool mappings;

	struct pd_dev dev;
	struct dd_super s;
	struct dd_layout lay;
	struct pd_ctx c;
	struct pd_sm msm;
	struct pd_sm bsm;
	struct dd_array a[DD_NR_ARRAYS];
	uint64_t hist[NR_BUCKETS];
	uint64_t lbn_mapped;
	uint64_t lbn_zero;
	uint64_t msm_used;
	uint64_t bsm_used;
	bool first;
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

	dd_cursor_init(cur, &d->c, &d->a[id]);
	while (dd_cursor_next(cur, from, &idx, &e)) {
		from = idx + 1;
		d->a[id].nonzero++;
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
	struct pd_ctx *c = &d->c;
	int i;

	dd_layout_from_super(&d->s, d->dev.size / DD_BLOCK_SIZE, &d->lay);
	c->dev = &d->dev;
	c->dev_blocks = d->dev.size / DD_BLOCK_SIZE;
	pd_refs_init(&c->refs, c->dev_blocks);
	c->node_limit = d->lay.a_blocks;
	c->limit_what = "the metadata space map";
	pd_ref(c, 0, pd_kind("superblock"), c->refs.nr_blocks,
	       "the metadata device", 0, "superblock");
	pd_sm_load(c, &d->msm, "space map", false, &d->s.msm, 0, 0,
		   "superblock");
	if (d->s.bulk)
		pd_sm_load(c, &d->bsm, "bulk space map", true, &d->s.bsm,
			   d->s.sb.bulk_start, 0, "superblock");
	for (i = 0; i < DD_NR_ARRAYS; i++)
		dd_array_load(c, &d->a[i], i, d->s.fp_ok ? d->s.sb.fp_size : 32,
			      *dd_array_root(&d->s.sb, i), &d->lay);
	for (i = 0; i < DD_NR_ARRAYS; i++)
		count_entries(d, i);
	/* used blocks as the bitmaps say, quietly: dedup_check compares */
	d->msm_used = pd_sm_compare(c, &d->msm, false, 0, "superblock");
	if (d->s.bulk)
		d->bsm_used = pd_sm_compare(c, &d->bsm, false, 0,
					    "superblock");
}

/* ------------------------------------------------------------------ */
/* --mappings */

static void sep(struct dump *d)
{
	if (d->json) {
		fputs(d->first ? "\n    " : ",\n    ", stdout);
		d->first = false;
	}
}

static void print_lbns(struct dump *d)
{
	struct dd_cursor *cur = pd_malloc(sizeof(*cur));
	uint64_t lbn, from = 0;
	const uint8_t *e;

	dd_cursor_init(cur, &d->c, &d->a[DD_A_LBN]);
	d->first = true;
	if (d->json)
		printf(",\n  \"lbns\": [");
	while (dd_cursor_next(cur, from, &lbn, &e)) {
		uint64_t v = pd_le64(e);

		from = lbn + 1;
		sep(d);
		if (d->json && v == DEDUP_LBN_ZERO)
			printf("{\"lbn\": %llu, \"pbn\": null}",
			       (unsigned long long)lbn);
		else if (d->json)
			printf("{\"lbn\": %llu, \"pbn\": %llu}",
			       (unsigned long long)lbn,
			       (unsigned long long)(v - DEDUP_LBN_PBN_BASE));
		else if (v == DEDUP_LBN_ZERO)
			printf("lbn %llu zero\n", (unsigned long long)lbn);
		else
			printf("lbn %llu pbn %llu\n", (unsigned long long)lbn,
			       (unsigned long long)(v - DEDUP_LBN_PBN_BASE));
	}
	if (d->json)
		printf("%s]", d->first ? "" : "\n  ");
	free(cur);
}

/* Every PBN with a count or a fingerprint, merging the two arrays. */
static void print_pbns(struct dump *d)
{
	struct dd_cursor *rc = pd_malloc(sizeof(*rc));
	struct dd_cursor *fp = pd_malloc(sizeof(*fp));
	uint32_t fps = d->a[DD_A_FP].entry_size;
	uint64_t rp = 0, fpp = 0, p;
	const uint8_t *re = NULL, *fe = NULL;
	bool rh, fh;
	char hex[2 * 64 + 1];

	dd_cursor_init(rc, &d->c, &d->a[DD_A_REFCOUNT]);
	dd_cursor_init(fp, &d->c, &d->a[DD_A_FP]);
	rh = dd_cursor_next(rc, 0, &rp, &re);
	fh = dd_cursor_next(fp, 0, &fpp, &fe);
	d->first = true;
	if (d->json)
		printf(",\n  \"pbns\": [");
	while (rh || fh) {
		uint32_t count = 0;

		p = !fh || (rh && rp <= fpp) ? rp : fpp;
		if (rh && rp == p)
			count = pd_le32(re);
		if (fh && fpp == p && fps <= 64)
			dd_hex(hex, fe, fps);
		else
			strcpy(hex, "");
		sep(d);
		if (d->json)
			printf("{\"pbn\": %llu, \"count\": %u, \"fp\": \"%s\"}",
			       (unsigned long long)p, count, hex);
		else
			printf("pbn %llu count %u fp %s\n",
			       (unsigned long long)p, count,
			       hex[0] ? hex : "-");
		if (rh && rp == p)
			rh = dd_cursor_next(rc, p + 1, &rp, &re);
		if (fh && fpp == p)
			fh = dd_cursor_next(fp, p + 1, &fpp, &fe);
	}
	if (d->json)
		printf("%s]", d->first ? "" : "\n  ");
	free(rc);
	free(fp);
}

/* ------------------------------------------------------------------ */
/* summary */

static void json_sm(const char *name, const struct pd_sm_root *r,
		    uint64_t used, bool last)
{
	printf("    \"%s\": {\"nr_blocks\": %llu, \"nr_allocated\": %llu, \"used\": %llu, \"bitmap_root\": %llu, \"ref_count_root\": %llu}%s\n",
	       name, (unsigned long long)r->nr_blocks,
	       (unsigned long long)r->nr_allocated, (unsigned long long)used,
	       (unsigned long long)r->bitmap_root,
	       (unsigned long long)r->ref_count_root, last ? "" : ",");
}

static void print_json(struct dump *d)
{
	const struct dedup_sb *sb = &d->s.sb;
	char uuid[37];
	bool first = true;
	unsigned int k;
	int id;

	dd_uuid_str(uuid, sb->uuid);
	printf("{\n  \"superblock\": {\n");
	printf("    \"csum\": \"0x%08x\",\n", d->s.csum);
	printf("    \"flags\": %u,\n", sb->flags);
	printf("    \"needs_check\": %s,\n",
	       sb->flags & DEDUP_SB_NEEDS_CHECK ? "true" : "false");
	printf("    \"uuid\": \"%s\",\n", uuid);
	printf("    \"magic\": \"0x%016llx\",\n", (unsigned long long)sb->magic);
	printf("    \"version\": %u,\n", sb->version);
	printf("    \"incompat_flags\": %u,\n", sb->incompat_flags);
	printf("    \"compat_flags\": %u,\n", sb->compat_flags);
	printf("    \"compat_ro_flags\": %u,\n", sb->compat_ro_flags);
	printf("    \"metadata_block_size\": %u,\n", sb->metadata_block_size);
	printf("    \"data_block_size\": %u,\n", sb->data_block_size);
	printf("    \"fp_size\": %u,\n", sb->fp_size);
	printf("    \"hash\": \"%s\",\n",
	       d->s.alg != DD_HASH_NONE ? dd_hash_name(d->s.alg) : "unknown");
	printf("    \"data_nr_blocks\": %llu,\n",
	       (unsigned long long)sb->data_nr_blocks);
	printf("    \"metadata_nr_blocks\": %llu,\n",
	       (unsigned long long)sb->metadata_nr_blocks);
	printf("    \"transaction_id\": %llu,\n",
	       (unsigned long long)sb->transaction_id);
	printf("    \"bulk_start\": %llu,\n", (unsigned long long)sb->bulk_start);
	printf("    \"bulk_nr_blocks\": %llu,\n",
	       (unsigned long long)sb->bulk_nr_blocks);
	printf("    \"alloc_cursor\": %llu,\n",
	       (unsigned long long)sb->alloc_cursor);
	printf("    \"save_transaction_id\": %llu,\n",
	       (unsigned long long)sb->save_transaction_id);
	printf("    \"save_entries\": %llu,\n",
	       (unsigned long long)sb->save_entries);
	printf("    \"save_shard_bits\": %u,\n", sb->save_shard_bits);
	printf("    \"save_loc_bits\": %u\n  },\n", sb->save_loc_bits);

	printf("  \"counters\": {\n");
	printf("    \"nr_mapped\": %llu,\n", (unsigned long long)sb->nr_mapped);
	printf("    \"nr_zero\": %llu,\n", (unsigned long long)sb->nr_zero);
	printf("    \"nr_unique\": %llu,\n", (unsigned long long)sb->nr_unique);
	printf("    \"dedup_hits\": %llu,\n", (unsigned long long)sb->dedup_hits);
	printf("    \"zero_writes\": %llu,\n",
	       (unsigned long long)sb->zero_writes);
	printf("    \"commits\": %llu\n  },\n", (unsigned long long)sb->commits);

	printf("  \"space_maps\": {\n");
	json_sm("metadata", &d->s.msm, d->msm_used, !d->s.bulk);
	if (d->s.bulk)
		json_sm("bulk", &d->s.bsm, d->bsm_used, true);
	printf("  },\n");
	printf("  \"metadata\": {\"device_blocks\": %llu, \"used_blocks\": %llu, \"total_blocks\": %llu},\n",
	       (unsigned long long)d->c.dev_blocks,
	       (unsigned long long)(d->msm_used + d->bsm_used),
	       (unsigned long long)(d->s.msm.nr_blocks +
				    (d->s.bulk ? d->s.bsm.nr_blocks : 0)));

	printf("  \"arrays\": {\n");
	for (id = 0; id < DD_NR_ARRAYS; id++) {
		struct dd_array *a = &d->a[id];

		printf("    \"%s\": {\"root\": %llu, \"depth\": %u, \"internal_nodes\": %llu, \"leaves\": %llu, \"blocks\": %zu, \"entries\": %llu, \"damaged\": %s}%s\n",
		       a->name, (unsigned long long)a->tree.root,
		       a->tree.depth, (unsigned long long)a->tree.nr_internal,
		       (unsigned long long)a->tree.nr_leaves, a->nr_blocks,
		       (unsigned long long)a->nonzero,
		       a->tree.damaged || a->bad_blocks ? "true" : "false",
		       id + 1 < DD_NR_ARRAYS ? "," : "");
	}
	printf("  },\n");

	if (sb->nr_unique)
		printf("  \"dedup_ratio\": %.6f,\n",
		       (double)sb->nr_mapped / (double)sb->nr_unique);
	else
		printf("  \"dedup_ratio\": null,\n");

	printf("  \"refcount_histogram\": [");
	for (k = 0; k < NR_BUCKETS; k++) {
		if (!d->hist[k])
			continue;
		printf("%s\n    {\"min\": %llu, \"max\": %llu, \"blocks\": %llu}",
		       first ? "" : ",", (unsigned long long)bucket_min(k),
		       (unsigned long long)bucket_max(k),
		       (unsigned long long)d->hist[k]);
		first = false;
	}
	printf("%s]", first ? "" : "\n  ");
}

static void print_text(struct dump *d)
{
	const struct dedup_sb *sb = &d->s.sb;
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
	       sb->incompat_flags, d->s.bulk ? " (bulk)" : "",
	       sb->compat_flags,
	       sb->compat_flags & DEDUP_COMPAT_SAVED_INDEX ?
	       " (saved index)" : "", sb->compat_ro_flags);
	printf("  metadata          %llu blocks of %u bytes; region A %llu of %llu in use",
	       (unsigned long long)sb->metadata_nr_blocks,
	       sb->metadata_block_size, (unsigned long long)d->msm_used,
	       (unsigned long long)d->s.msm.nr_blocks);
	if (d->s.bulk)
		printf("; bulk region from block %llu: %llu of %llu in use",
		       (unsigned long long)sb->bulk_start,
		       (unsigned long long)d->bsm_used,
		       (unsigned long long)d->s.bsm.nr_blocks);
	printf("\n  data              %u-byte blocks, %llu of %llu in use\n",
	       sb->data_block_size, (unsigned long long)sb->nr_unique,
	       (unsigned long long)sb->data_nr_blocks);
	printf("  hash              %s, %u-byte fingerprints\n",
	       d->s.hash, sb->fp_size);
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
		struct dd_array *a = &d->a[id];

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
	uint8_t blk[DD_BLOCK_SIZE];
	struct dump *d = pd_calloc(1, sizeof(*d));
	int o, r, status = 2, i;

	pd_prog = "dedup_dump";
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

	d->dev.fd = -1;
	if (pd_dev_open(&d->dev, d->path, false))
		goto out;
	r = pd_dev_read(&d->dev, 0, blk, sizeof(blk));
	if (r) {
		if (r > 0)
			fprintf(stderr, "dedup_dump: %s is smaller than one block\n",
				d->path);
		goto out;
	}
	if (dd_super_check(blk, &d->s, d->dev.size / DD_BLOCK_SIZE) !=
	    DD_SB_OK)
		goto out;
	load(d);

	if (d->json) {
		print_json(d);
		if (d->mappings) {
			print_lbns(d);
			print_pbns(d);
		}
		printf("\n}\n");
	} else {
		print_text(d);
		if (d->mappings) {
			print_lbns(d);
			print_pbns(d);
		}
	}

	status = pd_log.errors ? 1 : 0;
	if (d->dev.io_error)
		status = 2;
	if (fflush(stdout) || ferror(stdout))
		status = 2;
out:
	for (i = 0; i < DD_NR_ARRAYS; i++)
		dd_array_free(&d->a[i]);
	pd_sm_free(&d->msm);
	pd_sm_free(&d->bsm);
	pd_refs_free(&d->c.refs);
	pd_dev_close(&d->dev);
	free(d);
	return status;
}

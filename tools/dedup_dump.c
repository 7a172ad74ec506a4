// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_dump - print the state of dm-dedup metadata, for people (default)
 * or for scripts (--format json).  --mappings adds every LBN -> PBN
 * mapping, refcount entry and index entry.
 *
 * Damage found on the way is reported on stderr (the JSON document on
 * stdout stays well formed) and makes the exit status 1.  Exit status 2:
 * usage or I/O error, or a superblock that cannot be used at all.
 */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ddmeta.h"

#define NR_BUCKETS 33

struct dump {
	const char *path;
	bool json;
	bool mappings;

	struct dd_dev dev;
	struct dd_sb sb;
	struct dd_meta m;
	struct dd_tree trees[DD_NR_TREES];
	uint64_t hist[NR_BUCKETS];
	uint64_t lbn_mapped;
	uint64_t lbn_zero;

	/* --mappings output state */
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

/* ------------------------------------------------------------------ */
/* statistics pass */

static void stat_refcount(struct dd_tree *t, uint64_t block, uint32_t index,
			  uint64_t key, const uint8_t *value)
{
	struct dump *d = t->priv;

	(void)block;
	(void)index;
	(void)key;
	d->hist[bucket(dd_le32(value))]++;
}

static void stat_lbn(struct dd_tree *t, uint64_t block, uint32_t index,
		     uint64_t key, const uint8_t *value)
{
	struct dump *d = t->priv;

	(void)block;
	(void)index;
	(void)key;
	if (dd_le64(value) == DEDUP_ZERO_PBN)
		d->lbn_zero++;
	else
		d->lbn_mapped++;
}

/* ------------------------------------------------------------------ */
/* --mappings pass */

static void sep(struct dump *d)
{
	if (d->json) {
		fputs(d->first ? "\n    " : ",\n    ", stdout);
		d->first = false;
	}
}

static void out_lbn(struct dd_tree *t, uint64_t block, uint32_t index,
		    uint64_t key, const uint8_t *value)
{
	struct dump *d = t->priv;
	uint64_t pbn = dd_le64(value);

	(void)block;
	(void)index;
	sep(d);
	if (d->json && pbn == DEDUP_ZERO_PBN)
		printf("{\"lbn\": %llu, \"pbn\": null}", (unsigned long long)key);
	else if (d->json)
		printf("{\"lbn\": %llu, \"pbn\": %llu}", (unsigned long long)key,
		       (unsigned long long)pbn);
	else if (pbn == DEDUP_ZERO_PBN)
		printf("lbn %llu zero\n", (unsigned long long)key);
	else
		printf("lbn %llu pbn %llu\n", (unsigned long long)key,
		       (unsigned long long)pbn);
}

static void out_refcount(struct dd_tree *t, uint64_t block, uint32_t index,
			 uint64_t key, const uint8_t *value)
{
	struct dump *d = t->priv;
	uint32_t count = dd_le32(value);
	uint32_t flags = dd_le32(value + 4);
	uint64_t ik = dd_le64(value + 8);

	(void)block;
	(void)index;
	sep(d);
	if (d->json) {
		printf("{\"pbn\": %llu, \"count\": %u, \"flags\": %u, ",
		       (unsigned long long)key, count, flags);
		if (ik == DEDUP_NO_INDEX)
			printf("\"index_key\": null}");
		else
			printf("\"index_key\": \"0x%016llx\"}",
			       (unsigned long long)ik);
	} else {
		printf("pbn %llu count %u", (unsigned long long)key, count);
		if (flags)
			printf(" flags 0x%x", flags);
		if (ik == DEDUP_NO_INDEX)
			printf(" unindexed\n");
		else
			printf(" index 0x%016llx\n", (unsigned long long)ik);
	}
}

static void out_index(struct dd_tree *t, uint64_t block, uint32_t index,
		      uint64_t key, const uint8_t *value)
{
	struct dump *d = t->priv;
	char fp[2 * DEDUP_MAX_FP_SIZE + 1];
	size_t len = d->sb.fp_ok ? d->sb.fp_size : DEDUP_MAX_FP_SIZE;

	(void)block;
	(void)index;
	dd_hex(fp, value + 8, len);
	sep(d);
	if (d->json)
		printf("{\"key\": \"0x%016llx\", \"pbn\": %llu, \"fp\": \"%s\"}",
		       (unsigned long long)key,
		       (unsigned long long)dd_le64(value), fp);
	else
		printf("index 0x%016llx pbn %llu fp %s\n",
		       (unsigned long long)key,
		       (unsigned long long)dd_le64(value), fp);
}

/* ------------------------------------------------------------------ */

static int walk(struct dump *d, enum dd_tree_id id, dd_entry_fn fn)
{
	struct dd_tree *t = &d->trees[id];
	uint64_t root;

	root = id == DD_TREE_LBN ? d->sb.lbn_root :
	       id == DD_TREE_REFCOUNT ? d->sb.refcount_root : d->sb.index_root;
	t->id = id;
	t->entry = fn;
	t->priv = d;
	if (dd_walk_tree(&d->m, t, root, 0, "superblock")) {
		fprintf(stderr, "dedup_dump: out of memory\n");
		exit(2);
	}
	return 0;
}

static const char *json_tree_name(enum dd_tree_id id)
{
	return id == DD_TREE_LBN ? "lbn" : id == DD_TREE_REFCOUNT ?
	       "refcount" : "index";
}

static void print_json(struct dump *d)
{
	const struct dd_sb *sb = &d->sb;
	char uuid[37];
	bool first = true;
	unsigned int k;
	int id;

	dd_uuid_str(uuid, sb->uuid);
	printf("{\n  \"superblock\": {\n");
	printf("    \"csum\": \"0x%08x\",\n", sb->csum);
	printf("    \"flags\": %u,\n", sb->flags);
	printf("    \"needs_check\": %s,\n",
	       sb->flags & DEDUP_SB_NEEDS_CHECK ? "true" : "false");
	printf("    \"blocknr\": %llu,\n", (unsigned long long)sb->blocknr);
	printf("    \"uuid\": \"%s\",\n", uuid);
	printf("    \"magic\": \"0x%016llx\",\n", (unsigned long long)sb->magic);
	printf("    \"version\": %u,\n", sb->version);
	printf("    \"incompat_flags\": %u,\n", sb->incompat_flags);
	printf("    \"compat_flags\": %u,\n", sb->compat_flags);
	printf("    \"metadata_block_size\": %u,\n", sb->metadata_block_size);
	printf("    \"data_block_size\": %u,\n", sb->data_block_size);
	printf("    \"fp_size\": %u,\n", sb->fp_size);
	printf("    \"hash\": \"%s\",\n",
	       sb->alg != DD_HASH_NONE ? dd_hash_name(sb->alg) : "unknown");
	printf("    \"data_nr_blocks\": %llu,\n",
	       (unsigned long long)sb->data_nr_blocks);
	printf("    \"transaction_id\": %llu,\n",
	       (unsigned long long)sb->transaction_id);
	printf("    \"space_map\": {\"nr_blocks\": %llu, \"nr_allocated\": %llu, \"bitmap_root\": %llu, \"ref_count_root\": %llu},\n",
	       (unsigned long long)sb->sm_nr_blocks,
	       (unsigned long long)sb->sm_nr_allocated,
	       (unsigned long long)sb->sm_bitmap_root,
	       (unsigned long long)sb->sm_ref_count_root);
	printf("    \"lbn_root\": %llu,\n", (unsigned long long)sb->lbn_root);
	printf("    \"refcount_root\": %llu,\n",
	       (unsigned long long)sb->refcount_root);
	printf("    \"index_root\": %llu\n  },\n",
	       (unsigned long long)sb->index_root);

	printf("  \"counters\": {\n");
	printf("    \"nr_mapped\": %llu,\n", (unsigned long long)sb->nr_mapped);
	printf("    \"nr_zero\": %llu,\n", (unsigned long long)sb->nr_zero);
	printf("    \"nr_unique\": %llu,\n", (unsigned long long)sb->nr_unique);
	printf("    \"nr_indexed\": %llu,\n", (unsigned long long)sb->nr_indexed);
	printf("    \"dedup_hits\": %llu,\n", (unsigned long long)sb->dedup_hits);
	printf("    \"zero_writes\": %llu,\n",
	       (unsigned long long)sb->zero_writes);
	printf("    \"commits\": %llu\n  },\n", (unsigned long long)sb->commits);

	printf("  \"metadata\": {\"device_blocks\": %llu, \"used_blocks\": %llu, \"total_blocks\": %llu},\n",
	       (unsigned long long)d->m.dev_blocks,
	       (unsigned long long)sb->sm_nr_allocated,
	       (unsigned long long)sb->sm_nr_blocks);

	printf("  \"trees\": {\n");
	for (id = DD_TREE_LBN; id < DD_NR_TREES; id++) {
		struct dd_tree *t = &d->trees[id];

		printf("    \"%s\": {\"root\": %llu, \"depth\": %u, \"internal_nodes\": %llu, \"leaves\": %llu, \"entries\": %llu, \"damaged\": %s}%s\n",
		       json_tree_name(id), (unsigned long long)t->root,
		       t->depth, (unsigned long long)t->nr_internal,
		       (unsigned long long)t->nr_leaves,
		       (unsigned long long)t->nr_entries,
		       t->damaged ? "true" : "false",
		       id + 1 < DD_NR_TREES ? "," : "");
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
		       k == NR_BUCKETS - 1 ? (unsigned long long)UINT32_MAX :
		       (unsigned long long)((uint64_t)1 << k),
		       (unsigned long long)d->hist[k]);
		first = false;
	}
	printf("%s]", first ? "" : "\n  ");
}

static void print_text(struct dump *d)
{
	const struct dd_sb *sb = &d->sb;
	char uuid[37];
	unsigned int k;
	int id;

	dd_uuid_str(uuid, sb->uuid);
	printf("dm-dedup metadata on %s\n", d->path);
	printf("  uuid              %s\n", uuid);
	printf("  version           %u, transaction %llu, flags 0x%x%s\n",
	       sb->version, (unsigned long long)sb->transaction_id, sb->flags,
	       sb->flags & DEDUP_SB_NEEDS_CHECK ? " (needs_check)" : "");
	printf("  metadata          %u-byte blocks, %llu of %llu in use, device %llu blocks\n",
	       sb->metadata_block_size,
	       (unsigned long long)sb->sm_nr_allocated,
	       (unsigned long long)sb->sm_nr_blocks,
	       (unsigned long long)d->m.dev_blocks);
	printf("  data              %u-byte blocks, %llu of %llu in use\n",
	       sb->data_block_size, (unsigned long long)sb->nr_unique,
	       (unsigned long long)sb->data_nr_blocks);
	printf("  hash              %.32s, %u-byte fingerprints\n",
	       sb->hash_name, sb->fp_size);
	printf("  counters          mapped %llu, zero %llu, unique %llu, indexed %llu\n",
	       (unsigned long long)sb->nr_mapped,
	       (unsigned long long)sb->nr_zero,
	       (unsigned long long)sb->nr_unique,
	       (unsigned long long)sb->nr_indexed);
	printf("  since format      dedup hits %llu, zero writes %llu, commits %llu\n",
	       (unsigned long long)sb->dedup_hits,
	       (unsigned long long)sb->zero_writes,
	       (unsigned long long)sb->commits);
	if (sb->nr_unique)
		printf("  dedup ratio       %.3f (mapped / unique)\n",
		       (double)sb->nr_mapped / (double)sb->nr_unique);
	else
		printf("  dedup ratio       - (no unique blocks)\n");
	printf("  trees             %-10s %6s %9s %9s %12s\n", "root", "depth",
	       "internal", "leaves", "entries");
	for (id = DD_TREE_LBN; id < DD_NR_TREES; id++) {
		struct dd_tree *t = &d->trees[id];

		printf("    %-15s %-10llu %6u %9llu %9llu %12llu%s\n",
		       json_tree_name(id), (unsigned long long)t->root,
		       t->depth, (unsigned long long)t->nr_internal,
		       (unsigned long long)t->nr_leaves,
		       (unsigned long long)t->nr_entries,
		       t->damaged ? "  (damaged)" : "");
	}
	printf("  refcount histogram\n");
	for (k = 0; k < NR_BUCKETS; k++) {
		char range[48];

		if (!d->hist[k])
			continue;
		if (bucket_min(k) == ((uint64_t)1 << k))
			snprintf(range, sizeof(range), "%llu",
				 (unsigned long long)bucket_min(k));
		else
			snprintf(range, sizeof(range), "%llu-%llu",
				 (unsigned long long)bucket_min(k),
				 k == NR_BUCKETS - 1 ?
				 (unsigned long long)UINT32_MAX :
				 (unsigned long long)((uint64_t)1 << k));
		printf("    %-23s %llu\n", range, (unsigned long long)d->hist[k]);
	}
}

static void print_mappings(struct dump *d)
{
	static const dd_entry_fn fns[DD_NR_TREES] = {
		[DD_TREE_LBN] = out_lbn,
		[DD_TREE_REFCOUNT] = out_refcount,
		[DD_TREE_INDEX] = out_index,
	};
	static const char * const keys[DD_NR_TREES] = {
		[DD_TREE_LBN] = "mappings",
		[DD_TREE_REFCOUNT] = "refcounts",
		[DD_TREE_INDEX] = "index",
	};
	int id;

	dd_meta_reset(&d->m);
	dd_meta_ref(&d->m, 0, DD_KIND_SUPER, 0, "superblock");
	/* quiet: the statistics pass reported any damage already */
	dd_log.quiet = true;
	for (id = DD_TREE_LBN; id < DD_NR_TREES; id++) {
		d->first = true;
		if (d->json)
			printf(",\n  \"%s\": [", keys[id]);
		walk(d, id, fns[id]);
		if (d->json)
			printf("%s]", d->first ? "" : "\n  ");
	}
	dd_log.quiet = false;
}

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_dump [options] <metadata device or image>\n"
		"  -f, --format text|json   output format (default text)\n"
		"  -m, --mappings           also list every mapping, refcount and index entry\n"
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
	struct dump d;
	int o, r, status;

	memset(&d, 0, sizeof(d));
	while ((o = getopt_long(argc, argv, "f:mh", opts, NULL)) != -1) {
		switch (o) {
		case 'f':
			if (!strcmp(optarg, "json")) {
				d.json = true;
			} else if (strcmp(optarg, "text")) {
				fprintf(stderr, "dedup_dump: unknown format %s\n",
					optarg);
				return 2;
			}
			break;
		case 'm':
			d.mappings = true;
			break;
		case 'h':
			print_help(stdout);
			return 0;
		default:
			print_help(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		print_help(stderr);
		return 2;
	}
	d.path = argv[optind];
	dd_log.out = stderr;

	if (dd_dev_open(&d.dev, d.path, false))
		return 2;
	r = dd_dev_read(&d.dev, 0, blk, sizeof(blk));
	if (r) {
		if (r > 0)
			fprintf(stderr, "dedup_dump: %s is smaller than one block\n",
				d.path);
		return 2;
	}
	if (dd_sb_check(blk, &d.sb) != DD_SB_OK)
		return 2;
	if (dd_meta_init(&d.m, &d.dev, &d.sb))
		return 2;
	dd_meta_ref(&d.m, 0, DD_KIND_SUPER, 0, "superblock");
	walk(&d, DD_TREE_LBN, stat_lbn);
	walk(&d, DD_TREE_REFCOUNT, stat_refcount);
	walk(&d, DD_TREE_INDEX, NULL);

	if (d.json) {
		print_json(&d);
		if (d.mappings)
			print_mappings(&d);
		printf("\n}\n");
	} else {
		print_text(&d);
		if (d.mappings)
			print_mappings(&d);
	}

	status = dd_log.errors ? 1 : 0;
	if (d.dev.io_error)
		status = 2;
	if (fflush(stdout) || ferror(stdout))
		status = 2;
	dd_meta_free(&d.m);
	dd_dev_close(&d.dev);
	return status;
}

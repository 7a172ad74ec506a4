// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_restore - write a valid dm-dedup metadata image (file or block
 * device) from a dedup_dump JSON document (--input), like thin_restore.
 * The document's form is dedup/form.h.
 *
 * Everything is built bottom-up in one pass: each array's entries are
 * produced in index order (dedup/feed.c), array blocks are written as
 * they fill and the btrees above them grow by full leaves (dedup/build.c),
 * so an image of tens of millions of blocks costs one sequential write.
 * No saved RAM index is written: the module rebuilds its index from the
 * fp array in the background after dmsetup create.
 *
 * Exit status: 0 written, 1 the input is inconsistent or the device too
 * small, 2 usage or I/O error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "dedup/dedup.h"
#include "dedup/form.h"
#include "pdata/log.h"

struct restore {
	struct dd_image im;
	const char *input;
};

struct jin {
	struct restore *rs;
	struct dd_json j;
	struct dedup_sb sb;	/* from "superblock" and "counters" */
	bool have_sb;
	bool have_counters;
	struct dd_feed fd;
	bool started;
};

static int start(struct jin *in)
{
	struct restore *rs = in->rs;
	struct dedup_sb *sb = &in->sb;
	enum dd_hash_alg alg = dd_hash_lookup(sb->hash_name);

	if (in->started)
		return 0;
	if (!in->have_sb || alg == DD_HASH_NONE || !sb->data_nr_blocks) {
		dd_json_fail(&in->j, "the superblock (hash, data_nr_blocks) must come before the mappings");
		return -1;
	}
	if (sb->version != DEDUP_METADATA_VERSION) {
		dd_json_fail(&in->j, "a dump of metadata version %u; this tool writes version %u",
			     sb->version, DEDUP_METADATA_VERSION);
		return -1;
	}
	if (sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED) {
		dd_json_fail(&in->j, "unknown incompatible feature flags 0x%x",
			     sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED);
		return -1;
	}
	if (sb->fp_size != dd_hash_size(alg) ||
	    !dedup_data_block_size_ok(sb->data_block_size)) {
		dd_json_fail(&in->j, "bad geometry: data_block_size %u, fp_size %u for %s",
			     sb->data_block_size, sb->fp_size, sb->hash_name);
		return -1;
	}
	if (dd_image_open(&rs->im, sb->metadata_nr_blocks))
		return -1;
	dd_feed_init(&in->fd, &rs->im.b, sb->fp_size);
	in->started = true;
	return 0;
}

static int lbn_elem(struct jin *in, const struct dd_form_elem *e)
{
	uint64_t dnb = in->sb.data_nr_blocks;

	if (!e->has_lbn || !e->has_pbn) {
		dd_json_fail(&in->j, "an lbns element needs \"lbn\" and \"pbn\"");
		return -1;
	}
	if (in->fd.lbns_done) {
		dd_json_fail(&in->j, "\"lbns\" must come before \"pbns\", once");
		return -1;
	}
	if (!e->pbn_null && e->pbn >= dnb) {
		dd_json_fail(&in->j, "LBN %llu maps to PBN %llu beyond the data device (%llu blocks)",
			     (unsigned long long)e->lbn,
			     (unsigned long long)e->pbn,
			     (unsigned long long)dnb);
		return -1;
	}
	return dd_feed_lbn(&in->fd, e->lbn, e->pbn_null ? DEDUP_LBN_ZERO :
			   e->pbn + DEDUP_LBN_PBN_BASE);
}

/*
 * A "pbns" element.  With DEDUP_INCOMPAT_STALE_FP in the dump's superblock
 * a free block (count 0) may come with a fingerprint (a dump does not list
 * it, but a document may): it is stale and dropped, so that the image
 * written, which does not set the feature, has none.
 */
static int pbn_elem(struct jin *in, const struct dd_form_elem *e)
{
	static const uint8_t none[DEDUP_MAX_FP_SIZE];
	uint32_t fp_size = in->sb.fp_size;
	uint64_t dnb = in->sb.data_nr_blocks;
	bool fp_zero = !e->has_fp || pd_all_zero(e->fp, fp_size, NULL);
	bool stale = !e->count && !fp_zero &&
		(in->sb.incompat_flags & DEDUP_INCOMPAT_STALE_FP);

	if (!e->has_pbn || e->pbn_null || !e->has_count) {
		dd_json_fail(&in->j, "a pbns element needs \"pbn\" and \"count\"");
		return -1;
	}
	if (in->fd.pbns_done) {
		dd_json_fail(&in->j, "\"pbns\" may come once only");
		return -1;
	}
	if (e->pbn >= dnb || e->count > UINT32_MAX ||
	    (!e->count != fp_zero && !stale)) {
		dd_json_fail(&in->j, "PBN %llu: count %llu%s, data device %llu blocks: not a valid entry",
			     (unsigned long long)e->pbn,
			     (unsigned long long)e->count,
			     fp_zero ? " without a fingerprint" :
			     " with a fingerprint",
			     (unsigned long long)dnb);
		return -1;
	}
	return dd_feed_pbn(&in->fd, e->pbn, e->count, stale ? none : e->fp);
}

static int read_list(struct jin *in, bool lbns)
{
	struct dd_json *j = &in->j;
	struct dd_form_elem e;
	enum dd_json_tok t;

	if (start(in) || dd_json_expect(j, DD_J_LBRACKET, "'['"))
		return -1;
	for (;;) {
		t = dd_json_next(j);
		if (t == DD_J_RBRACKET)
			return 0;
		if (t == DD_J_COMMA)
			continue;
		if (t != DD_J_LBRACE) {
			dd_json_fail(j, "expected an object in \"%s\"",
				     lbns ? DD_FORM_LBNS : DD_FORM_PBNS);
			return -1;
		}
		if (dd_form_read_elem(j, in->sb.fp_size, &e))
			return -1;
		if (lbns ? lbn_elem(in, &e) : pbn_elem(in, &e)) {
			dd_json_fail(j, "cannot use this element");
			return -1;
		}
	}
}

static int read_list_done(struct jin *in, bool lbns)
{
	if (read_list(in, lbns))
		return -1;
	return lbns ? dd_feed_lbns_done(&in->fd) :
		dd_feed_pbns_done(&in->fd);
}

/* The members of an object, each handed to member(); -1 reported. */
static int read_members(struct jin *in, const char *what,
			int (*member)(struct jin *in, const char *key))
{
	char key[64];
	int r;

	if (dd_json_expect(&in->j, DD_J_LBRACE, what))
		return -1;
	while ((r = dd_json_member(&in->j, key, sizeof(key))) > 0)
		if (member(in, key))
			return -1;
	return r;
}

/* A member of "superblock" or "counters". */
static int super_member(struct jin *in, const char *key)
{
	return dd_form_read_super(&in->j, key, dd_json_next(&in->j), &in->sb);
}

/* A member of the document. */
static int top_member(struct jin *in, const char *key)
{
	bool sb = !strcmp(key, DD_FORM_SUPERBLOCK);
	bool lbns = !strcmp(key, DD_FORM_LBNS);

	if (sb || !strcmp(key, DD_FORM_COUNTERS)) {
		if (read_members(in, "'{'", super_member))
			return -1;
		in->have_sb |= sb;
		in->have_counters |= !sb;
		return 0;
	}
	if (lbns || !strcmp(key, DD_FORM_PBNS))
		return read_list_done(in, lbns);
	return dd_json_skip(&in->j, dd_json_next(&in->j));
}

static int restore_json(void *ctx)
{
	struct restore *rs = ctx;
	struct jin *in = pd_calloc(1, sizeof(*in));
	struct dd_json *j = &in->j;
	struct dedup_sb *sb;
	FILE *f;
	int r = -1;

	in->rs = rs;
	f = strcmp(rs->input, "-") ? fopen(rs->input, "r") : stdin;
	if (!f) {
		fprintf(stderr, "cannot open %s: %s\n", rs->input,
			strerror(errno));
		free(in);
		return 2;
	}
	dd_json_init(j, f, rs->input);
	if (read_members(in, "a JSON object", top_member))
		goto out;
	if (start(in) || dd_feed_finish(&in->fd))
		goto out;
	sb = &rs->im.b.sb;
	memcpy(sb->uuid, in->sb.uuid, sizeof(sb->uuid));
	memcpy(sb->hash_name, in->sb.hash_name, sizeof(sb->hash_name));
	sb->flags = in->sb.flags;
	/*
	 * incompat_flags are the builder's: bulk if there is a bulk region,
	 * never DEDUP_INCOMPAT_STALE_FP, as no free block has a fingerprint
	 */
	sb->compat_flags = in->sb.compat_flags & ~DEDUP_COMPAT_SAVED_INDEX;
	sb->compat_ro_flags = in->sb.compat_ro_flags;
	sb->data_block_size = in->sb.data_block_size;
	sb->fp_size = in->sb.fp_size;
	sb->data_nr_blocks = in->sb.data_nr_blocks;
	sb->transaction_id = in->sb.transaction_id;
	sb->alloc_cursor = in->sb.alloc_cursor;
	sb->nr_mapped = in->fd.mapped;
	sb->nr_zero = in->fd.zero;
	sb->nr_unique = in->fd.unique;
	sb->dedup_hits = in->sb.dedup_hits;
	sb->zero_writes = in->sb.zero_writes;
	sb->commits = in->sb.commits;
	/* the form reads the dump's counters into in->sb */
	if (in->have_counters && (in->sb.nr_mapped != in->fd.mapped ||
				  in->sb.nr_zero != in->fd.zero ||
				  in->sb.nr_unique != in->fd.unique))
		fprintf(stderr, "dedup_restore: note: the dump's counters (mapped %llu, zero %llu, unique %llu) differ from its lists; the lists are written\n",
			(unsigned long long)in->sb.nr_mapped,
			(unsigned long long)in->sb.nr_zero,
			(unsigned long long)in->sb.nr_unique);
	if (dd_builder_finish(&rs->im.b))
		goto out;
	r = 0;
out:
	if (f != stdin)
		fclose(f);
	dd_json_free(j);
	if (r)
		r = j->error || rs->im.b.full ? 1 : 2;
	free(in);
	return r;
}

/* ------------------------------------------------------------------ */

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_restore -i <file> -o <metadata device or image> [options]\n"
		"  -i, --input <file>          a dedup_dump --format json --mappings document (- for stdin)\n"
		"  -o, --output <path>         the metadata device or image file to write\n"
		"  -s, --metadata-size <size>  device size, a multiple of 4096 bytes: a number\n"
		"                              with b, s (512), K, M, G, T or P (powers of 1024);\n"
		"                              default: the dump's\n"
		"      --fill <percent>        btree node fill (100)\n"
		"  -q, --quiet                 no summary line\n"
		"  -h, --help                  this text\n"
		"Exit status: 0 written, 1 inconsistent input or device too small, 2 usage or I/O error.\n");
}

/* -i or --input, its only option */
static int restore_option(void *ctx, int o)
{
	struct restore *rs = ctx;

	if (o != 'i' && o != DD_IMAGE_OPT)
		return -1;
	rs->input = optarg;
	return 0;
}

static int restore_check(void *ctx)
{
	struct restore *rs = ctx;

	if (rs->input)
		return 0;
	print_help(stderr);
	return -1;
}

int main(int argc, char **argv)
{
	static const char *const opts[] = { "input=", NULL };
	static const struct dd_image_tool tool = {
		.prog = "dedup_restore", .shortopts = "i:", .longopts = opts,
		.help = print_help, .option = restore_option,
		.check = restore_check, .write = restore_json,
	};
	struct restore rs = { 0 };

	return dd_image_main(&tool, &rs.im, &rs, argc, argv);
}

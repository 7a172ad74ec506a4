// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_restore - write a valid dm-dedup metadata image (file or block
 * device), from a dedup_dump JSON document (--input) or from a generated
 * description (--generate), like thin_restore.
 *
 * Everything is built bottom-up in one pass: each array's entries are
 * produced in index order, array blocks are written as they fill and the
 * btrees above them grow by full leaves (dedup/build.c), so an image of
 * tens of millions of blocks costs one sequential write.  No saved RAM
 * index is written: the module rebuilds its index from the fp array in
 * the background after dmsetup create.
 *
 * Exit status: 0 written, 1 the input is inconsistent or the device too
 * small, 2 usage or I/O error.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dedup/dedup.h"
#include "dedup/json.h"
#include "pdata/endian.h"
#include "pdata/log.h"

struct gen {
	uint64_t data_blocks;
	uint32_t block_size;
	enum dd_hash_alg alg;
	uint64_t unique;
	uint64_t logical;
	uint64_t zero;
	bool random;
	uint64_t lbn_space;
	uint64_t seed;
	const char *data_path;
};

struct restore {
	const char *output;
	const char *input;
	bool generate;
	uint64_t meta_blocks;	/* 0: from the input or estimated */
	uint32_t fill;
	bool quiet;
	struct gen g;
	const char *uuid;
	struct dd_builder b;
	bool opened;
};

/*
 * What both inputs feed: the LBNs in order, then the PBNs in order (their
 * count and fingerprint, and the summary computed from them), each list
 * finished before the next starts, so that the same entries always give
 * the same image, whichever the input.
 */
struct feed {
	struct dd_array_writer aw[DD_NR_ARRAYS];
	uint64_t mapped, zero, unique;
	uint64_t chunk;
	uint32_t chunk_used;
	bool chunk_open;
	bool lbns_done, pbns_done;
};

static void feed_init(struct feed *fd, struct dd_builder *b, uint32_t fp_size)
{
	int i;

	memset(fd, 0, sizeof(*fd));
	for (i = 0; i < DD_NR_ARRAYS; i++)
		dd_aw_init(&fd->aw[i], b, i, fp_size);
}

/* value: DEDUP_LBN_ZERO or PBN + DEDUP_LBN_PBN_BASE */
static int feed_lbn(struct feed *fd, uint64_t lbn, uint64_t value)
{
	uint8_t v[8];

	pd_put_le64(v, value);
	if (value == DEDUP_LBN_ZERO)
		fd->zero++;
	else
		fd->mapped++;
	return dd_aw_put(&fd->aw[DD_A_LBN], lbn, v);
}

static int feed_lbns_done(struct feed *fd)
{
	if (fd->lbns_done)
		return 0;
	fd->lbns_done = true;
	return dd_aw_finish(&fd->aw[DD_A_LBN]);
}

static int flush_chunk(struct feed *fd)
{
	uint8_t v[4];

	if (!fd->chunk_open)
		return 0;
	fd->chunk_open = false;
	pd_put_le32(v, fd->chunk_used);
	return dd_aw_put(&fd->aw[DD_A_SUMMARY], fd->chunk, v);
}

static int feed_pbn(struct feed *fd, uint64_t pbn, uint32_t count,
		    const uint8_t *fp)
{
	uint64_t chunk = pbn / DEDUP_CHUNK_BLOCKS;
	uint8_t v[4];

	if (feed_lbns_done(fd))
		return -1;
	pd_put_le32(v, count);
	if (dd_aw_put(&fd->aw[DD_A_REFCOUNT], pbn, v) ||
	    dd_aw_put(&fd->aw[DD_A_FP], pbn, fp))
		return -1;
	if (!count)
		return 0;
	fd->unique++;
	if (fd->chunk_open && chunk != fd->chunk && flush_chunk(fd))
		return -1;
	if (!fd->chunk_open) {
		fd->chunk = chunk;
		fd->chunk_used = 0;
		fd->chunk_open = true;
	}
	fd->chunk_used++;
	return 0;
}

static int feed_pbns_done(struct feed *fd)
{
	if (fd->pbns_done)
		return 0;
	fd->pbns_done = true;
	if (feed_lbns_done(fd) || flush_chunk(fd) ||
	    dd_aw_finish(&fd->aw[DD_A_REFCOUNT]) ||
	    dd_aw_finish(&fd->aw[DD_A_FP]) ||
	    dd_aw_finish(&fd->aw[DD_A_SUMMARY]))
		return -1;
	return 0;
}

/* The saved index arrays stay empty. */
static int feed_finish(struct feed *fd)
{
	if (feed_pbns_done(fd) || dd_aw_finish(&fd->aw[DD_A_SAVE]) ||
	    dd_aw_finish(&fd->aw[DD_A_SAVE_DIR]))
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* sizes */

static int parse_size(const char *s, uint64_t *v, uint64_t unit)
{
	char *end;
	uint64_t mult = 1;

	errno = 0;
	*v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	switch (*end) {
	case 'k': case 'K':
		mult = 1ULL << 10;
		end++;
		break;
	case 'm': case 'M':
		mult = 1ULL << 20;
		end++;
		break;
	case 'g': case 'G':
		mult = 1ULL << 30;
		end++;
		break;
	case 't': case 'T':
		mult = 1ULL << 40;
		end++;
		break;
	case 's':
		mult = 512;
		end++;
		break;
	case 'b':
		mult = 1;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i' && end[-1] != 'b' && end[-1] != 's')
		end++;
	if (*end == 'B')
		end++;
	if (*end)
		return -1;
	if (*v > UINT64_MAX / mult)
		return -1;
	*v *= mult;
	if (*v % unit)
		return -1;
	*v /= unit;
	return 0;
}

static uint64_t div_up(uint64_t a, uint64_t b)
{
	return a / b + !!(a % b);
}

/* Blocks an image needs for the given array entry counts, plus room. */
static uint64_t estimate_blocks(uint64_t lbn_blocks, uint64_t pbns,
				uint32_t fp_size)
{
	uint64_t arrays = lbn_blocks +
		div_up(pbns, DEDUP_REFCOUNTS_PER_BLOCK) +
		div_up(pbns, dedup_array_entries_per_block(fp_size)) +
		div_up(div_up(pbns, DEDUP_CHUNK_BLOCKS),
		       DEDUP_REFCOUNTS_PER_BLOCK);
	uint64_t nodes = div_up(arrays, 200) + 64;
	uint64_t need = 1 + arrays + nodes;

	need += div_up(need, PD_SM_ENTRIES_PER_BITMAP) + 8;
	/* a quarter more and 16 MiB, for the module to work in */
	need += need / 4 + 4096;
	return need;
}

/* ------------------------------------------------------------------ */
/* generated images */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* j -> (a * j + c) mod n, a bijection of [0, n) when gcd(a, n) = 1 */
struct perm {
	uint64_t n;
	uint64_t a;
	uint64_t c;
};

static void perm_init(struct perm *p, uint64_t n, bool random, uint64_t seed)
{
	p->n = n;
	p->a = 1;
	p->c = 0;
	if (!random || n < 2)
		return;
	p->a = (uint64_t)(n * 0.6180339887) | 1;
	while (gcd(p->a, n) != 1)
		p->a++;
	p->a %= n;
	if (!p->a)
		p->a = 1;
	p->c = splitmix(&seed) % n;
}

static uint64_t perm_at(const struct perm *p, uint64_t j)
{
	return (uint64_t)(((__uint128_t)p->a * j + p->c) % p->n);
}

static int gen_lbns(struct restore *rs, struct feed *fd)
{
	struct gen *g = &rs->g;
	uint64_t total = g->logical + g->zero, k, j = 0, lbn = 0;
	uint64_t space = g->random ? g->lbn_space : total;
	uint64_t seed = g->seed ^ 0x1b873593ULL;
	struct perm pm;
	uint64_t v;

	perm_init(&pm, g->logical, g->random, g->seed);
	for (k = 0; k < total; k++, lbn++) {
		/* selection sampling: k of total chosen from space in order */
		if (g->random)
			while ((double)(splitmix(&seed) >> 11) / 9007199254740992.0 *
			       (double)(space - lbn) >= (double)(total - k))
				lbn++;
		if (g->zero && (k + 1) * g->zero / total > k * g->zero / total) {
			v = DEDUP_LBN_ZERO;
		} else {
			v = perm_at(&pm, j) % g->unique + DEDUP_LBN_PBN_BASE;
			j++;
		}
		if (feed_lbn(fd, lbn, v))
			return -1;
	}
	return feed_lbns_done(fd);
}

static int write_data(struct gen *g)
{
	struct pd_dev d;
	uint64_t p, batch = 256, i;
	uint8_t *buf;
	int r = 0;

	if (pd_dev_create(&d, g->data_path, g->data_blocks * g->block_size))
		return -1;
	buf = pd_malloc(batch * g->block_size);
	for (p = 0; p < g->unique && !r; p += batch) {
		uint64_t n = g->unique - p < batch ? g->unique - p : batch;

		for (i = 0; i < n; i++)
			dd_fill_content(buf + i * g->block_size, g->block_size,
					p + i);
		r = pd_dev_write(&d, p * g->block_size, buf,
				 n * g->block_size);
	}
	free(buf);
	if (!r)
		r = pd_dev_sync(&d);
	pd_dev_close(&d);
	return r;
}

static int gen_pbns(struct restore *rs, struct feed *fd)
{
	struct gen *g = &rs->g;
	uint32_t bs = g->block_size;
	struct dd_hash_prefix pf;
	uint8_t *content = pd_malloc(bs), fp[DEDUP_MAX_FP_SIZE];
	uint64_t p, per = g->logical / (g->unique ? g->unique : 1);
	uint64_t extra = g->logical % (g->unique ? g->unique : 1);
	int r = 0;

	dd_fill_content(content, bs, 0);
	dd_hash_prefix_init(&pf, g->alg, content, bs - 128);
	for (p = 0; p < g->unique && !r; p++) {
		dd_fill_tail(content + bs - 128, p);
		dd_hash_with_prefix(&pf, content + bs - 128, 128, fp);
		r = feed_pbn(fd, p, per + (p < extra), fp);
		if (!(p & 0xffff))
			pd_progress("fingerprints", p, g->unique);
	}
	pd_progress_done();
	free(content);
	return r ? r : feed_pbns_done(fd);
}

static void random_uuid(uint8_t *u, uint64_t seed)
{
	uint64_t a = splitmix(&seed), b = splitmix(&seed);

	pd_put_le64(u, a);
	pd_put_le64(u + 8, b);
	u[6] = (u[6] & 0x0f) | 0x40;
	u[8] = (u[8] & 0x3f) | 0x80;
}

static int generate(struct restore *rs)
{
	struct gen *g = &rs->g;
	struct dedup_sb *sb;
	uint64_t lbn_blocks, est;
	uint32_t fps = dd_hash_size(g->alg);
	struct feed *fd;
	int r;

	if (g->unique > g->data_blocks) {
		fprintf(stderr, "dedup_restore: --unique %llu exceeds --data-blocks %llu\n",
			(unsigned long long)g->unique,
			(unsigned long long)g->data_blocks);
		return 2;
	}
	if (g->unique ? g->logical < g->unique : g->logical) {
		fprintf(stderr, "dedup_restore: --logical must be at least --unique (every unique block is mapped), and 0 without unique blocks\n");
		return 2;
	}
	if (!g->random)
		g->lbn_space = g->logical + g->zero;
	if (!g->lbn_space)
		g->lbn_space = 4 * (g->logical + g->zero);
	if (g->lbn_space < g->logical + g->zero) {
		fprintf(stderr, "dedup_restore: --lbn-space is smaller than --logical + --zero\n");
		return 2;
	}
	lbn_blocks = div_up(g->lbn_space, 508);
	if (lbn_blocks > g->logical + g->zero)
		lbn_blocks = g->logical + g->zero;
	est = estimate_blocks(lbn_blocks, g->unique, fps);
	if (!rs->meta_blocks)
		rs->meta_blocks = est;
	if (dd_builder_open(&rs->b, rs->output, rs->meta_blocks, rs->fill))
		return 2;
	rs->opened = true;
	sb = &rs->b.sb;
	if (rs->uuid)
		dd_uuid_parse(sb->uuid, rs->uuid);
	else
		random_uuid(sb->uuid, g->seed);
	sb->data_block_size = g->block_size;
	sb->fp_size = fps;
	strncpy(sb->hash_name, dd_hash_name(g->alg), sizeof(sb->hash_name) - 1);
	sb->data_nr_blocks = g->data_blocks;
	sb->transaction_id = 1;
	sb->commits = 1;
	sb->alloc_cursor = g->unique < g->data_blocks ? g->unique : 0;
	sb->nr_mapped = g->logical;
	sb->nr_zero = g->zero;
	sb->nr_unique = g->unique;
	sb->dedup_hits = g->logical - g->unique;
	sb->zero_writes = g->zero;

	fd = pd_malloc(sizeof(*fd));
	feed_init(fd, &rs->b, fps);
	r = gen_lbns(rs, fd);
	if (!r)
		r = gen_pbns(rs, fd);
	if (!r)
		r = feed_finish(fd);
	free(fd);
	if (!r)
		r = dd_builder_finish(&rs->b);
	if (r)
		return rs->b.full ? 1 : 2;
	if (g->data_path && write_data(g))
		return 2;
	return 0;
}

/* ------------------------------------------------------------------ */
/* restoring a dump */

struct jin {
	struct restore *rs;
	struct dd_json j;
	struct dedup_sb sb;	/* from "superblock" and "counters" */
	bool have_sb;
	uint64_t json_mapped, json_zero, json_unique;
	bool have_counters;
	struct feed fd;
	bool started;
};

/* One scalar member of "superblock" or "counters". */
static int sb_member(struct jin *in, const char *key, enum dd_json_tok t)
{
	struct dedup_sb *sb = &in->sb;
	struct dd_json *j = &in->j;
	static const struct {
		const char *key;
		size_t off;
		int bits;
	} nums[] = {
#define N(f, b) { #f, offsetof(struct dedup_sb, f), b }
		N(flags, 32), N(compat_flags, 32), N(compat_ro_flags, 32),
		N(incompat_flags, 32), N(data_block_size, 32), N(fp_size, 32),
		N(data_nr_blocks, 64), N(metadata_nr_blocks, 64),
		N(transaction_id, 64), N(alloc_cursor, 64),
		N(dedup_hits, 64), N(zero_writes, 64), N(commits, 64),
		N(version, 32),
#undef N
	};
	uint64_t v;
	size_t i;

	if (!strcmp(key, "uuid") && t == DD_J_STRING) {
		if (dd_uuid_parse(sb->uuid, j->buf)) {
			dd_json_fail(j, "bad uuid \"%s\"", j->buf);
			return -1;
		}
		return 0;
	}
	if (!strcmp(key, "hash") && t == DD_J_STRING) {
		if (dd_hash_lookup(j->buf) == DD_HASH_NONE) {
			dd_json_fail(j, "unknown hash \"%s\"", j->buf);
			return -1;
		}
		strncpy(sb->hash_name, j->buf, sizeof(sb->hash_name) - 1);
		return 0;
	}
	if (t != DD_J_NUMBER)
		return dd_json_skip(j, t);
	for (i = 0; i < ARRAY_SIZE(nums); i++) {
		if (strcmp(key, nums[i].key))
			continue;
		if (dd_json_u64(j, &v))
			return -1;
		if (nums[i].bits == 32)
			*(__u32 *)((char *)sb + nums[i].off) = v;
		else
			*(__u64 *)((char *)sb + nums[i].off) = v;
		return 0;
	}
	if (strpbrk(j->buf, "-.eE"))
		return 0;	/* not a counter of ours */
	if (dd_json_u64(j, &v))
		return -1;
	if (!strcmp(key, "nr_mapped"))
		in->json_mapped = v;
	else if (!strcmp(key, "nr_zero"))
		in->json_zero = v;
	else if (!strcmp(key, "nr_unique"))
		in->json_unique = v;
	return 0;
}

static int read_object(struct jin *in)
{
	struct dd_json *j = &in->j;
	enum dd_json_tok t;
	char key[64];

	if (dd_json_expect(j, DD_J_LBRACE, "'{'"))
		return -1;
	for (;;) {
		t = dd_json_next(j);
		if (t == DD_J_RBRACE)
			return 0;
		if (t == DD_J_COMMA)
			continue;
		if (t != DD_J_STRING) {
			dd_json_fail(j, "expected a member name");
			return -1;
		}
		snprintf(key, sizeof(key), "%s", j->buf);
		if (dd_json_expect(j, DD_J_COLON, "':'"))
			return -1;
		t = dd_json_next(j);
		if (sb_member(in, key, t))
			return -1;
	}
}

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
	    sb->data_block_size < 4096 || sb->data_block_size > 65536 ||
	    (sb->data_block_size & (sb->data_block_size - 1))) {
		dd_json_fail(&in->j, "bad geometry: data_block_size %u, fp_size %u for %s",
			     sb->data_block_size, sb->fp_size, sb->hash_name);
		return -1;
	}
	if (!rs->meta_blocks)
		rs->meta_blocks = sb->metadata_nr_blocks;
	if (dd_builder_open(&rs->b, rs->output, rs->meta_blocks, rs->fill))
		return -1;
	rs->opened = true;
	feed_init(&in->fd, &rs->b, sb->fp_size);
	in->started = true;
	return 0;
}

/* The members of one array element object, as numbers or strings. */
struct elem {
	uint64_t lbn, pbn, count;
	bool has_lbn, has_pbn, pbn_null, has_count, has_fp;
	uint8_t fp[DEDUP_MAX_FP_SIZE];
};

static int read_elem(struct jin *in, struct elem *e)
{
	struct dd_json *j = &in->j;
	enum dd_json_tok t;
	char key[16];

	memset(e, 0, sizeof(*e));
	for (;;) {
		t = dd_json_next(j);
		if (t == DD_J_RBRACE)
			return 0;
		if (t == DD_J_COMMA)
			continue;
		if (t != DD_J_STRING) {
			dd_json_fail(j, "expected a member name");
			return -1;
		}
		snprintf(key, sizeof(key), "%s", j->buf);
		if (dd_json_expect(j, DD_J_COLON, "':'"))
			return -1;
		t = dd_json_next(j);
		if (!strcmp(key, "pbn") && t == DD_J_NULL) {
			e->has_pbn = e->pbn_null = true;
		} else if (!strcmp(key, "fp") && t == DD_J_STRING) {
			if (strlen(j->buf) != 2 * in->sb.fp_size ||
			    dd_unhex(e->fp, j->buf, in->sb.fp_size)) {
				dd_json_fail(j, "fingerprint \"%s\" is not %u hex bytes",
					     j->buf, in->sb.fp_size);
				return -1;
			}
			e->has_fp = true;
		} else if (t == DD_J_NUMBER && (!strcmp(key, "lbn") ||
						!strcmp(key, "pbn") ||
						!strcmp(key, "count"))) {
			uint64_t v;

			if (dd_json_u64(j, &v))
				return -1;
			if (key[0] == 'l') {
				e->lbn = v;
				e->has_lbn = true;
			} else if (key[0] == 'p') {
				e->pbn = v;
				e->has_pbn = true;
			} else {
				e->count = v;
				e->has_count = true;
			}
		} else if (dd_json_skip(j, t)) {
			return -1;
		}
	}
}

static int lbn_elem(struct jin *in, const struct elem *e)
{
	if (!e->has_lbn || !e->has_pbn) {
		dd_json_fail(&in->j, "an lbns element needs \"lbn\" and \"pbn\"");
		return -1;
	}
	if (in->fd.lbns_done) {
		dd_json_fail(&in->j, "\"lbns\" must come before \"pbns\", once");
		return -1;
	}
	if (!e->pbn_null && e->pbn >= in->sb.data_nr_blocks) {
		dd_json_fail(&in->j, "LBN %llu maps to PBN %llu beyond the data device (%llu blocks)",
			     (unsigned long long)e->lbn,
			     (unsigned long long)e->pbn,
			     (unsigned long long)in->sb.data_nr_blocks);
		return -1;
	}
	return feed_lbn(&in->fd, e->lbn, e->pbn_null ? DEDUP_LBN_ZERO :
			e->pbn + DEDUP_LBN_PBN_BASE);
}

static int pbn_elem(struct jin *in, const struct elem *e)
{
	bool fp_zero = !e->has_fp || pd_all_zero(e->fp, in->sb.fp_size, NULL);

	if (!e->has_pbn || e->pbn_null || !e->has_count) {
		dd_json_fail(&in->j, "a pbns element needs \"pbn\" and \"count\"");
		return -1;
	}
	if (in->fd.pbns_done) {
		dd_json_fail(&in->j, "\"pbns\" may come once only");
		return -1;
	}
	if (e->pbn >= in->sb.data_nr_blocks || e->count > UINT32_MAX ||
	    !e->count != fp_zero) {
		dd_json_fail(&in->j, "PBN %llu: count %llu%s, data device %llu blocks: not a valid entry",
			     (unsigned long long)e->pbn,
			     (unsigned long long)e->count,
			     fp_zero ? " without a fingerprint" :
			     " with a fingerprint",
			     (unsigned long long)in->sb.data_nr_blocks);
		return -1;
	}
	return feed_pbn(&in->fd, e->pbn, e->count, e->fp);
}

static int read_list(struct jin *in, bool lbns)
{
	struct dd_json *j = &in->j;
	enum dd_json_tok t;
	struct elem e;

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
				     lbns ? "lbns" : "pbns");
			return -1;
		}
		if (read_elem(in, &e))
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
	return lbns ? feed_lbns_done(&in->fd) : feed_pbns_done(&in->fd);
}

static int restore_json(struct restore *rs)
{
	struct jin *in = pd_calloc(1, sizeof(*in));
	struct dd_json *j = &in->j;
	struct dedup_sb *sb;
	FILE *f;
	enum dd_json_tok t;
	char key[64];
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
	if (dd_json_expect(j, DD_J_LBRACE, "a JSON object"))
		goto out;
	for (;;) {
		t = dd_json_next(j);
		if (t == DD_J_RBRACE)
			break;
		if (t == DD_J_COMMA)
			continue;
		if (t != DD_J_STRING) {
			dd_json_fail(j, "expected a member name");
			goto out;
		}
		snprintf(key, sizeof(key), "%s", j->buf);
		if (dd_json_expect(j, DD_J_COLON, "':'"))
			goto out;
		if (!strcmp(key, "superblock") || !strcmp(key, "counters")) {
			if (read_object(in))
				goto out;
			in->have_sb |= key[0] == 's';
			in->have_counters |= key[0] == 'c';
		} else if (!strcmp(key, "lbns") || !strcmp(key, "pbns")) {
			if (read_list_done(in, key[0] == 'l'))
				goto out;
		} else if (dd_json_skip(j, dd_json_next(j))) {
			goto out;
		}
	}
	if (start(in) || feed_finish(&in->fd))
		goto out;
	sb = &rs->b.sb;
	memcpy(sb->uuid, in->sb.uuid, sizeof(sb->uuid));
	memcpy(sb->hash_name, in->sb.hash_name, sizeof(sb->hash_name));
	sb->flags = in->sb.flags;
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
	if (in->have_counters && (in->json_mapped != in->fd.mapped ||
				  in->json_zero != in->fd.zero ||
				  in->json_unique != in->fd.unique))
		fprintf(stderr, "dedup_restore: note: the dump's counters (mapped %llu, zero %llu, unique %llu) differ from its lists; the lists are written\n",
			(unsigned long long)in->json_mapped,
			(unsigned long long)in->json_zero,
			(unsigned long long)in->json_unique);
	if (dd_builder_finish(&rs->b))
		goto out;
	r = 0;
out:
	if (f != stdin)
		fclose(f);
	dd_json_free(j);
	if (r)
		r = j->error || rs->b.full ? 1 : 2;
	free(in);
	return r;
}

/* ------------------------------------------------------------------ */

static void print_help(FILE *f)
{
	fprintf(f,
		"Usage: dedup_restore -o <metadata device or image> [options]\n"
		"  -i, --input <file>        a dedup_dump --format json --mappings document (- for stdin)\n"
		"      --generate            a generated image instead, from:\n"
		"        --data-blocks <N>   data device size in data blocks (default: --unique)\n"
		"        --block-size <B>    data block size, 4096..65536 (4096)\n"
		"        --hash <name>       sha256 | blake2b-256 | xxhash64 (sha256)\n"
		"        --unique <N>        distinct data blocks in use (PBNs 0..N-1)\n"
		"        --logical <N>       LBNs mapped to them (default: --unique)\n"
		"        --zero <N>          LBNs mapped to the zero block (0)\n"
		"        --random-lbns       LBNs spread over --lbn-space, PBNs shuffled\n"
		"        --lbn-space <N>     logical blocks to spread over (4 x LBNs)\n"
		"        --seed <N>          for --random-lbns and the uuid (1)\n"
		"        --data <file>       also write the data device (sparse)\n"
		"  -s, --metadata-size <size>  device size (bytes, or with K/M/G/T);\n"
		"                            default: the dump's, or what --generate needs\n"
		"      --uuid <uuid>         the superblock's uuid (--generate)\n"
		"      --fill <percent>      btree node fill (100)\n"
		"  -q, --quiet               no summary line\n"
		"  -h, --help                this text\n"
		"Exit status: 0 written, 1 inconsistent input or device too small, 2 usage or I/O error.\n");
}

static int parse_number(const char *opt, const char *arg, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-') {
		fprintf(stderr, "dedup_restore: %s wants a number\n", opt);
		return -1;
	}
	return 0;
}

static int parse_args(struct restore *rs, int argc, char **argv)
{
	enum { O_GEN = 256, O_DATA_BLOCKS, O_BS, O_HASH, O_UNIQUE, O_LOGICAL,
	       O_ZERO, O_RANDOM, O_SPACE, O_SEED, O_DATA, O_UUID, O_FILL };
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "input", required_argument, NULL, 'i' },
		{ "metadata-size", required_argument, NULL, 's' },
		{ "generate", no_argument, NULL, O_GEN },
		{ "data-blocks", required_argument, NULL, O_DATA_BLOCKS },
		{ "block-size", required_argument, NULL, O_BS },
		{ "hash", required_argument, NULL, O_HASH },
		{ "unique", required_argument, NULL, O_UNIQUE },
		{ "logical", required_argument, NULL, O_LOGICAL },
		{ "zero", required_argument, NULL, O_ZERO },
		{ "random-lbns", no_argument, NULL, O_RANDOM },
		{ "lbn-space", required_argument, NULL, O_SPACE },
		{ "seed", required_argument, NULL, O_SEED },
		{ "data", required_argument, NULL, O_DATA },
		{ "uuid", required_argument, NULL, O_UUID },
		{ "fill", required_argument, NULL, O_FILL },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct gen *g = &rs->g;
	bool have_logical = false, have_data = false;
	uint64_t v;
	uint8_t u[16];
	int o;

	g->block_size = 4096;
	g->alg = DD_HASH_SHA256;
	g->seed = 1;
	rs->fill = 100;
	while ((o = getopt_long(argc, argv, "o:i:s:qh", opts, NULL)) != -1) {
		switch (o) {
		case 'o':
			rs->output = optarg;
			break;
		case 'i':
			rs->input = optarg;
			break;
		case 's':
			if (parse_size(optarg, &rs->meta_blocks, DD_BLOCK_SIZE)) {
				fprintf(stderr, "dedup_restore: --metadata-size wants a size, a multiple of 4096 bytes\n");
				return -1;
			}
			break;
		case O_GEN:
			rs->generate = true;
			break;
		case O_DATA_BLOCKS:
			if (parse_number("--data-blocks", optarg, &g->data_blocks))
				return -1;
			have_data = true;
			break;
		case O_BS:
			if (parse_number("--block-size", optarg, &v))
				return -1;
			if (v < 4096 || v > 65536 || (v & (v - 1))) {
				fprintf(stderr, "dedup_restore: --block-size must be a power of two in 4096..65536\n");
				return -1;
			}
			g->block_size = v;
			break;
		case O_HASH:
			g->alg = dd_hash_lookup(optarg);
			if (g->alg == DD_HASH_NONE) {
				fprintf(stderr, "dedup_restore: unknown hash %s\n",
					optarg);
				return -1;
			}
			break;
		case O_UNIQUE:
			if (parse_number("--unique", optarg, &g->unique))
				return -1;
			break;
		case O_LOGICAL:
			if (parse_number("--logical", optarg, &g->logical))
				return -1;
			have_logical = true;
			break;
		case O_ZERO:
			if (parse_number("--zero", optarg, &g->zero))
				return -1;
			break;
		case O_RANDOM:
			g->random = true;
			break;
		case O_SPACE:
			if (parse_number("--lbn-space", optarg, &g->lbn_space))
				return -1;
			break;
		case O_SEED:
			if (parse_number("--seed", optarg, &g->seed))
				return -1;
			break;
		case O_DATA:
			g->data_path = optarg;
			break;
		case O_UUID:
			if (dd_uuid_parse(u, optarg)) {
				fprintf(stderr, "dedup_restore: bad --uuid\n");
				return -1;
			}
			rs->uuid = optarg;
			break;
		case O_FILL:
			if (parse_number("--fill", optarg, &v) || v < 1 || v > 100) {
				fprintf(stderr, "dedup_restore: --fill wants 1..100\n");
				return -1;
			}
			rs->fill = v;
			break;
		case 'q':
			rs->quiet = true;
			break;
		case 'h':
			print_help(stdout);
			exit(0);
		default:
			print_help(stderr);
			return -1;
		}
	}
	if (optind != argc || !rs->output || rs->generate == !!rs->input) {
		if (optind == argc && rs->output)
			fprintf(stderr, "dedup_restore: give one of --input and --generate\n");
		print_help(stderr);
		return -1;
	}
	if (!have_logical)
		g->logical = g->unique;
	if (!have_data)
		g->data_blocks = g->unique ? g->unique : 1;
	if (!g->data_blocks) {
		fprintf(stderr, "dedup_restore: --data-blocks must not be 0\n");
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct restore rs;
	struct timespec t0, t1;
	int status;

	pd_prog = "dedup_restore";
	memset(&rs, 0, sizeof(rs));
	if (parse_args(&rs, argc, argv))
		return 2;
	pd_log.progress = isatty(STDERR_FILENO);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	status = rs.generate ? generate(&rs) : restore_json(&rs);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (!status && !rs.quiet)
		printf("%s: %llu blocks of %u bytes, %llu written (region A %llu used, bulk %llu used) in %.1f s\n",
		       rs.output, (unsigned long long)rs.b.nr_blocks,
		       DD_BLOCK_SIZE, (unsigned long long)rs.b.w.blocks + 1,
		       (unsigned long long)rs.b.a_next,
		       (unsigned long long)rs.b.b_next,
		       (double)(t1.tv_sec - t0.tv_sec) +
		       (t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (rs.opened)
		dd_builder_close(&rs.b);
	return status;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * form.c - the JSON form of a dump (form.h): one table of the superblock
 * members, which dedup_dump writes and dedup_restore reads, and the list
 * elements both ways.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "dedup/form.h"

enum field_type {
	FT_U32,
	FT_U64,
	FT_CSUM,		/* "0x%08x" */
	FT_MAGIC,		/* "0x%016llx" */
	FT_NEEDS_CHECK,		/* true or false, from flags */
	FT_UUID,
	FT_HASH,		/* "unknown" if not known */
};

/* How dedup_restore takes a member. */
enum field_read {
	FR_SKIP,		/* a number is an unsigned integer or ignored */
	FR_NUMBER,		/* an unsigned integer, written as it is */
	FR_COUNTER,		/* as FR_SKIP, kept: the lists are counted */
	FR_STRING,		/* FT_UUID and FT_HASH, checked */
};

static const struct field {
	const char *key;
	bool counter;		/* in "counters", else "superblock" */
	enum field_type type;
	enum field_read read;
	size_t off;		/* in struct dedup_sb */
} fields[] = {
#define SB(f, t, r)	{ #f, false, t, r, offsetof(struct dedup_sb, f) }
#define N32(f)		SB(f, FT_U32, FR_NUMBER)
#define N64(f)		SB(f, FT_U64, FR_NUMBER)
#define S32(f)		SB(f, FT_U32, FR_SKIP)
#define S64(f)		SB(f, FT_U64, FR_SKIP)
#define CNT(f, r)	{ #f, true, FT_U64, r, offsetof(struct dedup_sb, f) }
	{ "csum", false, FT_CSUM, FR_SKIP, 0 },
	N32(flags),
	{ "needs_check", false, FT_NEEDS_CHECK, FR_SKIP,
	  offsetof(struct dedup_sb, flags) },
	SB(uuid, FT_UUID, FR_STRING), SB(magic, FT_MAGIC, FR_SKIP),
	N32(version), N32(incompat_flags), N32(compat_flags),
	N32(compat_ro_flags), S32(metadata_block_size),
	N32(data_block_size), N32(fp_size),
	{ "hash", false, FT_HASH, FR_STRING,
	  offsetof(struct dedup_sb, hash_name) },
	N64(data_nr_blocks), N64(metadata_nr_blocks), N64(transaction_id),
	S64(bulk_start), S64(bulk_nr_blocks), N64(alloc_cursor),
	S64(save_transaction_id), S64(save_entries), S32(save_shard_bits),
	S32(save_loc_bits),
	CNT(nr_mapped, FR_COUNTER), CNT(nr_zero, FR_COUNTER),
	CNT(nr_unique, FR_COUNTER), CNT(dedup_hits, FR_NUMBER),
	CNT(zero_writes, FR_NUMBER), CNT(commits, FR_NUMBER),
#undef CNT
#undef S64
#undef S32
#undef N64
#undef N32
#undef SB
};

/* The list elements' member names. */
static const char K_LBN[] = "lbn", K_PBN[] = "pbn", K_COUNT[] = "count";
static const char K_FP[] = "fp";

static uint32_t *u32_at(const struct dedup_sb *sb, const struct field *f)
{
	return (uint32_t *)((char *)sb + f->off);
}

static uint64_t *u64_at(const struct dedup_sb *sb, const struct field *f)
{
	return (uint64_t *)((char *)sb + f->off);
}

static void write_field(struct dd_jw *w, const struct field *f,
			const struct dd_super *s)
{
	char buf[37];

	switch (f->type) {
	case FT_U32:
		dd_jw_u64(w, f->key, *u32_at(&s->sb, f));
		break;
	case FT_U64:
		dd_jw_u64(w, f->key, *u64_at(&s->sb, f));
		break;
	case FT_CSUM:
		snprintf(buf, sizeof(buf), "0x%08x", s->csum);
		dd_jw_string(w, f->key, buf);
		break;
	case FT_MAGIC:
		snprintf(buf, sizeof(buf), "0x%016llx",
			 (unsigned long long)*u64_at(&s->sb, f));
		dd_jw_string(w, f->key, buf);
		break;
	case FT_NEEDS_CHECK:
		dd_jw_bool(w, f->key,
			   *u32_at(&s->sb, f) & DEDUP_SB_NEEDS_CHECK);
		break;
	case FT_UUID:
		dd_uuid_str(buf, s->sb.uuid);
		dd_jw_string(w, f->key, buf);
		break;
	case FT_HASH:
		dd_jw_string(w, f->key, s->alg != DD_HASH_NONE ?
			     dd_hash_name(s->alg) : "unknown");
		break;
	}
}

void dd_form_write_super(struct dd_jw *w, const struct dd_super *s)
{
	int counters;
	size_t i;

	for (counters = 0; counters < 2; counters++) {
		dd_jw_open(w, counters ? DD_FORM_COUNTERS : DD_FORM_SUPERBLOCK,
			   '{', false);
		for (i = 0; i < ARRAY_SIZE(fields); i++)
			if (fields[i].counter == counters)
				write_field(w, &fields[i], s);
		dd_jw_close(w);
	}
}

void dd_form_write_lbn(struct dd_jw *w, uint64_t lbn, uint64_t value)
{
	dd_jw_open(w, NULL, '{', true);
	dd_jw_u64(w, K_LBN, lbn);
	if (value == DEDUP_LBN_ZERO)
		dd_jw_null(w, K_PBN);
	else
		dd_jw_u64(w, K_PBN, value - DEDUP_LBN_PBN_BASE);
	dd_jw_close(w);
}

void dd_form_write_pbn(struct dd_jw *w, uint64_t pbn, uint32_t count,
		       const char *fp)
{
	dd_jw_open(w, NULL, '{', true);
	dd_jw_u64(w, K_PBN, pbn);
	dd_jw_u64(w, K_COUNT, count);
	dd_jw_string(w, K_FP, fp);
	dd_jw_close(w);
}

/* ------------------------------------------------------------------ */
/* reading */

static int read_string(struct dd_json *j, const struct field *f,
		       struct dedup_sb *sb)
{
	if (f->type == FT_UUID) {
		if (dd_uuid_parse(sb->uuid, j->buf)) {
			dd_json_fail(j, "bad uuid \"%s\"", j->buf);
			return -1;
		}
		return 0;
	}
	if (dd_hash_lookup(j->buf) == DD_HASH_NONE) {
		dd_json_fail(j, "unknown hash \"%s\"", j->buf);
		return -1;
	}
	strncpy(sb->hash_name, j->buf, sizeof(sb->hash_name) - 1);
	return 0;
}

int dd_form_read_super(struct dd_json *j, const char *key,
		       enum dd_json_tok t, struct dedup_sb *sb)
{
	const struct field *f = NULL;
	uint64_t v;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fields) && !f; i++)
		if (!strcmp(key, fields[i].key))
			f = &fields[i];
	if (f && f->read == FR_STRING && t == DD_J_STRING)
		return read_string(j, f, sb);
	if (t != DD_J_NUMBER)
		return dd_json_skip(j, t);
	if (!f || f->read != FR_NUMBER) {
		/* not a member of ours, or not one restored */
		if (strpbrk(j->buf, "-.eE"))
			return 0;
		if (dd_json_u64(j, &v))
			return -1;
		if (f && f->read == FR_COUNTER)
			*u64_at(sb, f) = v;
		return 0;
	}
	if (dd_json_u64(j, &v))
		return -1;
	if (f->type == FT_U32)
		*u32_at(sb, f) = v;
	else
		*u64_at(sb, f) = v;
	return 0;
}

int dd_form_read_elem(struct dd_json *j, uint32_t fp_size,
		      struct dd_form_elem *e)
{
	enum dd_json_tok t;
	char key[16];
	uint64_t v;
	int r;

	memset(e, 0, sizeof(*e));
	while ((r = dd_json_member(j, key, sizeof(key))) > 0) {
		t = dd_json_next(j);
		if (!strcmp(key, K_PBN) && t == DD_J_NULL) {
			e->has_pbn = e->pbn_null = true;
		} else if (!strcmp(key, K_FP) && t == DD_J_STRING) {
			if (strlen(j->buf) != 2 * fp_size ||
			    dd_unhex(e->fp, j->buf, fp_size)) {
				dd_json_fail(j, "fingerprint \"%s\" is not %u hex bytes",
					     j->buf, fp_size);
				return -1;
			}
			e->has_fp = true;
		} else if (t == DD_J_NUMBER && (!strcmp(key, K_LBN) ||
						!strcmp(key, K_PBN) ||
						!strcmp(key, K_COUNT))) {
			if (dd_json_u64(j, &v))
				return -1;
			if (!strcmp(key, K_LBN)) {
				e->lbn = v;
				e->has_lbn = true;
			} else if (!strcmp(key, K_PBN)) {
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
	return r;
}

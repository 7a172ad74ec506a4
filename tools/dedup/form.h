/* SPDX-License-Identifier: GPL-2.0 */
/*
 * form.h - the JSON form of a dump: what dedup_dump --format json writes
 * and dedup_restore --input reads back, defined once.
 *
 *   "superblock": {...}   the superblock's fields (and "needs_check")
 *   "counters": {...}     its counters
 *   "lbns": [{"lbn": L, "pbn": P or null}, ...]          (--mappings)
 *   "pbns": [{"pbn": P, "count": N, "fp": "hex"}, ...]   (--mappings)
 *
 * A reader takes the members of "superblock" and "counters" in any order
 * and in either object, skips members it does not know, and wants the
 * lists in ascending order, "lbns" before "pbns".
 */
#ifndef DEDUP_FORM_H
#define DEDUP_FORM_H

#include "dedup/dedup.h"
#include "dedup/json.h"

#define DD_FORM_SUPERBLOCK	"superblock"
#define DD_FORM_COUNTERS	"counters"
#define DD_FORM_LBNS		"lbns"
#define DD_FORM_PBNS		"pbns"

/* The "superblock" and "counters" members of s. */
void dd_form_write_super(struct dd_jw *w, const struct dd_super *s);
/* An "lbns" element; value: DEDUP_LBN_ZERO or PBN + DEDUP_LBN_PBN_BASE. */
void dd_form_write_lbn(struct dd_jw *w, uint64_t lbn, uint64_t value);
/* A "pbns" element; fp in hex, "" if none. */
void dd_form_write_pbn(struct dd_jw *w, uint64_t pbn, uint32_t count,
		       const char *fp);

/*
 * One member of "superblock" or "counters", named key, whose value starts
 * with token t, into sb: the fields dedup_restore writes as they are (the
 * counters too: the restorer counts its lists), the hash and uuid
 * checked; the other members are skipped.  -1 reported.
 */
int dd_form_read_super(struct dd_json *j, const char *key,
		       enum dd_json_tok t, struct dedup_sb *sb);

/* The members of an "lbns" or "pbns" element. */
struct dd_form_elem {
	uint64_t lbn, pbn, count;
	bool has_lbn, has_pbn, pbn_null, has_count, has_fp;
	uint8_t fp[DEDUP_MAX_FP_SIZE];
};

/* An element whose '{' was read; fingerprints of fp_size bytes. */
int dd_form_read_elem(struct dd_json *j, uint32_t fp_size,
		      struct dd_form_elem *e);

#endif /* DEDUP_FORM_H */

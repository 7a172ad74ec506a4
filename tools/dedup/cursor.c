// SPDX-License-Identifier: GPL-2.0
/*
 * cursor.c - reading an array's non-zero entries in index order, one
 * array block at a time.
 */
#include <string.h>

#include "dedup/dedup.h"

void dd_cursor_init(struct dd_cursor *cur, struct pd_ctx *c,
		    struct dd_array *a)
{
	memset(cur, 0, sizeof(*cur));
	cur->c = c;
	cur->a = a;
	cur->i = 0;
	cur->loaded = -1;
}

/* Makes block i current; false if it could not be read (reported). */
static bool load(struct dd_cursor *cur, size_t i)
{
	if (cur->loaded == (long)i)
		return cur->ok;
	cur->loaded = i;
	cur->ok = !dd_array_read(cur->c, cur->a, i, cur->blk);
	return cur->ok;
}

bool dd_cursor_next(struct dd_cursor *cur, uint64_t from, uint64_t *idx,
		    const uint8_t **entry)
{
	struct dd_array *a = cur->a;
	uint32_t es = a->entry_size;

	for (; cur->i < a->nr_blocks; cur->i++) {
		const struct dd_ablock *ab = &a->blocks[cur->i];
		uint64_t first = ab->bidx * a->per_block;
		uint32_t off = 0;

		if (ab->bidx > UINT64_MAX / a->per_block - 1)
			return false;
		if (first + a->per_block <= from)
			continue;
		if (from > first)
			off = from - first;
		if (!load(cur, cur->i))
			continue;
		for (; off < a->per_block; off++) {
			const uint8_t *e = cur->blk + DEDUP_ARRAY_HEADER_SIZE +
				(size_t)off * es;

			if (!pd_all_zero(e, es, NULL)) {
				*idx = first + off;
				*entry = e;
				cur->block = ab->loc;
				return true;
			}
		}
		from = first + a->per_block;
	}
	return false;
}

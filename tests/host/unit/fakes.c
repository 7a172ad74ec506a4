// SPDX-License-Identifier: GPL-2.0
/*
 * fakes.c - the functions of other module files that the allocator and
 * the index call: a published refcount array the tests control, and the
 * allocation fault switch.  Also the stand-ins for functions the old
 * sources lack (UNIT_COMPAT_*, set by tests/host/unit.sh).
 */
#include <stdio.h>
#include <stdlib.h>

#include "unit.h"

const struct unit_view *unit_published;
void (*unit_read_hook)(void *context, enum dedup_array_id id, u64 bidx);
void *unit_read_hook_context;
u64 unit_reads[DEDUP_NR_ARRAYS];
bool unit_fault_alloc;

void unit_fakes_reset(void)
{
	unit_published = NULL;
	unit_read_hook = NULL;
	unit_read_hook_context = NULL;
	memset(unit_reads, 0, sizeof(unit_reads));
	unit_fault_alloc = false;
}

struct unit_view *unit_view_new(u64 nr, u32 count)
{
	struct unit_view *v = malloc(sizeof(*v));
	u64 i;

	if (!v)
		abort();
	v->nr = nr;
	v->count = malloc((nr ? nr : 1) * sizeof(u32));
	if (!v->count)
		abort();
	for (i = 0; i < nr; i++)
		v->count[i] = count;
	return v;
}

struct unit_view *unit_view_copy(const struct unit_view *v)
{
	struct unit_view *c = unit_view_new(v->nr, 0);

	memcpy(c->count, v->count, v->nr * sizeof(u32));
	return c;
}

void unit_view_free(struct unit_view *v)
{
	if (v) {
		free(v->count);
		free(v);
	}
}

/*
 * Array block bidx as the published commit has it: of the refcount
 * array, from unit_published (after the hook had its say); of the other
 * arrays, zeroes.
 */
static int read_published(enum dedup_array_id id, u64 bidx, void *buf)
{
	__le32 *counts = buf;
	const struct unit_view *v;
	u64 first = bidx * DEDUP_REFCOUNTS_PER_BLOCK;
	u32 i;

	might_sleep();
	if (unit_read_hook)
		unit_read_hook(unit_read_hook_context, id, bidx);
	if (id < 0 || id >= DEDUP_NR_ARRAYS) {
		unit_shim_error("read of array %d", id);
		return -EINVAL;
	}
	unit_reads[id]++;
	memset(buf, 0, DEDUP_ARRAY_PAYLOAD);
	v = unit_published;
	if (id != DEDUP_A_REFCOUNT || !v)
		return 0;
	for (i = 0; i < DEDUP_REFCOUNTS_PER_BLOCK && first + i < v->nr; i++)
		counts[i] = cpu_to_le32(v->count[first + i]);
	return 0;
}

int unit_read_refcounts(void *context, u64 rc_block, void *buf)
{
	return read_published(DEDUP_A_REFCOUNT, rc_block, buf);
}

#ifdef UNIT_OLD_TREE
int dedup_meta_read_published(struct dedup_meta *md, enum dedup_array_id id,
			      u64 bidx, void *buf)
{
	return read_published(id, bidx, buf);
}
#else
void dedup_fault_delay(enum dedup_fault_point point)
{
}
#endif

bool dedup_fault_alloc(void)
{
	return unit_fault_alloc;
}

#ifdef UNIT_COMPAT_NO_DYING
/* The old allocator is not told of deaths. */
void dedup_alloc_dying(struct dedup_alloc *al, u64 pbn)
{
}
#endif

#ifdef UNIT_COMPAT_NO_BAD_SHARDS
/* The old index does not count bad shards. */
u64 dedup_index_bad_shards(struct dedup_index *idx)
{
	return 0;
}
#endif

#ifdef UNIT_COMPAT_NO_SORT
/* The old commit sorted with lib/sort: the same order, by qsort here. */
static size_t sort_key_off;

static int sort_cmp(const void *a, const void *b)
{
	u64 x = *(const u64 *)(*(const char *const *)a + sort_key_off);
	u64 y = *(const u64 *)(*(const char *const *)b + sort_key_off);

	return x < y ? -1 : x > y;
}

void dedup_sort_by_key(void **a, void **tmp, unsigned long n,
		       size_t key_off)
{
	sort_key_off = key_off;
	qsort(a, n, sizeof(*a), sort_cmp);
}
#endif

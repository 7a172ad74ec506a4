// SPDX-License-Identifier: GPL-2.0
/*
 * test-sort.c - unit tests of the commit's radix sort (dm-dedup-sort.c):
 * pointers to entries sorted by a u64 key inside them, checked against
 * qsort() on keys of every shape a generation has: random over all 64
 * bits, over a device's few low bits, in order, in reverse order (a
 * sequential writer's list, newest first), nearly in order, and sizes 0-2.
 */
#include <stdlib.h>

#include "unit.h"
#ifndef UNIT_COMPAT_NO_SORT
#include "dm-dedup-sort.h"
#endif

struct item {
	u64 other;
	u64 key;
};

static int cmp_u64(const void *a, const void *b)
{
	u64 x = *(const u64 *)a, y = *(const u64 *)b;

	return x < y ? -1 : x > y;
}

/* xorshift64*, so that every run sorts the same keys */
static u64 next_rand(u64 *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

enum shape { RANDOM, LOW_BITS, ASCENDING, DESCENDING, NEARLY };

/* n distinct keys of the shape, sorted by dedup_sort_by_key(). */
static void check_shape(unsigned long n, enum shape shape, u64 seed)
{
	struct item *it = calloc(n + 1, sizeof(*it));
	void **a = calloc(2 * n + 1, sizeof(void *));
	u64 *want = calloc(n + 1, sizeof(u64));
	unsigned long i, j, bad = 0;
	u64 s = seed;

	if (!it || !a || !want)
		abort();
	for (i = 0; i < n; i++) {
		switch (shape) {
		case RANDOM:
			it[i].key = next_rand(&s);
			break;
		case LOW_BITS:	/* 37 bits; i in the low ones keeps them distinct */
			it[i].key = (next_rand(&s) & 0xfffff) << 17 | i;
			break;
		case ASCENDING:
			it[i].key = 1000 + 3 * i;
			break;
		case DESCENDING:
			it[i].key = 1000 + 3 * (n - i);
			break;
		case NEARLY:
			it[i].key = 1000 + 3 * i;
			break;
		}
		it[i].other = ~it[i].key;
		a[i] = &it[i];
	}
	if (shape == NEARLY && n > 3)
		for (i = 0; i < n / 10 + 1; i++) {
			j = next_rand(&s) % (n - 1);
			swap(a[j], a[j + 1]);
		}
	/* RANDOM over 64 bits: a repeat would break "the keys must differ". */
	for (i = 0; i < n; i++)
		want[i] = ((struct item *)a[i])->key;
	qsort(want, n, sizeof(u64), cmp_u64);
	for (i = 1; i < n; i++)
		if (want[i] == want[i - 1])
			abort();

	dedup_sort_by_key(a, a + n, n, offsetof(struct item, key));
	for (i = 0; i < n; i++) {
		struct item *p = a[i];

		if (p->key != want[i] || p->other != ~p->key)
			bad++;
	}
	CHECK(!bad, "n %lu shape %d seed %llu: %lu entries out of place", n,
	      shape, (unsigned long long)seed, bad);
	free(it);
	free(a);
	free(want);
}

void test_sort_by_key(void)
{
	static const unsigned long sizes[] = {
		0, 1, 2, 3, 17, 255, 256, 257, 4096, 100003
	};
	unsigned int i, shape;

	for (i = 0; i < ARRAY_SIZE(sizes); i++)
		for (shape = RANDOM; shape <= NEARLY; shape++)
			check_shape(sizes[i], shape, 1 + i * 7 + shape);
}

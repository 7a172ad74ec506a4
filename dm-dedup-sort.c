// SPDX-License-Identifier: GPL-2.0
/*
 * Sorting a generation's entries by key, for the commit.
 */

/**
 * DOC: sorting
 *
 * The commit applies a generation's LBN and block entries in key order,
 * so that neighbouring entries share array blocks.  A generation holds a
 * commit period's writes, thousands to hundreds of thousands of entries,
 * and lib/sort's heapsort spent a quarter of the committer's CPU on them
 * (n log n comparisons through a function pointer).  This is a least
 * significant digit radix sort of the pointers by their u64 key, 8 bits
 * a pass, over only the bits in which the keys differ: 3-4 passes of two
 * reads of each key for a device of up to 2^32 blocks, and none for
 * entries already in order (a sequential writer's, newest first, are in
 * reverse order).
 */
#include <linux/kernel.h>
#include <linux/string.h>

#include "dm-dedup-sort.h"

#define DIGIT_BITS	8
#define DIGITS		(1U << DIGIT_BITS)

static inline u64 key_of(const void *p, size_t key_off)
{
	return *(const u64 *)((const char *)p + key_off);
}

/* True if a is in order, after reversing it if it was in reverse order. */
static bool in_order(void **a, unsigned long n, size_t key_off)
{
	unsigned long i;
	bool up = true, down = true;

	for (i = 1; i < n && (up || down); i++) {
		u64 prev = key_of(a[i - 1], key_off), k = key_of(a[i], key_off);

		up &= prev < k;
		down &= prev > k;
	}
	if (up)
		return true;
	if (!down)
		return false;
	for (i = 0; i < n / 2; i++)
		swap(a[i], a[n - 1 - i]);
	return true;
}

void dedup_sort_by_key(void **a, void **tmp, unsigned long n,
		       size_t key_off)
{
	u32 pos[DIGITS];
	void **src = a, **dst = tmp;
	unsigned int shift, d;
	unsigned long i;
	u64 first, differ = 0;
	u32 sum;

	if (n < 2 || in_order(a, n, key_off))
		return;
	first = key_of(a[0], key_off);
	for (i = 1; i < n; i++)
		differ |= key_of(a[i], key_off) ^ first;
	for (shift = 0; shift < 64 && (differ >> shift); shift += DIGIT_BITS) {
		if (!((differ >> shift) & (DIGITS - 1)))
			continue;
		memset(pos, 0, sizeof(pos));
		for (i = 0; i < n; i++)
			pos[(key_of(src[i], key_off) >> shift) & (DIGITS - 1)]++;
		for (d = 0, sum = 0; d < DIGITS; d++) {
			u32 c = pos[d];

			pos[d] = sum;
			sum += c;
		}
		for (i = 0; i < n; i++)
			dst[pos[(key_of(src[i], key_off) >> shift) &
				(DIGITS - 1)]++] = src[i];
		swap(src, dst);
	}
	if (src != a)
		memcpy(a, src, n * sizeof(*a));
}

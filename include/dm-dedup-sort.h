/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-sort.h - sorting a generation's entries by their key
 * (dm-dedup-sort.c), for the commit (dm-dedup-cow-commit.c).
 */
#ifndef DM_DEDUP_SORT_H
#define DM_DEDUP_SORT_H

#include <linux/types.h>

/*
 * Sorts the n (< 2^32) pointers of a by the u64 at byte offset key_off of
 * what each points at, smallest first; tmp has room for n pointers.
 * Equal keys keep their order, unless the whole run was in strictly
 * descending order.  O(n) for a run already in order either way.
 */
void dedup_sort_by_key(void **a, void **tmp, unsigned long n,
		       size_t key_off);

#endif

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dm-dedup-fault.h - test-only fault injection (dm-dedup-fault.c): module
 * parameters, all off by default, read by every floor of the module.
 */
#ifndef DM_DEDUP_FAULT_H
#define DM_DEDUP_FAULT_H

#include <linux/types.h>

enum dedup_fault_point {
	DEDUP_FAULT_RELEASE,		/* before freed blocks are released */
	DEDUP_FAULT_PUBLISH,		/* between a commit and its publish */
	DEDUP_FAULT_APPLY,		/* between a commit's apply and flush */
	DEDUP_FAULT_GEN_ALLOC,		/* a generation entry's allocation */
	DEDUP_FAULT_OPEN_ALLOC,		/* the first allocation of an open */
	DEDUP_FAULT_ALLOC_READ,		/* between a window's refcount reads */
	DEDUP_FAULT_ADMIT,		/* between asking for room and waiting */
	DEDUP_FAULT_MAP_MISS,		/* map()'s lookup of a read's mappings */
};

/* True when this allocation, one that has a fallback, must fail. */
bool dedup_fault_alloc(void);
void dedup_fault_delay(enum dedup_fault_point point);
/* True when the allocation at point must fail. */
bool dedup_fault_fail(enum dedup_fault_point point);
/* The reserve of a pool that would have size entries. */
unsigned int dedup_fault_pool_size(unsigned int size);
/* The most readers' copies of lbn array blocks, max by default. */
unsigned int dedup_fault_copies_max(unsigned int max);
/* True when the block at data must hash to all zeroes. */
bool dedup_fault_zero_fp(const void *data);
/* The most times a block may be shared. */
u32 dedup_fault_refcount_limit(void);

#endif /* DM_DEDUP_FAULT_H */

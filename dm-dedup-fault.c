// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only fault injection: module parameters that let the VM tests reach
 * paths no device target can (allocation failures, a slow release of freed
 * blocks, a slow publish, the reference count limit).  All are 0 (off) by
 * default and cost a READ_ONCE when off.
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/module.h>

#include "dm-dedup.h"

static unsigned int test_fail_alloc;
module_param(test_fail_alloc, uint, 0644);
MODULE_PARM_DESC(test_fail_alloc,
		 "Testing only: fail every Nth allocation that has a fallback (0: never)");

static unsigned int test_release_delay_ms;
module_param(test_release_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_release_delay_ms,
		 "Testing only: wait this long before returning freed data blocks to the allocator");

static unsigned int test_publish_delay_ms;
module_param(test_publish_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_publish_delay_ms,
		 "Testing only: wait this long between a commit and its publication");

static unsigned int test_refcount_limit;
module_param(test_refcount_limit, uint, 0644);
MODULE_PARM_DESC(test_refcount_limit,
		 "Testing only: share a block at most this many times (0: 2^32 - 1)");

static atomic_t alloc_calls = ATOMIC_INIT(0);

/* How many allocations test_fail_alloc failed (read only). */
static unsigned int test_failed_allocs;
module_param(test_failed_allocs, uint, 0444);
MODULE_PARM_DESC(test_failed_allocs,
		 "Testing only: allocations failed by test_fail_alloc so far");

bool dedup_fault_alloc(void)
{
	unsigned int n = READ_ONCE(test_fail_alloc);

	if (!n || atomic_inc_return(&alloc_calls) % n)
		return false;
	WRITE_ONCE(test_failed_allocs, test_failed_allocs + 1);
	return true;
}

void dedup_fault_delay(enum dedup_fault_point point)
{
	unsigned int ms = point == DEDUP_FAULT_RELEASE ?
		READ_ONCE(test_release_delay_ms) :
		READ_ONCE(test_publish_delay_ms);

	if (ms)
		msleep(ms);
}

u32 dedup_fault_refcount_limit(void)
{
	unsigned int limit = READ_ONCE(test_refcount_limit);

	return limit ?: U32_MAX;
}

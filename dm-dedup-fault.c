// SPDX-License-Identifier: GPL-2.0
/*
 * Test-only fault injection: module parameters that let the VM tests reach
 * paths no device target can (allocation failures, a slow release of freed
 * blocks, a slow apply or publish, the reference count limit, exhausted
 * entry pools, a fingerprint of all zeroes, reads whose mappings map()
 * never has, few readers' copies).  All are 0 (off) by default and cost
 * a READ_ONCE when off.
 */
#include <linux/atomic.h>
#include <linux/delay.h>
#include <linux/module.h>
#include <linux/string.h>

#include "dm-dedup-fault.h"

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

static unsigned int test_apply_delay_ms;
module_param(test_apply_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_apply_delay_ms,
		 "Testing only: wait this long between a commit's apply and its flush of the data device");

static unsigned int test_admit_delay_ms;
module_param(test_admit_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_admit_delay_ms,
		 "Testing only: wait this long between asking for a commit for metadata room and waiting for it");

static unsigned int test_refcount_limit;
module_param(test_refcount_limit, uint, 0644);
MODULE_PARM_DESC(test_refcount_limit,
		 "Testing only: share a block at most this many times (0: 2^32 - 1)");

static unsigned int test_alloc_read_delay_ms;
module_param(test_alloc_read_delay_ms, uint, 0644);
MODULE_PARM_DESC(test_alloc_read_delay_ms,
		 "Testing only: wait this long between the refcount blocks an allocator window reads");

static unsigned int test_pool_size;
module_param(test_pool_size, uint, 0644);
MODULE_PARM_DESC(test_pool_size,
		 "Testing only: reserve of the generation entry pools, at least 3, read at create (0: default)");

static unsigned int test_read_copies;
module_param(test_read_copies, uint, 0644);
MODULE_PARM_DESC(test_read_copies,
		 "Testing only: keep at most this many readers' copies of lbn array blocks, read at create (0: default)");

static bool test_fail_gen_alloc;
module_param(test_fail_gen_alloc, bool, 0644);
MODULE_PARM_DESC(test_fail_gen_alloc,
		 "Testing only: generation entries come only from the pools' reserves");

static bool test_fail_open_alloc;
module_param(test_fail_open_alloc, bool, 0644);
MODULE_PARM_DESC(test_fail_open_alloc,
		 "Testing only: opening the metadata fails its first allocation");

static bool test_map_miss;
module_param(test_map_miss, bool, 0644);
MODULE_PARM_DESC(test_map_miss,
		 "Testing only: a read's mappings are never in memory in map()");

static bool test_zero_fp;
module_param(test_zero_fp, bool, 0644);
MODULE_PARM_DESC(test_zero_fp,
		 "Testing only: blocks that begin with \"DEDUP-ZERO-FP\" hash to all zeroes");

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
	unsigned int ms;

	switch (point) {
	case DEDUP_FAULT_RELEASE:
		ms = READ_ONCE(test_release_delay_ms);
		break;
	case DEDUP_FAULT_PUBLISH:
		ms = READ_ONCE(test_publish_delay_ms);
		break;
	case DEDUP_FAULT_APPLY:
		ms = READ_ONCE(test_apply_delay_ms);
		break;
	case DEDUP_FAULT_ALLOC_READ:
		ms = READ_ONCE(test_alloc_read_delay_ms);
		break;
	case DEDUP_FAULT_ADMIT:
		ms = READ_ONCE(test_admit_delay_ms);
		break;
	default:
		ms = 0;
	}

	if (ms)
		msleep(ms);
}

bool dedup_fault_fail(enum dedup_fault_point point)
{
	switch (point) {
	case DEDUP_FAULT_GEN_ALLOC:
		return READ_ONCE(test_fail_gen_alloc);
	case DEDUP_FAULT_OPEN_ALLOC:
		return READ_ONCE(test_fail_open_alloc);
	case DEDUP_FAULT_MAP_MISS:
		return READ_ONCE(test_map_miss);
	default:
		return false;
	}
}

unsigned int dedup_fault_pool_size(unsigned int size)
{
	unsigned int n = READ_ONCE(test_pool_size);

	return n ? max(n, 3U) : size;
}

unsigned int dedup_fault_copies_max(unsigned int max)
{
	return READ_ONCE(test_read_copies) ?: max;
}

bool dedup_fault_zero_fp(const void *data)
{
	static const char magic[] = "DEDUP-ZERO-FP";

	return READ_ONCE(test_zero_fp) &&
		!memcmp(data, magic, sizeof(magic) - 1);
}

u32 dedup_fault_refcount_limit(void)
{
	unsigned int limit = READ_ONCE(test_refcount_limit);

	return limit ?: U32_MAX;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_debug_seed - a test-only module with deliberate bugs, for proving
 * that make check-debug catches them on the lockdep + KASAN + kmemleak
 * kernel. It is never installed and never built for make check.
 *
 * Load with bug=<name> to commit one bug at load time:
 *   lockdep  take two mutexes in A-B order, then in B-A order (no real
 *            deadlock: one thread; lockdep reports the inverted order)
 *   uaf      read a byte of a kmalloc()ed buffer after kfree() (KASAN)
 *   leak     kmalloc() a buffer and drop the only pointer (kmemleak)
 * With no parameter (the default) it loads and unloads cleanly, which is
 * the control case.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/sched/task_stack.h>
#include <linux/slab.h>
#include <linux/string.h>

static char *bug = "";
module_param(bug, charp, 0444);
MODULE_PARM_DESC(bug, "Deliberate bug to commit at load: lockdep, uaf or leak");

static DEFINE_MUTEX(seed_lock_a);
static DEFINE_MUTEX(seed_lock_b);

static void seed_lockdep(void)
{
	mutex_lock(&seed_lock_a);
	mutex_lock(&seed_lock_b);
	mutex_unlock(&seed_lock_b);
	mutex_unlock(&seed_lock_a);

	mutex_lock(&seed_lock_b);
	mutex_lock(&seed_lock_a);
	mutex_unlock(&seed_lock_a);
	mutex_unlock(&seed_lock_b);
}

static int seed_uaf(void)
{
	char *p;
	char c;

	p = kmalloc(64, GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	memset(p, 0x5a, 64);
	kfree(p);
	/* Keep the compiler from reasoning about the freed pointer. */
	OPTIMIZER_HIDE_VAR(p);
	c = READ_ONCE(p[8]);
	pr_info("dedup_debug_seed: read 0x%02x from freed memory\n",
		(unsigned char)c);
	return 0;
}

/*
 * Larger than any kmalloc cache, so the buffer comes from the page
 * allocator: no slab neighbour can keep a stale free-list pointer to it that
 * kmemleak would take for a reference.
 */
#define SEED_LEAK_SIZE (4 * PAGE_SIZE)

static noinline int seed_leak(void)
{
	void *p;

	p = kmalloc(SEED_LEAK_SIZE, GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	memset(p, 0xa5, SEED_LEAK_SIZE);
	/* The fill must happen: it is how the report is recognised. */
	barrier_data(p);
	return 0;
}

/*
 * kmemleak scans whole thread stacks, their dead parts included, and
 * modprobe's stack is cached for the next task when it exits: a copy of the
 * pointer that kmalloc()'s callees left below our frame could hide the leak
 * until that stack is reused. Zero the unused part of the stack, from just
 * below our stack pointer down to (not including) the end-of-stack magic.
 * No calls in here, and no KASAN checks: dead stack may carry stale poison.
 */
static noinline __no_sanitize_address void seed_scrub_stack(void)
{
	unsigned long *end = end_of_stack(current);
	unsigned long *w = (unsigned long *)current_stack_pointer;

	while (--w > end)
		WRITE_ONCE(*w, 0);
}

static int __init dedup_debug_seed_init(void)
{
	int ret = 0;

	pr_info("dedup_debug_seed: loaded, bug='%s'\n", bug);
	if (!strcmp(bug, "lockdep")) {
		seed_lockdep();
	} else if (!strcmp(bug, "uaf")) {
		ret = seed_uaf();
	} else if (!strcmp(bug, "leak")) {
		ret = seed_leak();
		seed_scrub_stack();
		pr_info("dedup_debug_seed: leaked %lu bytes\n", SEED_LEAK_SIZE);
	} else if (bug[0]) {
		ret = -EINVAL;
	}
	return ret;
}

static void __exit dedup_debug_seed_exit(void)
{
	pr_info("dedup_debug_seed: unloaded\n");
}

module_init(dedup_debug_seed_init);
module_exit(dedup_debug_seed_exit);

MODULE_DESCRIPTION("dm-dedup check-debug self-test: deliberate lockdep, KASAN and kmemleak bugs");
MODULE_LICENSE("GPL");

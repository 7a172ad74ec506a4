// SPDX-License-Identifier: GPL-2.0
/*
 * dedup_warn_test - a test-only module for the dm-dedup test harness.
 *
 * Loading it with warn=1 triggers one WARN_ON(1). The harness self-test
 * (make check-harness) loads it that way and requires the harness to notice
 * the warning in dmesg and report the test "not ok". With warn=0 it loads
 * silently, which the self-test uses as the control case.
 *
 * It is never installed and is not part of dm-dedup.ko.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/bug.h>

static bool warn;
module_param(warn, bool, 0444);
MODULE_PARM_DESC(warn, "Trigger WARN_ON(1) at load time");

static int __init dedup_warn_test_init(void)
{
	pr_info("dedup_warn_test: loaded, warn=%d\n", warn);
	WARN_ON(warn);
	return 0;
}

static void __exit dedup_warn_test_exit(void)
{
	pr_info("dedup_warn_test: unloaded\n");
}

module_init(dedup_warn_test_init);
module_exit(dedup_warn_test_exit);

MODULE_DESCRIPTION("dm-dedup harness self-test: deliberate WARN_ON");
MODULE_LICENSE("GPL");

// SPDX-License-Identifier: GPL-2.0
/*
 * main.c - runs the unit tests of dm-dedup-alloc.c, dm-dedup-index.c and
 * dm-dedup-sort.c.
 *
 *   unit --list        the names of the tests, one a line
 *   unit NAME...       runs those tests (tests/host/unit.sh runs each in a
 *                      process of its own); no NAME: all of them
 *
 * Prints "ok - NAME" or "FAIL - NAME (why)" per test and exits 1 if any
 * failed, 2 on a bad argument.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "unit.h"

struct unit_test {
	const char *name;
	void (*run)(void);
};

static const struct unit_test tests[] = {
	{ "alloc-window-spans-publishes", test_alloc_window_spans_publishes },
	{ "alloc-commit-during-read", test_alloc_commit_during_read },
	{ "alloc-release-during-read", test_alloc_release_during_read },
	{ "alloc-pending-chunks-not-read", test_alloc_pending_chunks_not_read },
	{ "alloc-used-disagrees", test_alloc_used_disagrees },
	{ "alloc-release-warns", test_alloc_release_warns },
	{ "alloc-basics", test_alloc_basics },
	{ "index-ondemand-vs-all-loaded", test_index_ondemand_vs_all_loaded },
	{ "index-bad-saved-shard", test_index_bad_saved_shard },
	{ "index-changes-before-load", test_index_changes_before_load },
	{ "index-basics", test_index_basics },
	{ "index-save-load", test_index_save_load },
	{ "sort-by-key", test_sort_by_key },
};

static unsigned int checks_failed;

bool unit_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return true;
	checks_failed++;
	printf("  check failed at %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	return false;
}

bool unit_check_eq(long long got, long long want, const char *file, int line,
		   const char *what)
{
	return unit_check(got == want, file, line, "%s: got %lld, expected %lld",
			  what, got, want);
}

static const struct {
	int e;
	const char *name;
} errnames[] = {
	{ EAGAIN, "-EAGAIN" }, { ENOSPC, "-ENOSPC" }, { EILSEQ, "-EILSEQ" },
	{ ENOMEM, "-ENOMEM" }, { ERANGE, "-ERANGE" }, { EINVAL, "-EINVAL" },
	{ EIO, "-EIO" }, { ENODATA, "-ENODATA" }, { EFBIG, "-EFBIG" },
};

/* A buffer for a short string, good for the next few calls. */
static char *scratch(void)
{
	static char bufs[4][32];
	static unsigned int next;

	return bufs[next++ % ARRAY_SIZE(bufs)];
}

const char *unit_errname(int r)
{
	char *b = scratch();
	size_t i;

	for (i = 0; i < ARRAY_SIZE(errnames); i++)
		if (r == -errnames[i].e)
			return errnames[i].name;
	snprintf(b, 32, "%d", r);
	return b;
}

const char *unit_result(int r, u64 pbn)
{
	char *b = scratch();

	if (r)
		return unit_errname(r);
	snprintf(b, 32, "PBN %llu", pbn);
	return b;
}

void unit_note(const char *fmt, ...)
{
	va_list ap;

	printf("  ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* Runs one test from a clean state; true if it passed. */
static bool run(const struct unit_test *t)
{
	char why[160] = "";
	int n = 0;

	unit_fakes_reset();
	unit_warnings = 0;
	unit_messages = 0;
	unit_shim_errors = 0;
	unit_allocations = 0;
	checks_failed = 0;
	printf("# %s\n", t->name);
	t->run();
	if (checks_failed)
		n += snprintf(why + n, sizeof(why) - n, "%u check(s) failed; ",
			      checks_failed);
	if (unit_shim_errors)
		n += snprintf(why + n, sizeof(why) - n, "%lu shim error(s); ",
			      unit_shim_errors);
	if (unit_allocations)
		n += snprintf(why + n, sizeof(why) - n,
			      "%ld allocation(s) never freed; ",
			      unit_allocations);
	if (n)
		why[n - 2] = 0;
	if (why[0])
		printf("FAIL - %s (%s)\n", t->name, why);
	else
		printf("ok - %s\n", t->name);
	return !why[0];
}

static const struct unit_test *find(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(tests); i++)
		if (!strcmp(tests[i].name, name))
			return &tests[i];
	return NULL;
}

int main(int argc, char **argv)
{
	const struct unit_test *t;
	int i, failed = 0;
	size_t j;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 2 && !strcmp(argv[1], "--list")) {
		for (j = 0; j < ARRAY_SIZE(tests); j++)
			printf("%s\n", tests[j].name);
		return 0;
	}
	if (argc == 1) {
		for (j = 0; j < ARRAY_SIZE(tests); j++)
			failed += !run(&tests[j]);
		return failed ? 1 : 0;
	}
	for (i = 1; i < argc; i++) {
		t = find(argv[i]);
		if (!t) {
			fprintf(stderr, "unit: no test %s (--list)\n", argv[i]);
			return 2;
		}
		failed += !run(t);
	}
	return failed ? 1 : 0;
}

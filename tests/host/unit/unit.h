/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unit.h - the host unit-test harness of dm-dedup-alloc.c and
 * dm-dedup-index.c (tests/host/unit.sh builds them unchanged against the
 * kernel shim in include/, and runs each test in a process of its own).
 *
 * Checks do not stop a test: each failed one is printed and counted, and
 * a test passes when none failed, no shim error happened (include/
 * unit-kernel.h) and every allocation of the tested code was freed.
 */
#ifndef UNIT_H
#define UNIT_H

#ifdef UNIT_OLD_TREE
/* 85dc70f: one internal header; the allocator read through the metadata. */
#include "dm-dedup-meta-internal.h"
#define unit_alloc_create(nr, cursor)	dedup_alloc_create(NULL, nr, cursor)
#else
#include "dm-dedup-alloc.h"
#include "dm-dedup-array.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-index.h"
#define unit_alloc_create(nr, cursor) \
	dedup_alloc_create(nr, cursor, unit_read_refcounts, NULL)
#endif

/* The allocator's read callback (fakes.c): the fake published view. */
int unit_read_refcounts(void *context, u64 rc_block, void *buf);

/*
 * The old sources (before dedup_alloc_dying() and dedup_index_bad_shards()
 * existed) are built with these, from fakes.c, so that the tests can show
 * how they failed there.
 */
#ifdef UNIT_COMPAT_NO_DYING
void dedup_alloc_dying(struct dedup_alloc *al, u64 pbn);
#endif
#ifdef UNIT_COMPAT_NO_BAD_SHARDS
u64 dedup_index_bad_shards(struct dedup_index *idx);
#endif
#ifdef UNIT_COMPAT_NO_SORT
void dedup_sort_by_key(void **a, void **tmp, unsigned long n,
		       size_t key_off);
#endif

/* Checks (main.c); both return whether the check passed. */
bool __printf(4, 5) unit_check(bool ok, const char *file, int line,
			       const char *fmt, ...);
bool unit_check_eq(long long got, long long want, const char *file, int line,
		   const char *what);
void __printf(1, 2) unit_note(const char *fmt, ...);
/* For messages: r as an errno name ("-EAGAIN") or a number ... */
const char *unit_errname(int r);
/* ... or, when r is 0, "PBN pbn". */
const char *unit_result(int r, u64 pbn);

#define CHECK(cond, fmt, ...) \
	unit_check(!!(cond), __FILE__, __LINE__, fmt, ##__VA_ARGS__)
#define CHECK_EQ(got, want) \
	unit_check_eq((long long)(got), (long long)(want), __FILE__, __LINE__, \
		      #got " == " #want)

/*
 * The fake published refcount array that unit_read_refcounts() (fakes.c)
 * reads: count[pbn] for pbn < nr, zero beyond.  NULL: all zero.
 */
struct unit_view {
	u32 *count;
	u64 nr;
};

extern const struct unit_view *unit_published;
/* Called before each read; may change unit_published, or anything. */
extern void (*unit_read_hook)(void *context, enum dedup_array_id id,
			      u64 bidx);
extern void *unit_read_hook_context;
/* Reads so far, per array. */
extern u64 unit_reads[DEDUP_NR_ARRAYS];
/* What dedup_fault_alloc() returns. */
extern bool unit_fault_alloc;

struct unit_view *unit_view_new(u64 nr, u32 count);
struct unit_view *unit_view_copy(const struct unit_view *v);
void unit_view_free(struct unit_view *v);
/* Forgets the fake's state (hook, view, counters): between tests. */
void unit_fakes_reset(void);

/* The tests */
void test_alloc_window_spans_publishes(void);
void test_alloc_commit_during_read(void);
void test_alloc_release_during_read(void);
void test_alloc_pending_chunks_not_read(void);
void test_alloc_used_disagrees(void);
void test_alloc_release_warns(void);
void test_alloc_basics(void);
void test_index_ondemand_vs_all_loaded(void);
void test_index_bad_saved_shard(void);
void test_index_changes_before_load(void);
void test_index_basics(void);
void test_index_save_load(void);
void test_sort_by_key(void);

#endif /* UNIT_H */

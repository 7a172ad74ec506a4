// SPDX-License-Identifier: GPL-2.0
/*
 * test-alloc.c - unit tests of the data block allocator (dm-dedup-alloc.c).
 *
 * The tests play the committer: dedup_alloc_dying() when a block's count
 * reaches zero in the working transaction, a new unit_published view when
 * a commit is published, dedup_alloc_put(pbn, true) when the commit that
 * freed pbn is durable.  struct holder plays the writers, and checks that
 * no block is handed out while another writer holds it.
 */
#include <stdlib.h>

#include "unit.h"

#define RC_PER_BLOCK	DEDUP_REFCOUNTS_PER_BLOCK

/* The blocks that writers hold: handed out by get, not given back. */
struct holder {
	bool *held;
	u64 nr;
};

static void holder_init(struct holder *h, u64 nr)
{
	h->nr = nr;
	h->held = calloc(nr, sizeof(bool));
	if (!h->held)
		abort();
}

static void holder_free(struct holder *h)
{
	free(h->held);
}

/*
 * An allocator of v->nr blocks, with v published and used[] of each chunk
 * as v has it (as the summary array would say); NULL if it cannot be
 * created.  h is ready either way.
 */
static struct dedup_alloc *alloc_new(const struct unit_view *v,
				     struct holder *h)
{
	struct dedup_alloc *al;
	u64 c, i;
	u32 used;

	unit_published = v;
	holder_init(h, v->nr);
	al = unit_alloc_create(v->nr, 0);
	if (!CHECK(al, "dedup_alloc_create failed"))
		return NULL;
	for (c = 0; c * DEDUP_CHUNK_BLOCKS < v->nr; c++) {
		used = 0;
		for (i = c * DEDUP_CHUNK_BLOCKS;
		     i < v->nr && i < (c + 1) * DEDUP_CHUNK_BLOCKS; i++)
			used += !!v->count[i];
		dedup_alloc_set_used(al, c, used);
	}
	return al;
}

static void alloc_done(struct dedup_alloc *al, struct holder *h)
{
	if (al)
		dedup_alloc_destroy(al);
	holder_free(h);
}

/* A view of nr blocks, the first live ones with count 1. */
static struct unit_view *view_live(u64 nr, u64 live)
{
	struct unit_view *v = unit_view_new(nr, 0);
	u64 i;

	for (i = 0; i < live; i++)
		v->count[i] = 1;
	return v;
}

/* dedup_alloc_get(), checking that the block is not held already. */
static int get(struct dedup_alloc *al, struct holder *h, u64 *pbn)
{
	int r = dedup_alloc_get(al, pbn);

	if (r)
		return r;
	if (!CHECK(*pbn < h->nr, "PBN %llu beyond the data device", *pbn))
		return -ERANGE;
	CHECK(!h->held[*pbn], "PBN %llu handed out a second time while held",
	      *pbn);
	h->held[*pbn] = true;
	return 0;
}

/*
 * Gets blocks until get fails; each of want[] (nr_want PBNs) not held yet
 * must be handed out once and nothing else, then the failure must be
 * -ENOSPC.
 */
static void get_all(struct dedup_alloc *al, struct holder *h, const u64 *want,
		    int nr_want)
{
	int n = 0, expect = 0, i, r;
	u64 pbn;

	for (i = 0; i < nr_want; i++)
		expect += !h->held[want[i]];
	while (!(r = get(al, h, &pbn)) && n <= expect) {
		n++;
		for (i = 0; i < nr_want && want[i] != pbn; i++)
			;
		CHECK(i < nr_want, "PBN %llu handed out, not a free block",
		      pbn);
	}
	CHECK(n == expect, "%d blocks handed out, expected %d", n, expect);
	CHECK(r == -ENOSPC, "get after them: %s, expected -ENOSPC",
	      unit_result(r, pbn));
	for (i = 0; i < nr_want; i++)
		CHECK(h->held[want[i]], "free PBN %llu never handed out",
		      want[i]);
}

/*
 * The hook: refcount blocks below first_after are read from before, the
 * others from after.
 */
struct view_split {
	const struct unit_view *before, *after;
	u64 first_after;	/* refcount block index */
};

static void split_hook(void *context, enum dedup_array_id id, u64 bidx)
{
	struct view_split *s = context;

	if (id == DEDUP_A_REFCOUNT)
		unit_published = bidx < s->first_after ? s->before : s->after;
}

/*
 * Data loss race: a window load whose refcount blocks come from different
 * published commits.  One partial chunk, every block live; P (refcount
 * block 0) dies, its commit is published and P released; then Q (refcount
 * block 1) dies and its commit is published, but not yet released (its
 * discard may be in flight).  A window load now reads refcount block 0 as
 * it was before P died (P live) and block 1 as it is now (Q free): the
 * number of live blocks it counts equals used[0], yet Q is not free.  Q
 * must not be handed out until it is released; then P and Q are, once.
 */
void test_alloc_window_spans_publishes(void)
{
	const u64 nr = 2048, p = 100, q = RC_PER_BLOCK + 100;
	struct unit_view *v0, *v1, *v2;
	struct view_split split;
	struct dedup_alloc *al;
	struct holder h;
	u64 pbn = ~0ULL;
	int r;

	v0 = unit_view_new(nr, 1);
	al = alloc_new(v0, &h);
	if (!al)
		goto out;

	dedup_alloc_dying(al, p);
	v1 = unit_view_copy(v0);
	v1->count[p] = 0;
	unit_published = v1;
	dedup_alloc_put(al, p, true);

	dedup_alloc_dying(al, q);
	v2 = unit_view_copy(v1);
	v2->count[q] = 0;
	unit_published = v2;

	split = (struct view_split){ .before = v0, .after = v2, .first_after = 1 };
	unit_read_hook = split_hook;
	unit_read_hook_context = &split;
	r = get(al, &h, &pbn);
	CHECK(r == -EAGAIN,
	      "get while Q=%llu's release is pending: %s, expected -EAGAIN",
	      q, unit_result(r, pbn));
	unit_read_hook = NULL;
	unit_published = v2;

	dedup_alloc_put(al, q, true);
	get_all(al, &h, (u64 []){ p, q }, 2);
	CHECK_EQ(unit_warnings, 0);
	unit_view_free(v1);
	unit_view_free(v2);
out:
	alloc_done(al, &h);
	unit_view_free(v0);
}

/*
 * The committer at work while a window load reads the refcount blocks of
 * the one chunk (every block live but R): between the reads of refcount
 * blocks 0 and 1, P (in block 0) dies, its commit is published and P is
 * released; with q_dies, Q (in block 1) dies too and its commit is
 * published.  Q must not be handed out before its release.  Without Q,
 * the load counts P live (block 0 was read before), one more than used[0]
 * says: that is no inconsistency (-EILSEQ), since P was released during
 * the read.
 */
struct during_read {
	struct dedup_alloc *al;
	struct unit_view *v1, *v2;
	u64 p, q;
	bool q_dies;
	bool done;
};

static void commit_during_read(void *context, enum dedup_array_id id,
			       u64 bidx)
{
	struct during_read *d = context;

	if (id != DEDUP_A_REFCOUNT || bidx != 1 || d->done)
		return;
	d->done = true;
	dedup_alloc_dying(d->al, d->p);
	unit_published = d->v1;
	dedup_alloc_put(d->al, d->p, true);
	if (d->q_dies) {
		dedup_alloc_dying(d->al, d->q);
		unit_published = d->v2;
	}
}

static void during_read(bool q_dies)
{
	const u64 nr = 2048, p = 100, q = RC_PER_BLOCK + 100;
	const u64 r_pbn = 2 * RC_PER_BLOCK + 5;
	struct during_read d = { .p = p, .q = q, .q_dies = q_dies };
	struct unit_view *v0;
	struct holder h;
	u64 pbn = ~0ULL;
	int r;

	v0 = unit_view_new(nr, 1);
	v0->count[r_pbn] = 0;
	d.v1 = unit_view_copy(v0);
	d.v1->count[p] = 0;
	d.v2 = unit_view_copy(d.v1);
	d.v2->count[q] = 0;
	d.al = alloc_new(v0, &h);
	if (!d.al)
		goto out;

	unit_read_hook = commit_during_read;
	unit_read_hook_context = &d;
	r = get(d.al, &h, &pbn);
	unit_read_hook = NULL;
	CHECK(d.done, "get read no refcount block 1");
	if (q_dies) {
		CHECK(r == -EAGAIN,
		      "get with a commit during its read: %s, expected -EAGAIN (Q=%llu pending)",
		      unit_result(r, pbn), q);
		dedup_alloc_put(d.al, q, true);
		get_all(d.al, &h, (u64 []){ p, q, r_pbn }, 3);
	} else {
		CHECK(r == -EAGAIN || (!r && (pbn == p || pbn == r_pbn)),
		      "get with a release during its read: %s, expected -EAGAIN, PBN %llu or %llu",
		      unit_result(r, pbn), p, r_pbn);
		get_all(d.al, &h, (u64 []){ p, r_pbn }, 2);
	}
	CHECK_EQ(unit_warnings, 0);
out:
	alloc_done(d.al, &h);
	unit_view_free(v0);
	unit_view_free(d.v1);
	unit_view_free(d.v2);
}

void test_alloc_commit_during_read(void)
{
	during_read(true);
}

void test_alloc_release_during_read(void)
{
	during_read(false);
}

/*
 * 80 full chunks, each with one block free (released long ago) and one
 * dying (its commit published, its release pending): no chunk may be
 * loaded, and none is read to find that out.  Once chunk 0's dying block
 * is released, chunk 0 is loaded.
 */
void test_alloc_pending_chunks_not_read(void)
{
	const u64 chunks = 80, nr = chunks * DEDUP_CHUNK_BLOCKS;
	const u64 free_off = 7, dying_off = 5000;
	struct unit_view *v;
	struct dedup_alloc *al;
	struct holder h;
	u64 c, pbn = ~0ULL;
	int r;

	v = unit_view_new(nr, 1);
	for (c = 0; c < chunks; c++) {
		v->count[c * DEDUP_CHUNK_BLOCKS + free_off] = 0;
		v->count[c * DEDUP_CHUNK_BLOCKS + dying_off] = 0;
	}
	al = alloc_new(v, &h);
	for (c = 0; al && c < chunks; c++) {
		/* The dying block is in use until its release. */
		dedup_alloc_set_used(al, c, DEDUP_CHUNK_BLOCKS - 1);
		dedup_alloc_dying(al, c * DEDUP_CHUNK_BLOCKS + dying_off);
	}

	if (!al)
		goto out;
	r = get(al, &h, &pbn);
	CHECK(r == -EAGAIN, "get: %s, expected -EAGAIN", unit_result(r, pbn));
	CHECK(!unit_reads[DEDUP_A_REFCOUNT],
	      "get read %llu refcount blocks of %llu chunks with pending frees, expected none",
	      unit_reads[DEDUP_A_REFCOUNT], chunks);

	dedup_alloc_put(al, dying_off, true);
	r = get(al, &h, &pbn);
	CHECK(!r && (pbn == free_off || pbn == dying_off),
	      "get after chunk 0's release: %s, expected PBN %llu or %llu",
	      unit_result(r, pbn), free_off, dying_off);
	CHECK_EQ(unit_warnings, 0);
out:
	alloc_done(al, &h);
	unit_view_free(v);
}

/*
 * used[c] from the summary array says more (then fewer) blocks are in use
 * than the refcount array has, with no frees pending: the metadata is
 * inconsistent, and waiting for a commit would never help.
 */
static void used_disagrees(u32 used)
{
	const u64 nr = 2048, live = 2000;
	struct unit_view *v;
	struct dedup_alloc *al;
	struct holder h;
	u64 pbn = ~0ULL;
	int r;

	unit_note("used[0] = %u, %llu blocks live in the refcount array",
		  used, live);
	v = view_live(nr, live);
	al = alloc_new(v, &h);
	if (al) {
		dedup_alloc_set_used(al, 0, used);
		r = get(al, &h, &pbn);
		CHECK(r == -EILSEQ, "get: %s, expected -EILSEQ",
		      unit_result(r, pbn));
	}
	alloc_done(al, &h);
	unit_view_free(v);
}

void test_alloc_used_disagrees(void)
{
	used_disagrees(2047);
	used_disagrees(1990);
}

/*
 * A release (put, committed) of a block whose death was never announced
 * while its chunk has a window would free a block someone holds: it
 * WARNs, once.  An announced one does not.
 */
static struct dedup_alloc *loaded_window(struct unit_view **v,
					 struct holder *h, u64 *pbn)
{
	struct dedup_alloc *al;
	int r;

	*v = view_live(2048, 1000);
	al = alloc_new(*v, h);
	if (!al)
		return NULL;
	r = get(al, h, pbn);
	if (!CHECK(!r, "get: %s, expected a block", unit_errname(r))) {
		dedup_alloc_destroy(al);
		return NULL;
	}
	return al;
}

/*
 * Releases in a loaded window of 2048 blocks, the first 1000 live, after
 * one block x was handed out: of PBN 5 after its death was announced
 * (no WARN), and then a bogus one (exactly one WARN): of live PBN 10, of
 * x, or of PBN 10 while PBN 20's death is pending.
 */
enum bogus { BOGUS_LIVE, BOGUS_HANDED_OUT, BOGUS_OTHER_PENDING };

static void bogus_release(enum bogus kind)
{
	struct dedup_alloc *al;
	struct unit_view *v;
	struct holder h;
	u64 x, pbn = 10;

	unit_warnings = 0;
	al = loaded_window(&v, &h, &x);
	if (!al)
		goto out;
	dedup_alloc_dying(al, 5);
	dedup_alloc_put(al, 5, true);
	CHECK_EQ(unit_warnings, 0);
	if (kind == BOGUS_HANDED_OUT)
		pbn = x;
	if (kind == BOGUS_OTHER_PENDING)
		dedup_alloc_dying(al, 20);
	unit_note("release of PBN %llu, never announced%s", pbn,
		  kind == BOGUS_OTHER_PENDING ? ", PBN 20 pending" : "");
	dedup_alloc_put(al, pbn, true);
	CHECK_EQ(unit_warnings, 1);
out:
	alloc_done(al, &h);
	unit_view_free(v);
}

void test_alloc_release_warns(void)
{
	bogus_release(BOGUS_LIVE);
	bogus_release(BOGUS_HANDED_OUT);
	bogus_release(BOGUS_OTHER_PENDING);
}

/*
 * Sanity: two chunks (the second partial), every other block of the first
 * 3000 live.  Every free block is handed out once, then -ENOSPC; blocks
 * given back unused are handed out again; growing the device adds its
 * blocks to the partial chunk's window.  Nothing is published until the
 * end (blocks given back are ones never published).
 */
static u64 get_until_fail(struct dedup_alloc *al, struct holder *h, int *r)
{
	u64 n = 0, pbn;

	while (!(*r = get(al, h, &pbn)))
		n++;
	return n;
}

void test_alloc_basics(void)
{
	const u64 nr = DEDUP_CHUNK_BLOCKS + 1000, grow = 500;
	struct unit_view *v = unit_view_new(nr, 0);
	struct dedup_alloc *al;
	struct holder h;
	u64 i, n, free = nr - 1500;
	int r;

	for (i = 0; i < 3000; i += 2)
		v->count[i] = 1;
	al = alloc_new(v, &h);
	if (!al)
		goto out;
	CHECK_EQ(dedup_alloc_free(al), free);
	n = get_until_fail(al, &h, &r);
	CHECK(n == free && r == -ENOSPC, "%llu blocks, then %s; expected %llu, then -ENOSPC",
	      n, unit_errname(r), free);
	for (i = 0; i < nr; i++)
		if (!CHECK(h.held[i] == !v->count[i], "PBN %llu: held %d, count %u",
			   i, h.held[i], v->count[i]))
			break;
	CHECK_EQ(dedup_alloc_free(al), 0);

	/* Handed out, never referenced: given back. */
	for (i = 1; i < 3000; i += 500) {
		dedup_alloc_put(al, i, false);
		h.held[i] = false;
	}
	n = get_until_fail(al, &h, &r);
	CHECK(n == 6 && r == -ENOSPC, "%llu blocks given back, then %s; expected 6, then -ENOSPC",
	      n, unit_errname(r));

	CHECK_EQ(dedup_alloc_resize(al, nr + grow), 0);
	CHECK_EQ(dedup_alloc_free(al), grow);
	holder_free(&h);
	holder_init(&h, nr + grow);
	n = get_until_fail(al, &h, &r);
	CHECK(n == grow && r == -ENOSPC, "%llu blocks after growth, then %s; expected %llu, then -ENOSPC",
	      n, unit_errname(r), grow);
	for (i = nr; i < nr + grow; i++)
		if (!CHECK(h.held[i], "new PBN %llu not handed out", i))
			break;
	/* The commit that records them all. */
	for (i = 0; i < nr + grow; i++)
		if (i >= nr || !v->count[i])
			dedup_alloc_published(al, i);
	CHECK_EQ(unit_warnings, 0);
out:
	alloc_done(al, &h);
	unit_view_free(v);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * test-index.c - unit tests of the RAM fingerprint index
 * (dm-dedup-index.c).
 *
 * A fingerprint's shard is the top shard_bits of its first 8 bytes read
 * little endian, and its tag the bits below; fp_make() builds one in a
 * chosen shard.  A lookup returns fp-array blocks (PBN / fps_per_block).
 */
#include <stdlib.h>

#include "unit.h"

#define FP_SIZE		32
#define FPS_PER_BLOCK	(DEDUP_ARRAY_PAYLOAD / FP_SIZE)
#define MAX_CANDIDATES	8

/* splitmix64's output function: a well-mixed u64 from a counter. */
static u64 mix(u64 x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* A fingerprint made from seed, in the given shard (of 2^shard_bits). */
static void fp_make(u8 *fp, const struct dedup_index_geometry *g, u64 shard,
		    u64 seed)
{
	u64 h = shard << (64 - g->shard_bits) | mix(seed) >> g->shard_bits;
	int i;

	put_unaligned_le64(h, fp);
	for (i = 8; i < FP_SIZE; i += 8)
		put_unaligned_le64(mix(seed * 4 + i), fp + i);
}

/* A fingerprint made from seed, in any shard. */
static void fp_random(u8 *fp, const struct dedup_index_geometry *g, u64 seed)
{
	fp_make(fp, g, mix(~seed) >> (64 - g->shard_bits), seed);
}

/* The lookup's result: < 0 an error, else whether pbn's fp block is in it. */
static int lookup_has(struct dedup_index *idx, const u8 *fp, u64 pbn)
{
	u64 blocks[MAX_CANDIDATES];
	int n, i;

	n = dedup_index_lookup(idx, fp, blocks, MAX_CANDIDATES);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++)
		if (blocks[i] == pbn / FPS_PER_BLOCK)
			return 1;
	return 0;
}

static void geometry(u64 data_blocks, struct dedup_index_geometry *g)
{
	dedup_index_geometry(data_blocks, FPS_PER_BLOCK, g);
	unit_note("%llu data blocks: shard_bits %u, loc_bits %u", data_blocks,
		  g->shard_bits, g->loc_bits);
}

/*
 * The on-demand load of a shard and dedup_index_all_loaded() race: while
 * the load callback runs (shard lock dropped), the background loader
 * finishes and the committer inserts a fingerprint into the same shard.
 * The load, which found no saved data, must not throw that insert away.
 */
struct ondemand {
	struct dedup_index *idx;
	u64 shard;
	u8 fp[FP_SIZE];
	u64 pbn;
	int calls;
	int insert_r;
};

static int ondemand_load(void *context, u64 shard, u8 **buckets, u32 *nb,
			 u64 *entries)
{
	struct ondemand *o = context;

	CHECK(!unit_atomic, "load callback called with a spinlock held");
	*buckets = NULL;
	*nb = 0;
	*entries = 0;
	if (shard == o->shard && !o->calls++) {
		dedup_index_all_loaded(o->idx);
		o->insert_r = dedup_index_insert(o->idx, o->fp, o->pbn, false);
	}
	return 0;
}

void test_index_ondemand_vs_all_loaded(void)
{
	struct dedup_index_geometry g;
	struct ondemand o = { .shard = 5, .pbn = 1234 };
	u8 fp1[FP_SIZE];
	int r;

	geometry(1 << 16, &g);
	fp_make(fp1, &g, o.shard, 1);
	fp_make(o.fp, &g, o.shard, 2);
	o.idx = dedup_index_create(&g, ondemand_load, &o);
	if (!CHECK(!IS_ERR(o.idx), "dedup_index_create: %ld", PTR_ERR(o.idx)))
		return;
	dedup_index_set_unloaded(o.idx);

	r = lookup_has(o.idx, fp1, 0);
	CHECK_EQ(r, 0);
	CHECK_EQ(o.calls, 1);
	CHECK_EQ(o.insert_r, 0);
	r = lookup_has(o.idx, o.fp, o.pbn);
	CHECK(r == 1,
	      "lookup of the fingerprint inserted during the load: %s, expected its fp block %llu",
	      r ? unit_errname(r) : "not found", o.pbn / FPS_PER_BLOCK);
	CHECK_EQ(dedup_index_entries(o.idx), 1);
	CHECK_EQ(unit_warnings, 0);
	dedup_index_destroy(o.idx);
}

/*
 * One saved shard, in one of these states; the others have no saved data.
 * fp[0] and fp[1] (PBNs 0 and 1) are its saved entries.
 */
enum saved_mode { SAVED_OK, SAVED_NONE, SAVED_ERROR, SAVED_BAD_COUNT,
		  SAVED_ENOMEM };

struct one_saved {
	const struct dedup_index_geometry *g;
	enum saved_mode mode;
	u64 shard;
	u8 fp[2][FP_SIZE];
	int calls;		/* of the load of shard */
};

/* The index entry of fp for pbn, as the index builds it. */
static u64 entry_of(const struct dedup_index_geometry *g, const u8 *fp,
		    u64 pbn)
{
	unsigned int tag_bits = DEDUP_INDEX_TAG_BITS(g->shard_bits,
						     g->loc_bits);
	u64 tag = (get_unaligned_le64(fp) << g->shard_bits) >> (64 - tag_bits);

	return tag << g->loc_bits | (pbn / FPS_PER_BLOCK + 1);
}

/* The saved shard's one bucket (DEDUP_INDEX_BUCKET_SIZE bytes). */
static void saved_bucket(const struct one_saved *o, u8 *bucket)
{
	int i;

	memset(bucket, 0, DEDUP_INDEX_BUCKET_SIZE);
	for (i = 0; i < 2; i++)
		dedup_index_entry_put(bucket + i * DEDUP_INDEX_ENTRY_SIZE,
				      entry_of(o->g, o->fp[i], i));
}

/* The load callback; the shard's second load finds no saved data. */
static int one_saved_load(void *context, u64 shard, u8 **buckets, u32 *nb,
			  u64 *entries)
{
	struct one_saved *o = context;

	CHECK(!unit_atomic, "load callback called with a spinlock held");
	*buckets = NULL;
	*nb = 0;
	*entries = 0;
	if (shard != o->shard || o->calls++)
		return 0;
	switch (o->mode) {
	case SAVED_NONE:
		return 0;
	case SAVED_ERROR:
		return -EILSEQ;
	case SAVED_ENOMEM:
		return -ENOMEM;
	case SAVED_OK:
	case SAVED_BAD_COUNT:
		*buckets = kvmalloc(DEDUP_INDEX_BUCKET_SIZE, GFP_KERNEL);
		if (!*buckets)
			return -ENOMEM;
		saved_bucket(o, *buckets);
		*nb = 1;
		*entries = o->mode == SAVED_OK ? 2 : 5;
		return 0;
	}
	return -EINVAL;
}

/* An index with one saved shard (9) in state mode, not loaded. */
static struct dedup_index *one_saved_index(struct dedup_index_geometry *g,
					   struct one_saved *o,
					   enum saved_mode mode)
{
	struct dedup_index *idx;

	geometry(1 << 16, g);
	*o = (struct one_saved){ .g = g, .mode = mode, .shard = 9 };
	fp_make(o->fp[0], g, o->shard, 101);
	fp_make(o->fp[1], g, o->shard, 102);
	idx = dedup_index_create(g, one_saved_load, o);
	if (!CHECK(!IS_ERR(idx), "dedup_index_create: %ld", PTR_ERR(idx)))
		return NULL;
	dedup_index_set_unloaded(idx);
	return idx;
}

/*
 * A saved shard that cannot be loaded (an error other than -ENOMEM, or
 * buckets whose live entries disagree with the saved count) is installed
 * empty, counted, and logged once; the shard is then used as usual.
 * -ENOMEM is returned to the lookup, and the shard loaded later.
 */
static void bad_shard(enum saved_mode mode, const char *what)
{
	struct dedup_index_geometry g;
	struct dedup_index *idx;
	struct one_saved o;
	const u64 pbn = 4321;
	u8 fp[FP_SIZE], other[FP_SIZE];
	bool bad = mode != SAVED_ENOMEM;
	int r, loads = bad ? 1 : 2;

	unit_note("load of the saved shard: %s", what);
	unit_messages = 0;
	idx = one_saved_index(&g, &o, mode);
	if (!idx)
		return;
	fp_make(fp, &g, o.shard, 100);
	fp_make(other, &g, o.shard + 1, 103);

	r = lookup_has(idx, fp, pbn);
	if (bad) {
		CHECK(r == 0, "lookup in the bad shard: %s, expected 0 candidates",
		      unit_errname(r));
		CHECK(unit_messages == 1, "%lu messages logged, expected 1",
		      unit_messages);
	} else {
		CHECK(r == -ENOMEM, "lookup: %s, expected -ENOMEM",
		      unit_errname(r));
		r = lookup_has(idx, fp, pbn);
		CHECK(r == 0, "lookup after -ENOMEM: %s, expected 0 candidates",
		      unit_errname(r));
	}
	CHECK_EQ(o.calls, loads);
	CHECK_EQ(dedup_index_bad_shards(idx), bad);
	if (mode == SAVED_BAD_COUNT) {
		CHECK_EQ(lookup_has(idx, o.fp[0], 0), 0);
		CHECK_EQ(lookup_has(idx, o.fp[1], 1), 0);
	}

	CHECK_EQ(dedup_index_insert(idx, fp, pbn, false), 0);
	CHECK_EQ(lookup_has(idx, fp, pbn), 1);
	CHECK_EQ(dedup_index_entries(idx), 1);
	CHECK_EQ(lookup_has(idx, other, pbn), 0);
	dedup_index_remove(idx, fp, pbn);
	CHECK_EQ(lookup_has(idx, fp, pbn), 0);
	CHECK_EQ(dedup_index_entries(idx), 0);

	CHECK_EQ(o.calls, loads);
	CHECK_EQ(dedup_index_bad_shards(idx), bad);
	if (bad)
		CHECK(unit_messages == 1, "%lu messages logged in all, expected 1",
		      unit_messages);
	CHECK_EQ(unit_warnings, 0);
	dedup_index_destroy(idx);
}

void test_index_bad_saved_shard(void)
{
	bad_shard(SAVED_ERROR, "-EILSEQ");
	bad_shard(SAVED_BAD_COUNT, "2 live entries, 5 saved");
	bad_shard(SAVED_ENOMEM, "-ENOMEM, then no saved data");
}

/*
 * Changes to a shard made before it is loaded (the committer does not
 * wait for loads) are all there once it is, whether a lookup loads it,
 * the background loader installs it, or it had no saved data: saved
 * fp[0] removed, saved fp[1] kept, a new fingerprint added, and another
 * added then removed.
 */
enum load_by { BY_LOOKUP, BY_INSTALL, NOT_SAVED };

static void changes_before_load(enum load_by by, const char *what)
{
	struct dedup_index_geometry g;
	struct dedup_index *idx;
	struct one_saved o;
	const u64 pbn = 4321;
	u8 fp[FP_SIZE], gone[FP_SIZE], bucket[DEDUP_INDEX_BUCKET_SIZE];
	bool saved = by != NOT_SAVED;
	int entries = saved ? 2 : 1;

	unit_note("changes, then %s", what);
	idx = one_saved_index(&g, &o, saved ? SAVED_OK : SAVED_NONE);
	if (!idx)
		return;
	fp_make(fp, &g, o.shard, 100);
	fp_make(gone, &g, o.shard, 104);
	CHECK_EQ(dedup_index_insert(idx, gone, pbn, false), 0);
	CHECK_EQ(dedup_index_insert(idx, fp, pbn, false), 0);
	dedup_index_remove(idx, gone, pbn);
	if (saved)
		dedup_index_remove(idx, o.fp[0], 0);
	if (by == BY_INSTALL) {
		saved_bucket(&o, bucket);
		CHECK_EQ(dedup_index_install(idx, o.shard, bucket, 1, 2), 0);
	}
	if (by != BY_LOOKUP)
		dedup_index_all_loaded(idx);

	CHECK_EQ(lookup_has(idx, fp, pbn), 1);
	CHECK_EQ(lookup_has(idx, gone, pbn), 0);
	if (saved) {
		CHECK_EQ(lookup_has(idx, o.fp[0], 0), 0);
		CHECK_EQ(lookup_has(idx, o.fp[1], 1), 1);
	}
	CHECK_EQ(dedup_index_entries(idx), entries);
	CHECK_EQ(dedup_index_bad_shards(idx), 0);
	CHECK_EQ(unit_warnings, 0);
	dedup_index_destroy(idx);
}

void test_index_changes_before_load(void)
{
	changes_before_load(BY_LOOKUP, "a lookup loads the shard");
	changes_before_load(BY_INSTALL, "the background loader installs it");
	changes_before_load(NOT_SAVED, "all loaded, the shard never saved");
}

/*
 * Many fingerprints in every shard: the shards grow (rehash) from one
 * bucket, every fingerprint is found, removed ones are not.
 */
#define BASICS_N	40000

static u64 basics_pbn(u64 i)
{
	return i * 3 + 17;
}

static void basics_fill(struct dedup_index *idx,
			const struct dedup_index_geometry *g)
{
	u8 fp[FP_SIZE];
	u64 i, bad = 0;
	int r;

	for (i = 0; i < BASICS_N; i++) {
		fp_random(fp, g, i);
		r = dedup_index_insert(idx, fp, basics_pbn(i), false);
		if (!CHECK(!r, "insert %llu: %s", i, unit_errname(r)))
			return;
	}
	CHECK_EQ(dedup_index_entries(idx), BASICS_N);
	for (i = 0; i < 100; i++) {
		fp_random(fp, g, i);
		CHECK_EQ(dedup_index_insert(idx, fp, basics_pbn(i), true), 0);
	}
	CHECK_EQ(dedup_index_entries(idx), BASICS_N);
	for (i = 0; i < BASICS_N; i++) {
		fp_random(fp, g, i);
		bad += lookup_has(idx, fp, basics_pbn(i)) != 1;
	}
	CHECK(!bad, "%llu of %d fingerprints not found", bad, BASICS_N);
}

/* Removes the even ones. */
static void basics_remove_half(struct dedup_index *idx,
			       const struct dedup_index_geometry *g)
{
	u8 fp[FP_SIZE];
	u64 i;

	for (i = 0; i < BASICS_N; i += 2) {
		fp_random(fp, g, i);
		dedup_index_remove(idx, fp, basics_pbn(i));
	}
	CHECK_EQ(dedup_index_entries(idx), BASICS_N / 2);
}

/* The odd ones must be found, the even ones not. */
static void basics_check_half(struct dedup_index *idx,
			      const struct dedup_index_geometry *g)
{
	u64 i, lost = 0, found = 0;
	u8 fp[FP_SIZE];
	int r;

	for (i = 0; i < BASICS_N; i++) {
		fp_random(fp, g, i);
		r = lookup_has(idx, fp, basics_pbn(i));
		if (r < 0)
			CHECK(0, "lookup %llu: %s", i, unit_errname(r));
		else if (i % 2)
			lost += !r;
		else
			found += r;
	}
	CHECK(!lost, "%llu fingerprints not removed are not found", lost);
	CHECK(!found, "%llu removed fingerprints still found", found);
}

void test_index_basics(void)
{
	struct dedup_index_geometry g;
	struct dedup_index *idx;
	u64 ram0;

	geometry(1 << 20, &g);
	idx = dedup_index_create(&g, NULL, NULL);
	if (!CHECK(!IS_ERR(idx), "dedup_index_create: %ld", PTR_ERR(idx)))
		return;
	ram0 = dedup_index_ram(idx);
	basics_fill(idx, &g);
	CHECK(dedup_index_ram(idx) > ram0 + BASICS_N * DEDUP_INDEX_ENTRY_SIZE,
	      "index RAM %llu bytes for %d entries", dedup_index_ram(idx),
	      BASICS_N);
	basics_remove_half(idx, &g);
	basics_check_half(idx, &g);
	CHECK_EQ(unit_warnings, 0);
	dedup_index_destroy(idx);
}

/*
 * A saved index (dedup_index_save) loaded back shard by shard, on demand
 * by lookups and in the background by dedup_index_install.
 */
struct saved_shard {
	u8 *buckets;
	u32 nb;
	u64 entries;
};

struct saved {
	struct saved_shard *shards;
	u64 nr_shards;
	u64 nr_saved;
	u64 loads;
};

static int save_emit(void *context, u64 shard, const u8 *buckets, u32 nb,
		     u64 entries)
{
	struct saved *s = context;
	struct saved_shard *sh;

	if (!CHECK(shard < s->nr_shards, "saved shard %llu", shard))
		return -EINVAL;
	sh = &s->shards[shard];
	CHECK(!sh->buckets, "shard %llu saved twice", shard);
	sh->buckets = malloc((size_t)nb * DEDUP_INDEX_BUCKET_SIZE);
	if (!sh->buckets)
		abort();
	memcpy(sh->buckets, buckets, (size_t)nb * DEDUP_INDEX_BUCKET_SIZE);
	sh->nb = nb;
	sh->entries = entries;
	s->nr_saved++;
	return 0;
}

static int saved_load(void *context, u64 shard, u8 **buckets, u32 *nb,
		      u64 *entries)
{
	struct saved *s = context;
	struct saved_shard *sh = &s->shards[shard];

	CHECK(!unit_atomic, "load callback called with a spinlock held");
	s->loads++;
	*buckets = NULL;
	*nb = 0;
	*entries = 0;
	if (!sh->nb)
		return 0;
	*buckets = kvmalloc_array(sh->nb, DEDUP_INDEX_BUCKET_SIZE, GFP_KERNEL);
	if (!*buckets)
		return -ENOMEM;
	memcpy(*buckets, sh->buckets, (size_t)sh->nb * DEDUP_INDEX_BUCKET_SIZE);
	*nb = sh->nb;
	*entries = sh->entries;
	return 0;
}

void test_index_save_load(void)
{
	struct dedup_index_geometry g;
	struct dedup_index *idx;
	struct saved s = { 0 };
	u64 i;

	geometry(1 << 20, &g);
	idx = dedup_index_create(&g, NULL, NULL);
	if (!CHECK(!IS_ERR(idx), "dedup_index_create: %ld", PTR_ERR(idx)))
		return;
	basics_fill(idx, &g);
	basics_remove_half(idx, &g);
	s.nr_shards = dedup_index_nr_shards(idx);
	s.shards = calloc(s.nr_shards, sizeof(*s.shards));
	if (!s.shards)
		abort();
	CHECK_EQ(dedup_index_save(idx, save_emit, &s), 0);
	CHECK_EQ(s.nr_saved, s.nr_shards);
	dedup_index_destroy(idx);

	/* The first half of the shards installed, the others on demand. */
	idx = dedup_index_create(&g, saved_load, &s);
	if (!CHECK(!IS_ERR(idx), "dedup_index_create: %ld", PTR_ERR(idx)))
		goto out;
	dedup_index_set_unloaded(idx);
	for (i = 0; i < s.nr_shards / 2; i++)
		CHECK_EQ(dedup_index_install(idx, i, s.shards[i].buckets,
					     s.shards[i].nb,
					     s.shards[i].entries), 0);
	basics_check_half(idx, &g);
	CHECK_EQ(s.loads, s.nr_shards - s.nr_shards / 2);
	CHECK_EQ(dedup_index_entries(idx), BASICS_N / 2);
	for (i = s.nr_shards / 2; i < s.nr_shards; i++)
		CHECK_EQ(dedup_index_install(idx, i, s.shards[i].buckets,
					     s.shards[i].nb,
					     s.shards[i].entries), 0);
	dedup_index_all_loaded(idx);
	CHECK_EQ(dedup_index_entries(idx), BASICS_N / 2);
	CHECK_EQ(unit_warnings, 0);
	dedup_index_destroy(idx);
out:
	for (i = 0; i < s.nr_shards; i++)
		free(s.shards[i].buckets);
	free(s.shards);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Fingerprints of data blocks, zero detection, and the in-memory filter
 * of committed fingerprints.
 *
 * A fingerprint is the digest of one whole data block, computed with the
 * crypto API's shash.  Each possible CPU has its own transform, so workers
 * on different CPUs never share one; the descriptor lives on the stack.
 *
 * sha256 and blake2b-256 are trusted to be collision resistant: a matching
 * fingerprint is enough to share a block unless the table asks for
 * "verify".  xxhash64 is not, so every hit is byte-compared before it is
 * shared (dm-dedup-target.c).
 */
#include <crypto/hash.h>
#include <linux/device-mapper.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/hash.h>
#include <linux/log2.h>
#include <asm/unaligned.h>

#include "dm-dedup.h"

struct dedup_hash {
	struct crypto_shash * __percpu *tfm;
	unsigned int size;
	bool trusted;
};

static const struct {
	const char *name;
	bool trusted;
} dedup_hashes[] = {
	{ "sha256", true },
	{ "blake2b-256", true },
	{ "xxhash64", false },
};

static void free_tfms(struct dedup_hash *h)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct crypto_shash *tfm = *per_cpu_ptr(h->tfm, cpu);

		if (!IS_ERR_OR_NULL(tfm))
			crypto_free_shash(tfm);
	}
	free_percpu(h->tfm);
}

struct dedup_hash *dedup_hash_create(const char *name)
{
	struct dedup_hash *h;
	int cpu, i, r;

	for (i = 0; i < ARRAY_SIZE(dedup_hashes); i++)
		if (!strcmp(name, dedup_hashes[i].name))
			break;
	if (i == ARRAY_SIZE(dedup_hashes))
		return ERR_PTR(-EINVAL);

	h = kzalloc(sizeof(*h), GFP_KERNEL);
	if (!h)
		return ERR_PTR(-ENOMEM);
	h->trusted = dedup_hashes[i].trusted;
	h->tfm = alloc_percpu(struct crypto_shash *);
	if (!h->tfm) {
		kfree(h);
		return ERR_PTR(-ENOMEM);
	}

	for_each_possible_cpu(cpu) {
		struct crypto_shash *tfm = crypto_alloc_shash(name, 0, 0);

		*per_cpu_ptr(h->tfm, cpu) = tfm;
		if (IS_ERR(tfm)) {
			r = PTR_ERR(tfm);
			goto bad;
		}
		h->size = crypto_shash_digestsize(tfm);
	}
	if (h->size > DEDUP_MAX_FP_SIZE || h->size < sizeof(u64)) {
		r = -EINVAL;
		goto bad;
	}
	return h;

bad:
	free_tfms(h);
	kfree(h);
	return ERR_PTR(r);
}

void dedup_hash_destroy(struct dedup_hash *h)
{
	free_tfms(h);
	kfree(h);
}

unsigned int dedup_hash_size(struct dedup_hash *h)
{
	return h->size;
}

bool dedup_hash_trusted(struct dedup_hash *h)
{
	return h->trusted;
}

int dedup_hash_block(struct dedup_hash *h, const void *data, unsigned int len,
		     u8 *fp)
{
	struct crypto_shash *tfm = *raw_cpu_ptr(h->tfm);
	SHASH_DESC_ON_STACK(desc, tfm);
	int r;

	memset(fp, 0, DEDUP_MAX_FP_SIZE);
	desc->tfm = tfm;
	r = crypto_shash_digest(desc, data, len, fp);
	shash_desc_zero(desc);
	return r;
}

bool dedup_block_is_zero(const void *data, unsigned int len)
{
	return !memchr_inv(data, 0, len);
}

/*
 * The fingerprint filter: a cuckoo filter of 16-bit tags that holds every
 * fingerprint of the committed index, so that a write whose fingerprint is
 * certainly not there (the common case for unique data) skips the index
 * lookup, which may have to read the metadata device.  A "maybe" answer is
 * followed by the real lookup, so false positives cost only that read.
 * If an insertion ever fails the filter answers "maybe" from then on.
 * About 2.2 bytes of memory per data block.
 */
#define FILTER_SLOTS	4
#define FILTER_KICKS	500

struct dedup_filter {
	spinlock_t lock;	/* protects everything below; a leaf lock */
	u16 (*buckets)[FILTER_SLOTS];
	u64 mask;
	bool broken;
	u32 rnd;
};

static void filter_place(struct dedup_filter *f, const u8 *fp, u16 *tag,
			 u64 *i1, u64 *i2)
{
	u64 h = get_unaligned_le64(fp) * GOLDEN_RATIO_64;

	*tag = (h >> 48) ?: 1;
	*i1 = (h >> 8) & f->mask;
	*i2 = (*i1 ^ hash_64(*tag, 32)) & f->mask;
}

static bool filter_bucket_add(u16 *b, u16 tag)
{
	int i;

	for (i = 0; i < FILTER_SLOTS; i++)
		if (!b[i]) {
			b[i] = tag;
			return true;
		}
	return false;
}

struct dedup_filter *dedup_filter_create(u64 entries)
{
	struct dedup_filter *f;
	u64 n;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return NULL;
	n = roundup_pow_of_two(max_t(u64, DIV_ROUND_UP(entries * 10, 9 *
							FILTER_SLOTS), 64));
	f->buckets = kvcalloc(n, sizeof(*f->buckets), GFP_KERNEL);
	if (!f->buckets) {
		kfree(f);
		return NULL;
	}
	f->mask = n - 1;
	spin_lock_init(&f->lock);
	f->rnd = 1;
	return f;
}

void dedup_filter_destroy(struct dedup_filter *f)
{
	kvfree(f->buckets);
	kfree(f);
}

void dedup_filter_add(struct dedup_filter *f, const u8 *fp)
{
	u64 i1, i2, i;
	u16 tag, old;
	int k;

	filter_place(f, fp, &tag, &i1, &i2);
	spin_lock(&f->lock);
	if (f->broken || filter_bucket_add(f->buckets[i1], tag) ||
	    filter_bucket_add(f->buckets[i2], tag))
		goto out;
	i = i1;
	for (k = 0; k < FILTER_KICKS; k++) {
		f->rnd = f->rnd * 1103515245 + 12345;
		old = f->buckets[i][(f->rnd >> 16) % FILTER_SLOTS];
		f->buckets[i][(f->rnd >> 16) % FILTER_SLOTS] = tag;
		tag = old;
		i = (i ^ hash_64(tag, 32)) & f->mask;
		if (filter_bucket_add(f->buckets[i], tag))
			goto out;
	}
	f->broken = true;
	DMWARN("fingerprint filter full; index lookups are no longer filtered");
out:
	spin_unlock(&f->lock);
}

static bool filter_bucket_del(u16 *b, u16 tag)
{
	int i;

	for (i = 0; i < FILTER_SLOTS; i++)
		if (b[i] == tag) {
			b[i] = 0;
			return true;
		}
	return false;
}

void dedup_filter_remove(struct dedup_filter *f, const u8 *fp)
{
	u64 i1, i2;
	u16 tag;

	filter_place(f, fp, &tag, &i1, &i2);
	spin_lock(&f->lock);
	if (!filter_bucket_del(f->buckets[i1], tag))
		filter_bucket_del(f->buckets[i2], tag);
	spin_unlock(&f->lock);
}

bool dedup_filter_may_contain(struct dedup_filter *f, const u8 *fp)
{
	u64 i1, i2;
	u16 tag;
	bool r;
	int i;

	filter_place(f, fp, &tag, &i1, &i2);
	spin_lock(&f->lock);
	r = f->broken;
	for (i = 0; i < FILTER_SLOTS && !r; i++)
		r = f->buckets[i1][i] == tag || f->buckets[i2][i] == tag;
	spin_unlock(&f->lock);
	return r;
}

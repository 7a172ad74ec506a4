// SPDX-License-Identifier: GPL-2.0
/*
 * Fingerprints of data blocks, and zero detection.
 *
 * A fingerprint is the digest of one whole data block, computed with the
 * crypto API's shash.  Each possible CPU has its own transform, so workers
 * on different CPUs never share one; the descriptor lives on the stack.
 *
 * sha256 and blake2b-256 are trusted to be collision resistant: a matching
 * fingerprint is enough to share a block unless the table asks for
 * "verify".  xxhash64 is not, so every hit is byte-compared before it is
 * shared (dm-dedup-io.c).
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
#include "dm-dedup-fault.h"
#include "dm-dedup-hash.h"

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
	if (dedup_fault_zero_fp(data))
		memset(fp, 0, h->size);
	/*
	 * An fp-array entry of zeroes means "no block": a fingerprint of
	 * zeroes (1 in 2^64 blocks with xxhash64) is stored as 1 instead.
	 */
	if (!r && !memchr_inv(fp, 0, h->size))
		fp[0] = 1;
	return r;
}

bool dedup_block_is_zero(const void *data, unsigned int len)
{
	return !memchr_inv(data, 0, len);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * The saved RAM fingerprint index: written at a clean shutdown, loaded at
 * activation.
 */

/**
 * DOC: saved index
 *
 * A clean shutdown writes the RAM index (dm-dedup-index.c) into two sparse
 * arrays (include/dm-dedup-format.h): "save", every non-empty shard as a
 * header bucket (struct dedup_disk_save_shard) and its buckets as they are
 * in RAM, shards in order; and "save_dir", one entry per group of
 * DEDUP_SAVE_GROUP shards, the position of the group's first saved shard.
 * The superblock records the geometry the buckets are laid out in (the
 * index's own) and the transaction the save belongs to.
 *
 * At activation the shards are handed to the index in the order they were
 * saved (dedup_saved_load_step(), from a work item beside commits), and a
 * shard the index needs before that is found through save_dir and loaded on
 * the spot (dedup_saved_load_shard(), the index's load callback).  Both read
 * the published commit only, through the owner's read callback, and take
 * no lock: the save arrays do not change while the index loads.  What
 * cannot be read or fails its checks is reported, and the index installs
 * such a shard empty (a cache, never metadata damage).
 */
#include <linux/device-mapper.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "dm-dedup-array.h"
#include "dm-dedup-fault.h"
#include "dm-dedup-index.h"
#include "dm-dedup-index-save.h"

void dedup_saved_init(struct dedup_saved_index *si, dedup_saved_read_fn read,
		      void *context)
{
	memset(si, 0, sizeof(*si));
	si->read = read;
	si->context = context;
	si->per_block = dedup_array_entries_per_block(DEDUP_INDEX_BUCKET_SIZE);
}

/* The position + 1 of group's first saved shard (0: none) into *dir. */
static int read_dir(struct dedup_saved_index *si, u64 group, __le64 *dir,
		    u8 *blk)
{
	u32 per = dedup_array_entries_per_block(sizeof(__le64));
	u64 bidx;
	u32 off;
	int r;

	bidx = div_u64_rem(group, per, &off);
	r = si->read(si->context, DEDUP_A_SAVE_DIR, bidx, blk);
	if (!r)
		memcpy(dir, blk + off * sizeof(__le64), sizeof(__le64));
	return r;
}

/*
 * Loading
 */

/* Reads n saved buckets from position pos of the published save array. */
static int read_buckets(struct dedup_saved_index *si, u64 pos, u64 n, u8 *out,
			u8 *blk)
{
	u64 bidx;
	u32 off, take;
	int r;

	while (n) {
		bidx = div_u64_rem(pos, si->per_block, &off);
		r = si->read(si->context, DEDUP_A_SAVE, bidx, blk);
		if (r)
			return r;
		take = min_t(u64, n, si->per_block - off);
		memcpy(out, blk + off * DEDUP_INDEX_BUCKET_SIZE,
		       (size_t)take * DEDUP_INDEX_BUCKET_SIZE);
		out += (size_t)take * DEDUP_INDEX_BUCKET_SIZE;
		pos += take;
		n -= take;
	}
	return 0;
}

int dedup_saved_load_shard(void *context, u64 shard, u8 **buckets, u32 *nb,
			   u64 *entries)
{
	struct dedup_saved_index *si = context;
	struct dedup_disk_save_shard h;
	unsigned int noio;
	__le64 dir;
	u64 pos;
	u8 *blk;
	int r;

	*buckets = NULL;
	*nb = 0;
	*entries = 0;
	blk = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_NOIO);
	if (!blk)
		return -ENOMEM;
	r = read_dir(si, div_u64(shard, DEDUP_SAVE_GROUP), &dir, blk);
	if (r || !dir) {
		kfree(blk);
		return r;
	}
	for (pos = le64_to_cpu(dir) - 1; ; pos += 1 + le32_to_cpu(h.nr_buckets)) {
		r = read_buckets(si, pos, 1, (u8 *)&h, blk);
		if (r)
			break;
		if (le32_to_cpu(h.magic) != DEDUP_SAVE_SHARD_MAGIC) {
			DMERR_LIMIT("saved index: no shard record at bucket %llu",
				    pos);
			r = -EILSEQ;
			break;
		}
		if (le64_to_cpu(h.shard) > shard ||
		    div_u64(le64_to_cpu(h.shard), DEDUP_SAVE_GROUP) !=
		    div_u64(shard, DEDUP_SAVE_GROUP))
			break;
		if (le64_to_cpu(h.shard) < shard)
			continue;
		*nb = le32_to_cpu(h.nr_buckets);
		*entries = le64_to_cpu(h.nr_entries);
		noio = memalloc_noio_save();
		*buckets = dedup_fault_alloc() ? NULL :
			kvmalloc_array(*nb, DEDUP_INDEX_BUCKET_SIZE,
				       GFP_KERNEL | __GFP_NOWARN);
		memalloc_noio_restore(noio);
		r = *buckets ? read_buckets(si, pos + 1, *nb, *buckets, blk) :
			-ENOMEM;
		break;
	}
	kfree(blk);
	if (r) {
		kvfree(*buckets);
		*buckets = NULL;
		*nb = 0;
	}
	return r;
}

int dedup_saved_load_step(struct dedup_saved_index *si,
			  struct dedup_index *idx, unsigned int budget,
			  bool *more)
{
	struct dedup_disk_save_shard h;
	unsigned int noio;
	u8 *blk, *buckets;
	u32 nb;
	int r = 0;

	blk = kmalloc(DEDUP_ARRAY_PAYLOAD, GFP_NOIO);
	if (!blk)
		return -ENOMEM;
	*more = true;
	while (budget-- && !r) {
		r = read_buckets(si, si->load_pos, 1, (u8 *)&h, blk);
		if (r)
			break;
		if (!h.magic) {
			*more = false;
			break;
		}
		nb = le32_to_cpu(h.nr_buckets);
		if (le32_to_cpu(h.magic) != DEDUP_SAVE_SHARD_MAGIC) {
			DMERR_LIMIT("saved index: no shard record at bucket %llu",
				    si->load_pos);
			r = -EILSEQ;
			break;
		}
		noio = memalloc_noio_save();
		buckets = kvmalloc_array(max(nb, 1U), DEDUP_INDEX_BUCKET_SIZE,
					 GFP_KERNEL | __GFP_NOWARN);
		memalloc_noio_restore(noio);
		if (!buckets) {
			r = -ENOMEM;
			break;
		}
		r = read_buckets(si, si->load_pos + 1, nb, buckets, blk);
		if (!r)
			r = dedup_index_install(idx, le64_to_cpu(h.shard),
						buckets, nb,
						le64_to_cpu(h.nr_entries));
		kvfree(buckets);
		if (!r) {
			si->load_pos += 1 + nb;
			WRITE_ONCE(si->loaded_entries, si->loaded_entries +
				   le64_to_cpu(h.nr_entries));
		}
	}
	kfree(blk);
	return r;
}

/*
 * Saving
 */
struct save_state {
	struct dedup_array *save;
	struct dedup_array *dir;
	u8 *blk;		/* staging block of buckets */
	u64 pos;		/* next bucket position */
	u64 last_group;
	u64 entries;
};

static int save_bucket(struct save_state *st, const void *bucket)
{
	struct dedup_array *a = st->save;
	u64 bidx;
	u32 off;
	int r = 0;

	bidx = div_u64_rem(st->pos, a->per_block, &off);
	memcpy(st->blk + off * DEDUP_INDEX_BUCKET_SIZE, bucket,
	       DEDUP_INDEX_BUCKET_SIZE);
	st->pos++;
	if (off + 1 == a->per_block) {
		r = dedup_array_write_block(a, bidx, st->blk);
		memset(st->blk, 0, DEDUP_ARRAY_PAYLOAD);
	}
	return r;
}

static int save_shard(void *context, u64 shard, const u8 *buckets, u32 nb,
		      u64 entries)
{
	struct save_state *st = context;
	struct dedup_disk_save_shard h;
	u64 group = div_u64(shard, DEDUP_SAVE_GROUP);
	u32 i;
	int r = 0;

	if (group != st->last_group) {
		__le64 dir = cpu_to_le64(st->pos + 1);

		r = dedup_array_update_entry(st->dir, group, &dir, NULL);
		st->last_group = group;
	}
	memset(&h, 0, sizeof(h));
	h.magic = cpu_to_le32(DEDUP_SAVE_SHARD_MAGIC);
	h.nr_buckets = cpu_to_le32(nb);
	h.shard = cpu_to_le64(shard);
	h.nr_entries = cpu_to_le64(entries);
	if (!r)
		r = save_bucket(st, &h);
	for (i = 0; !r && i < nb; i++)
		r = save_bucket(st, buckets + (size_t)i * DEDUP_INDEX_BUCKET_SIZE);
	st->entries += entries;
	return r;
}

int dedup_saved_write(struct dedup_array *save, struct dedup_array *dir,
		      struct dedup_index *idx, u64 *entries)
{
	struct save_state st = {
		.save = save, .dir = dir, .last_group = ~0ULL,
	};
	int r;

	st.blk = kzalloc(DEDUP_ARRAY_PAYLOAD, GFP_KERNEL);
	if (!st.blk)
		return -ENOMEM;
	r = dedup_index_save(idx, save_shard, &st);
	if (!r && st.pos % save->per_block)
		r = dedup_array_write_block(save, div_u64(st.pos,
							  save->per_block),
					    st.blk);
	kfree(st.blk);
	*entries = st.entries;
	return r;
}

int dedup_saved_delete(struct dedup_array *save, struct dedup_array *dir)
{
	int r = dedup_array_delete(save);

	return r ?: dedup_array_delete(dir);
}

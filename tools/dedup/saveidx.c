// SPDX-License-Identifier: GPL-2.0
/*
 * saveidx.c - reading and checking the saved RAM fingerprint index.
 *
 * The saved index is a cache (doc/metadata.md section 8): the module
 * installs a shard that fails these checks empty and rebuilds what it held,
 * so what they find in its contents is a warning, not metadata damage.  Its
 * blocks are metadata like any other: the checks of arrays and space maps
 * cover them.
 */
#include <stdlib.h>
#include <string.h>

#include "dedup/saveidx.h"
#include "pdata/le.h"
#include "pdata/log.h"

#define BUCKET		DEDUP_INDEX_BUCKET_SIZE
#define SLOTS		DEDUP_INDEX_BUCKET_ENTRIES

static const uint8_t *bucket_at(const struct dd_saveidx *si, uint64_t pos)
{
	return si->data + pos * BUCKET;
}

/* Reads the whole save array into si->data; false if a block failed. */
static bool read_buckets(struct pd_ctx *c, struct dd_array *a,
			 struct dd_saveidx *si)
{
	uint8_t *blk = pd_malloc(DD_BLOCK_SIZE);
	bool ok = true;
	size_t i;

	si->nr_pos = a->nr_blocks ?
		(a->blocks[a->nr_blocks - 1].bidx + 1) * a->per_block : 0;
	if (a->nr_blocks && si->nr_pos / a->per_block !=
	    a->blocks[a->nr_blocks - 1].bidx + 1) {
		free(blk);
		return false;
	}
	si->data = pd_calloc(si->nr_pos ? si->nr_pos : 1, BUCKET);
	for (i = 0; i < a->nr_blocks; i++) {
		if (dd_array_read(c, a, i, blk)) {
			ok = false;
			continue;
		}
		memcpy(si->data + a->blocks[i].bidx * a->per_block * BUCKET,
		       blk + DEDUP_ARRAY_HEADER_SIZE,
		       (size_t)a->per_block * BUCKET);
	}
	free(blk);
	return ok && !a->tree.damaged && !a->bad_blocks;
}

/* Live entries of a shard's buckets; reports locs out of range. */
static uint64_t count_live(const struct dd_saveidx *si,
			   const struct dd_sshard *sh, uint64_t fp_blocks,
			   uint64_t block, bool *bad)
{
	uint64_t live = 0, b;
	unsigned int i;

	for (b = 0; b < sh->nb; b++)
		for (i = 0; i < SLOTS; i++) {
			uint64_t v = dedup_index_entry_get(sh->buckets +
				b * BUCKET + i * DEDUP_INDEX_ENTRY_SIZE);
			uint64_t loc = v & si->loc_mask;

			if (!loc || loc == si->loc_mask)
				continue;
			live++;
			if (loc - 1 >= fp_blocks && !*bad) {
				pd_warning(block, "save array block", "shard %llu, bucket %llu: entry names fp array block %llu, beyond the %llu of the data device",
					 (unsigned long long)sh->shard,
					 (unsigned long long)b,
					 (unsigned long long)(loc - 1),
					 (unsigned long long)fp_blocks);
				*bad = true;
			}
		}
	return live;
}

static uint64_t pos_block(const struct dd_array *a, uint64_t pos)
{
	uint64_t bidx = pos / a->per_block;
	size_t i;

	for (i = 0; i < a->nr_blocks; i++)
		if (a->blocks[i].bidx == bidx)
			return a->blocks[i].loc;
	return 0;
}

static void check_dir(struct pd_ctx *c, struct dd_array *dir,
		      struct dd_saveidx *si)
{
	struct dd_cursor cur;
	uint64_t g, idx, want;
	const uint8_t *e;
	size_t k = 0;
	uint64_t from = 0;

	dd_cursor_init(&cur, c, dir);
	while (dd_cursor_next(&cur, from, &idx, &e)) {
		from = idx + 1;
		/* groups before idx that have shards must have entries */
		for (; k < si->nr_shards &&
		     si->shards[k].shard / DEDUP_SAVE_GROUP < idx; k++) {
			g = si->shards[k].shard / DEDUP_SAVE_GROUP;
			if (k && si->shards[k - 1].shard / DEDUP_SAVE_GROUP == g)
				continue;
			pd_warning_at("saved index", "group %llu has shards, but the save_dir array has no entry for it",
				    (unsigned long long)g);
		}
		want = k < si->nr_shards &&
		       si->shards[k].shard / DEDUP_SAVE_GROUP == idx ?
		       si->shards[k].pos + 1 : 0;
		if (pd_le64(e) != want)
			pd_warning(cur.block, "save_dir array block", "group %llu: entry %llu, expected %llu",
				 (unsigned long long)idx,
				 (unsigned long long)pd_le64(e),
				 (unsigned long long)want);
		/* the shards of group idx are accounted for */
		while (k < si->nr_shards &&
		       si->shards[k].shard / DEDUP_SAVE_GROUP == idx)
			k++;
	}
	for (; k < si->nr_shards; k++) {
		g = si->shards[k].shard / DEDUP_SAVE_GROUP;
		if (k && si->shards[k - 1].shard / DEDUP_SAVE_GROUP == g)
			continue;
		pd_warning_at("saved index", "group %llu has shards, but the save_dir array has no entry for it",
			    (unsigned long long)g);
	}
}

void dd_saveidx_load(struct pd_ctx *c, struct dd_array *save,
		     struct dd_array *dir, const struct dd_super *s,
		     uint64_t fp_blocks, struct dd_saveidx *si)
{
	const struct dedup_sb *sb = &s->sb;
	uint64_t pos = 0, last = 0, total = 0;
	bool bad = false;

	memset(si, 0, sizeof(*si));
	si->shard_bits = sb->save_shard_bits;
	si->loc_bits = sb->save_loc_bits;
	if (si->shard_bits < 1 || si->shard_bits > 40 || si->loc_bits < 1 ||
	    si->loc_bits > DEDUP_INDEX_ENTRY_BITS - 16) {
		pd_warning(0, "superblock", "saved index geometry: %u shard bits, %u loc bits: out of range",
			 si->shard_bits, si->loc_bits);
		return;
	}
	si->tag_bits = DEDUP_INDEX_TAG_BITS(si->shard_bits, si->loc_bits);
	si->loc_mask = (1ULL << si->loc_bits) - 1;
	if (!read_buckets(c, save, si)) {
		pd_info("note: saved index not checked: its arrays are damaged");
		return;
	}
	while (pos < si->nr_pos) {
		const uint8_t *h = bucket_at(si, pos);
		struct dd_sshard *sh;
		uint64_t block = pos_block(save, pos);

		if (pd_all_zero(h, BUCKET, NULL))
			break;
		if (pd_le32(h) != DEDUP_SAVE_SHARD_MAGIC) {
			pd_warning(block, "save array block", "bucket %llu: no shard record (magic 0x%08x)",
				 (unsigned long long)pos, pd_le32(h));
			return;
		}
		pd_grow((void **)&si->shards, &si->cap_shards,
			si->nr_shards + 1, sizeof(*si->shards));
		sh = &si->shards[si->nr_shards];
		sh->shard = pd_le64(h + 8);
		sh->nb = pd_le32(h + 4);
		sh->entries = pd_le64(h + 16);
		sh->pos = pos;
		if (sh->shard >> si->shard_bits ||
		    (si->nr_shards && sh->shard <= last)) {
			pd_warning(block, "save array block", "bucket %llu: shard %llu out of order or beyond the %u shard bits",
				 (unsigned long long)pos,
				 (unsigned long long)sh->shard, si->shard_bits);
			return;
		}
		if (!sh->nb || sh->nb > si->nr_pos - pos - 1) {
			pd_warning(block, "save array block", "bucket %llu: shard %llu has %u buckets, beyond the save array",
				 (unsigned long long)pos,
				 (unsigned long long)sh->shard, sh->nb);
			return;
		}
		sh->buckets = bucket_at(si, pos + 1);
		si->nr_shards++;
		last = sh->shard;
		total += sh->entries;
		if (count_live(si, sh, fp_blocks, block, &bad) != sh->entries) {
			pd_warning(block, "save array block", "bucket %llu: shard %llu says %llu entries, its buckets hold %llu",
				 (unsigned long long)pos,
				 (unsigned long long)sh->shard,
				 (unsigned long long)sh->entries,
				 (unsigned long long)count_live(si, sh, fp_blocks,
								block, &bad));
			bad = true;
		}
		si->live += sh->entries;
		pos += 1 + (uint64_t)sh->nb;
	}
	if (pos < si->nr_pos &&
	    !pd_all_zero(bucket_at(si, pos), (si->nr_pos - pos) * BUCKET, NULL))
		pd_warning(pos_block(save, pos), "save array block", "data after the last shard, from bucket %llu",
			 (unsigned long long)pos);
	if (total != sb->save_entries)
		pd_warning(0, "superblock", "save_entries is %llu, but the saved shards hold %llu",
			 (unsigned long long)sb->save_entries,
			 (unsigned long long)total);
	check_dir(c, dir, si);
	si->usable = !bad;
}

bool dd_saveidx_find(const struct dd_saveidx *si, const uint8_t *fp,
		     uint64_t fp_block)
{
	uint64_t h = pd_le64(fp), s = dedup_index_shard_of(h, si->shard_bits);
	uint64_t tag = dedup_index_tag_of(h, si->shard_bits, si->tag_bits);
	uint64_t v = tag << si->loc_bits | (fp_block + 1);
	size_t lo = 0, hi = si->nr_shards;
	const struct dd_sshard *sh;
	uint32_t b, probed;
	unsigned int i;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (si->shards[mid].shard < s)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == si->nr_shards || si->shards[lo].shard != s)
		return false;
	sh = &si->shards[lo];
	b = dedup_index_home_of(tag, sh->nb, si->tag_bits);
	for (probed = 0; probed < sh->nb; probed++) {
		bool end = false;

		if (b >= sh->nb)
			return false;
		for (i = 0; i < SLOTS; i++) {
			uint64_t e = dedup_index_entry_get(sh->buckets +
				(uint64_t)b * BUCKET + i * DEDUP_INDEX_ENTRY_SIZE);

			if (e == v)
				return true;
			if (!(e & si->loc_mask))
				end = true;
		}
		if (end)
			break;
		b = b + 1 == sh->nb ? 0 : b + 1;
	}
	return false;
}

void dd_saveidx_free(struct dd_saveidx *si)
{
	free(si->data);
	free(si->shards);
	si->data = NULL;
	si->shards = NULL;
}

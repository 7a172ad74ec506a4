// SPDX-License-Identifier: GPL-2.0
/*
 * load.c - loading a metadata image the one way dedup_check, dedup_dump
 * and the test corrupter do (struct dd_meta): open the device, read and
 * check the superblock, derive the layout, load both space maps and walk
 * the btree of every array, counting each block reached.
 */
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/log.h"

void dd_meta_init(struct dd_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->dev.fd = -1;
}

int dd_meta_open(struct dd_meta *m, const char *path, bool writable)
{
	return pd_dev_open(&m->dev, path, writable);
}

uint64_t dd_meta_blocks(const struct dd_meta *m)
{
	return m->dev.size / DD_BLOCK_SIZE;
}

enum dd_meta_status dd_meta_read_super(struct dd_meta *m)
{
	uint8_t blk[DD_BLOCK_SIZE];
	int r;

	r = pd_dev_read(&m->dev, 0, blk, sizeof(blk));
	if (r)
		return r < 0 ? DD_META_IO : DD_META_SHORT;
	switch (dd_super_check(blk, &m->s, dd_meta_blocks(m))) {
	case DD_SB_OK:
		return DD_META_OK;
	case DD_SB_REFUSE:
		return DD_META_REFUSE;
	default:
		return DD_META_BAD;
	}
}

void dd_meta_load(struct dd_meta *m)
{
	struct pd_ctx *c = &m->c;
	int i;

	dd_layout_from_super(&m->s, dd_meta_blocks(m), &m->lay);
	c->dev = &m->dev;
	c->dev_blocks = dd_meta_blocks(m);
	pd_refs_init(&c->refs, c->dev_blocks);
	c->node_limit = m->lay.a_blocks;
	c->limit_what = "the metadata space map";
	c->expected = m->s.msm.nr_allocated + m->s.bsm.nr_allocated;
	pd_ref(c, 0, pd_kind("superblock"), c->refs.nr_blocks,
	       "the metadata device", 0, "superblock");
	pd_sm_load(c, &m->msm, "space map", false, &m->s.msm, 0, 0,
		   "superblock");
	if (m->s.bulk)
		pd_sm_load(c, &m->bsm, "bulk space map", true, &m->s.bsm,
			   m->s.sb.bulk_start, 0, "superblock");
	/* a bad fp_size is reported; the fp array is read as sha256's */
	for (i = 0; i < DD_NR_ARRAYS; i++)
		dd_array_load(c, &m->a[i], i, m->s.fp_ok ? m->s.sb.fp_size : 32,
			      *dd_array_root(&m->s.sb, i), &m->lay);
}

void dd_meta_free(struct dd_meta *m)
{
	int i;

	for (i = 0; i < DD_NR_ARRAYS; i++)
		dd_array_free(&m->a[i]);
	pd_sm_free(&m->msm);
	pd_sm_free(&m->bsm);
	pd_refs_free(&m->c.refs);
	pd_dev_close(&m->dev);
}

// SPDX-License-Identifier: GPL-2.0
/*
 * feed.c - the entries of an image, in order, into its arrays (struct
 * dd_feed): what dedup_restore reads from a dump and ddgen generates.
 */
#include <stdio.h>
#include <string.h>

#include "dedup/dedup.h"
#include "pdata/le.h"

void dd_feed_init(struct dd_feed *fd, struct dd_builder *b, uint32_t fp_size)
{
	int i;

	memset(fd, 0, sizeof(*fd));
	for (i = 0; i < DD_NR_ARRAYS; i++)
		dd_aw_init(&fd->aw[i], b, i, fp_size);
}

int dd_feed_lbn(struct dd_feed *fd, uint64_t lbn, uint64_t value)
{
	uint8_t v[8];

	pd_put_le64(v, value);
	if (value == DEDUP_LBN_ZERO)
		fd->zero++;
	else
		fd->mapped++;
	return dd_aw_put(&fd->aw[DD_A_LBN], lbn, v);
}

int dd_feed_lbns_done(struct dd_feed *fd)
{
	if (fd->lbns_done)
		return 0;
	fd->lbns_done = true;
	return dd_aw_finish(&fd->aw[DD_A_LBN]);
}

static int flush_chunk(struct dd_feed *fd)
{
	uint8_t v[4];

	if (!fd->chunk_open)
		return 0;
	fd->chunk_open = false;
	pd_put_le32(v, fd->chunk_used);
	return dd_aw_put(&fd->aw[DD_A_SUMMARY], fd->chunk, v);
}

int dd_feed_pbn(struct dd_feed *fd, uint64_t pbn, uint32_t count,
		const uint8_t *fp)
{
	uint64_t chunk = pbn / DEDUP_CHUNK_BLOCKS;
	uint8_t v[4];

	if (dd_feed_lbns_done(fd))
		return -1;
	pd_put_le32(v, count);
	if (dd_aw_put(&fd->aw[DD_A_REFCOUNT], pbn, v) ||
	    dd_aw_put(&fd->aw[DD_A_FP], pbn, fp))
		return -1;
	if (!count)
		return 0;
	fd->unique++;
	if (fd->chunk_open && chunk != fd->chunk && flush_chunk(fd))
		return -1;
	if (!fd->chunk_open) {
		fd->chunk = chunk;
		fd->chunk_used = 0;
		fd->chunk_open = true;
	}
	fd->chunk_used++;
	return 0;
}

int dd_feed_pbns_done(struct dd_feed *fd)
{
	if (fd->pbns_done)
		return 0;
	fd->pbns_done = true;
	if (dd_feed_lbns_done(fd) || flush_chunk(fd) ||
	    dd_aw_finish(&fd->aw[DD_A_REFCOUNT]) ||
	    dd_aw_finish(&fd->aw[DD_A_FP]) ||
	    dd_aw_finish(&fd->aw[DD_A_SUMMARY]))
		return -1;
	return 0;
}

int dd_feed_finish(struct dd_feed *fd)
{
	if (dd_feed_pbns_done(fd) || dd_aw_finish(&fd->aw[DD_A_SAVE]) ||
	    dd_aw_finish(&fd->aw[DD_A_SAVE_DIR]))
		return -1;
	return 0;
}

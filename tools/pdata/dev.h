/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dev.h - block devices and image files, and a block writer that turns
 * the writes of a bottom-up builder into large sequential writes.
 */
#ifndef PDATA_DEV_H
#define PDATA_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PD_BLOCK_SIZE		4096U

struct pd_dev {
	int fd;
	const char *path;
	uint64_t size;		/* bytes */
	bool is_blkdev;
	bool io_error;		/* a read or write failed (reported) */
};

/* Opens a file or block device; prints the reason and returns -1. */
int pd_dev_open(struct pd_dev *d, const char *path, bool writable);
/*
 * Opens path for writing an image of size bytes: a block device must be
 * at least that large; a file is created or truncated to exactly that
 * size, sparse.
 */
int pd_dev_create(struct pd_dev *d, const char *path, uint64_t size);
void pd_dev_close(struct pd_dev *d);
/* 0: read, 1: beyond the end of the device, -1: I/O error (reported) */
int pd_dev_read(struct pd_dev *d, uint64_t off, void *buf, size_t len);
int pd_dev_write(struct pd_dev *d, uint64_t off, const void *buf, size_t len);
int pd_dev_sync(struct pd_dev *d);

/*
 * The block writer keeps a few runs of consecutive blocks in memory and
 * writes each with one pwrite() when it is full or a block lands
 * elsewhere, so interleaved sequential streams (array blocks in one
 * region, btree nodes in another) are still written in large pieces.
 */
#define PD_WRITER_RUNS		4
#define PD_WRITER_RUN_BLOCKS	256

struct pd_run {
	uint64_t start;
	uint32_t len;
	uint64_t used;		/* for least-recently-used replacement */
	uint8_t *buf;
};

struct pd_writer {
	struct pd_dev *dev;
	struct pd_run runs[PD_WRITER_RUNS];
	uint64_t clock;
	uint64_t blocks;	/* blocks written */
	int error;
};

void pd_writer_init(struct pd_writer *w, struct pd_dev *dev);
/* Queues a copy of one 4096-byte block for block number b. */
int pd_writer_put(struct pd_writer *w, uint64_t b, const void *data);
int pd_writer_flush(struct pd_writer *w);
void pd_writer_free(struct pd_writer *w);

#endif /* PDATA_DEV_H */

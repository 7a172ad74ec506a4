// SPDX-License-Identifier: GPL-2.0
/*
 * dev.c - device and image file I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>

#include "pdata/dev.h"
#include "pdata/log.h"

static int dev_size(struct pd_dev *d)
{
	struct stat st;

	if (fstat(d->fd, &st) < 0) {
		fprintf(stderr, "cannot stat %s: %s\n", d->path,
			strerror(errno));
		return -1;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;

		if (ioctl(d->fd, BLKGETSIZE64, &size) < 0) {
			fprintf(stderr, "cannot get the size of %s: %s\n",
				d->path, strerror(errno));
			return -1;
		}
		d->size = size;
		d->is_blkdev = true;
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		d->size = st.st_size;
		return 0;
	}
	fprintf(stderr, "%s is neither a block device nor a file\n", d->path);
	return -1;
}

int pd_dev_open(struct pd_dev *d, const char *path, bool writable)
{
	memset(d, 0, sizeof(*d));
	d->path = path;
	d->fd = open(path, writable ? O_RDWR : O_RDONLY);
	if (d->fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (dev_size(d)) {
		close(d->fd);
		d->fd = -1;
		return -1;
	}
	return 0;
}

int pd_dev_create(struct pd_dev *d, const char *path, uint64_t size)
{
	memset(d, 0, sizeof(*d));
	d->path = path;
	d->fd = open(path, O_RDWR | O_CREAT, 0644);
	if (d->fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (dev_size(d))
		goto bad;
	if (d->is_blkdev) {
		if (d->size < size) {
			fprintf(stderr, "%s has %llu bytes, %llu needed\n",
				path, (unsigned long long)d->size,
				(unsigned long long)size);
			goto bad;
		}
		return 0;
	}
	/* drop old contents so that what is not written reads as zero */
	if (ftruncate(d->fd, 0) || ftruncate(d->fd, (off_t)size)) {
		fprintf(stderr, "cannot size %s to %llu bytes: %s\n", path,
			(unsigned long long)size, strerror(errno));
		goto bad;
	}
	d->size = size;
	return 0;
bad:
	close(d->fd);
	d->fd = -1;
	return -1;
}

void pd_dev_close(struct pd_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int pd_dev_read(struct pd_dev *d, uint64_t off, void *buf, size_t len)
{
	size_t done = 0;

	if (off > d->size || len > d->size - off)
		return 1;
	while (done < len) {
		ssize_t r = pread(d->fd, (char *)buf + done, len - done,
				  off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "%s: read error at byte %llu: %s\n",
				d->path, (unsigned long long)(off + done),
				strerror(errno));
			d->io_error = true;
			return -1;
		}
		if (r == 0)
			return 1;	/* shrank under us */
		done += r;
	}
	return 0;
}

int pd_dev_write(struct pd_dev *d, uint64_t off, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pwrite(d->fd, (const char *)buf + done, len - done,
				   off + done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "%s: write error at byte %llu: %s\n",
				d->path, (unsigned long long)(off + done),
				r < 0 ? strerror(errno) : "short write");
			d->io_error = true;
			return -1;
		}
		done += r;
	}
	return 0;
}

int pd_dev_sync(struct pd_dev *d)
{
	if (fsync(d->fd)) {
		fprintf(stderr, "fsync %s: %s\n", d->path, strerror(errno));
		d->io_error = true;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* block writer */

void pd_writer_init(struct pd_writer *w, struct pd_dev *dev)
{
	int i;

	memset(w, 0, sizeof(*w));
	w->dev = dev;
	for (i = 0; i < PD_WRITER_RUNS; i++)
		w->runs[i].buf = pd_malloc((size_t)PD_WRITER_RUN_BLOCKS *
					   PD_BLOCK_SIZE);
}

static int run_flush(struct pd_writer *w, struct pd_run *r)
{
	int ret = 0;

	if (r->len && !w->error)
		ret = pd_dev_write(w->dev, r->start * PD_BLOCK_SIZE, r->buf,
				   (size_t)r->len * PD_BLOCK_SIZE);
	if (ret)
		w->error = ret;
	w->blocks += r->len;
	r->len = 0;
	return w->error;
}

int pd_writer_put(struct pd_writer *w, uint64_t b, const void *data)
{
	struct pd_run *r, *victim = NULL;
	int i;

	for (i = 0; i < PD_WRITER_RUNS; i++) {
		r = &w->runs[i];
		if (r->len && r->len < PD_WRITER_RUN_BLOCKS &&
		    b == r->start + r->len)
			goto append;
		if (!victim || (!r->len && victim->len) ||
		    (r->len && victim->len && r->used < victim->used))
			victim = r;
	}
	r = victim;
	/* a full run that ended just before b is continued by the new one */
	if (run_flush(w, r))
		return w->error;
	r->start = b;
append:
	memcpy(r->buf + (size_t)r->len * PD_BLOCK_SIZE, data, PD_BLOCK_SIZE);
	r->len++;
	r->used = ++w->clock;
	if (r->len == PD_WRITER_RUN_BLOCKS)
		return run_flush(w, r);
	return w->error;
}

int pd_writer_flush(struct pd_writer *w)
{
	int i;

	for (i = 0; i < PD_WRITER_RUNS; i++)
		run_flush(w, &w->runs[i]);
	return w->error;
}

void pd_writer_free(struct pd_writer *w)
{
	int i;

	for (i = 0; i < PD_WRITER_RUNS; i++) {
		free(w->runs[i].buf);
		w->runs[i].buf = NULL;
	}
}

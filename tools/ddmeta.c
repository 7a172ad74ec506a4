// SPDX-License-Identifier: GPL-2.0
/*
 * ddmeta.c - validated, bounded reading of dm-dedup metadata (see ddmeta.h
 * for the on-disk layout this code expects).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/fs.h>

#include "ddmeta.h"

struct dd_log dd_log = {
	.max_lines = 0,
};

/* ------------------------------------------------------------------ */
/* messages */

static bool dd_line_allowed(void)
{
	if (dd_log.quiet)
		return false;
	if (dd_log.max_lines && dd_log.printed >= dd_log.max_lines) {
		dd_log.suppressed++;
		return false;
	}
	dd_log.printed++;
	return true;
}

static FILE *dd_out(void)
{
	return dd_log.out ? dd_log.out : stdout;
}

static void dd_clear_progress(void)
{
	if (dd_log.progress_shown) {
		fputs("\r\033[K", stderr);
		dd_log.progress_shown = false;
	}
}

static void dd_vline(const char *level, const char *where, uint64_t block,
		     const char *what, const char *fmt, va_list ap)
{
	FILE *f = dd_out();

	if (!dd_line_allowed())
		return;
	dd_clear_progress();
	if (where)
		fprintf(f, "%s: %s: ", level, where);
	else
		fprintf(f, "%s: block %llu (%s): ", level,
			(unsigned long long)block, what);
	vfprintf(f, fmt, ap);
	fputc('\n', f);
}

void dd_error(uint64_t block, const char *what, const char *fmt, ...)
{
	va_list ap;

	dd_log.errors++;
	va_start(ap, fmt);
	dd_vline("error", NULL, block, what, fmt, ap);
	va_end(ap);
}

void dd_warning(uint64_t block, const char *what, const char *fmt, ...)
{
	va_list ap;

	dd_log.warnings++;
	va_start(ap, fmt);
	dd_vline("warning", NULL, block, what, fmt, ap);
	va_end(ap);
}

void dd_error_at(const char *where, const char *fmt, ...)
{
	va_list ap;

	dd_log.errors++;
	va_start(ap, fmt);
	dd_vline("error", where, 0, NULL, fmt, ap);
	va_end(ap);
}

void dd_warning_at(const char *where, const char *fmt, ...)
{
	va_list ap;

	dd_log.warnings++;
	va_start(ap, fmt);
	dd_vline("warning", where, 0, NULL, fmt, ap);
	va_end(ap);
}

void dd_info(const char *fmt, ...)
{
	va_list ap;

	if (dd_log.quiet)
		return;
	dd_clear_progress();
	va_start(ap, fmt);
	vfprintf(dd_out(), fmt, ap);
	va_end(ap);
	fputc('\n', dd_out());
}

void dd_progress(const char *phase, uint64_t done, uint64_t total)
{
	static struct timeval last;
	struct timeval now;

	if (!dd_log.progress || dd_log.quiet)
		return;
	gettimeofday(&now, NULL);
	if ((now.tv_sec - last.tv_sec) * 1000000 + (now.tv_usec - last.tv_usec) <
	    200000)
		return;
	last = now;
	fflush(dd_out());
	if (total)
		fprintf(stderr, "\r\033[K%s: %llu/%llu (%llu%%)", phase,
			(unsigned long long)done, (unsigned long long)total,
			(unsigned long long)(done * 100 / total));
	else
		fprintf(stderr, "\r\033[K%s: %llu", phase,
			(unsigned long long)done);
	dd_log.progress_shown = true;
}

void dd_progress_done(void)
{
	dd_clear_progress();
}

/* ------------------------------------------------------------------ */
/* devices */

int dd_dev_open(struct dd_dev *d, const char *path, bool writable)
{
	struct stat st;

	memset(d, 0, sizeof(*d));
	d->path = path;
	d->fd = open(path, writable ? O_RDWR : O_RDONLY);
	if (d->fd < 0) {
		fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fstat(d->fd, &st) < 0) {
		fprintf(stderr, "cannot stat %s: %s\n", path, strerror(errno));
		goto bad;
	}
	if (S_ISBLK(st.st_mode)) {
		uint64_t size;

		if (ioctl(d->fd, BLKGETSIZE64, &size) < 0) {
			fprintf(stderr, "cannot get the size of %s: %s\n",
				path, strerror(errno));
			goto bad;
		}
		d->size = size;
	} else if (S_ISREG(st.st_mode)) {
		d->size = st.st_size;
	} else {
		fprintf(stderr, "%s is neither a block device nor a file\n",
			path);
		goto bad;
	}
	return 0;
bad:
	close(d->fd);
	d->fd = -1;
	return -1;
}

void dd_dev_close(struct dd_dev *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int dd_dev_read(struct dd_dev *d, uint64_t off, void *buf, size_t len)
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

int dd_dev_write(struct dd_dev *d, uint64_t off, const void *buf, size_t len)
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

/* ------------------------------------------------------------------ */
/* checksums */

uint32_t dd_block_csum(const uint8_t *blk, uint32_t xor)
{
	return dd_crc32c(~0U, blk + 4, DD_BLOCK_SIZE - 4) ^ xor;
}

void dd_block_set_csum(uint8_t *blk, uint32_t xor)
{
	dd_put_le32(blk, dd_block_csum(blk, xor));
}

/* As dm-btree's calc_max_entries(): a multiple of 3 that fits. */
uint32_t dd_calc_max_entries(uint32_t value_size)
{
	uint32_t total = (DD_BLOCK_SIZE - DD_NODE_HEADER_SIZE) /
			 (8 + value_size);

	return 3 * (total / 3);
}

/* ------------------------------------------------------------------ */
/* superblock */

#define SB_OFF(f) offsetof(struct dedup_disk_superblock, f)

void dd_sb_decode(const uint8_t *blk, struct dd_sb *sb)
{
	const uint8_t *smr = blk + SB_OFF(metadata_space_map_root);

	memset(sb, 0, sizeof(*sb));
	sb->csum = dd_le32(blk + SB_OFF(csum));
	sb->flags = dd_le32(blk + SB_OFF(flags));
	sb->blocknr = dd_le64(blk + SB_OFF(blocknr));
	memcpy(sb->uuid, blk + SB_OFF(uuid), sizeof(sb->uuid));
	sb->magic = dd_le64(blk + SB_OFF(magic));
	sb->version = dd_le32(blk + SB_OFF(version));
	sb->incompat_flags = dd_le32(blk + SB_OFF(incompat_flags));
	sb->compat_flags = dd_le32(blk + SB_OFF(compat_flags));
	sb->metadata_block_size = dd_le32(blk + SB_OFF(metadata_block_size));
	sb->data_block_size = dd_le32(blk + SB_OFF(data_block_size));
	sb->fp_size = dd_le32(blk + SB_OFF(fp_size));
	memcpy(sb->hash_name, blk + SB_OFF(hash_name), DEDUP_HASH_NAME_LEN);
	sb->hash_name[DEDUP_HASH_NAME_LEN] = '\0';
	sb->data_nr_blocks = dd_le64(blk + SB_OFF(data_nr_blocks));
	sb->transaction_id = dd_le64(blk + SB_OFF(transaction_id));
	sb->sm_nr_blocks = dd_le64(smr);
	sb->sm_nr_allocated = dd_le64(smr + 8);
	sb->sm_bitmap_root = dd_le64(smr + 16);
	sb->sm_ref_count_root = dd_le64(smr + 24);
	sb->lbn_root = dd_le64(blk + SB_OFF(lbn_root));
	sb->refcount_root = dd_le64(blk + SB_OFF(refcount_root));
	sb->index_root = dd_le64(blk + SB_OFF(index_root));
	sb->nr_mapped = dd_le64(blk + SB_OFF(nr_mapped));
	sb->nr_zero = dd_le64(blk + SB_OFF(nr_zero));
	sb->nr_unique = dd_le64(blk + SB_OFF(nr_unique));
	sb->nr_indexed = dd_le64(blk + SB_OFF(nr_indexed));
	sb->dedup_hits = dd_le64(blk + SB_OFF(dedup_hits));
	sb->zero_writes = dd_le64(blk + SB_OFF(zero_writes));
	sb->commits = dd_le64(blk + SB_OFF(commits));
	sb->alg = dd_hash_lookup(sb->hash_name);
}

static bool dd_all_zero(const uint8_t *p, size_t len, size_t *first)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i]) {
			if (first)
				*first = i;
			return false;
		}
	}
	return true;
}

enum dd_sb_status dd_sb_check(const uint8_t *blk, struct dd_sb *sb)
{
	static const char *what = "superblock";
	const uint8_t *name = blk + SB_OFF(hash_name);
	size_t len, off;
	uint32_t csum;
	uint32_t dbs;

	dd_sb_decode(blk, sb);

	if (sb->magic != DEDUP_MAGIC) {
		dd_error(0, what, "bad magic 0x%016llx, expected 0x%016llx: not dm-dedup metadata",
			 (unsigned long long)sb->magic,
			 (unsigned long long)DEDUP_MAGIC);
		return DD_SB_BAD;
	}
	csum = dd_block_csum(blk, DEDUP_SUPERBLOCK_CSUM_XOR);
	if (csum != sb->csum) {
		dd_error(0, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 sb->csum, csum);
		return DD_SB_BAD;
	}
	if (sb->blocknr != DEDUP_SUPERBLOCK_LOCATION) {
		dd_error(0, what, "location field says block %llu",
			 (unsigned long long)sb->blocknr);
		return DD_SB_BAD;
	}
	if (sb->version != DEDUP_METADATA_VERSION) {
		dd_error(0, what, "unsupported metadata version %u (this tool knows version %u)",
			 sb->version, DEDUP_METADATA_VERSION);
		return DD_SB_BAD;
	}
	if (sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED) {
		dd_error(0, what, "unknown incompatible feature flags 0x%x: refusing to check metadata of a newer format",
			 sb->incompat_flags & ~DEDUP_INCOMPAT_SUPPORTED);
		return DD_SB_REFUSE;
	}
	if (sb->compat_flags & ~DEDUP_COMPAT_SUPPORTED)
		dd_warning(0, what, "unknown compatible feature flags 0x%x ignored",
			   sb->compat_flags & ~DEDUP_COMPAT_SUPPORTED);
	if (sb->flags & ~DEDUP_SB_NEEDS_CHECK)
		dd_warning(0, what, "unknown flag bits 0x%x",
			   sb->flags & ~DEDUP_SB_NEEDS_CHECK);
	if (sb->metadata_block_size != DEDUP_METADATA_BLOCK_SIZE) {
		dd_error(0, what, "metadata block size %u, expected %u",
			 sb->metadata_block_size, DEDUP_METADATA_BLOCK_SIZE);
		return DD_SB_BAD;
	}

	sb->data_geometry_ok = true;
	dbs = sb->data_block_size;
	if (dbs < 4096 || dbs > 65536 || (dbs & (dbs - 1))) {
		dd_error(0, what, "data block size %u is not a power of two in 4096..65536",
			 dbs);
		sb->data_geometry_ok = false;
	}
	if (!sb->data_nr_blocks) {
		dd_error(0, what, "data device size is 0 blocks");
		sb->data_geometry_ok = false;
	}

	len = strnlen((const char *)name, DEDUP_HASH_NAME_LEN);
	if (len == DEDUP_HASH_NAME_LEN)
		dd_error(0, what, "hash name is not NUL terminated");
	else if (!dd_all_zero(name + len, DEDUP_HASH_NAME_LEN - len, NULL))
		dd_error(0, what, "hash name is not NUL padded");
	if (sb->alg == DD_HASH_NONE)
		dd_error(0, what, "unknown hash \"%.32s\"", sb->hash_name);

	sb->fp_ok = sb->fp_size >= 8 && sb->fp_size <= DEDUP_MAX_FP_SIZE;
	if (!sb->fp_ok)
		dd_error(0, what, "fingerprint size %u out of range 8..%u",
			 sb->fp_size, DEDUP_MAX_FP_SIZE);
	else if (sb->alg != DD_HASH_NONE && sb->fp_size != dd_hash_size(sb->alg))
		dd_error(0, what, "fingerprint size %u does not match %s (%zu bytes)",
			 sb->fp_size, dd_hash_name(sb->alg),
			 dd_hash_size(sb->alg));

	if (!dd_all_zero(blk + SB_OFF(metadata_space_map_root) + DD_SM_ROOT_SIZE,
			 DEDUP_SPACE_MAP_ROOT_SIZE - DD_SM_ROOT_SIZE, &off))
		dd_warning(0, what, "non-zero byte in the unused part of the space map root at offset %zu",
			   SB_OFF(metadata_space_map_root) + DD_SM_ROOT_SIZE + off);
	len = sizeof(struct dedup_disk_superblock);
	if (!dd_all_zero(blk + len, DD_BLOCK_SIZE - len, &off))
		dd_error(0, what, "non-zero byte after the superblock structure at offset %zu",
			 len + off);
	return DD_SB_OK;
}

/* ------------------------------------------------------------------ */
/* kinds */

static const char * const dd_tree_names[DD_NR_TREES] = {
	[DD_TREE_SMREF] = "space map refcount tree",
	[DD_TREE_LBN] = "lbn tree",
	[DD_TREE_REFCOUNT] = "refcount tree",
	[DD_TREE_INDEX] = "index tree",
};

static const char * const dd_kind_names[DD_NR_KINDS] = {
	[DD_KIND_NONE] = "unreferenced metadata",
	[DD_KIND_SUPER] = "superblock",
	[DD_KIND_SM_INDEX] = "space map index",
	[DD_KIND_SM_BITMAP] = "space map bitmap",
	[DD_KIND_TREE_BASE + 0] = "space map refcount tree node",
	[DD_KIND_TREE_BASE + 1] = "space map refcount tree internal node",
	[DD_KIND_TREE_BASE + 2] = "space map refcount tree leaf",
	[DD_KIND_TREE_BASE + 3] = "lbn tree node",
	[DD_KIND_TREE_BASE + 4] = "lbn tree internal node",
	[DD_KIND_TREE_BASE + 5] = "lbn tree leaf",
	[DD_KIND_TREE_BASE + 6] = "refcount tree node",
	[DD_KIND_TREE_BASE + 7] = "refcount tree internal node",
	[DD_KIND_TREE_BASE + 8] = "refcount tree leaf",
	[DD_KIND_TREE_BASE + 9] = "index tree node",
	[DD_KIND_TREE_BASE + 10] = "index tree internal node",
	[DD_KIND_TREE_BASE + 11] = "index tree leaf",
};

const char *dd_kind_name(enum dd_kind k)
{
	if ((unsigned int)k >= DD_NR_KINDS)
		return "?";
	return dd_kind_names[k];
}

const char *dd_tree_name(enum dd_tree_id t)
{
	return dd_tree_names[t];
}

uint32_t dd_tree_value_size(enum dd_tree_id t)
{
	switch (t) {
	case DD_TREE_SMREF:
		return 4;
	case DD_TREE_LBN:
		return 8;
	case DD_TREE_REFCOUNT:
		return sizeof(struct dedup_disk_refcount);
	case DD_TREE_INDEX:
		return sizeof(struct dedup_disk_index_entry);
	default:
		return 0;
	}
}

/* ------------------------------------------------------------------ */
/* metadata context */

int dd_meta_init(struct dd_meta *m, struct dd_dev *dev, const struct dd_sb *sb)
{
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->sb = *sb;
	m->dev_blocks = dev->size / DD_BLOCK_SIZE;
	if (sb->sm_nr_blocks && sb->sm_nr_blocks <= DD_SM_MAX_BLOCKS)
		m->nr_blocks = sb->sm_nr_blocks;
	else
		m->nr_blocks = m->dev_blocks < DD_SM_MAX_BLOCKS ?
			       m->dev_blocks : DD_SM_MAX_BLOCKS;
	if (!m->nr_blocks)
		m->nr_blocks = 1;
	m->refs = calloc(m->nr_blocks, sizeof(*m->refs));
	m->kind = calloc(m->nr_blocks, sizeof(*m->kind));
	if (!m->refs || !m->kind) {
		fprintf(stderr, "out of memory for %llu metadata blocks\n",
			(unsigned long long)m->nr_blocks);
		dd_meta_free(m);
		return -1;
	}
	return 0;
}

void dd_meta_reset(struct dd_meta *m)
{
	memset(m->refs, 0, m->nr_blocks * sizeof(*m->refs));
	memset(m->kind, 0, m->nr_blocks * sizeof(*m->kind));
	m->visited = 0;
}

void dd_meta_free(struct dd_meta *m)
{
	free(m->refs);
	free(m->kind);
	m->refs = NULL;
	m->kind = NULL;
}

bool dd_meta_ref(struct dd_meta *m, uint64_t b, enum dd_kind kind,
		 uint64_t from, const char *from_what)
{
	if (b >= m->nr_blocks) {
		dd_error(from, from_what, "reference to block %llu (%s) beyond the %llu blocks of the metadata space map",
			 (unsigned long long)b, dd_kind_name(kind),
			 (unsigned long long)m->nr_blocks);
		return false;
	}
	if (m->refs[b] < UINT32_MAX)
		m->refs[b]++;
	if (m->refs[b] > 1) {
		dd_error(b, dd_kind_name(kind), "referenced again by block %llu (%s); first reached as %s",
			 (unsigned long long)from, from_what,
			 dd_kind_name(m->kind[b]));
		return false;
	}
	m->kind[b] = kind;
	return true;
}

int dd_meta_read(struct dd_meta *m, uint64_t b, const char *what, uint8_t *buf)
{
	int r;

	if (b >= m->dev_blocks) {
		dd_error(b, what, "beyond the end of the metadata device (%llu blocks)",
			 (unsigned long long)m->dev_blocks);
		return -1;
	}
	r = dd_dev_read(m->dev, b * DD_BLOCK_SIZE, buf, DD_BLOCK_SIZE);
	if (r > 0) {
		dd_error(b, what, "beyond the end of the metadata device");
		return -1;
	}
	if (r < 0) {
		dd_error(b, what, "read error");
		return -1;
	}
	m->visited++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* btree walk */

struct dd_range {
	uint64_t lo;
	uint64_t hi;
	bool has_hi;
};

/*
 * Validate a node header as dm-btree's node_check() does, and more: the
 * flags must be exactly one type, the value size and max_entries must be
 * what dm-btree creates for this tree and node type.  Returns the node
 * flags, or 0 when the node must not be descended into.
 */
static uint32_t dd_node_check(struct dd_tree *t, uint64_t b, const uint8_t *n)
{
	uint32_t flags = dd_le32(n + DD_NODE_FLAGS);
	uint64_t blocknr = dd_le64(n + DD_NODE_BLOCKNR);
	uint32_t nr = dd_le32(n + DD_NODE_NR_ENTRIES);
	uint32_t max = dd_le32(n + DD_NODE_MAX_ENTRIES);
	uint32_t vs = dd_le32(n + DD_NODE_VALUE_SIZE);
	uint32_t want_vs, want_max, csum;
	const char *what = dd_kind_name(dd_tree_kind(t->id, flags));

	if (blocknr != b) {
		dd_error(b, what, "location field says block %llu",
			 (unsigned long long)blocknr);
		return 0;
	}
	csum = dd_block_csum(n, DD_BTREE_CSUM_XOR);
	if (csum != dd_le32(n)) {
		dd_error(b, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 dd_le32(n), csum);
		return 0;
	}
	if (flags != DD_INTERNAL_NODE && flags != DD_LEAF_NODE) {
		dd_error(b, what, "node flags 0x%x are neither internal (1) nor leaf (2)",
			 flags);
		return 0;
	}
	want_vs = flags == DD_INTERNAL_NODE ? 8 : dd_tree_value_size(t->id);
	if (vs != want_vs) {
		dd_error(b, what, "value size %u, expected %u", vs, want_vs);
		return 0;
	}
	if ((uint64_t)(8 + vs) * max > DD_BLOCK_SIZE - DD_NODE_HEADER_SIZE) {
		dd_error(b, what, "max_entries %u too large for value size %u",
			 max, vs);
		return 0;
	}
	if (nr > max) {
		dd_error(b, what, "nr_entries %u exceeds max_entries %u",
			 nr, max);
		return 0;
	}
	want_max = dd_calc_max_entries(vs);
	if (max != want_max)
		dd_error(b, what, "max_entries %u, expected %u for value size %u",
			 max, want_max, vs);
	if (flags == DD_INTERNAL_NODE && nr == 0) {
		dd_error(b, what, "internal node has no entries");
		return 0;
	}
	return flags;
}

static void dd_walk_node(struct dd_tree *t, uint64_t b, uint32_t level,
			 const struct dd_range *range)
{
	struct dd_meta *m = t->m;
	uint8_t *n = t->bufs[level];
	uint32_t flags, nr, max, vs, i;
	const uint8_t *keys, *values;
	bool order_bad = false, range_bad = false;
	const char *what;

	if (dd_meta_read(m, b, dd_kind_name(dd_tree_kind(t->id, 0)), n)) {
		t->damaged = true;
		return;
	}
	dd_progress("reading metadata blocks", m->visited, m->sb.sm_nr_allocated);
	flags = dd_node_check(t, b, n);
	if (!flags) {
		t->damaged = true;
		return;
	}
	m->kind[b] = dd_tree_kind(t->id, flags);
	what = dd_kind_name(m->kind[b]);

	nr = dd_le32(n + DD_NODE_NR_ENTRIES);
	max = dd_le32(n + DD_NODE_MAX_ENTRIES);
	vs = dd_le32(n + DD_NODE_VALUE_SIZE);
	keys = n + DD_NODE_HEADER_SIZE;
	values = keys + 8ULL * max;

	for (i = 0; i < nr; i++) {
		uint64_t k = dd_le64(keys + 8ULL * i);

		if (!range_bad && (k < range->lo ||
				   (range->has_hi && k >= range->hi))) {
			if (range->has_hi)
				dd_error(b, what, "key %llu at entry %u outside the range [%llu, %llu) of its parent",
					 (unsigned long long)k, i,
					 (unsigned long long)range->lo,
					 (unsigned long long)range->hi);
			else
				dd_error(b, what, "key %llu at entry %u below the lower bound %llu of its parent",
					 (unsigned long long)k, i,
					 (unsigned long long)range->lo);
			range_bad = true;
		}
		if (!order_bad && i > 0 && k <= dd_le64(keys + 8ULL * (i - 1))) {
			dd_error(b, what, "keys not ascending at entry %u", i);
			order_bad = true;
		}
	}

	if (level + 1 > t->depth)
		t->depth = level + 1;

	if (flags == DD_LEAF_NODE) {
		t->nr_leaves++;
		if (!t->leaf_depth)
			t->leaf_depth = level + 1;
		else if (t->leaf_depth != level + 1)
			dd_error(b, what, "leaf at depth %u, but other leaves are at depth %u",
				 level + 1, t->leaf_depth);
		t->nr_entries += nr;
		if (t->entry)
			for (i = 0; i < nr; i++)
				t->entry(t, b, i, dd_le64(keys + 8ULL * i),
					 values + (uint64_t)vs * i);
		return;
	}

	t->nr_internal++;
	if (level + 1 >= DD_MAX_DEPTH) {
		dd_error(b, what, "tree deeper than %u levels", DD_MAX_DEPTH);
		t->damaged = true;
		return;
	}
	for (i = 0; i < nr; i++) {
		uint64_t child = dd_le64(values + 8ULL * i);
		struct dd_range r;

		r.lo = dd_le64(keys + 8ULL * i);
		if (i + 1 < nr) {
			r.hi = dd_le64(keys + 8ULL * (i + 1));
			r.has_hi = true;
		} else {
			r.hi = range->hi;
			r.has_hi = range->has_hi;
		}
		if (!dd_meta_ref(m, child, dd_tree_kind(t->id, 0), b, what)) {
			t->damaged = true;
			continue;
		}
		dd_walk_node(t, child, level + 1, &r);
	}
}

int dd_walk_tree(struct dd_meta *m, struct dd_tree *t, uint64_t root,
		 uint64_t from, const char *from_what)
{
	struct dd_range r = { 0, 0, false };

	t->m = m;
	t->root = root;
	t->nr_internal = 0;
	t->nr_leaves = 0;
	t->nr_entries = 0;
	t->depth = 0;
	t->leaf_depth = 0;
	t->damaged = false;
	t->bufs = malloc(sizeof(*t->bufs) * DD_MAX_DEPTH);
	if (!t->bufs) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	if (dd_meta_ref(m, root, dd_tree_kind(t->id, 0), from, from_what))
		dd_walk_node(t, root, 0, &r);
	else
		t->damaged = true;
	free(t->bufs);
	t->bufs = NULL;
	return 0;
}

/* ------------------------------------------------------------------ */
/* metadata space map */

void dd_sm_check_root(struct dd_sm *sm, const struct dd_sb *sb, uint64_t dev_blocks)
{
	static const char *what = "superblock";

	memset(sm, 0, sizeof(*sm));
	sm->nr_blocks = sb->sm_nr_blocks;
	sm->nr_allocated = sb->sm_nr_allocated;
	sm->bitmap_root = sb->sm_bitmap_root;
	sm->ref_count_root = sb->sm_ref_count_root;
	sm->root_ok = true;

	if (!sm->nr_blocks || sm->nr_blocks > DD_SM_MAX_BLOCKS) {
		dd_error(0, what, "space map size %llu blocks out of range 1..%llu",
			 (unsigned long long)sm->nr_blocks,
			 (unsigned long long)DD_SM_MAX_BLOCKS);
		sm->root_ok = false;
		return;
	}
	if (sm->nr_blocks > dev_blocks)
		dd_error(0, what, "space map covers %llu blocks but the metadata device has only %llu",
			 (unsigned long long)sm->nr_blocks,
			 (unsigned long long)dev_blocks);
	if (sm->nr_allocated > sm->nr_blocks)
		dd_error(0, what, "space map says %llu blocks allocated of %llu",
			 (unsigned long long)sm->nr_allocated,
			 (unsigned long long)sm->nr_blocks);
	sm->nr_bitmaps = (sm->nr_blocks + DD_ENTRIES_PER_BITMAP - 1) /
			 DD_ENTRIES_PER_BITMAP;
}

static unsigned int dd_bitmap_get(const uint8_t *data, uint32_t i)
{
	uint32_t bit = 2 * i;
	unsigned int hi = (data[bit / 8] >> (bit % 8)) & 1;
	unsigned int lo = (data[(bit + 1) / 8] >> ((bit + 1) % 8)) & 1;

	return (hi << 1) | lo;
}

static void dd_sm_bitmap(struct dd_meta *m, struct dd_sm *sm, uint32_t idx,
			 const uint8_t *ie, uint8_t *buf)
{
	static const char *what = "space map bitmap";
	uint64_t b = dd_le64(ie);
	uint32_t nr_free = dd_le32(ie + 8);
	uint32_t none_free_before = dd_le32(ie + 12);
	uint64_t base = (uint64_t)idx * DD_ENTRIES_PER_BITMAP;
	const uint8_t *data = buf + DD_BITMAP_HEADER_SIZE;
	uint32_t i, used = 0, first_free = UINT32_MAX;
	uint32_t csum;
	bool tail_bad = false;

	sm->bitmap_blocks[idx] = b;

	if (!dd_meta_ref(m, b, DD_KIND_SM_BITMAP, sm->bitmap_root,
			 "space map index"))
		return;
	if (dd_meta_read(m, b, what, buf))
		return;
	if (dd_le64(buf + 8) != b) {
		dd_error(b, what, "location field says block %llu",
			 (unsigned long long)dd_le64(buf + 8));
		return;
	}
	csum = dd_block_csum(buf, DD_BITMAP_CSUM_XOR);
	if (csum != dd_le32(buf)) {
		dd_error(b, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 dd_le32(buf), csum);
		return;
	}
	for (i = 0; i < DD_ENTRIES_PER_BITMAP; i++) {
		unsigned int v = dd_bitmap_get(data, i);

		if (v)
			used++;
		else if (first_free == UINT32_MAX)
			first_free = i;
		if (base + i >= sm->nr_blocks) {
			if (v && !tail_bad) {
				dd_error(b, what, "count %u for block %llu beyond the end of the space map",
					 v, (unsigned long long)(base + i));
				tail_bad = true;
			}
			continue;
		}
		sm->count[base + i] = v == 3 ? DD_COUNT_UNKNOWN - 1 : v;
	}
	if (nr_free != DD_ENTRIES_PER_BITMAP - used)
		dd_error(sm->bitmap_root, "space map index", "entry %u (bitmap block %llu) says %u free, the bitmap has %u",
			 idx, (unsigned long long)b, nr_free,
			 DD_ENTRIES_PER_BITMAP - used);
	if (first_free != UINT32_MAX && none_free_before > first_free)
		dd_warning(sm->bitmap_root, "space map index", "entry %u (bitmap block %llu): none_free_before %u but entry %u is free",
			   idx, (unsigned long long)b, none_free_before,
			   first_free);
}

static void dd_sm_overflow_entry(struct dd_tree *t, uint64_t block,
				 uint32_t index, uint64_t key,
				 const uint8_t *value)
{
	struct dd_sm *sm = t->priv;
	uint32_t c = dd_le32(value);
	static const char *what = "space map refcount tree leaf";

	sm->overflow_entries++;
	if (key >= sm->nr_blocks) {
		dd_error(block, what, "entry %u for block %llu beyond the space map",
			 index, (unsigned long long)key);
		return;
	}
	if (c < 3) {
		dd_error(block, what, "entry %u: block %llu has count %u, below 3",
			 index, (unsigned long long)key, c);
		return;
	}
	if (sm->count[key] == DD_COUNT_UNKNOWN)
		return;		/* its bitmap is unreadable */
	if (sm->count[key] != DD_COUNT_UNKNOWN - 1) {
		dd_warning(block, what, "stale entry %u: block %llu has count %u in its bitmap",
			   index, (unsigned long long)key, sm->count[key]);
		return;
	}
	sm->count[key] = c == DD_COUNT_UNKNOWN - 1 ? c - 1 : c;
}

int dd_sm_load(struct dd_meta *m, struct dd_sm *sm)
{
	static const char *what = "space map index";
	uint8_t *idx, *buf;
	uint32_t i, csum;
	uint64_t b;

	sm->complete = false;
	if (!sm->root_ok)
		return 0;
	sm->count = malloc(sm->nr_blocks * sizeof(*sm->count));
	idx = malloc(DD_BLOCK_SIZE);
	buf = malloc(DD_BLOCK_SIZE);
	if (!sm->count || !idx || !buf) {
		fprintf(stderr, "out of memory for the space map\n");
		free(idx);
		free(buf);
		return -1;
	}
	for (b = 0; b < sm->nr_blocks; b++)
		sm->count[b] = DD_COUNT_UNKNOWN;

	if (!dd_meta_ref(m, sm->bitmap_root, DD_KIND_SM_INDEX, 0, "superblock"))
		goto out;
	if (dd_meta_read(m, sm->bitmap_root, what, idx))
		goto out;
	if (dd_le64(idx + 8) != sm->bitmap_root) {
		dd_error(sm->bitmap_root, what, "location field says block %llu",
			 (unsigned long long)dd_le64(idx + 8));
		goto out;
	}
	csum = dd_block_csum(idx, DD_INDEX_CSUM_XOR);
	if (csum != dd_le32(idx)) {
		dd_error(sm->bitmap_root, what, "checksum mismatch (stored 0x%08x, computed 0x%08x)",
			 dd_le32(idx), csum);
		goto out;
	}
	for (i = 0; i < DD_MAX_METADATA_BITMAPS; i++) {
		const uint8_t *ie = idx + DD_INDEX_HEADER_SIZE +
				    DD_INDEX_ENTRY_SIZE * i;

		if (i < sm->nr_bitmaps) {
			dd_sm_bitmap(m, sm, i, ie, buf);
			continue;
		}
		if (!dd_all_zero(ie, DD_INDEX_ENTRY_SIZE, NULL)) {
			dd_warning(sm->bitmap_root, what, "unused entry %u is not zero",
				   i);
			break;
		}
	}

	memset(&sm->overflow, 0, sizeof(sm->overflow));
	sm->overflow.id = DD_TREE_SMREF;
	sm->overflow.entry = dd_sm_overflow_entry;
	sm->overflow.priv = sm;
	if (dd_walk_tree(m, &sm->overflow, sm->ref_count_root, 0, "superblock"))
		goto fail;

	sm->complete = true;
	for (b = 0; b < sm->nr_blocks; b++) {
		if (sm->count[b] == DD_COUNT_UNKNOWN - 1) {
			if (!sm->overflow.damaged)
				dd_error(sm->bitmap_blocks[b / DD_ENTRIES_PER_BITMAP],
					 "space map bitmap",
					 "block %llu has count above 2, but the space map refcount tree has no entry for it",
					 (unsigned long long)b);
			sm->count[b] = DD_COUNT_UNKNOWN;
		}
		if (sm->count[b] == DD_COUNT_UNKNOWN)
			sm->complete = false;
	}
out:
	free(idx);
	free(buf);
	return 0;
fail:
	free(idx);
	free(buf);
	return -1;
}

void dd_sm_free(struct dd_sm *sm)
{
	free(sm->count);
	sm->count = NULL;
}

/* ------------------------------------------------------------------ */

void dd_hex(char *out, const uint8_t *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * len] = '\0';
}

void dd_uuid_str(char *out, const uint8_t *u)
{
	char hex[33];

	dd_hex(hex, u, 16);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8,
		 hex + 12, hex + 16, hex + 20);
}

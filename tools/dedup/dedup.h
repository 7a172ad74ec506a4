/* SPDX-License-Identifier: GPL-2.0 */
/*
 * dedup.h - the dm-dedup layer of the tools, on top of pdata/: the
 * superblock (through the format header's dedup_sb_pack/unpack), the
 * layout of the metadata device (region A and the bulk region), the
 * sparse arrays, the loading of an image (dedup_check, dedup_dump,
 * ddcorrupt), an image builder fed entries in order (dedup_restore,
 * ddgen) with what the tools that write images share, and the size and
 * number arguments.  include/dm-dedup-format.h is the specification; this
 * restates nothing of it but what reading needs.
 */
#ifndef DEDUP_DEDUP_H
#define DEDUP_DEDUP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "dm-dedup-format.h"
#include "ddhash.h"
#include "pdata/btree.h"
#include "pdata/dev.h"
#include "pdata/refs.h"
#include "pdata/sm.h"

#define DD_BLOCK_SIZE	DEDUP_METADATA_BLOCK_SIZE

/* ------------------------------------------------------------------ */
/* superblock */

struct dd_super {
	struct dedup_sb sb;
	uint32_t csum;
	uint64_t blocknr;
	uint32_t padding;
	struct pd_sm_root msm;		/* metadata_space_map_root */
	struct pd_sm_root bsm;		/* bulk_space_map_root */
	enum dd_hash_alg alg;
	bool data_ok;		/* data_block_size and data_nr_blocks usable */
	bool fp_ok;		/* fp_size usable */
	bool bulk;		/* DEDUP_INCOMPAT_BULK */
	/*
	 * DEDUP_INCOMPAT_STALE_FP: a free block (count 0) may keep its
	 * fingerprint, which then means nothing; without it fp[p] is
	 * non-zero exactly where refcount[p] is.
	 */
	bool stale_fp;
	char hash[DEDUP_HASH_NAME_LEN + 1];
};

enum dd_sb_status {
	DD_SB_OK = 0,		/* usable, maybe with reported errors */
	DD_SB_BAD,		/* not usable: reported */
	DD_SB_REFUSE,		/* another version or unknown features */
};

void dd_super_decode(const uint8_t *blk, struct dd_super *s);
/*
 * Decodes and validates block 0 (in blk) of a device of dev_blocks
 * blocks; reports what is wrong.
 */
enum dd_sb_status dd_super_check(const uint8_t *blk, struct dd_super *s,
				 uint64_t dev_blocks);
/* Packs sb into blk (4096 bytes) with its location and checksum. */
void dd_super_encode(const struct dedup_sb *sb, uint8_t *blk);

/* ------------------------------------------------------------------ */
/* layout */

/* Where blocks of each kind may be: region A and the bulk region. */
struct dd_layout {
	uint64_t dev_blocks;
	uint64_t a_blocks;	/* blocks sm_metadata covers */
	bool bulk;
	uint64_t bulk_start;
	uint64_t bulk_nr;
};

void dd_layout_from_super(const struct dd_super *s, uint64_t dev_blocks,
			  struct dd_layout *l);

/* ------------------------------------------------------------------ */
/* sparse arrays */

enum dd_array_id {
	DD_A_LBN,
	DD_A_REFCOUNT,
	DD_A_FP,
	DD_A_SUMMARY,
	DD_A_SAVE,
	DD_A_SAVE_DIR,
	DD_NR_ARRAYS,
};

const char *dd_array_name(enum dd_array_id id);
uint32_t dd_array_kind(enum dd_array_id id);
uint32_t dd_array_entry_size(enum dd_array_id id, uint32_t fp_size);
__u64 *dd_array_root(struct dedup_sb *sb, enum dd_array_id id);

struct dd_ablock {
	uint64_t bidx;		/* array-block index */
	uint64_t loc;		/* device block */
	uint64_t leaf;		/* btree leaf that maps it */
};

/* An array as its btree says it is. */
struct dd_array {
	enum dd_array_id id;
	const char *name;
	uint32_t kind;
	uint32_t entry_size;
	uint32_t per_block;
	const struct dd_layout *lay;
	struct pd_btree tree;
	uint8_t kind_block;	/* "lbn array block" */
	char block_what[48];
	struct dd_ablock *blocks;	/* in index order */
	size_t nr_blocks;
	size_t cap_blocks;
	uint64_t bad_blocks;	/* blocks that failed validation */
	uint64_t nonzero;	/* non-zero entries (after reading them) */
};

/*
 * Walks the btree of array id at root: every node and every array block
 * is counted in c->refs; each array block must lie in region A or in the
 * bulk region.
 */
void dd_array_load(struct pd_ctx *c, struct dd_array *a, enum dd_array_id id,
		   uint32_t fp_size, uint64_t root, const struct dd_layout *lay);
/*
 * Reads array block i (of a->blocks) into blk and validates its header
 * (checksum, location, kind, index, entry size); 0, or -1 reported.
 */
int dd_array_read(struct pd_ctx *c, struct dd_array *a, size_t i,
		  uint8_t *blk);
void dd_array_free(struct dd_array *a);

/*
 * A cursor over the non-zero entries of an array, in index order.  Each
 * array block is read (and validated) once, when the cursor reaches it;
 * blocks that fail are skipped.
 */
struct dd_cursor {
	struct pd_ctx *c;
	struct dd_array *a;
	size_t i;		/* current block in a->blocks */
	long loaded;		/* block in blk, -1 none */
	bool ok;
	uint64_t block;		/* device block of the last entry */
	uint8_t blk[DD_BLOCK_SIZE];
};

void dd_cursor_init(struct dd_cursor *cur, struct pd_ctx *c,
		    struct dd_array *a);
/* The first non-zero entry at index >= from; false at the end. */
bool dd_cursor_next(struct dd_cursor *cur, uint64_t from, uint64_t *idx,
		    const uint8_t **entry);

/* ------------------------------------------------------------------ */
/* loading an image */

/*
 * A metadata device or image as every reader of it loads it: the device,
 * its superblock and layout, both space maps, and the btree of every
 * array walked, each block reached counted in c.refs.
 */
struct dd_meta {
	struct pd_dev dev;
	struct dd_super s;
	struct dd_layout lay;
	struct pd_ctx c;
	struct pd_sm msm;
	struct pd_sm bsm;
	struct dd_array a[DD_NR_ARRAYS];
};

enum dd_meta_status {
	DD_META_OK = 0,
	DD_META_IO,		/* block 0 could not be read: reported */
	DD_META_SHORT,		/* smaller than one block: not reported */
	DD_META_BAD,		/* the superblock is not usable: reported */
	DD_META_REFUSE,		/* another version or unknown features */
};

/* Nothing open: dd_meta_free() may follow any step. */
void dd_meta_init(struct dd_meta *m);
/* Opens path (writable for a tool that changes it); -1 reported. */
int dd_meta_open(struct dd_meta *m, const char *path, bool writable);
/* Whole blocks on the device. */
uint64_t dd_meta_blocks(const struct dd_meta *m);
/* Reads block 0 and checks the superblock (dd_super_check()). */
enum dd_meta_status dd_meta_read_super(struct dd_meta *m);
/*
 * The layout, the space maps and the arrays' btrees of a superblock
 * dd_meta_read_super() accepted; damage found is reported.
 */
void dd_meta_load(struct dd_meta *m);
void dd_meta_free(struct dd_meta *m);

/* ------------------------------------------------------------------ */
/* building an image */

/*
 * A metadata image written bottom-up in one pass: btree nodes and
 * space-map blocks are allocated in ascending order in region A from
 * block 1, array blocks in the bulk region when there is one (else in
 * region A); every allocated block gets count 1.  dd_builder_finish()
 * writes the space maps and, last, the superblock.
 */
struct dd_builder {
	struct pd_dev dev;
	struct pd_writer w;
	uint64_t nr_blocks;	/* metadata device */
	uint64_t a_blocks;	/* region A */
	uint64_t a_next;
	bool bulk;
	uint64_t bulk_start;
	uint64_t bulk_nr;
	uint64_t b_next;	/* next bulk block (relative) */
	uint32_t fill;		/* btree node fill, percent */
	bool full;		/* an allocation failed: reported */
	struct dedup_sb sb;
};

/* Opens path for an image of nr_blocks blocks (a file is made sparse). */
int dd_builder_open(struct dd_builder *b, const char *path,
		    uint64_t nr_blocks, uint32_t fill);
int dd_alloc_node(void *ctx, uint64_t *blk);
int dd_alloc_array_block(void *ctx, uint64_t *blk);
/* Space maps, then the superblock b->sb (roots and geometry filled in). */
int dd_builder_finish(struct dd_builder *b);
void dd_builder_close(struct dd_builder *b);

/* Writes one array in ascending index order. */
struct dd_array_writer {
	struct dd_builder *b;
	enum dd_array_id id;
	uint32_t entry_size;
	uint32_t per_block;
	struct pd_btree_builder bb;
	uint8_t blk[DD_BLOCK_SIZE];
	uint64_t bidx;
	bool have;		/* blk holds block bidx */
	bool nonzero;		/* ... with a non-zero entry */
	uint64_t last_idx;
	uint64_t nr_entries;	/* non-zero entries put */
	uint64_t nr_blocks;	/* array blocks written */
};

void dd_aw_init(struct dd_array_writer *aw, struct dd_builder *b,
		enum dd_array_id id, uint32_t fp_size);
/* Entry idx (ascending; all-zero entries are skipped). */
int dd_aw_put(struct dd_array_writer *aw, uint64_t idx, const void *entry);
/* Writes what is left and sets the array's root in b->sb. */
int dd_aw_finish(struct dd_array_writer *aw);

/*
 * The entries of an image in the one order that makes the same image
 * from the same entries, whoever gives them (dedup_restore, ddgen): the
 * LBNs in ascending order, then the PBNs in ascending order with their
 * count and fingerprint (the summary array is computed from them), each
 * list finished before the next starts.  The saved index stays empty:
 * the module rebuilds its index from the fp array.
 */
struct dd_feed {
	struct dd_array_writer aw[DD_NR_ARRAYS];
	uint64_t mapped, zero, unique;
	uint64_t chunk;
	uint32_t chunk_used;
	bool chunk_open;
	bool lbns_done, pbns_done;
};

void dd_feed_init(struct dd_feed *fd, struct dd_builder *b, uint32_t fp_size);
/* value: DEDUP_LBN_ZERO or PBN + DEDUP_LBN_PBN_BASE */
int dd_feed_lbn(struct dd_feed *fd, uint64_t lbn, uint64_t value);
int dd_feed_lbns_done(struct dd_feed *fd);
int dd_feed_pbn(struct dd_feed *fd, uint64_t pbn, uint32_t count,
		const uint8_t *fp);
int dd_feed_pbns_done(struct dd_feed *fd);
/* Finishes every array; then dd_builder_finish(). */
int dd_feed_finish(struct dd_feed *fd);

/* ------------------------------------------------------------------ */
/* the tools that write an image (dedup_restore, ddgen) */

struct dd_image {
	const char *output;	/* --output */
	uint64_t meta_blocks;	/* --metadata-size; 0: the tool's default */
	uint32_t fill;		/* --fill: btree node fill, percent (100) */
	bool quiet;		/* --quiet: no summary line */
	struct dd_builder b;
	bool opened;
};

/* A tool that writes an image. */
struct dd_image_tool {
	const char *prog;
	const char *shortopts;		/* its own short options, or NULL */
	/*
	 * Its own long options up to a NULL: "name", or "name=" if it takes
	 * an argument; the i-th is option DD_IMAGE_OPT + i.
	 */
	const char *const *longopts;
	void (*help)(FILE *f);
	/* its own option o, whose argument is in optarg: 0, -1 reported */
	int (*option)(void *ctx, int o);
	/* after the options: 0, -1 reported */
	int (*check)(void *ctx);
	/* writes the image: the exit status */
	int (*write)(void *ctx);
};

/*
 * The main() of tool t, ctx its state, im in it: parses the options, its
 * own and those every image writer takes (-o/--output, -s/--metadata-size,
 * --fill, -q/--quiet, -h/--help), then writes the image with t->write(),
 * prints the summary line unless --quiet and closes the builder.  The exit
 * status: t->write()'s, or 2 after a usage error.
 */
int dd_image_main(const struct dd_image_tool *t, struct dd_image *im,
		  void *ctx, int argc, char **argv);
#define DD_IMAGE_OPT	0x100
/* Opens the builder on --output, of --metadata-size or else nr_blocks. */
int dd_image_open(struct dd_image *im, uint64_t nr_blocks);

/* ------------------------------------------------------------------ */
/* sizing (dedup_metadata_size, dedup_setup) */

/*
 * The metadata device and index RAM a target needs (dd_msize()).  The
 * sizes are in bytes, the counts in blocks; doubles, as the estimate is.
 */
struct dd_msize {
	/* in */
	double data, logical;
	double ratio;		/* mapped logical blocks per unique block */
	bool have_logical;	/* else data x ratio */
	bool have_ratio;	/* else logical / data, or 1 */
	uint32_t block_size;
	enum dd_hash_alg alg;
	/* out: the device */
	double data_blocks, lbns, unique;
	double arrays;		/* array blocks, saved index included */
	double saved;		/* array blocks of the saved index */
	double saved_per_unique;	/* its bytes per unique block */
	double a_used, bulk;	/* region A used, bulk region */
	double need;		/* metadata blocks needed */
	double meta;		/* metadata device to use, blocks */
	bool fits;		/* in one metadata device */
	double index_ram, alloc_ram, index_ram_per_unique;	/* bytes */
	/* out: per block, and the largest device written once */
	double per_unique, per_saved, per_lbn;
	double max_a_unique, max_unique;	/* unique blocks */
	double max_meta;	/* bytes */
};

void dd_msize(struct dd_msize *z);

/* ------------------------------------------------------------------ */
/* misc */

void dd_hex(char *out, const uint8_t *p, size_t len);
/* 2 * len hex digits into len bytes; -1 if malformed */
int dd_unhex(uint8_t *out, const char *hex, size_t len);
void dd_uuid_str(char *out, const uint8_t *uuid);
int dd_uuid_parse(uint8_t *uuid, const char *s);
/*
 * A size: digits with an optional fraction, then an optional suffix: b or
 * B bytes (the default), s 512-byte sectors, K M G T P (either case)
 * powers of 1024, optionally followed by i, B or iB; a fraction of a
 * byte is dropped.  0, or -1 if malformed or beyond 2^64 - 1 bytes.
 */
int dd_parse_size(const char *s, uint64_t *bytes);
/* A decimal number for option opt; -1 reported as "opt wants a number". */
int dd_parse_number(const char *opt, const char *arg, uint64_t *v);
/* Content of generated data block id (ddgen). */
void dd_fill_content(uint8_t *buf, uint32_t size, uint64_t id);
/* Its last 128 bytes, the only ones that differ between blocks. */
void dd_fill_tail(uint8_t *tail, uint64_t id);

#endif /* DEDUP_DEDUP_H */

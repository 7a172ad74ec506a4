/* SPDX-License-Identifier: GPL-2.0 */
/*
 * refs.h - what a walk of the metadata reached: for every block of the
 * device, how many references it has (saturating) and what it was first
 * reached as.  A block reached twice is reported and not descended into
 * again, so damaged metadata can neither loop a walk nor make it read a
 * block twice.
 *
 * Kinds are small numbers with a name ("lbn tree leaf"), registered once.
 */
#ifndef PDATA_REFS_H
#define PDATA_REFS_H

#include <stdbool.h>
#include <stdint.h>

#include "pdata/dev.h"

#define PD_KIND_NONE	0	/* "unreferenced metadata" */
#define PD_MAX_KINDS	128

/* The kind called name, registered on first use. */
uint8_t pd_kind(const char *name);
const char *pd_kind_name(uint8_t kind);

struct pd_refs {
	uint64_t nr_blocks;
	uint8_t *count;		/* references, saturating at 255 */
	uint8_t *kind;		/* kind of the first reference */
};

void pd_refs_init(struct pd_refs *r, uint64_t nr_blocks);
void pd_refs_reset(struct pd_refs *r);
void pd_refs_free(struct pd_refs *r);

/*
 * The context of a read-only walk: the device, the reference map, and
 * the limit below which btree nodes and space-map blocks must lie (the
 * blocks the metadata space map covers).
 */
struct pd_ctx {
	struct pd_dev *dev;
	struct pd_refs refs;
	uint64_t dev_blocks;	/* whole blocks on the device */
	uint64_t node_limit;
	const char *limit_what;	/* "the metadata space map" */
	uint64_t visited;	/* blocks read, for progress */
	uint64_t expected;	/* blocks expected, for progress */
};

/*
 * Counts a reference from block from (from_what) to b, reached as kind;
 * b must be below limit (what limit_what names).  Reports a reference out
 * of range and a second reference.  True when the caller should read b.
 */
bool pd_ref(struct pd_ctx *c, uint64_t b, uint8_t kind, uint64_t limit,
	    const char *limit_what, uint64_t from, const char *from_what);
/* pd_ref() with the context's node limit. */
bool pd_ref_node(struct pd_ctx *c, uint64_t b, uint8_t kind, uint64_t from,
		 const char *from_what);

/* Reads block b: 0, or -1 reported as an error naming what. */
int pd_read_block(struct pd_ctx *c, uint64_t b, const char *what, void *buf);

/* crc32c of bytes 4..4095, xor seed: dm-persistent-data's checksum */
uint32_t pd_block_csum(const void *blk, uint32_t xor);
void pd_block_set_csum(void *blk, uint32_t xor);
/* true when len bytes are zero; *first (if not NULL) the first that is not */
bool pd_all_zero(const void *p, size_t len, size_t *first);

#endif /* PDATA_REFS_H */

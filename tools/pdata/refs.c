// SPDX-License-Identifier: GPL-2.0
/*
 * refs.c - reference map, kinds, checked block reads, block checksums.
 */
#include <stdlib.h>
#include <string.h>

#include "ddhash.h"
#include "pdata/le.h"
#include "pdata/log.h"
#include "pdata/refs.h"

static const char *kind_names[PD_MAX_KINDS] = { "unreferenced metadata" };
static unsigned int nr_kinds = 1;

uint8_t pd_kind(const char *name)
{
	unsigned int i;
	size_t len;
	char *copy;

	for (i = 0; i < nr_kinds; i++)
		if (!strcmp(kind_names[i], name))
			return i;
	if (nr_kinds == PD_MAX_KINDS) {
		fprintf(stderr, "%s: too many block kinds\n", pd_prog);
		exit(2);
	}
	len = strlen(name) + 1;
	copy = pd_malloc(len);
	memcpy(copy, name, len);
	kind_names[nr_kinds] = copy;
	return nr_kinds++;
}

const char *pd_kind_name(uint8_t kind)
{
	return kind < nr_kinds ? kind_names[kind] : "?";
}

void pd_refs_init(struct pd_refs *r, uint64_t nr_blocks)
{
	r->nr_blocks = nr_blocks;
	r->count = pd_calloc(nr_blocks, 1);
	r->kind = pd_calloc(nr_blocks, 1);
}

void pd_refs_reset(struct pd_refs *r)
{
	memset(r->count, 0, r->nr_blocks);
	memset(r->kind, 0, r->nr_blocks);
}

void pd_refs_free(struct pd_refs *r)
{
	free(r->count);
	free(r->kind);
	r->count = NULL;
	r->kind = NULL;
}

bool pd_ref(struct pd_ctx *c, uint64_t b, uint8_t kind, uint64_t limit,
	    const char *limit_what, uint64_t from, const char *from_what)
{
	struct pd_refs *r = &c->refs;

	if (b >= limit || b >= r->nr_blocks) {
		pd_error(from, from_what, "reference to block %llu (%s) beyond the %llu blocks of %s",
			 (unsigned long long)b, pd_kind_name(kind),
			 (unsigned long long)limit, limit_what);
		return false;
	}
	if (r->count[b] < 255)
		r->count[b]++;
	if (r->count[b] > 1) {
		pd_error(b, pd_kind_name(kind), "referenced again by block %llu (%s); first reached as %s",
			 (unsigned long long)from, from_what,
			 pd_kind_name(r->kind[b]));
		return false;
	}
	r->kind[b] = kind;
	return true;
}

bool pd_ref_node(struct pd_ctx *c, uint64_t b, uint8_t kind, uint64_t from,
		 const char *from_what)
{
	return pd_ref(c, b, kind, c->node_limit, c->limit_what, from,
		      from_what);
}

int pd_read_block(struct pd_ctx *c, uint64_t b, const char *what, void *buf)
{
	int r;

	if (b >= c->dev_blocks) {
		pd_error(b, what, "beyond the end of the metadata device (%llu blocks)",
			 (unsigned long long)c->dev_blocks);
		return -1;
	}
	r = pd_dev_read(c->dev, b * PD_BLOCK_SIZE, buf, PD_BLOCK_SIZE);
	if (r > 0) {
		pd_error(b, what, "beyond the end of the metadata device");
		return -1;
	}
	if (r < 0) {
		pd_error(b, what, "read error");
		return -1;
	}
	c->visited++;
	pd_progress("reading metadata blocks", c->visited, c->expected);
	return 0;
}

uint32_t pd_block_csum(const void *blk, uint32_t xor)
{
	return dd_crc32c(~0U, (const uint8_t *)blk + 4, PD_BLOCK_SIZE - 4) ^
		xor;
}

void pd_block_set_csum(void *blk, uint32_t xor)
{
	pd_put_le32(blk, pd_block_csum(blk, xor));
}

bool pd_all_zero(const void *p, size_t len, size_t *first)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++) {
		if (b[i]) {
			if (first)
				*first = i;
			return false;
		}
	}
	return true;
}

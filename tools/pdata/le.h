/* SPDX-License-Identifier: GPL-2.0 */
/*
 * le.h - little-endian loads and stores at any alignment, for the
 * persistent-data layer, which reads blocks as byte arrays.
 */
#ifndef PDATA_LE_H
#define PDATA_LE_H

#include <stdint.h>

static inline uint32_t pd_le32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) |
	       ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 24);
}

static inline uint64_t pd_le64(const void *p)
{
	const uint8_t *b = p;

	return (uint64_t)pd_le32(b) | ((uint64_t)pd_le32(b + 4) << 32);
}

static inline void pd_put_le32(void *p, uint32_t v)
{
	uint8_t *b = p;

	b[0] = v;
	b[1] = v >> 8;
	b[2] = v >> 16;
	b[3] = v >> 24;
}

static inline void pd_put_le64(void *p, uint64_t v)
{
	pd_put_le32(p, (uint32_t)v);
	pd_put_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

#endif /* PDATA_LE_H */

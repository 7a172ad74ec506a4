// SPDX-License-Identifier: GPL-2.0
/*
 * shim.c - the kernel functions of include/unit-kernel.h, for a single
 * thread: warnings and messages are printed and counted, locks and the
 * contexts that may sleep are checked, allocations are counted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "unit-kernel.h"

unsigned long unit_warnings;
unsigned long unit_messages;
unsigned long unit_shim_errors;
int unit_atomic;
long unit_allocations;

/*
 * Warnings and messages
 */
void unit_warn(const char *file, int line, const char *what)
{
	unit_warnings++;
	printf("  WARNING: %s:%d: WARN_ON(%s)\n", file, line, what);
}

void unit_print(unsigned long *counter, const char *prefix, const char *fmt,
		...)
{
	size_t len = strlen(fmt);
	va_list ap;

	(*counter)++;
	printf("  %s", prefix);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!len || fmt[len - 1] != '\n')
		putchar('\n');
}

void unit_bug(const char *file, int line, const char *what)
{
	printf("  BUG: %s:%d: %s\n", file, line, what);
	fflush(stdout);
	abort();
}

/*
 * Locks
 */
void might_sleep(void)
{
	if (unit_atomic)
		unit_shim_error("sleeping with %d spinlock(s) held", unit_atomic);
}

void spin_lock_init(spinlock_t *l)
{
	l->held = 0;
}

void spin_lock(spinlock_t *l)
{
	if (l->held)
		unit_shim_error("spinlock %p taken while held (deadlock)", l);
	l->held = 1;
	unit_atomic++;
}

void spin_unlock(spinlock_t *l)
{
	if (!l->held)
		unit_shim_error("spinlock %p released while not held", l);
	l->held = 0;
	unit_atomic--;
}

bool unit_lock_held(const spinlock_t *l)
{
	return l->held;
}

void mutex_init(struct mutex *m)
{
	m->held = 0;
}

void mutex_lock(struct mutex *m)
{
	might_sleep();
	if (m->held)
		unit_shim_error("mutex %p taken while held (deadlock)", m);
	m->held = 1;
}

int mutex_trylock(struct mutex *m)
{
	if (m->held)
		return 0;
	m->held = 1;
	return 1;
}

void mutex_unlock(struct mutex *m)
{
	if (!m->held)
		unit_shim_error("mutex %p released while not held", m);
	m->held = 0;
}

/*
 * Memory: a header before each block tells its kind and usable size.
 */
#define KIND_KMALLOC	0x6b6d616cU
#define KIND_VMALLOC	0x766d616cU
#define KIND_FREED	0x66726565U
#define KMALLOC_MAX	(4UL << 20)
#define VMALLOC_MAX	(1UL << 40)

struct block_header {
	size_t size;		/* usable bytes */
	unsigned int kind;
	unsigned int padding;
};

static struct block_header *header_of(const void *p)
{
	return (struct block_header *)p - 1;
}

static void *block_alloc(size_t size, gfp_t gfp, unsigned int kind)
{
	struct block_header *h;

	if (gfp & __GFP_DIRECT_RECLAIM)
		might_sleep();
	h = malloc(sizeof(*h) + size);
	if (!h)
		return NULL;
	h->size = size;
	h->kind = kind;
	if (gfp & __GFP_ZERO)
		memset(h + 1, 0, size);
	unit_allocations++;
	return h + 1;
}

static void block_free(const void *p, unsigned int kind)
{
	struct block_header *h;

	if (!p)
		return;
	h = header_of(p);
	if (h->kind != kind) {
		unit_shim_error("freeing %p (kind %#x) as kind %#x", p, h->kind,
				kind);
		return;
	}
	h->kind = KIND_FREED;
	unit_allocations--;
	free(h);
}

void *kmalloc(size_t size, gfp_t gfp)
{
	size_t rounded = 8;

	if (size > KMALLOC_MAX)
		return NULL;
	while (rounded < size)
		rounded <<= 1;
	return block_alloc(rounded, gfp, KIND_KMALLOC);
}

void kfree(const void *p)
{
	block_free(p, KIND_KMALLOC);
}

size_t ksize(const void *p)
{
	return p ? header_of(p)->size : 0;
}

void *__vmalloc(unsigned long size, gfp_t gfp)
{
	might_sleep();
	if (size > VMALLOC_MAX)
		return NULL;
	return block_alloc(PAGE_ALIGN(size), gfp, KIND_VMALLOC);
}

void vfree(const void *p)
{
	might_sleep();
	block_free(p, KIND_VMALLOC);
}

bool is_vmalloc_addr(const void *p)
{
	return p && header_of(p)->kind == KIND_VMALLOC;
}

/* Small requests from kmalloc, larger ones from vmalloc. */
void *kvmalloc(size_t size, gfp_t gfp)
{
	if (size <= PAGE_SIZE)
		return kmalloc(size, gfp);
	return __vmalloc(size, gfp);
}

void kvfree(const void *p)
{
	if (is_vmalloc_addr(p))
		vfree(p);
	else
		kfree(p);
}

unsigned int memalloc_noio_save(void)
{
	return 0;
}

void memalloc_noio_restore(unsigned int flags)
{
}

unsigned int memalloc_nofs_save(void)
{
	return 0;
}

void memalloc_nofs_restore(unsigned int flags)
{
}

/*
 * Bit operations
 */
#define WORD(nr)	((nr) / BITS_PER_LONG)
#define MASK(nr)	(1UL << ((nr) % BITS_PER_LONG))

bool test_bit(unsigned long nr, const unsigned long *addr)
{
	return addr[WORD(nr)] & MASK(nr);
}

void __set_bit(unsigned long nr, unsigned long *addr)
{
	addr[WORD(nr)] |= MASK(nr);
}

void __clear_bit(unsigned long nr, unsigned long *addr)
{
	addr[WORD(nr)] &= ~MASK(nr);
}

bool __test_and_set_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__set_bit(nr, addr);
	return old;
}

bool __test_and_clear_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__clear_bit(nr, addr);
	return old;
}

/* The first bit >= offset that differs from flip (0 or ~0UL); size if none. */
static unsigned long find_next(const unsigned long *addr, unsigned long size,
			       unsigned long offset, unsigned long flip)
{
	while (offset < size) {
		unsigned long w = (addr[WORD(offset)] ^ flip) >>
			(offset % BITS_PER_LONG);

		if (w) {
			offset += __builtin_ctzl(w);
			return offset < size ? offset : size;
		}
		offset = (offset | (BITS_PER_LONG - 1)) + 1;
	}
	return size;
}

unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
			    unsigned long offset)
{
	return find_next(addr, size, offset, 0);
}

unsigned long find_next_zero_bit(const unsigned long *addr,
				 unsigned long size, unsigned long offset)
{
	return find_next(addr, size, offset, ~0UL);
}

void bitmap_zero(unsigned long *map, unsigned int nbits)
{
	memset(map, 0, BITS_TO_LONGS(nbits) * sizeof(long));
}

void bitmap_fill(unsigned long *map, unsigned int nbits)
{
	bitmap_zero(map, nbits);
	bitmap_set(map, 0, nbits);
}

void bitmap_set(unsigned long *map, unsigned int start, unsigned int len)
{
	while (len--)
		__set_bit(start++, map);
}

void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len)
{
	while (len--)
		__clear_bit(start++, map);
}

unsigned int bitmap_weight(const unsigned long *map, unsigned int nbits)
{
	unsigned int i, n = 0;

	for (i = 0; i < nbits; i++)
		n += test_bit(i, map);
	return n;
}

unsigned long *bitmap_alloc(unsigned int nbits, gfp_t gfp)
{
	return kmalloc_array(BITS_TO_LONGS(nbits), sizeof(long), gfp);
}

unsigned long *bitmap_zalloc(unsigned int nbits, gfp_t gfp)
{
	return bitmap_alloc(nbits, gfp | __GFP_ZERO);
}

void bitmap_free(const unsigned long *map)
{
	kfree(map);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * unit-kernel.h - the part of the kernel API that dm-dedup-alloc.c and
 * dm-dedup-index.c use, for a single-threaded host build of those two files
 * (tests/host/unit.sh).  Every <linux/...>, <asm/...> and persistent-data
 * header they include is a file of one line here that includes this one.
 * The functions are in ../shim.c.  On top of what the kernel does:
 *
 *  - WARN_ON() and WARN_ON_ONCE() count each time their condition is true
 *    (unit_warnings), not only the first time, so that tests can count.
 *  - Locks: taking a lock held, releasing one not held, sleeping (a mutex,
 *    a GFP_KERNEL allocation, vfree) with a spinlock held is counted as a
 *    shim error (unit_shim_errors), which fails the test.
 *  - kmalloc() rounds up to a power of two (as its caches do) and ksize()
 *    tells; vmalloc rounds up to pages.  Every allocation is counted
 *    (unit_allocations) so that a test can check that nothing leaked.
 */
#ifndef UNIT_KERNEL_H
#define UNIT_KERNEL_H

#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <asm/types.h>

/* For include/dm-dedup-format.h: the kernel side of its helpers. */
#ifndef __KERNEL__
#define __KERNEL__ 1
#endif

/* Types */
typedef __s8 s8;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;
typedef __u16 __le16;
typedef __u32 __le32;
typedef __u64 __le64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u64 __be64;
typedef unsigned int gfp_t;
typedef u64 sector_t;

struct list_head {
	struct list_head *next, *prev;
};

struct hlist_head {
	struct hlist_node *first;
};

struct hlist_node {
	struct hlist_node *next, **pprev;
};

/* Attributes and compiler helpers */
#define __packed		__attribute__((__packed__))
#define __aligned(x)		__attribute__((__aligned__(x)))
#define __printf(a, b)		__attribute__((__format__(printf, a, b)))
#define __maybe_unused		__attribute__((__unused__))
#define __always_unused		__attribute__((__unused__))
#define __must_check		__attribute__((__warn_unused_result__))
#ifndef __always_inline
#define __always_inline		inline __attribute__((__always_inline__))
#endif
#define noinline		__attribute__((__noinline__))
#define __cold			__attribute__((__cold__))
#define fallthrough		__attribute__((__fallthrough__))
#define __rcu
#define __percpu
#define __iomem
#define __user
#define __force
#define __bitwise
#define likely(x)		__builtin_expect(!!(x), 1)
#define unlikely(x)		__builtin_expect(!!(x), 0)

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define smp_load_acquire(p)	__atomic_load_n((p), __ATOMIC_ACQUIRE)
#define smp_store_release(p, v)	__atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define smp_mb()		__sync_synchronize()
#define smp_rmb()		__sync_synchronize()
#define smp_wmb()		__sync_synchronize()
#define barrier()		__asm__ __volatile__("" ::: "memory")
#define cmpxchg(p, o, n) ({						\
	__typeof__(*(p)) __unit_o = (o), __unit_n = (n);		\
	__sync_val_compare_and_swap((p), __unit_o, __unit_n);		\
})
#define xchg(p, v)		__atomic_exchange_n((p), (v), __ATOMIC_SEQ_CST)

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define BITS_PER_LONG		64
#define BITS_PER_BYTE		8
#define BITS_TO_LONGS(n)	DIV_ROUND_UP(n, BITS_PER_LONG)
#define BIT(n)			(1UL << (n))
#define BIT_ULL(n)		(1ULL << (n))
#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)
#define PAGE_MASK		(~(PAGE_SIZE - 1))
#define PAGE_ALIGN(x)		(((x) + PAGE_SIZE - 1) & PAGE_MASK)
#define U32_MAX			((u32)~0U)
#define U64_MAX			((u64)~0ULL)
#define S64_MAX			((s64)(U64_MAX >> 1))
#define container_of(p, type, member) \
	((type *)((char *)(p) - offsetof(type, member)))

#define __unit_cmp(a, b, op) ({						\
	__typeof__(a) __unit_x = (a);					\
	__typeof__(b) __unit_y = (b);					\
	__unit_x op __unit_y ? __unit_x : __unit_y;			\
})
#define min(a, b)		__unit_cmp(a, b, <)
#define max(a, b)		__unit_cmp(a, b, >)
#define min_t(t, a, b)		__unit_cmp((t)(a), (t)(b), <)
#define max_t(t, a, b)		__unit_cmp((t)(a), (t)(b), >)
#define min3(a, b, c)		min(min(a, b), c)
#define max3(a, b, c)		max(max(a, b), c)
#define clamp(v, lo, hi)	min(max(v, lo), hi)
#define clamp_t(t, v, lo, hi)	min_t(t, max_t(t, v, lo), hi)
#define clamp_val(v, lo, hi)	clamp_t(__typeof__(v), v, lo, hi)
#define swap(a, b) do {							\
	__typeof__(a) __unit_t = (a);					\
	(a) = (b);							\
	(b) = __unit_t;							\
} while (0)
#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)
#define BUILD_BUG_ON(c)		_Static_assert(!(c), #c)

/* Byte order (x86-64 only, like the module's build) */
#define le16_to_cpu(x)		le16toh(x)
#define le32_to_cpu(x)		le32toh(x)
#define le64_to_cpu(x)		le64toh(x)
#define cpu_to_le16(x)		htole16(x)
#define cpu_to_le32(x)		htole32(x)
#define cpu_to_le64(x)		htole64(x)

static inline u64 get_unaligned_le64(const void *p)
{
	u64 v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static inline u32 get_unaligned_le32(const void *p)
{
	u32 v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static inline void put_unaligned_le64(u64 v, void *p)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static inline void put_unaligned_le32(u32 v, void *p)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

/* Errors in pointers */
#define MAX_ERRNO		4095
#define IS_ERR_VALUE(x)		((unsigned long)(x) >= (unsigned long)-MAX_ERRNO)

static inline void *ERR_PTR(long error)
{
	return (void *)error;
}

static inline long PTR_ERR(const void *p)
{
	return (long)p;
}

static inline bool IS_ERR(const void *p)
{
	return IS_ERR_VALUE(p);
}

static inline bool IS_ERR_OR_NULL(const void *p)
{
	return !p || IS_ERR_VALUE(p);
}

static inline int PTR_ERR_OR_ZERO(const void *p)
{
	return IS_ERR(p) ? (int)PTR_ERR(p) : 0;
}

#define ERR_CAST(p)		((void *)(p))

/* Arithmetic */
static inline u64 div_u64_rem(u64 n, u32 d, u32 *rem)
{
	*rem = n % d;
	return n / d;
}

static inline u64 div_u64(u64 n, u32 d)
{
	return n / d;
}

static inline s64 div_s64(s64 n, s32 d)
{
	return n / d;
}

static inline u64 div64_u64(u64 n, u64 d)
{
	return n / d;
}

static inline u64 div64_u64_rem(u64 n, u64 d, u64 *rem)
{
	*rem = n % d;
	return n / d;
}

static inline int fls64(u64 x)
{
	return x ? 64 - __builtin_clzll(x) : 0;
}

static inline int fls(u32 x)
{
	return x ? 32 - __builtin_clz(x) : 0;
}

static inline unsigned long __ffs(unsigned long x)
{
	return __builtin_ctzl(x);
}

#define ilog2(n)		(fls64(n) - 1)
#define is_power_of_2(n)	((n) != 0 && ((n) & ((n) - 1)) == 0)

static inline u64 roundup_pow_of_two(u64 n)
{
	return n <= 1 ? 1 : 1ULL << fls64(n - 1);
}

static inline u64 rounddown_pow_of_two(u64 n)
{
	return n ? 1ULL << (fls64(n) - 1) : 0;
}

/* A multiplicative hash with the 64-bit golden ratio: its top "bits". */
static inline u32 hash_64(u64 val, unsigned int bits)
{
	return (u32)((val * 0x9e3779b97f4a7c15ULL) >> (64 - bits));
}

static inline u32 hash_32(u32 val, unsigned int bits)
{
	return (val * 0x9e3779b9U) >> (32 - bits);
}

/* Atomics (the tests are single-threaded; these are atomic anyway) */
typedef struct {
	int counter;
} atomic_t;

typedef struct {
	s64 counter;
} atomic64_t;

#define ATOMIC_INIT(i)		{ (i) }
#define ATOMIC64_INIT(i)	{ (i) }
#define atomic_read(v)		__atomic_load_n(&(v)->counter, __ATOMIC_RELAXED)
#define atomic_set(v, i)	__atomic_store_n(&(v)->counter, (i), __ATOMIC_RELAXED)
#define atomic_add(i, v)	((void)__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST))
#define atomic_sub(i, v)	((void)__atomic_sub_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST))
#define atomic_inc(v)		atomic_add(1, v)
#define atomic_dec(v)		atomic_sub(1, v)
#define atomic_add_return(i, v)	__atomic_add_fetch(&(v)->counter, (i), __ATOMIC_SEQ_CST)
#define atomic_inc_return(v)	atomic_add_return(1, v)
#define atomic_dec_return(v)	__atomic_sub_fetch(&(v)->counter, 1, __ATOMIC_SEQ_CST)
#define atomic_dec_and_test(v)	(atomic_dec_return(v) == 0)
#define atomic64_read(v)	atomic_read(v)
#define atomic64_set(v, i)	atomic_set(v, i)
#define atomic64_add(i, v)	atomic_add(i, v)
#define atomic64_sub(i, v)	atomic_sub(i, v)
#define atomic64_inc(v)		atomic_inc(v)
#define atomic64_dec(v)		atomic_dec(v)
#define atomic64_add_return(i, v)	atomic_add_return(i, v)
#define atomic64_inc_return(v)	atomic_inc_return(v)
#define atomic64_dec_return(v)	atomic_dec_return(v)

/* Warnings, messages (shim.c) */
extern unsigned long unit_warnings;
extern unsigned long unit_messages;
extern unsigned long unit_shim_errors;

void unit_warn(const char *file, int line, const char *what);
/* Prints a line (newline added if missing) and counts it in *counter. */
void __printf(3, 4) unit_print(unsigned long *counter, const char *prefix,
			       const char *fmt, ...);
#define unit_log(fmt, ...) \
	unit_print(&unit_messages, "log: ", fmt, ##__VA_ARGS__)
#define unit_shim_error(fmt, ...) \
	unit_print(&unit_shim_errors, "SHIM ERROR: ", fmt, ##__VA_ARGS__)
void __attribute__((__noreturn__)) unit_bug(const char *file, int line,
					    const char *what);

#define WARN_ON(cond) ({						\
	bool __unit_c = !!(cond);					\
	if (unlikely(__unit_c))						\
		unit_warn(__FILE__, __LINE__, #cond);			\
	__unit_c;							\
})
#define WARN_ON_ONCE(cond)	WARN_ON(cond)
#define WARN(cond, fmt, ...) ({						\
	bool __unit_c = !!(cond);					\
	if (unlikely(__unit_c)) {					\
		unit_log("WARNING: " fmt, ##__VA_ARGS__);		\
		unit_warn(__FILE__, __LINE__, #cond);			\
	}								\
	__unit_c;							\
})
#define WARN_ONCE(cond, fmt, ...)	WARN(cond, fmt, ##__VA_ARGS__)
#define BUG_ON(cond) do {						\
	if (unlikely(cond))						\
		unit_bug(__FILE__, __LINE__, #cond);			\
} while (0)
#define BUG()			unit_bug(__FILE__, __LINE__, "BUG()")

/*
 * Messages: every one is printed and counted, the rate-limited and "once"
 * ones too.  DM_MSG_PREFIX comes from the includer (dm-dedup.h).
 */
#define DMERR(fmt, ...)		unit_log("device-mapper: " DM_MSG_PREFIX ": " fmt, ##__VA_ARGS__)
#define DMWARN(fmt, ...)	DMERR(fmt, ##__VA_ARGS__)
#define DMINFO(fmt, ...)	DMERR(fmt, ##__VA_ARGS__)
#define DMCRIT(fmt, ...)	DMERR(fmt, ##__VA_ARGS__)
#define DMERR_LIMIT(fmt, ...)	DMERR(fmt, ##__VA_ARGS__)
#define DMWARN_LIMIT(fmt, ...)	DMERR(fmt, ##__VA_ARGS__)
#define DMINFO_LIMIT(fmt, ...)	DMERR(fmt, ##__VA_ARGS__)
#define DMDEBUG(fmt, ...)	do { } while (0)
#define DMDEBUG_LIMIT(fmt, ...)	do { } while (0)
#define pr_err(fmt, ...)	unit_log(fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)	unit_log(fmt, ##__VA_ARGS__)
#define pr_notice(fmt, ...)	unit_log(fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)	unit_log(fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)	do { } while (0)
#define pr_err_once(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_warn_once(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_info_once(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_err_ratelimited(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)
#define pr_warn_ratelimited(fmt, ...)	pr_err(fmt, ##__VA_ARGS__)

/* Locks (shim.c): single-threaded, with checks */
typedef struct {
	int held;
} spinlock_t;

struct mutex {
	int held;
};

/* Spinlocks held now: sleeping is an error while it is not zero. */
extern int unit_atomic;

void spin_lock_init(spinlock_t *l);
void spin_lock(spinlock_t *l);
void spin_unlock(spinlock_t *l);
void mutex_init(struct mutex *m);
void mutex_lock(struct mutex *m);
void mutex_unlock(struct mutex *m);
int mutex_trylock(struct mutex *m);
bool unit_lock_held(const spinlock_t *l);
void might_sleep(void);

#define DEFINE_SPINLOCK(x)	spinlock_t x = { 0 }
#define spin_lock_irq(l)	spin_lock(l)
#define spin_unlock_irq(l)	spin_unlock(l)
#define spin_lock_bh(l)		spin_lock(l)
#define spin_unlock_bh(l)	spin_unlock(l)
#define spin_lock_irqsave(l, f)	do { (f) = 0; spin_lock(l); } while (0)
#define spin_unlock_irqrestore(l, f)	do { (void)(f); spin_unlock(l); } while (0)
#define mutex_destroy(m)	do { } while (0)
#define lockdep_assert_held(l)	WARN_ON(!(l)->held)
#define cond_resched()		might_sleep()

/* Memory (shim.c) */
#define __GFP_DIRECT_RECLAIM	0x01u
#define __GFP_IO		0x02u
#define __GFP_FS		0x04u
#define __GFP_ZERO		0x08u
#define __GFP_NOWARN		0x10u
#define __GFP_HIGH		0x20u
#define __GFP_NORETRY		0x40u
#define __GFP_RETRY_MAYFAIL	0x80u
#define GFP_KERNEL		(__GFP_DIRECT_RECLAIM | __GFP_IO | __GFP_FS)
#define GFP_NOFS		(__GFP_DIRECT_RECLAIM | __GFP_IO)
#define GFP_NOIO		__GFP_DIRECT_RECLAIM
#define GFP_ATOMIC		__GFP_HIGH
#define GFP_NOWAIT		0u

/* Allocations not yet freed, by the functions below. */
extern long unit_allocations;

void *kmalloc(size_t size, gfp_t gfp);
void kfree(const void *p);
size_t ksize(const void *p);
void *__vmalloc(unsigned long size, gfp_t gfp);
void vfree(const void *p);
void *kvmalloc(size_t size, gfp_t gfp);
void kvfree(const void *p);
bool is_vmalloc_addr(const void *p);

/* n * size, or SIZE_MAX (which no allocation satisfies) on overflow. */
static inline size_t array_size(size_t n, size_t size)
{
	size_t bytes;

	return __builtin_mul_overflow(n, size, &bytes) ? SIZE_MAX : bytes;
}

#define kzalloc(s, gfp)			kmalloc(s, (gfp) | __GFP_ZERO)
#define kmalloc_array(n, s, gfp)	kmalloc(array_size(n, s), gfp)
#define kcalloc(n, s, gfp)		kzalloc(array_size(n, s), gfp)
#define vmalloc(s)			__vmalloc(s, GFP_KERNEL)
#define vzalloc(s)			__vmalloc(s, GFP_KERNEL | __GFP_ZERO)
#define kvzalloc(s, gfp)		kvmalloc(s, (gfp) | __GFP_ZERO)
#define kvmalloc_array(n, s, gfp)	kvmalloc(array_size(n, s), gfp)
#define kvcalloc(n, s, gfp)		kvzalloc(array_size(n, s), gfp)
unsigned int memalloc_noio_save(void);
void memalloc_noio_restore(unsigned int flags);
unsigned int memalloc_nofs_save(void);
void memalloc_nofs_restore(unsigned int flags);

/* Bit operations (shim.c) on arrays of unsigned long */
bool test_bit(unsigned long nr, const unsigned long *addr);
void __set_bit(unsigned long nr, unsigned long *addr);
void __clear_bit(unsigned long nr, unsigned long *addr);
bool __test_and_set_bit(unsigned long nr, unsigned long *addr);
bool __test_and_clear_bit(unsigned long nr, unsigned long *addr);
unsigned long find_next_bit(const unsigned long *addr, unsigned long size,
			    unsigned long offset);
unsigned long find_next_zero_bit(const unsigned long *addr,
				 unsigned long size, unsigned long offset);
void bitmap_zero(unsigned long *map, unsigned int nbits);
void bitmap_fill(unsigned long *map, unsigned int nbits);
void bitmap_set(unsigned long *map, unsigned int start, unsigned int len);
void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len);
unsigned int bitmap_weight(const unsigned long *map, unsigned int nbits);
unsigned long *bitmap_alloc(unsigned int nbits, gfp_t gfp);
unsigned long *bitmap_zalloc(unsigned int nbits, gfp_t gfp);
void bitmap_free(const unsigned long *map);

#define set_bit(nr, addr)		__set_bit(nr, addr)
#define clear_bit(nr, addr)		__clear_bit(nr, addr)
#define test_and_set_bit(nr, addr)	__test_and_set_bit(nr, addr)
#define test_and_clear_bit(nr, addr)	__test_and_clear_bit(nr, addr)
#define find_first_bit(addr, size)	find_next_bit(addr, size, 0)
#define find_first_zero_bit(addr, size)	find_next_zero_bit(addr, size, 0)
#define bitmap_full(map, n)		(bitmap_weight(map, n) == (n))
#define bitmap_empty(map, n)		(bitmap_weight(map, n) == 0)

/* What the allocator and index headers embed or point to */
struct srcu_struct {
	int unused;
};

struct xarray {
	void *unused;
};

struct block_device;

#endif /* UNIT_KERNEL_H */

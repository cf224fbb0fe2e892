/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The few kernel facilities the module's decision logic (cbt_map, ctl_args,
 * chunk, cow_plan, diff_alloc) uses, so that the same C builds into the
 * module and into the host test library.  The logic never allocates, sleeps or locks.
 */
#ifndef BK_SHIM_H
#define BK_SHIM_H

#ifdef __KERNEL__
#include <linux/bits.h>
#include <linux/types.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <linux/kdev_t.h>
#include <linux/limits.h>
#include <linux/minmax.h>
#include <linux/compiler.h>

#define BK_MINOR_BITS	MINORBITS
#else
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <linux/types.h>

/* The kernel's names for the uAPI types, so both agree on u64. */
typedef __u8 u8;
typedef __u32 u32;
typedef __u64 u64;
typedef u64 sector_t;

#define BK_MINOR_BITS	20	/* the kernel's dev_t layout (kdev_t.h) */
#define U64_MAX		((u64)~0ULL)
#define BIT(n)		(1UL << (n))
#define BIT_ULL(n)	(1ULL << (n))
/* A store the compiler may neither tear nor invent, as rwonce.h's. */
#define WRITE_ONCE(x, val)	__atomic_store_n(&(x), (val), __ATOMIC_RELAXED)
#define min_t(type, a, b) ({		\
	type _a = (a), _b = (b);	\
					\
	_a < _b ? _a : _b;		\
})
#endif

#include <linux/bksnap.h>

#define BK_SECTOR_SHIFT	9

/* [first, first + count) lies within [0, limit), without overflow. */
static inline bool bk_range_fits(u64 first, u64 count, u64 limit)
{
	return first <= limit && count <= limit - first;
}

#endif /* BK_SHIM_H */

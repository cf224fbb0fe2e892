/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The difference storage of one snapshot: extents (storage index, start
 * sector, length) of the files or block devices handed over, appended as
 * storage is added, seen as one linear space that is allocated in order.
 * A position in that space is what the chunk table records; bk_diff_map()
 * turns it into the pieces to read or write.
 *
 * Low space: when an allocation leaves less free than the low-water mark
 * (low_water, or 1/8 of the storage when 0), bk_diff_alloc() says so once;
 * adding storage re-arms it, so each addition that still leaves the
 * storage low gets one more event.  When an allocation does not fit it
 * fails with -ENOSPC and the snapshot fails; nothing is allocated.
 *
 * Locking: every function needs the store to itself (the snapshot's
 * storage spinlock); nothing sleeps.  The extents array is the caller's;
 * bk_diff_add() fails with -E2BIG when it is full.
 */
#ifndef BK_DIFF_ALLOC_H
#define BK_DIFF_ALLOC_H

#include "bk_shim.h"

struct bk_diff_extent {
	u64 pos;		/* first sector in the linear space */
	sector_t start;		/* first sector on the storage */
	u64 len;		/* sectors */
	u32 storage;		/* the caller's index of the file or device */
};

struct bk_diff_store {
	struct bk_diff_extent *extents;	/* max_extents entries */
	u32 nr_extents;
	u32 max_extents;
	u64 total;		/* sectors of storage */
	u64 used;		/* sectors allocated, in order */
	u64 low_water;		/* 0: total / 8 */
	bool low_signalled;	/* low space reported since the last add */
};

void bk_diff_init(struct bk_diff_store *d, struct bk_diff_extent *extents,
		  u32 max_extents, u64 low_water);
int bk_diff_add(struct bk_diff_store *d, u32 storage, sector_t start,
		u64 len);
u64 bk_diff_free(const struct bk_diff_store *d);
int bk_diff_alloc(struct bk_diff_store *d, u64 nr_sectors, u64 *pos,
		  bool *low_space);
int bk_diff_map(const struct bk_diff_store *d, u64 pos, u64 nr_sectors,
		u32 *storage, sector_t *start, u64 *run);

#endif /* BK_DIFF_ALLOC_H */

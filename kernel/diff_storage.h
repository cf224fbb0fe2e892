/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A snapshot's difference storage: the files and block devices userspace
 * handed over, turned into extents of block devices that the module reads
 * and writes directly (its own bios: never tracked, never copied), and the
 * allocator of diff_alloc.c over them.
 *
 * Owner: the snapshot creates it, adds storage to it (under the control
 * mutex) and destroys it; the COW engines of its members allocate and map
 * in it from any context but hard irq.  @lock guards the store and is taken
 * by no other file.  An allocation that leaves the storage low raises
 * BKSNAP_EVENT_LOW_SPACE for the snapshot it belongs to.
 */
#ifndef BK_DIFF_STORAGE_H
#define BK_DIFF_STORAGE_H

#include <linux/blkdev.h>
#include <linux/spinlock.h>
#include "diff_alloc.h"

#define BK_DIFF_MAX_FILES	64
#define BK_DIFF_MAX_EXTENTS	65536

struct bk_diff_storage {
	u8 snapshot_id[BKSNAP_UUID_SIZE];	/* for its events */
	spinlock_t lock;		/* @store */
	struct bk_diff_store store;
	struct file *files[BK_DIFF_MAX_FILES];	/* keep the blocks allocated */
	struct block_device *bdevs[BK_DIFF_MAX_FILES];
	unsigned int nr_files;
};

struct bk_diff_storage *bk_diff_storage_create(const u8 *snapshot_id,
					       u64 low_water);
void bk_diff_storage_destroy(struct bk_diff_storage *ds);
int bk_diff_storage_add(struct bk_diff_storage *ds, int fd);

/* Sectors of storage, and of them allocated. */
void bk_diff_storage_usage(struct bk_diff_storage *ds, u64 *total, u64 *used);

/* The next @sectors of the linear space at *@pos, or -ENOSPC. */
int bk_diff_storage_alloc(struct bk_diff_storage *ds, u64 sectors, u64 *pos);

/* Where linear position @pos is: its device, sector, and contiguous run. */
int bk_diff_storage_map(struct bk_diff_storage *ds, u64 pos, u64 nr_sectors,
			struct block_device **bdev, sector_t *sector,
			u64 *run);

#endif /* BK_DIFF_STORAGE_H */

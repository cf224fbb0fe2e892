// SPDX-License-Identifier: GPL-2.0
/*
 * Difference storage from file descriptors.  A block device counts whole.
 * A regular file counts by the blocks its filesystem has mapped for it
 * (bmap), so it must be written in full beforehand: holes and unwritten
 * (fallocated) extents have no block to map, and are refused.  The file
 * stays referenced until the snapshot goes, so its blocks stay allocated to
 * it; the caller keeps it away from others (O_TMPFILE or mode 0600).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/file.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include "diff_storage.h"
#include "event.h"

struct bk_diff_storage *bk_diff_storage_create(const u8 *snapshot_id,
					       u64 low_water)
{
	struct bk_diff_storage *ds = kzalloc(sizeof(*ds), GFP_KERNEL);
	struct bk_diff_extent *extents;

	if (!ds)
		return NULL;
	extents = kvcalloc(BK_DIFF_MAX_EXTENTS, sizeof(*extents), GFP_KERNEL);
	if (!extents) {
		kfree(ds);
		return NULL;
	}
	memcpy(ds->snapshot_id, snapshot_id, BKSNAP_UUID_SIZE);
	spin_lock_init(&ds->lock);
	bk_diff_init(&ds->store, extents, BK_DIFF_MAX_EXTENTS, low_water);
	return ds;
}

void bk_diff_storage_destroy(struct bk_diff_storage *ds)
{
	unsigned int i;

	for (i = 0; i < ds->nr_files; i++)
		fput(ds->files[i]);
	kvfree(ds->store.extents);
	kfree(ds);
}

static int bk_diff_add_extent(struct bk_diff_storage *ds, sector_t start,
			      u64 len)
{
	int ret;

	spin_lock_irq(&ds->lock);
	ret = bk_diff_add(&ds->store, ds->nr_files, start, len);
	spin_unlock_irq(&ds->lock);
	return ret;
}

/* The runs of physically contiguous blocks of a fully written file. */
static int bk_diff_add_file(struct bk_diff_storage *ds, struct inode *inode)
{
	unsigned int to_sectors = inode->i_blkbits - SECTOR_SHIFT;
	sector_t blocks = i_size_read(inode) >> inode->i_blkbits;
	sector_t i, run_start = 0, run_len = 0;
	int ret = 0;

	if (!blocks)
		return -ENOSPC;
	for (i = 0; i < blocks && !ret; i++) {
		sector_t block = i;

		ret = bmap(inode, &block);
		if (!ret && !block) {
			pr_warn("difference storage file has a hole or unwritten extent at block %llu: write it in full\n",
				(u64)i);
			return -EINVAL;
		}
		if (ret)
			break;
		if (run_len && block == run_start + run_len) {
			run_len++;
			continue;
		}
		if (run_len)
			ret = bk_diff_add_extent(ds, run_start << to_sectors,
						 run_len << to_sectors);
		run_start = block;
		run_len = 1;
	}
	if (!ret)
		ret = bk_diff_add_extent(ds, run_start << to_sectors,
					 run_len << to_sectors);
	return ret;
}

/*
 * Forget the extents of a file that failed half way through (one of them
 * may have been merged into the last extent before it).
 */
static void bk_diff_rollback(struct bk_diff_storage *ds,
			     const struct bk_diff_store *before,
			     u64 last_len)
{
	spin_lock_irq(&ds->lock);
	ds->store.nr_extents = before->nr_extents;
	ds->store.total = before->total;
	if (before->nr_extents)
		ds->store.extents[before->nr_extents - 1].len = last_len;
	spin_unlock_irq(&ds->lock);
}

int bk_diff_storage_add(struct bk_diff_storage *ds, int fd)
{
	struct bk_diff_store before = ds->store;
	u64 last_len = before.nr_extents ?
		       before.extents[before.nr_extents - 1].len : 0;
	struct file *file;
	struct inode *inode;
	int ret;

	if (ds->nr_files == BK_DIFF_MAX_FILES)
		return -E2BIG;
	file = fget(fd);
	if (!file)
		return -EBADF;
	inode = file_inode(file);
	ret = -EBADF;
	if (!(file->f_mode & FMODE_WRITE))
		goto err;
	if (S_ISBLK(inode->i_mode)) {
		ds->bdevs[ds->nr_files] = I_BDEV(file->f_mapping->host);
		sector_t len = bdev_nr_sectors(ds->bdevs[ds->nr_files]);

		ret = bk_diff_add_extent(ds, 0, len);
	} else if (S_ISREG(inode->i_mode) && inode->i_sb->s_bdev) {
		ds->bdevs[ds->nr_files] = inode->i_sb->s_bdev;
		ret = bk_diff_add_file(ds, inode);
	} else {
		ret = -EINVAL;
	}
	if (ret)
		goto err;
	ds->files[ds->nr_files++] = file;
	return 0;
err:
	bk_diff_rollback(ds, &before, last_len);
	fput(file);
	return ret;
}

int bk_diff_storage_map(struct bk_diff_storage *ds, u64 pos, u64 nr_sectors,
			struct block_device **bdev, sector_t *sector, u64 *run)
{
	unsigned long flags;
	u32 storage;
	int ret;

	spin_lock_irqsave(&ds->lock, flags);
	ret = bk_diff_map(&ds->store, pos, nr_sectors, &storage, sector, run);
	spin_unlock_irqrestore(&ds->lock, flags);
	if (!ret)
		*bdev = ds->bdevs[storage];
	return ret;
}

void bk_diff_storage_usage(struct bk_diff_storage *ds, u64 *total, u64 *used)
{
	unsigned long flags;

	spin_lock_irqsave(&ds->lock, flags);
	*total = ds->store.total;
	*used = ds->store.used;
	spin_unlock_irqrestore(&ds->lock, flags);
}

int bk_diff_storage_alloc(struct bk_diff_storage *ds, u64 sectors, u64 *pos)
{
	unsigned long flags;
	u64 total, used;
	bool low;
	int ret;

	spin_lock_irqsave(&ds->lock, flags);
	ret = bk_diff_alloc(&ds->store, sectors, pos, &low);
	total = ds->store.total;
	used = ds->store.used;
	spin_unlock_irqrestore(&ds->lock, flags);
	if (low)
		bk_event_snapshot(BKSNAP_EVENT_LOW_SPACE, ds->snapshot_id, 0,
				  total, used);
	return ret;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interception of bios on their way into the block layer, apart from any
 * policy: the tracker decides what to do with a bio, this layer only gets
 * it there.  Mainline has no block filter API, so the mechanism is an
 * ftrace hook; another one (an upstream filter, a fops swap) can stand
 * behind the same four calls.
 */
#ifndef BK_INTERPOSE_H
#define BK_INTERPOSE_H

#include <linux/blk_types.h>
#include <linux/blkdev.h>

/*
 * Sees every bio submitted to any device, in the submitter's context.
 * Returns true when it took ownership of the bio (it will submit it later
 * with bk_interpose_submit() or end it), false to let it pass.
 */
typedef bool (*bk_bio_filter_fn)(struct bio *bio);

/* Called, in atomic context, when a disk is being deleted. */
typedef void (*bk_disk_gone_fn)(struct gendisk *disk);

int bk_interpose_start(bk_bio_filter_fn filter, bk_disk_gone_fn gone);
void bk_interpose_stop(void);

/* Submit a bio to the block layer without passing it to the filter. */
void bk_interpose_submit(struct bio *bio);

/*
 * The first sector of @bio relative to a device starting at @dev_start on
 * the same disk.  A partition bio arrives partition-relative and is made
 * absolute (BIO_REMAPPED) before it can be split and come round again.
 */
static inline sector_t bk_bio_offset(struct bio *bio, sector_t dev_start)
{
	sector_t abs = bio->bi_iter.bi_sector;

	if (!bio_flagged(bio, BIO_REMAPPED))
		abs += bio->bi_bdev->bd_start_sect;
	return abs - dev_start;
}

#endif /* BK_INTERPOSE_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * Image devices.  A read is cut at chunk boundaries; each piece is read,
 * as chunk.c decides, from the difference storage (the chunk was copied)
 * or from the origin (it was not), in which case the chunk counts a reader
 * until the read completes, so that no write can change it meanwhile.
 * Pieces are clones of the reader's bio, submitted around the filter.  A
 * piece of a chunk whose old data is on its way to the difference storage
 * waits in the copy engine, which submits it again once the data is there.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/idr.h>
#include <linux/slab.h>
#include "compat.h"
#include "cow.h"
#include "diff_storage.h"
#include "image.h"
#include "interpose.h"
#include "own_io.h"

#define BK_NOT_ORIGIN	U64_MAX

static int bk_image_major;
static DEFINE_IDA(bk_image_ida);

static void bk_image_clone_endio(struct bio *clone)
{
	struct bk_own_ctx *ctx = bk_own_ctx(clone);
	struct bk_image *img = ctx->owner;
	struct bio *parent = clone->bi_private;
	blk_status_t status = clone->bi_status;

	if (ctx->index != BK_NOT_ORIGIN) {
		int err = bk_cow_read_end(img->cow, ctx->index);

		if (err && !status)
			status = errno_to_blk_status(err);
	}
	if (status && !parent->bi_status)
		parent->bi_status = status;
	bio_put(clone);
	bio_endio(parent);
	if (atomic_dec_and_test(&img->inflight))
		wake_up_var(&img->inflight);
}

/* Read @len sectors of @bio from @skip on, at @sector of @bdev. */
static void bk_image_clone(struct bk_image *img, struct bio *bio,
			   struct block_device *bdev, sector_t sector,
			   u64 skip, u64 len, u64 origin_chunk)
{
	struct bio *clone = bio_alloc_clone(bdev, bio, GFP_NOIO, &bk_bio_set);

	bio_trim(clone, skip, len);
	clone->bi_iter.bi_sector = sector;
	clone->bi_private = bio;
	clone->bi_end_io = bk_image_clone_endio;
	bk_own_ctx(clone)->owner = img;
	bk_own_ctx(clone)->index = origin_chunk;
	bio_inc_remaining(bio);
	atomic_inc(&img->inflight);
	bk_interpose_submit(clone);
}

/* A read within chunk @c. */
static void bk_image_read_chunk(struct bk_image *img, struct bio *bio, u64 c)
{
	u32 shift = bk_cow_chunk_shift(img->cow) - SECTOR_SHIFT;
	sector_t offset = bio->bi_iter.bi_sector - (c << shift);
	u64 len = bio_sectors(bio), done, run;
	u64 pos;
	int r = bk_cow_read_begin(img->cow, c, bio, &pos);

	if (r == BK_COW_READ_PARKED)
		return;
	if (r == BK_COW_READ_ORIGIN) {
		bk_image_clone(img, bio, bk_cow_origin(img->cow),
			       bio->bi_iter.bi_sector, 0, len, c);
	} else if (r == BK_COW_READ_DIFF) {
		for (done = 0; done < len; done += run) {
			struct block_device *bdev;
			sector_t sector;

			r = bk_diff_storage_map(img->diff, pos + offset + done,
						len - done, &bdev, &sector,
						&run);
			if (r) {
				bio->bi_status = errno_to_blk_status(r);
				break;
			}
			bk_image_clone(img, bio, bdev, sector, done, run,
				       BK_NOT_ORIGIN);
		}
	} else {
		bio->bi_status = errno_to_blk_status(r);
	}
	bio_endio(bio);
}

static void bk_image_submit_bio(struct bio *bio)
{
	struct bk_image *img = bio->bi_bdev->bd_disk->private_data;
	u32 shift = bk_cow_chunk_shift(img->cow) - SECTOR_SHIFT;

	if (bio_op(bio) != REQ_OP_READ) {
		bio_io_error(bio);
		return;
	}
	while (bio_sectors(bio)) {
		u64 c = bio->bi_iter.bi_sector >> shift;
		sector_t end = (c + 1) << shift;
		struct bio *piece = bio;

		if (bio_end_sector(bio) > end) {
			piece = bio_split(bio, end - bio->bi_iter.bi_sector,
					  GFP_NOIO, &bk_bio_set);
			bio_chain(piece, bio);
		}
		bk_image_read_chunk(img, piece, c);
		if (piece == bio)
			return;
	}
	bio_endio(bio);
}

static const struct block_device_operations bk_image_fops = {
	.owner = THIS_MODULE,
	.submit_bio = bk_image_submit_bio,
};

struct bk_image *bk_image_create(struct bk_cow *cow,
				 struct bk_diff_storage *diff)
{
	struct block_device *origin = bk_cow_origin(cow);
	struct bk_image *img = kzalloc(sizeof(*img), GFP_KERNEL);
	struct gendisk *disk;
	int ret = -ENOMEM;

	if (!img)
		return ERR_PTR(-ENOMEM);
	img->index = ida_alloc_max(&bk_image_ida, MINORMASK, GFP_KERNEL);
	if (img->index < 0) {
		ret = img->index;
		goto err_free;
	}
	disk = bk_alloc_disk(bdev_logical_block_size(origin),
			     bdev_physical_block_size(origin));
	if (!disk)
		goto err_ida;
	disk->major = bk_image_major;
	disk->first_minor = img->index;
	disk->minors = 1;
	disk->flags |= GENHD_FL_NO_PART;
	disk->fops = &bk_image_fops;
	disk->private_data = img;
	snprintf(disk->disk_name, DISK_NAME_LEN, BKSNAP_IMAGE_PREFIX "%d",
		 img->index);
	set_capacity(disk, bk_cow_capacity(cow));
	set_disk_ro(disk, true);
	img->disk = disk;
	img->cow = cow;
	img->diff = diff;
	atomic_set(&img->inflight, 0);
	return img;

err_ida:
	ida_free(&bk_image_ida, img->index);
err_free:
	kfree(img);
	return ERR_PTR(ret);
}

int bk_image_add(struct bk_image *img)
{
	return add_disk(img->disk);
}

dev_t bk_image_devt(struct bk_image *img)
{
	return disk_devt(img->disk);
}

void bk_image_destroy(struct bk_image *img)
{
	if (disk_live(img->disk))
		del_gendisk(img->disk);
	/* A parked read, submitted again, fails or is counted in @inflight. */
	bk_cow_wait_parked(img->cow);
	wait_var_event(&img->inflight, !atomic_read(&img->inflight));
	put_disk(img->disk);
	ida_free(&bk_image_ida, img->index);
	kfree(img);
}

int bk_image_init(void)
{
	bk_image_major = register_blkdev(0, BKSNAP_IMAGE_PREFIX);
	return bk_image_major < 0 ? bk_image_major : 0;
}

void bk_image_exit(void)
{
	unregister_blkdev(bk_image_major, BKSNAP_IMAGE_PREFIX);
	ida_destroy(&bk_image_ida);
}

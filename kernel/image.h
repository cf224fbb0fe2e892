/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Image devices: a read-only block device per snapshotted device showing
 * its content at the snapshot instant, /dev/bksnap-img<N>.
 *
 * Owner: the snapshot creates and destroys an image per member; image.c
 * alone writes its fields.  No lock of its own: reads ask the COW engine
 * (bk_cow_read_begin/end) and count themselves in @inflight.
 */
#ifndef BK_IMAGE_H
#define BK_IMAGE_H

#include <linux/blkdev.h>

struct bk_cow;
struct bk_diff_storage;

struct bk_image {
	struct gendisk *disk;
	struct bk_cow *cow;
	struct bk_diff_storage *diff;
	int index;
	atomic_t inflight;	/* clone bios not yet completed */
};

int bk_image_init(void);
void bk_image_exit(void);

struct bk_image *bk_image_create(struct bk_cow *cow,
				 struct bk_diff_storage *diff);
int bk_image_add(struct bk_image *img);
dev_t bk_image_devt(struct bk_image *img);
/* Gone from userspace; returns once no read of it is in flight. */
void bk_image_destroy(struct bk_image *img);

#endif /* BK_IMAGE_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernel versions bksnap supports lives here,
 * nowhere else: tests of LINUX_VERSION_CODE, or of a macro the newer API
 * defines (ftrace_regs_set_instruction_pointer).
 */
#ifndef BK_COMPAT_H
#define BK_COMPAT_H

#include <linux/version.h>
#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <linux/file.h>
#include <linux/ftrace.h>
#include <linux/workqueue.h>

/* ftrace: redirect the traced function (renamed after 6.1). */
#ifdef ftrace_regs_set_instruction_pointer
#define bk_ftrace_set_ip(fregs, ip) ftrace_regs_set_instruction_pointer(fregs, ip)
#else
#define bk_ftrace_set_ip(fregs, ip) ftrace_instruction_pointer_set(fregs, ip)
#endif

/* First argument of a function traced with FTRACE_OPS_FL_SAVE_REGS. */
static inline unsigned long bk_ftrace_arg0(struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);

	return regs ? regs_get_kernel_argument(regs, 0) : 0;
}

/* The function called when a disk goes away (hot-unplug, driver unbind). */
#define BK_DISK_GONE_SYMBOL "del_gendisk"

/*
 * A read-only reference on a block device: a block_device up to 6.8, an open
 * file of the device from 6.9 on (bdev_file_open_by_dev).  Kernels between
 * 6.2 and 6.8 changed this API twice and are not supported.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
struct bk_bdev_handle {
	struct block_device *bdev;
	struct file *file;
};

static inline int bk_bdev_open(dev_t dev, struct bk_bdev_handle *h)
{
	struct file *file = bdev_file_open_by_dev(dev, BLK_OPEN_READ, NULL,
						  NULL);

	if (IS_ERR(file))
		return PTR_ERR(file);
	h->file = file;
	h->bdev = file_bdev(file);
	return 0;
}

static inline void bk_bdev_close(struct bk_bdev_handle *h)
{
	fput(h->file);
	h->file = NULL;
	h->bdev = NULL;
}
#elif LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
struct bk_bdev_handle {
	struct block_device *bdev;
};

static inline int bk_bdev_open(dev_t dev, struct bk_bdev_handle *h)
{
	struct block_device *bdev = blkdev_get_by_dev(dev, FMODE_READ, NULL);

	if (IS_ERR(bdev))
		return PTR_ERR(bdev);
	h->bdev = bdev;
	return 0;
}

static inline void bk_bdev_close(struct bk_bdev_handle *h)
{
	blkdev_put(h->bdev, FMODE_READ);
	h->bdev = NULL;
}
#else
#error "bksnap supports Linux 6.1 and 6.9 or later"
#endif

/* Freezing a block device's filesystem (renamed in 6.8). */
static inline int bk_bdev_freeze(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	return bdev_freeze(bdev);
#else
	return freeze_bdev(bdev);
#endif
}

static inline void bk_bdev_thaw(struct block_device *bdev)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 8, 0)
	bdev_thaw(bdev);
#else
	thaw_bdev(bdev);
#endif
}

/*
 * Wait for every request in flight on a blk-mq queue: a freeze waits for
 * q_usage_counter, which each request holds until it completes.  From 6.14
 * on the freeze returns the memalloc flags the unfreeze restores.
 */
static inline void bk_queue_drain(struct request_queue *q)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 14, 0)
	unsigned int memflags = blk_mq_freeze_queue(q);

	blk_mq_unfreeze_queue(q, memflags);
#else
	blk_mq_freeze_queue(q);
	blk_mq_unfreeze_queue(q);
#endif
}

/*
 * Workqueues: from 6.17 on, a workqueue names its CPU binding (7.x warns
 * when it does not); bksnap keeps the per-CPU default of older kernels.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 17, 0)
#define BK_WQ_PERCPU WQ_PERCPU
#else
#define BK_WQ_PERCPU 0
#endif

/*
 * A bio-based disk with the given block sizes, or NULL.  From 6.9 on, limits
 * are passed at allocation (the blk_queue_*_block_size setters are gone).
 */
static inline struct gendisk *bk_alloc_disk(unsigned int logical_block_size,
					    unsigned int physical_block_size)
{
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 9, 0)
	struct queue_limits lim = {
		.logical_block_size = logical_block_size,
		.physical_block_size = physical_block_size,
	};
	struct gendisk *disk = blk_alloc_disk(&lim, NUMA_NO_NODE);

	return IS_ERR(disk) ? NULL : disk;
#else
	struct gendisk *disk = blk_alloc_disk(NUMA_NO_NODE);

	if (disk) {
		blk_queue_logical_block_size(disk->queue, logical_block_size);
		blk_queue_physical_block_size(disk->queue, physical_block_size);
	}
	return disk;
#endif
}

#endif /* BK_COMPAT_H */

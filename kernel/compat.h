/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every difference between the kernel versions bksnap supports lives here,
 * nowhere else.  Where a version number is not enough, Kbuild feature
 * probes define BK_HAVE_* (see Kbuild).
 */
#ifndef BK_COMPAT_H
#define BK_COMPAT_H

#include <linux/version.h>
#include <linux/blkdev.h>
#include <linux/ftrace.h>

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

/* A reference on an open block device, whatever the kernel calls it. */
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

/* A bio-based disk with default queue limits. */
static inline struct gendisk *bk_alloc_disk(void)
{
	return blk_alloc_disk(NUMA_NO_NODE);
}

#endif /* BK_COMPAT_H */

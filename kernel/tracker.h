/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tracker sits on one block device (whole disk, partition, or a dm/md
 * device) and sees every bio that changes its data: it marks the CBT map
 * and counts the write in flight until it completes, so that a snapshot can
 * drain writes and take its image at one instant.
 */
#ifndef BK_TRACKER_H
#define BK_TRACKER_H

#include <linux/bio.h>
#include <linux/percpu-refcount.h>
#include <linux/workqueue.h>
#include "cbt_map.h"

struct bk_cow;
struct bk_snapshot;
#include "compat.h"

#define BK_MAX_TRACKERS	64

enum bk_tracker_flag {
	BK_TRACKER_GONE,	/* device deleted; the tracker is on its way out */
	BK_TRACKER_RESIZED,	/* capacity changed; a CBT reset is pending */
};

struct bk_tracker {
	dev_t dev;
	struct bk_bdev_handle handle;
	/*
	 * One reference per write between the filter and its completion.
	 * Killed to drain (snapshot take, CBT reset, detach): writes that
	 * arrive meanwhile wait on @held.
	 */
	struct percpu_ref active;
	struct completion drained;
	spinlock_t lock;		/* @held */
	struct bio_list held;
	struct bk_cbt_map cbt;		/* changes only while drained */
	struct bk_cow __rcu *cow;	/* copy-on-write, while in a snapshot */
	struct bk_snapshot *snapshot;	/* bk_trackers_mutex */
	unsigned long flags;		/* enum bk_tracker_flag */
	struct work_struct gone_work;
	struct work_struct resize_work;
};

int bk_tracker_init(void);
void bk_tracker_exit(void);

/* The interposer's filter and disk-removal callback. */
bool bk_tracker_filter(struct bio *bio);
void bk_tracker_disk_gone(struct gendisk *disk);

/* Control operations; callers hold bk_trackers_mutex. */
extern struct mutex bk_trackers_mutex;
int bk_tracker_attach(dev_t dev);
int bk_tracker_detach(dev_t dev);
struct bk_tracker *bk_tracker_find(dev_t dev);
unsigned int bk_tracker_list(dev_t *devs, unsigned int max);
u32 bk_tracker_state(struct bk_tracker *t);
void bk_tracker_limits(u32 *min_shift, u32 *max_shift, u64 *max_blocks);

/* Drain in-flight writes and hold new ones; resume releases them. */
void bk_tracker_quiesce(struct bk_tracker *t);
void bk_tracker_resume(struct bk_tracker *t);

#endif /* BK_TRACKER_H */

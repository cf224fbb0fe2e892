/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A tracker sits on one block device (whole disk, partition, or a dm/md
 * device) and sees every bio that changes its data: it marks the CBT map
 * and counts the write in flight until it completes, so that a snapshot can
 * drain writes and take its image at one instant.
 *
 * Owner: tracker.c creates, publishes and frees trackers (attach, detach,
 * device gone) and writes every field; other files use the calls below.
 * Locks: bk_config_mutex (ctl.h) for the set of trackers and each one's
 * @snapshot and CBT resets; @lock for @held; the filter reads @cow under
 * RCU and counts writes in @active.
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
	/*
	 * Marked by the filter and CBT_MARK at any time; replaced (resize)
	 * and advanced (snapshot switch) only while drained, under
	 * bk_config_mutex.
	 */
	struct bk_cbt_map cbt;
	struct bk_cow __rcu *cow;	/* copy-on-write, while in a snapshot */
	struct bk_snapshot *snapshot;	/* bk_config_mutex */
	unsigned long flags;		/* enum bk_tracker_flag */
	struct work_struct gone_work;
	struct work_struct resize_work;
};

int bk_tracker_init(void);
void bk_tracker_exit(void);

/* The interposer's filter and disk-removal callback. */
bool bk_tracker_filter(struct bio *bio);
void bk_tracker_disk_gone(struct gendisk *disk);

/* Control operations; callers hold bk_config_mutex. */
int bk_tracker_attach(dev_t dev);
int bk_tracker_detach(dev_t dev, struct bk_tracker **gone);
/* After a successful detach, without bk_config_mutex: waits, then frees. */
void bk_tracker_release(struct bk_tracker *gone);
struct bk_tracker *bk_tracker_find(dev_t dev);
unsigned int bk_tracker_list(dev_t *devs, unsigned int max);
u32 bk_tracker_state(struct bk_tracker *t);
dev_t bk_tracker_dev(struct bk_tracker *t);
struct block_device *bk_tracker_bdev(struct bk_tracker *t);
struct bk_snapshot *bk_tracker_snapshot(struct bk_tracker *t);
void bk_tracker_info(struct bk_tracker *t, struct bksnap_tracker_info *info);
int bk_tracker_cbt_read(struct bk_tracker *t, const struct bksnap_cbt_read *r);
int bk_tracker_cbt_mark(struct bk_tracker *t, const struct bksnap_cbt_mark *mk);
int bk_tracker_cbt_anchor(struct bk_tracker *t, struct bksnap_cbt_anchor *a);
void bk_tracker_limits(u32 *min_shift, u32 *max_shift, u64 *max_blocks);

/* Drain in-flight writes and hold new ones; resume releases them. */
void bk_tracker_quiesce(struct bk_tracker *t);
void bk_tracker_resume(struct bk_tracker *t);

/*
 * Between quiesce and resume, the snapshot instant: switch copy-on-write
 * on into @cow for @snap and advance the CBT sequence (@token: the image's),
 * or switch it off again.
 */
void bk_tracker_switch(struct bk_tracker *t, struct bk_snapshot *snap,
		       struct bk_cow *cow, struct bk_cbt_token *token);
void bk_tracker_unswitch(struct bk_tracker *t);

#endif /* BK_TRACKER_H */

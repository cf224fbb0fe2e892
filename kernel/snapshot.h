/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Snapshots: a consistency group of tracked devices taken at one instant,
 * one difference storage shared by the group, one image per member.
 *
 * Owner: snapshot.c creates, lists and destroys snapshots, under
 * bk_config_mutex (ctl.h), which also guards the list of snapshots; it
 * owns each member's COW engine, image and the difference storage, and
 * switches the members' trackers through tracker.h.  @error is set once
 * (cmpxchg) by bk_snapshot_fail(), from any context but hard irq.
 */
#ifndef BK_SNAPSHOT_H
#define BK_SNAPSHOT_H

#include <linux/list.h>
#include <linux/bksnap.h>
#include "cbt_map.h"

#define BK_MAX_SNAPSHOT_MEMBERS	16

struct bk_tracker;
struct bk_cow;
struct bk_image;
struct bk_diff_storage;

struct bk_snap_member {
	struct bk_tracker *tracker;
	struct bk_cow *cow;
	struct bk_image *image;
	struct bk_cbt_token token;
};

struct bk_snapshot {
	struct list_head list;		/* bk_snapshots, bk_config_mutex */
	u8 id[BKSNAP_UUID_SIZE];
	struct bk_diff_storage *diff;
	int error;			/* first failure, or 0 */
	unsigned int nr_members;
	struct bk_snap_member members[];
};

int bk_snapshot_create(const dev_t *devs, unsigned int n, int diff_fd,
		       u64 low_water, struct bk_snapshot **out);
/* All under bk_config_mutex. */
struct bk_snapshot *bk_snapshot_find(const u8 id[BKSNAP_UUID_SIZE]);
void bk_snapshot_destroy(struct bk_snapshot *snap);
/* Up to @max ids, BKSNAP_UUID_SIZE bytes each; returns how many exist. */
unsigned int bk_snapshot_ids(u8 *ids, unsigned int max);
int bk_snapshot_add_storage(struct bk_snapshot *snap, int fd);
void bk_snapshot_usage(struct bk_snapshot *snap, u64 *total, u64 *used);
/* What userspace learns of each member: nr_members entries at @out. */
void bk_snapshot_members(struct bk_snapshot *snap,
			 struct bksnap_snapshot_member *out);

/*
 * Fail the whole group (first error wins): from a COW engine whose copy
 * failed, any context but hard irq, or when a member's device is gone.
 */
void bk_snapshot_fail(struct bk_snapshot *snap, int error);

#endif /* BK_SNAPSHOT_H */

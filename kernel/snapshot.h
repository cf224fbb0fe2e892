/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Snapshots: a consistency group of tracked devices taken at one instant,
 * one difference storage shared by the group, one image per member.
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
	struct list_head list;		/* bk_snapshots, bk_trackers_mutex */
	u8 id[BKSNAP_UUID_SIZE];
	struct bk_diff_storage *diff;
	int error;			/* first failure, or 0 */
	unsigned int nr_members;
	struct bk_snap_member members[];
};

int bk_snapshot_create(const dev_t *devs, unsigned int n, int diff_fd,
		       u64 low_water, struct bk_snapshot **out);
/* All under bk_trackers_mutex. */
struct bk_snapshot *bk_snapshot_find(const u8 id[BKSNAP_UUID_SIZE]);
void bk_snapshot_destroy(struct bk_snapshot *snap);
unsigned int bk_snapshot_ids(u8 (*ids)[BKSNAP_UUID_SIZE], unsigned int max);
int bk_snapshot_add_storage(struct bk_snapshot *snap, int fd);
void bk_snapshot_usage(struct bk_snapshot *snap, u64 *total, u64 *used);

/* From the COW engine, any context but hard irq. */
int bk_snapshot_alloc_diff(struct bk_snapshot *snap, u64 sectors, u64 *pos);
void bk_snapshot_fail(struct bk_snapshot *snap, int error);

#endif /* BK_SNAPSHOT_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * Snapshot take and release.
 *
 * Take, for all members together: freeze the filesystems (a sync where
 * none is mounted), drain every member's writes in flight and hold new
 * ones, then at that one instant advance each CBT sequence and switch
 * copy-on-write on, release the held writes (they now copy), and thaw.
 * The images appear once the take is over.
 *
 * Release: the images go first (no reader left), then copying stops and
 * the writes it held go down, the trackers are drained once more so that
 * no write can still reach the engine, and everything is freed.
 *
 * A failure (difference storage full, I/O error, member device removed)
 * fails the whole group: images return EIO, origin writes go on untouched,
 * userspace is told by an event.  The snapshot stays until released.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/slab.h>
#include <linux/uuid.h>
#include "cow.h"
#include "ctl.h"
#include "diff_storage.h"
#include "event.h"
#include "image.h"
#include "snapshot.h"
#include "tracker.h"

static LIST_HEAD(bk_snapshots);	/* bk_config_mutex */

void bk_snapshot_members(struct bk_snapshot *snap,
			 struct bksnap_snapshot_member *out)
{
	unsigned int i;

	lockdep_assert_held(&bk_config_mutex);
	for (i = 0; i < snap->nr_members; i++) {
		struct bk_snap_member *m = &snap->members[i];
		dev_t dev = bk_tracker_dev(m->tracker);
		dev_t img = bk_image_devt(m->image);

		out[i].dev.path = 0;
		out[i].dev.major = MAJOR(dev);
		out[i].dev.minor = MINOR(dev);
		memcpy(out[i].generation, m->token.generation,
		       BKSNAP_UUID_SIZE);
		out[i].sequence = m->token.seq;
		out[i].image_major = MAJOR(img);
		out[i].image_minor = MINOR(img);
		out[i].chunk_shift = bk_cow_chunk_shift(m->cow);
	}
}

void bk_snapshot_usage(struct bk_snapshot *snap, u64 *total, u64 *used)
{
	bk_diff_storage_usage(snap->diff, total, used);
}

void bk_snapshot_fail(struct bk_snapshot *snap, int error)
{
	unsigned int i;
	u64 total, used;

	if (cmpxchg(&snap->error, 0, error))
		return;
	pr_warn("snapshot %pUb failed: %d%s\n", snap->id, error,
		error == -ENOSPC ? " (difference storage full)" : "");
	for (i = 0; i < snap->nr_members; i++)
		bk_cow_fail(snap->members[i].cow, error);
	bk_snapshot_usage(snap, &total, &used);
	bk_event_snapshot(error == -ENOSPC ? BKSNAP_EVENT_OVERFLOW :
			  BKSNAP_EVENT_SNAPSHOT_FAILED, snap->id, error, total,
			  used);
}

static void bk_snapshot_thaw(struct bk_snapshot *snap, unsigned int frozen)
{
	while (frozen--)
		bk_bdev_thaw(bk_tracker_bdev(snap->members[frozen].tracker));
}

/* The instant of the snapshot, for every member at once. */
static int bk_snapshot_take(struct bk_snapshot *snap)
{
	unsigned int i;
	int ret;

	for (i = 0; i < snap->nr_members; i++) {
		ret = bk_bdev_freeze(bk_tracker_bdev(snap->members[i].tracker));
		if (ret) {
			bk_snapshot_thaw(snap, i);
			return ret;
		}
	}
	for (i = 0; i < snap->nr_members; i++)
		bk_tracker_quiesce(snap->members[i].tracker);
	for (i = 0; i < snap->nr_members; i++) {
		struct bk_snap_member *m = &snap->members[i];

		bk_tracker_switch(m->tracker, snap, m->cow, &m->token);
	}
	for (i = 0; i < snap->nr_members; i++)
		bk_tracker_resume(snap->members[i].tracker);
	bk_snapshot_thaw(snap, snap->nr_members);
	return 0;
}

/* Undo of a take, or nothing if it did not happen; images already gone. */
static void bk_snapshot_untake(struct bk_snapshot *snap)
{
	unsigned int i;

	for (i = 0; i < snap->nr_members; i++) {
		struct bk_tracker *t = snap->members[i].tracker;

		if (bk_tracker_snapshot(t) != snap)
			continue;
		bk_cow_fail(snap->members[i].cow, -ESHUTDOWN);
		bk_tracker_quiesce(t);
		bk_tracker_unswitch(t);
		bk_tracker_resume(t);
	}
	synchronize_rcu();	/* no filter still looks at an engine */
}

static void bk_snapshot_free(struct bk_snapshot *snap)
{
	unsigned int i;

	for (i = 0; i < snap->nr_members; i++) {
		struct bk_snap_member *m = &snap->members[i];

		if (!IS_ERR_OR_NULL(m->image))
			bk_image_destroy(m->image);
	}
	bk_snapshot_untake(snap);
	for (i = 0; i < snap->nr_members; i++) {
		if (!IS_ERR_OR_NULL(snap->members[i].cow))
			bk_cow_destroy(snap->members[i].cow);
	}
	if (snap->diff)
		bk_diff_storage_destroy(snap->diff);
	kfree(snap);
}

static int bk_snapshot_add_member(struct bk_snapshot *snap, dev_t dev)
{
	struct bk_snap_member *m = &snap->members[snap->nr_members];
	struct bk_tracker *t = bk_tracker_find(dev);

	if (!t)
		return -ENOENT;
	if (bk_tracker_snapshot(t))
		return -EBUSY;
	if (bk_tracker_state(t) & BKSNAP_STATE_GONE)
		return -ENODEV;
	snap->nr_members++;
	m->tracker = t;
	m->cow = bk_cow_create(bk_tracker_bdev(t), snap, snap->diff);
	if (IS_ERR(m->cow))
		return PTR_ERR(m->cow);
	m->image = bk_image_create(m->cow, snap->diff);
	return PTR_ERR_OR_ZERO(m->image);
}

int bk_snapshot_create(const dev_t *devs, unsigned int n, int diff_fd,
		       u64 low_water, struct bk_snapshot **out)
{
	struct bk_snapshot *snap;
	unsigned int i;
	int ret;

	lockdep_assert_held(&bk_config_mutex);
	snap = kzalloc(struct_size(snap, members, n), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	generate_random_uuid(snap->id);
	snap->diff = bk_diff_storage_create(snap->id, low_water);
	ret = snap->diff ? bk_diff_storage_add(snap->diff, diff_fd) : -ENOMEM;
	for (i = 0; i < n && !ret; i++)
		ret = bk_snapshot_add_member(snap, devs[i]);
	if (!ret)
		ret = bk_snapshot_take(snap);
	for (i = 0; i < n && !ret; i++)
		ret = bk_image_add(snap->members[i].image);
	if (ret) {
		bk_snapshot_free(snap);
		return ret;
	}
	list_add_tail(&snap->list, &bk_snapshots);
	pr_info("snapshot %pUb of %u device(s) taken\n", snap->id, n);
	*out = snap;
	return 0;
}

struct bk_snapshot *bk_snapshot_find(const u8 id[BKSNAP_UUID_SIZE])
{
	struct bk_snapshot *snap;

	lockdep_assert_held(&bk_config_mutex);
	list_for_each_entry(snap, &bk_snapshots, list) {
		if (!memcmp(snap->id, id, BKSNAP_UUID_SIZE))
			return snap;
	}
	return NULL;
}

void bk_snapshot_destroy(struct bk_snapshot *snap)
{
	lockdep_assert_held(&bk_config_mutex);
	list_del(&snap->list);
	pr_info("snapshot %pUb released\n", snap->id);
	bk_snapshot_free(snap);
}

unsigned int bk_snapshot_ids(u8 *ids, unsigned int max)
{
	struct bk_snapshot *snap;
	unsigned int n = 0;

	lockdep_assert_held(&bk_config_mutex);
	list_for_each_entry(snap, &bk_snapshots, list) {
		if (n < max)
			memcpy(ids + n * BKSNAP_UUID_SIZE, snap->id,
			       BKSNAP_UUID_SIZE);
		n++;
	}
	return n;
}

int bk_snapshot_add_storage(struct bk_snapshot *snap, int fd)
{
	lockdep_assert_held(&bk_config_mutex);
	return bk_diff_storage_add(snap->diff, fd);
}

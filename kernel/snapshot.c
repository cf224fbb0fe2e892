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
#include "diff_storage.h"
#include "event.h"
#include "image.h"
#include "snapshot.h"
#include "tracker.h"

static LIST_HEAD(bk_snapshots);

static void bk_snapshot_event(struct bk_snapshot *snap,
			      enum bksnap_event_type type, int error)
{
	struct bksnap_event ev = {
		.version = BKSNAP_UAPI_VERSION,
		.type = type,
		.error = error,
	};
	u64 total, used;

	memcpy(ev.id, snap->id, BKSNAP_UUID_SIZE);
	bk_snapshot_usage(snap, &total, &used);
	ev.storage_sectors = total;
	ev.used_sectors = used;
	bk_event_post(&ev);
}

void bk_snapshot_usage(struct bk_snapshot *snap, u64 *total, u64 *used)
{
	struct bk_diff_storage *ds = snap->diff;
	unsigned long flags;

	spin_lock_irqsave(&ds->lock, flags);
	*total = ds->store.total;
	*used = ds->store.used;
	spin_unlock_irqrestore(&ds->lock, flags);
}

int bk_snapshot_alloc_diff(struct bk_snapshot *snap, u64 sectors, u64 *pos)
{
	struct bk_diff_storage *ds = snap->diff;
	unsigned long flags;
	bool low = false;
	int ret;

	spin_lock_irqsave(&ds->lock, flags);
	ret = bk_diff_alloc(&ds->store, sectors, pos, &low);
	spin_unlock_irqrestore(&ds->lock, flags);
	if (low)
		bk_snapshot_event(snap, BKSNAP_EVENT_LOW_SPACE, 0);
	return ret;
}

void bk_snapshot_fail(struct bk_snapshot *snap, int error)
{
	unsigned int i;

	if (cmpxchg(&snap->error, 0, error))
		return;
	pr_warn("snapshot %pUb failed: %d%s\n", snap->id, error,
		error == -ENOSPC ? " (difference storage full)" : "");
	for (i = 0; i < snap->nr_members; i++)
		bk_cow_fail(snap->members[i].cow, error);
	bk_snapshot_event(snap, error == -ENOSPC ? BKSNAP_EVENT_OVERFLOW :
			  BKSNAP_EVENT_SNAPSHOT_FAILED, error);
}

static void bk_snapshot_thaw(struct bk_snapshot *snap, unsigned int frozen)
{
	while (frozen--)
		bk_bdev_thaw(snap->members[frozen].tracker->handle.bdev);
}

/* The instant of the snapshot, for every member at once. */
static int bk_snapshot_take(struct bk_snapshot *snap)
{
	u8 gen[BKSNAP_UUID_SIZE];
	unsigned int i;
	int ret;

	for (i = 0; i < snap->nr_members; i++) {
		ret = bk_bdev_freeze(snap->members[i].tracker->handle.bdev);
		if (ret) {
			bk_snapshot_thaw(snap, i);
			return ret;
		}
	}
	for (i = 0; i < snap->nr_members; i++)
		bk_tracker_quiesce(snap->members[i].tracker);
	for (i = 0; i < snap->nr_members; i++) {
		struct bk_snap_member *m = &snap->members[i];
		struct bk_tracker *t = m->tracker;

		generate_random_uuid(gen);
		if (bk_cbt_advance(&t->cbt, gen, &m->token))
			bk_event_device(BKSNAP_EVENT_CBT_RESET, t->dev, 0);
		t->snapshot = snap;
		rcu_assign_pointer(t->cow, m->cow);
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

		if (t->snapshot != snap)
			continue;
		bk_cow_fail(snap->members[i].cow, -ESHUTDOWN);
		bk_tracker_quiesce(t);
		RCU_INIT_POINTER(t->cow, NULL);
		t->snapshot = NULL;
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
	if (t->snapshot)
		return -EBUSY;
	if (test_bit(BK_TRACKER_GONE, &t->flags))
		return -ENODEV;
	snap->nr_members++;
	m->tracker = t;
	m->cow = bk_cow_create(t->handle.bdev, snap, snap->diff);
	if (IS_ERR(m->cow))
		return PTR_ERR(m->cow);
	m->image = bk_image_create(m->cow);
	return PTR_ERR_OR_ZERO(m->image);
}

int bk_snapshot_create(const dev_t *devs, unsigned int n, int diff_fd,
		       u64 low_water, struct bk_snapshot **out)
{
	struct bk_snapshot *snap;
	unsigned int i;
	int ret;

	lockdep_assert_held(&bk_trackers_mutex);
	snap = kzalloc(struct_size(snap, members, n), GFP_KERNEL);
	if (!snap)
		return -ENOMEM;
	generate_random_uuid(snap->id);
	snap->diff = bk_diff_storage_create(low_water);
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

	lockdep_assert_held(&bk_trackers_mutex);
	list_for_each_entry(snap, &bk_snapshots, list) {
		if (!memcmp(snap->id, id, BKSNAP_UUID_SIZE))
			return snap;
	}
	return NULL;
}

void bk_snapshot_destroy(struct bk_snapshot *snap)
{
	lockdep_assert_held(&bk_trackers_mutex);
	list_del(&snap->list);
	pr_info("snapshot %pUb released\n", snap->id);
	bk_snapshot_free(snap);
}

unsigned int bk_snapshot_ids(u8 (*ids)[BKSNAP_UUID_SIZE], unsigned int max)
{
	struct bk_snapshot *snap;
	unsigned int n = 0;

	lockdep_assert_held(&bk_trackers_mutex);
	list_for_each_entry(snap, &bk_snapshots, list) {
		if (n < max)
			memcpy(ids[n], snap->id, BKSNAP_UUID_SIZE);
		n++;
	}
	return n;
}

int bk_snapshot_add_storage(struct bk_snapshot *snap, int fd)
{
	lockdep_assert_held(&bk_trackers_mutex);
	return bk_diff_storage_add(snap->diff, fd);
}

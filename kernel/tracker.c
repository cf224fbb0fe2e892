// SPDX-License-Identifier: GPL-2.0
/*
 * Trackers: attach, detach, the write filter, drain, and device removal.
 *
 * Life cycle.  Attach opens the device (a reference that outlives its
 * removal), allocates the CBT map with a new generation, and publishes the
 * tracker in bk_trackers; from then on every write bio submitted to the
 * device is filtered.  Detach unpublishes it, waits for an RCU grace
 * period (no filter can still be looking at it) and for the writes in
 * flight, then frees it.  A tracker pins the module, so rmmod is refused
 * while any is attached.  When the disk is deleted, the tracker is flagged
 * and detached from a work item, and userspace gets BKSNAP_EVENT_DEVICE_GONE.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mempool.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/uuid.h>
#include <linux/xarray.h>
#include "cow.h"
#include "ctl.h"
#include "ctl_args.h"
#include "event.h"
#include "interpose.h"
#include "own_io.h"
#include "snapshot.h"
#include "tracker.h"

#define BK_MIN_INFLIGHT_CTX	256

static unsigned long cbt_max_blocks = BK_CBT_MAX_BLOCKS;
module_param(cbt_max_blocks, ulong, 0444);
MODULE_PARM_DESC(cbt_max_blocks, "Cap on CBT map entries (bytes) per device");

static unsigned int cbt_min_shift = BK_CBT_MIN_SHIFT;
module_param(cbt_min_shift, uint, 0444);
MODULE_PARM_DESC(cbt_min_shift, "log2 of the smallest CBT block in bytes");

static DEFINE_XARRAY(bk_trackers);	/* dev_t -> tracker, RCU readers */
static unsigned int bk_tracker_count;
static struct workqueue_struct *bk_tracker_wq;
static struct kmem_cache *bk_ctx_cache;
static mempool_t *bk_ctx_pool;

/* What a tracked write carries until it completes. */
struct bk_write_ctx {
	bio_end_io_t *end_io;
	void *private;
	struct bk_tracker *tracker;
};

static bool bk_bio_changes_data(struct bio *bio)
{
	switch (bio_op(bio)) {
	case REQ_OP_WRITE:
	case REQ_OP_DISCARD:
	case REQ_OP_SECURE_ERASE:
	case REQ_OP_WRITE_ZEROES:
		return bio_sectors(bio) != 0;
	default:
		return false;
	}
}

/*
 * The tracker of the device a bio is for, and the bio's first sector on
 * it.  A bio for a partition of a tracked whole disk counts for the disk.
 */
static struct bk_tracker *bk_tracker_of(struct bio *bio, sector_t *start)
{
	struct block_device *bdev = bio->bi_bdev;
	struct bk_tracker *t = xa_load(&bk_trackers, bdev->bd_dev);

	if (!t && bdev_is_partition(bdev))
		t = xa_load(&bk_trackers, bdev_whole(bdev)->bd_dev);
	if (t)
		*start = bk_bio_offset(bio, t->handle.bdev->bd_start_sect);
	return t;
}

/* The RCU read section lets module exit wait for this function's end. */
static void bk_write_endio(struct bio *bio)
{
	struct bk_write_ctx *ctx = bio->bi_private;
	struct bk_tracker *t = ctx->tracker;

	rcu_read_lock();
	bio->bi_end_io = ctx->end_io;
	bio->bi_private = ctx->private;
	mempool_free(ctx, bk_ctx_pool);
	/*
	 * Not ->bi_end_io() directly: a chained bio's is bio_chain_endio(),
	 * which only bio_endio() may handle (7.x made it a BUG() sentinel).
	 * The first bio_endio() did rq-qos's completion accounting: keep
	 * iolatency and iocost from counting this bio twice.
	 */
	bio_clear_flag(bio, BIO_QOS_THROTTLED);
	bio_clear_flag(bio, BIO_QOS_MERGED);
	bio_endio(bio);
	percpu_ref_put(&t->active);
	rcu_read_unlock();
}

/* Count the write in flight until it completes; false if no memory now. */
static bool bk_track_completion(struct bk_tracker *t, struct bio *bio)
{
	gfp_t gfp = (bio->bi_opf & REQ_NOWAIT) ? GFP_NOWAIT : GFP_NOIO;
	struct bk_write_ctx *ctx;

	/*
	 * A split remainder coming round again is counted already; a bio a
	 * stacking driver remapped in place to another tracked device is not.
	 */
	if (bio->bi_end_io == bk_write_endio &&
	    ((struct bk_write_ctx *)bio->bi_private)->tracker == t)
		return true;
	ctx = mempool_alloc(bk_ctx_pool, gfp);
	if (!ctx)
		return false;
	ctx->end_io = bio->bi_end_io;
	ctx->private = bio->bi_private;
	ctx->tracker = t;
	bio->bi_end_io = bk_write_endio;
	bio->bi_private = ctx;
	percpu_ref_get(&t->active);
	return true;
}

/* Called with the RCU read lock held; true if the bio was taken. */
static bool bk_tracker_write(struct bk_tracker *t, struct bio *bio,
			     sector_t start)
{
	unsigned long irqflags;
	struct bk_cow *cow;
	bool ok;

	if (!percpu_ref_tryget_live(&t->active)) {
		/* Draining: park the bio unless the drain just ended. */
		spin_lock_irqsave(&t->lock, irqflags);
		if (!percpu_ref_tryget_live(&t->active)) {
			bio_list_add(&t->held, bio);
			spin_unlock_irqrestore(&t->lock, irqflags);
			return true;
		}
		spin_unlock_irqrestore(&t->lock, irqflags);
	}
	/*
	 * Its -ERANGE needs no action of its own: the part of the bio past
	 * the map's end is not marked.  If the device grew, the capacity
	 * check below replaces the map under a new generation (until then
	 * the tracker reports CBT_ERROR); otherwise the bio runs past the
	 * device's end and submit_bio_noacct(), which checks that after this
	 * filter, fails it.  Either way no write is missed.
	 */
	bk_cbt_mark(&t->cbt, start, bio_sectors(bio));
	if (unlikely(bdev_nr_sectors(t->handle.bdev) !=
		     t->cbt.capacity_sectors) &&
	    !test_and_set_bit(BK_TRACKER_RESIZED, &t->flags))
		queue_work(bk_tracker_wq, &t->resize_work);
	ok = bk_track_completion(t, bio);
	percpu_ref_put(&t->active);
	if (!ok) {
		bio_wouldblock_error(bio);
		return true;
	}
	cow = rcu_dereference(t->cow);
	return cow && bk_cow_write(cow, bio, start);
}

bool bk_tracker_filter(struct bio *bio)
{
	struct bk_tracker *t;
	sector_t start;
	bool taken = false;

	if (!bk_bio_changes_data(bio) || bk_bio_is_own(bio))
		return false;
	rcu_read_lock();
	t = bk_tracker_of(bio, &start);
	if (t && !test_bit(BK_TRACKER_GONE, &t->flags))
		taken = bk_tracker_write(t, bio, start);
	rcu_read_unlock();
	return taken;
}

static void bk_tracker_drained(struct percpu_ref *ref)
{
	struct bk_tracker *t = container_of(ref, struct bk_tracker, active);

	complete(&t->drained);
}

void bk_tracker_quiesce(struct bk_tracker *t)
{
	reinit_completion(&t->drained);
	percpu_ref_kill(&t->active);
	wait_for_completion(&t->drained);
}

void bk_tracker_resume(struct bk_tracker *t)
{
	struct bio_list held;
	struct bio *bio;

	spin_lock_irq(&t->lock);
	percpu_ref_resurrect(&t->active);
	held = t->held;
	bio_list_init(&t->held);
	spin_unlock_irq(&t->lock);

	/* Parked writes take the normal path now, in submission order. */
	while ((bio = bio_list_pop(&held))) {
		if (!bk_tracker_filter(bio))
			bk_interpose_submit(bio);
	}
}

static int bk_cbt_alloc(struct bk_cbt_map *cbt, sector_t capacity)
{
	u8 gen[BKSNAP_UUID_SIZE];
	u32 shift;
	u64 count;
	u8 *map;
	int ret;

	ret = bk_cbt_geometry(capacity, cbt_max_blocks, cbt_min_shift,
			      BK_CBT_MAX_SHIFT, &shift, &count);
	if (ret)
		return ret;
	map = kvzalloc(count, GFP_KERNEL);
	if (!map)
		return -ENOMEM;
	generate_random_uuid(gen);
	bk_cbt_init(cbt, map, capacity, shift, count, gen);
	return 0;
}

/*
 * Restart the map for the device's new size: clients must read it all.
 * Without memory for the new map, the old one stays and the tracker reports
 * BKSNAP_STATE_CBT_ERROR (BK_TRACKER_RESIZED stays set) until detached.
 */
static void bk_tracker_resize_work(struct work_struct *work)
{
	struct bk_tracker *t = container_of(work, struct bk_tracker,
					    resize_work);
	struct bk_cbt_map fresh = {};
	int ret;

	mutex_lock(&bk_config_mutex);
	if (bk_tracker_find(t->dev) != t)	/* detached meanwhile */
		goto out;
	ret = bk_cbt_alloc(&fresh, bdev_nr_sectors(t->handle.bdev));
	if (ret) {
		pr_warn("%u:%u resized, no memory for a new CBT map: %d\n",
			MAJOR(t->dev), MINOR(t->dev), ret);
		goto out;
	}
	bk_tracker_quiesce(t);
	kvfree(t->cbt.map);
	t->cbt = fresh;
	clear_bit(BK_TRACKER_RESIZED, &t->flags);
	bk_tracker_resume(t);
	pr_info("%u:%u capacity now %llu sectors, CBT reset\n",
		MAJOR(t->dev), MINOR(t->dev), t->cbt.capacity_sectors);
	bk_event_device(BKSNAP_EVENT_CBT_RESET, t->dev, 0);
out:
	mutex_unlock(&bk_config_mutex);
}

static void bk_tracker_gone_work(struct work_struct *work)
{
	struct bk_tracker *t = container_of(work, struct bk_tracker, gone_work);
	dev_t dev = t->dev;
	bool gone = false;

	mutex_lock(&bk_config_mutex);
	if (bk_tracker_find(dev) == t) {
		pr_info("%u:%u removed, tracker released\n",
			MAJOR(dev), MINOR(dev));
		if (t->snapshot) {
			bk_snapshot_fail(t->snapshot, -ENODEV);
			bk_snapshot_destroy(t->snapshot);
		}
		gone = !bk_tracker_detach(dev, &t);
	}
	mutex_unlock(&bk_config_mutex);
	if (gone) {
		bk_tracker_release(t);
		bk_event_device(BKSNAP_EVENT_DEVICE_GONE, dev, -ENODEV);
	}
}

void bk_tracker_disk_gone(struct gendisk *disk)
{
	struct bk_tracker *t;
	unsigned long index;

	rcu_read_lock();
	xa_for_each(&bk_trackers, index, t) {
		if (t->handle.bdev->bd_disk == disk &&
		    !test_and_set_bit(BK_TRACKER_GONE, &t->flags))
			queue_work(bk_tracker_wq, &t->gone_work);
	}
	rcu_read_unlock();
}

struct bk_tracker *bk_tracker_find(dev_t dev)
{
	lockdep_assert_held(&bk_config_mutex);
	return xa_load(&bk_trackers, dev);
}

/* A whole disk and one of its partitions are never tracked together. */
static bool bk_tracker_overlaps(struct block_device *bdev)
{
	struct bk_tracker *t;
	unsigned long index;

	xa_for_each(&bk_trackers, index, t) {
		if (t->handle.bdev->bd_disk == bdev->bd_disk &&
		    (!bdev_is_partition(bdev) ||
		     !bdev_is_partition(t->handle.bdev)))
			return true;
	}
	return false;
}

static void bk_tracker_free(struct bk_tracker *t)
{
	percpu_ref_exit(&t->active);
	kvfree(t->cbt.map);
	bk_bdev_close(&t->handle);
	kfree(t);
	module_put(THIS_MODULE);
}

/*
 * Writes that passed the filter before the tracker was published are not
 * counted in flight.  Freezing the device (a filesystem freeze where one is
 * mounted, a sync otherwise) waits for the filesystem's; freezing a blk-mq
 * queue waits for the requests still in flight, raw O_DIRECT writes among
 * them, so the first snapshot's drain is complete.  A bio-based driver's
 * queue is held only while a bio is submitted, not until it completes:
 * there, raw writes issued before attach are not waited for
 * (docs/kernel.md).
 */
static void bk_tracker_settle(struct bk_tracker *t)
{
	struct block_device *bdev = t->handle.bdev;

	if (!bk_bdev_freeze(bdev))
		bk_bdev_thaw(bdev);
	if (queue_is_mq(bdev_get_queue(bdev)))
		bk_queue_drain(bdev_get_queue(bdev));
}

int bk_tracker_attach(dev_t dev)
{
	struct bk_tracker *t;
	int ret;

	lockdep_assert_held(&bk_config_mutex);
	if (xa_load(&bk_trackers, dev))
		return -EBUSY;
	if (bk_tracker_count >= BK_MAX_TRACKERS)
		return -ENOSPC;
	t = kzalloc(sizeof(*t), GFP_KERNEL);
	if (!t)
		return -ENOMEM;
	ret = bk_bdev_open(dev, &t->handle);
	if (ret)
		goto err_free;
	ret = -EOPNOTSUPP;
	if (bdev_is_zoned(t->handle.bdev))
		goto err_close;
	ret = -EBUSY;
	if (bk_tracker_overlaps(t->handle.bdev))
		goto err_close;
	ret = bk_cbt_alloc(&t->cbt, bdev_nr_sectors(t->handle.bdev));
	if (ret)
		goto err_close;
	ret = percpu_ref_init(&t->active, bk_tracker_drained,
			      PERCPU_REF_ALLOW_REINIT, GFP_KERNEL);
	if (ret)
		goto err_map;
	t->dev = dev;
	init_completion(&t->drained);
	spin_lock_init(&t->lock);
	bio_list_init(&t->held);
	INIT_WORK(&t->gone_work, bk_tracker_gone_work);
	INIT_WORK(&t->resize_work, bk_tracker_resize_work);
	__module_get(THIS_MODULE);
	ret = xa_insert(&bk_trackers, dev, t, GFP_KERNEL);
	if (ret) {
		module_put(THIS_MODULE);
		goto err_ref;
	}
	bk_tracker_count++;
	bk_tracker_settle(t);
	pr_info("tracking %u:%u, %llu sectors, CBT block %u bytes x %llu\n",
		MAJOR(dev), MINOR(dev), t->cbt.capacity_sectors,
		1U << t->cbt.block_shift, t->cbt.block_count);
	return 0;

err_ref:
	percpu_ref_exit(&t->active);
err_map:
	kvfree(t->cbt.map);
err_close:
	bk_bdev_close(&t->handle);
err_free:
	kfree(t);
	return ret;
}

/*
 * Unpublish the tracker; the caller then drops bk_config_mutex and calls
 * bk_tracker_release().  Its work items take that mutex, so they are
 * cancelled only after it is dropped: run now, they find the tracker gone.
 */
int bk_tracker_detach(dev_t dev, struct bk_tracker **gone)
{
	struct bk_tracker *t;

	lockdep_assert_held(&bk_config_mutex);
	t = xa_load(&bk_trackers, dev);
	if (!t)
		return -ENOENT;
	if (t->snapshot)
		return -EBUSY;
	xa_erase(&bk_trackers, dev);
	bk_tracker_count--;
	*gone = t;
	return 0;
}

void bk_tracker_release(struct bk_tracker *t)
{
	lockdep_assert_not_held(&bk_config_mutex);
	synchronize_rcu_expedited();	/* no filter or callback sees it now */
	cancel_work_sync(&t->resize_work);
	if (current_work() != &t->gone_work)
		cancel_work_sync(&t->gone_work);
	bk_tracker_quiesce(t);	/* its writes in flight have completed */
	WARN_ON_ONCE(!bio_list_empty(&t->held));
	pr_info("stopped tracking %u:%u\n", MAJOR(t->dev), MINOR(t->dev));
	bk_tracker_free(t);
}

unsigned int bk_tracker_list(dev_t *devs, unsigned int max)
{
	struct bk_tracker *t;
	unsigned long index;
	unsigned int n = 0;

	lockdep_assert_held(&bk_config_mutex);
	xa_for_each(&bk_trackers, index, t) {
		if (n < max)
			devs[n] = t->dev;
		n++;
	}
	return n;
}

int bk_tracker_init(void)
{
	bk_tracker_wq = alloc_workqueue("bksnap_tracker",
					WQ_MEM_RECLAIM | BK_WQ_PERCPU, 0);
	if (!bk_tracker_wq)
		return -ENOMEM;
	bk_ctx_cache = KMEM_CACHE(bk_write_ctx, 0);
	if (!bk_ctx_cache)
		goto err_wq;
	bk_ctx_pool = mempool_create_slab_pool(BK_MIN_INFLIGHT_CTX,
					       bk_ctx_cache);
	if (!bk_ctx_pool)
		goto err_cache;
	return 0;

err_cache:
	kmem_cache_destroy(bk_ctx_cache);
err_wq:
	destroy_workqueue(bk_tracker_wq);
	return -ENOMEM;
}

/* Only after the interposer has stopped: no tracker is left (they pin us). */
void bk_tracker_exit(void)
{
	destroy_workqueue(bk_tracker_wq);
	synchronize_rcu();	/* bk_write_endio() has returned everywhere */
	mempool_destroy(bk_ctx_pool);
	kmem_cache_destroy(bk_ctx_cache);
}

dev_t bk_tracker_dev(struct bk_tracker *t)
{
	return t->dev;
}

struct block_device *bk_tracker_bdev(struct bk_tracker *t)
{
	return t->handle.bdev;
}

struct bk_snapshot *bk_tracker_snapshot(struct bk_tracker *t)
{
	lockdep_assert_held(&bk_config_mutex);
	return t->snapshot;
}

void bk_tracker_switch(struct bk_tracker *t, struct bk_snapshot *snap,
		       struct bk_cow *cow, struct bk_cbt_token *token)
{
	u8 gen[BKSNAP_UUID_SIZE];

	lockdep_assert_held(&bk_config_mutex);
	generate_random_uuid(gen);
	if (bk_cbt_advance(&t->cbt, gen, token))
		bk_event_device(BKSNAP_EVENT_CBT_RESET, t->dev, 0);
	t->snapshot = snap;
	rcu_assign_pointer(t->cow, cow);
}

/* The caller waits for an RCU grace period before freeing the engine. */
void bk_tracker_unswitch(struct bk_tracker *t)
{
	lockdep_assert_held(&bk_config_mutex);
	RCU_INIT_POINTER(t->cow, NULL);
	t->snapshot = NULL;
}

void bk_tracker_info(struct bk_tracker *t, struct bksnap_tracker_info *info)
{
	lockdep_assert_held(&bk_config_mutex);
	memcpy(info->generation, t->cbt.generation, BKSNAP_UUID_SIZE);
	info->sequence = t->cbt.seq;
	info->block_shift = t->cbt.block_shift;
	info->block_count = t->cbt.block_count;
	info->capacity_sectors = t->cbt.capacity_sectors;
	info->state = bk_tracker_state(t);
	info->major = MAJOR(t->dev);
	info->minor = MINOR(t->dev);
}

/* Into the caller's buffer; bk_config_mutex keeps the map from a reset. */
int bk_tracker_cbt_read(struct bk_tracker *t, const struct bksnap_cbt_read *r)
{
	int ret;

	lockdep_assert_held(&bk_config_mutex);
	ret = bk_check_cbt_read(r, t->cbt.generation, t->cbt.block_count);
	if (ret)
		return ret;
	/*
	 * Writes go on being marked: each byte is copied before or after a
	 * mark, and at worst a write newer than the copy is reported
	 * (cbt_map.h, "Locking").
	 */
	if (data_race(copy_to_user(u64_to_user_ptr(r->buf),
				   t->cbt.map + r->first_block, r->count)))
		return -EFAULT;
	return 0;
}

int bk_tracker_cbt_mark(struct bk_tracker *t, const struct bksnap_cbt_mark *mk)
{
	lockdep_assert_held(&bk_config_mutex);
	return bk_check_cbt_mark(mk, t->cbt.generation,
				 t->cbt.capacity_sectors) ?:
	       bk_cbt_mark(&t->cbt, mk->sector, mk->nr_sectors);
}

int bk_tracker_cbt_anchor(struct bk_tracker *t, struct bksnap_cbt_anchor *a)
{
	int ret;

	lockdep_assert_held(&bk_config_mutex);
	ret = bk_check_cbt_anchor(a, t->cbt.generation);
	if (!ret && a->sequence)
		ret = bk_cbt_set_anchor(&t->cbt, a->sequence);
	if (ret)
		return ret;
	memcpy(a->link_generation, t->cbt.link.generation, BKSNAP_UUID_SIZE);
	a->link_sequence = t->cbt.link.seq;
	return 0;
}

u32 bk_tracker_state(struct bk_tracker *t)
{
	u32 state = 0;

	if (test_bit(BK_TRACKER_GONE, &t->flags))
		state |= BKSNAP_STATE_GONE;
	if (test_bit(BK_TRACKER_RESIZED, &t->flags))
		state |= BKSNAP_STATE_CBT_ERROR;
	if (t->snapshot)
		state |= BKSNAP_STATE_SNAPSHOT;
	return state;
}

void bk_tracker_limits(u32 *min_shift, u32 *max_shift, u64 *max_blocks)
{
	*min_shift = cbt_min_shift;
	*max_shift = BK_CBT_MAX_SHIFT;
	*max_blocks = cbt_max_blocks;
}

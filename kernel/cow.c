// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write engine (see cow.h).
 *
 * A write the filter cannot pass at once (some chunk not yet copied, or
 * being read by the image from the origin) goes on @incoming and the
 * per-device worker decides it with chunk.c: chunks to copy become copy
 * jobs, the write waits on @waiting.  Each copy, once its origin read is
 * done, and each image read from the origin, re-examines the waiting
 * writes.  Writes are submitted, when free, from process context and
 * around the filter: they were marked in the CBT and counted in flight when
 * first seen.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/mempool.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/workqueue.h>
#include "compat.h"
#include "cow.h"
#include "cow_plan.h"
#include "diff_storage.h"
#include "interpose.h"
#include "own_io.h"
#include "snapshot.h"

#define BK_COPY_POOL	BK_COPY_ACTIVE
#define BK_DECIDE_BATCH	32	/* copies started per pass under the lock */
#define BK_SPARE_BYTES	(8U << 20)	/* kept in spare copy buffers */

struct bk_cow {
	struct block_device *origin;
	sector_t origin_start;		/* of the origin within its disk */
	struct bk_snapshot *snap;	/* told when a copy fails */
	struct bk_diff_storage *diff;
	spinlock_t lock;		/* everything below */
	struct bk_chunk_table table;
	struct bio_list incoming;	/* writes for the worker to decide */
	struct bio_list waiting;	/* writes held for copies or readers */
	struct bio_list parked;		/* image reads of STORING chunks */
	atomic_t parked_inflight;	/* parked, not yet resubmitted */
	struct work_struct work;
	atomic_t copies;		/* copies queued or running */
	u32 copy_bytes;			/* of each copy buffer */
	unsigned int max_spare;
	unsigned int nr_spare;		/* under @lock, like @spare */
	struct bk_pages spare[BK_COPY_SPARE];
};

/* The copy of a run of adjacent chunks: one read, one write. */
struct bk_copy {
	struct work_struct work;
	struct bk_cow *cow;
	struct bk_copy_run run;
};

static struct workqueue_struct *bk_cow_wq;	/* deciders */
static struct workqueue_struct *bk_copy_wq;	/* copies, BK_COPY_ACTIVE */
static struct kmem_cache *bk_copy_cache;
static mempool_t *bk_copy_pool;

/* Can the write go now?  Changes nothing; cow->lock held. */
static bool bk_cow_free_to_go(struct bk_cow *cow, struct bio *bio)
{
	return bk_cow_write_free(&cow->table,
				 bk_bio_offset(bio, cow->origin_start),
				 bio_sectors(bio));
}

bool bk_cow_write(struct bk_cow *cow, struct bio *bio, sector_t start)
{
	unsigned long flags;
	bool go;

	spin_lock_irqsave(&cow->lock, flags);
	go = bk_cow_free_to_go(cow, bio);
	if (!go && !(bio->bi_opf & REQ_NOWAIT))
		bio_list_add(&cow->incoming, bio);
	spin_unlock_irqrestore(&cow->lock, flags);
	if (go)
		return false;
	if (bio->bi_opf & REQ_NOWAIT)
		bio_wouldblock_error(bio);	/* a copy would sleep */
	else
		queue_work(bk_cow_wq, &cow->work);
	return true;
}

/* Take the waiting writes that may go now; cow->lock held. */
static void bk_cow_collect_free(struct bk_cow *cow, struct bio_list *go)
{
	struct bio_list still = BIO_EMPTY_LIST;
	struct bio *bio;

	while ((bio = bio_list_pop(&cow->waiting))) {
		if (bk_cow_free_to_go(cow, bio))
			bio_list_add(go, bio);
		else
			bio_list_add(&still, bio);
	}
	cow->waiting = still;
}

static void bk_cow_submit_all(struct bio_list *bios)
{
	struct bio *bio;

	while ((bio = bio_list_pop(bios)))
		bk_interpose_submit(bio);
}

static void bk_copy_work(struct work_struct *work);

static void bk_cow_start_copy(struct bk_cow *cow, struct bk_copy_run run)
{
	struct bk_copy *cp = mempool_alloc(bk_copy_pool, GFP_NOIO);

	INIT_WORK(&cp->work, bk_copy_work);
	cp->cow = cow;
	cp->run = run;
	atomic_inc(&cow->copies);
	queue_work(bk_copy_wq, &cp->work);
}

/*
 * Decide one incoming write: cow_plan.c marks its uncopied chunks COPYING
 * and groups them in runs, a batch at a time under the lock (a discard may
 * span thousands); the copies start outside it.
 */
static void bk_cow_decide(struct bk_cow *cow, struct bio *bio)
{
	u32 per_copy = bk_cow_chunks_per_copy(&cow->table);
	struct bk_copy_run runs[BK_DECIDE_BATCH];
	u64 next, last;
	unsigned int n, i;

	if (!bk_chunk_span(&cow->table, bk_bio_offset(bio, cow->origin_start),
			   bio_sectors(bio), &next, &last)) {
		bk_interpose_submit(bio);	/* past the image's end */
		return;
	}
	while (next <= last) {
		spin_lock_irq(&cow->lock);
		n = bk_cow_plan(&cow->table, &next, last, per_copy, runs,
				BK_DECIDE_BATCH);
		if (next > last)
			bio_list_add(&cow->waiting, bio);
		spin_unlock_irq(&cow->lock);
		for (i = 0; i < n; i++)
			bk_cow_start_copy(cow, runs[i]);
	}
}

/* The decider: new writes, then the held writes that are free now. */
static void bk_cow_work(struct work_struct *work)
{
	struct bk_cow *cow = container_of(work, struct bk_cow, work);
	unsigned int noio = memalloc_noio_save();
	struct bio_list incoming, go = BIO_EMPTY_LIST;
	struct bio *bio;

	spin_lock_irq(&cow->lock);
	incoming = cow->incoming;
	bio_list_init(&cow->incoming);
	spin_unlock_irq(&cow->lock);

	while ((bio = bio_list_pop(&incoming)))
		bk_cow_decide(cow, bio);

	spin_lock_irq(&cow->lock);
	bk_cow_collect_free(cow, &go);
	spin_unlock_irq(&cow->lock);
	bk_cow_submit_all(&go);
	memalloc_noio_restore(noio);
}

/* Held writes may have become free to go. */
static void bk_cow_kick(struct bk_cow *cow)
{
	queue_work(bk_cow_wq, &cow->work);
}

/*
 * Copy buffers are reused: allocating (and, with init_on_alloc, zeroing)
 * a megabyte of pages per copy cost a fifth of the CPU of a sequential
 * first write.
 */
static int bk_copy_buf_get(struct bk_cow *cow, struct bk_pages *buf)
{
	spin_lock_irq(&cow->lock);
	if (cow->nr_spare) {
		*buf = cow->spare[--cow->nr_spare];
		spin_unlock_irq(&cow->lock);
		return 0;
	}
	spin_unlock_irq(&cow->lock);
	return bk_pages_alloc(buf, cow->copy_bytes, GFP_NOIO);
}

static void bk_copy_buf_put(struct bk_cow *cow, struct bk_pages *buf)
{
	spin_lock_irq(&cow->lock);
	if (cow->nr_spare < cow->max_spare) {
		cow->spare[cow->nr_spare++] = *buf;
		buf = NULL;
	}
	spin_unlock_irq(&cow->lock);
	if (buf)
		bk_pages_free(buf);
}

/* Store @sectors of @buf in newly allocated difference storage at *@pos. */
static int bk_copy_store(struct bk_cow *cow, struct bk_pages *buf,
			 u64 sectors, u64 *pos)
{
	u64 done, run;
	int ret;

	ret = bk_diff_storage_alloc(cow->diff, sectors, pos);
	for (done = 0; !ret && done < sectors; done += run) {
		struct block_device *bdev;
		sector_t sector;

		ret = bk_diff_storage_map(cow->diff, *pos + done,
					  sectors - done, &bdev, &sector, &run);
		if (!ret)
			ret = bk_own_io(bdev, sector, buf, done, run,
					REQ_OP_WRITE);
	}
	return ret;
}

/* Resubmit image reads parked on STORING chunks: they decide again. */
static void bk_cow_unpark(struct bk_cow *cow, struct bio_list *reads)
{
	struct bio *bio;

	while ((bio = bio_list_pop(reads))) {
		bk_interpose_submit(bio);
		if (atomic_dec_and_test(&cow->parked_inflight))
			wake_up_var(&cow->parked_inflight);
	}
}

/*
 * The run's old data was read from the origin (or not: @ret): the held
 * writes may go.  A failure fails the group first, which lets every held
 * write go through bk_cow_fail().
 */
static void bk_copy_read_done(struct bk_cow *cow, struct bk_copy_run run,
			      int ret)
{
	struct bio_list go = BIO_EMPTY_LIST;
	u64 c;

	if (ret)
		bk_snapshot_fail(cow->snap, ret);
	spin_lock_irq(&cow->lock);
	for (c = run.first; c < run.first + run.count; c++)
		bk_chunk_copy_read(&cow->table, c, ret);
	bk_cow_collect_free(cow, &go);
	spin_unlock_irq(&cow->lock);
	bk_cow_submit_all(&go);
}

/*
 * The run's old data was stored at @pos (or not: @ret): the image reads
 * parked meanwhile ask again.
 */
static void bk_copy_stored(struct bk_cow *cow, struct bk_copy_run run,
			   u64 pos, int ret)
{
	sector_t start = bk_chunk_start(&cow->table, run.first);
	struct bio_list reads;
	u64 c;

	if (ret)
		bk_snapshot_fail(cow->snap, ret);
	spin_lock_irq(&cow->lock);
	for (c = run.first; c < run.first + run.count; c++)
		bk_chunk_copy_done(&cow->table, c,
				   pos + bk_chunk_start(&cow->table, c) - start,
				   ret);
	reads = cow->parked;
	bio_list_init(&cow->parked);
	spin_unlock_irq(&cow->lock);
	bk_cow_unpark(cow, &reads);
}

/*
 * Read the chunks from the origin; let the writes held on them go; store
 * the old data in the difference storage; let the image reads go.
 */
static void bk_copy_work(struct work_struct *work)
{
	struct bk_copy *cp = container_of(work, struct bk_copy, work);
	struct bk_cow *cow = cp->cow;
	unsigned int noio = memalloc_noio_save();
	struct bk_copy_run run = cp->run;
	u64 last = run.first + run.count - 1, pos = 0;
	sector_t start = bk_chunk_start(&cow->table, run.first);
	u64 sectors = bk_chunk_start(&cow->table, last) - start +
		      bk_chunk_sectors(&cow->table, last);
	struct bk_pages buf;
	int ret;

	mempool_free(cp, bk_copy_pool);
	ret = bk_copy_buf_get(cow, &buf);
	if (!ret)
		ret = bk_own_io(cow->origin, start, &buf, 0, sectors,
				REQ_OP_READ);
	bk_copy_read_done(cow, run, ret);
	if (!ret) {
		ret = bk_copy_store(cow, &buf, sectors, &pos);
		bk_copy_stored(cow, run, pos, ret);
	}
	if (buf.units)	/* NULL when no buffer came */
		bk_copy_buf_put(cow, &buf);
	memalloc_noio_restore(noio);
	if (atomic_dec_and_test(&cow->copies))
		wake_up_var(&cow->copies);
}

int bk_cow_read_begin(struct bk_cow *cow, u64 chunk, struct bio *bio,
		      u64 *diff_pos)
{
	int r;

	spin_lock_irq(&cow->lock);
	r = bk_chunk_read(&cow->table, chunk, diff_pos);
	if (r == BK_READ_WAIT) {
		bio_list_add(&cow->parked, bio);
		atomic_inc(&cow->parked_inflight);
	}
	spin_unlock_irq(&cow->lock);
	switch (r) {
	case BK_READ_DIFF:
		return BK_COW_READ_DIFF;
	case BK_READ_ORIGIN:
		return BK_COW_READ_ORIGIN;
	case BK_READ_WAIT:
		return BK_COW_READ_PARKED;
	default:
		return r;
	}
}

int bk_cow_read_end(struct bk_cow *cow, u64 chunk)
{
	unsigned long flags;
	int err;

	spin_lock_irqsave(&cow->lock, flags);
	err = bk_chunk_read_done(&cow->table, chunk);
	spin_unlock_irqrestore(&cow->lock, flags);
	bk_cow_kick(cow);	/* a held write may go now */
	return err;
}

void bk_cow_wait_parked(struct bk_cow *cow)
{
	wait_var_event(&cow->parked_inflight,
		       !atomic_read(&cow->parked_inflight));
}

void bk_cow_fail(struct bk_cow *cow, int error)
{
	struct bio_list reads;

	spin_lock_irq(&cow->lock);
	bk_chunk_fail(&cow->table, error);
	reads = cow->parked;
	bio_list_init(&cow->parked);
	spin_unlock_irq(&cow->lock);
	bk_cow_unpark(cow, &reads);	/* they fail now */
	bk_cow_kick(cow);
}

struct bk_cow *bk_cow_create(struct block_device *origin,
			     struct bk_snapshot *snap,
			     struct bk_diff_storage *diff)
{
	sector_t capacity = bdev_nr_sectors(origin);
	struct bk_chunk *chunks;
	struct bk_cow *cow;
	u32 shift;
	u64 count;

	if (bk_cbt_geometry(capacity, BK_CHUNK_MAX_COUNT, BK_CHUNK_MIN_SHIFT,
			    BK_CHUNK_MAX_SHIFT, &shift, &count))
		return ERR_PTR(-EINVAL);
	cow = kzalloc(sizeof(*cow), GFP_KERNEL);
	if (!cow)
		return ERR_PTR(-ENOMEM);
	chunks = kvcalloc(count, sizeof(*chunks), GFP_KERNEL);
	if (!chunks) {
		kfree(cow);
		return ERR_PTR(-ENOMEM);
	}
	bk_chunk_init(&cow->table, chunks, capacity, shift, count);
	cow->copy_bytes = max_t(u32, BK_COPY_BYTES, 1U << shift);
	cow->max_spare = clamp(BK_SPARE_BYTES / cow->copy_bytes, 1U,
			       BK_COPY_SPARE);
	cow->origin = origin;
	cow->origin_start = origin->bd_start_sect;
	cow->snap = snap;
	cow->diff = diff;
	spin_lock_init(&cow->lock);
	bio_list_init(&cow->incoming);
	bio_list_init(&cow->waiting);
	bio_list_init(&cow->parked);
	atomic_set(&cow->parked_inflight, 0);
	INIT_WORK(&cow->work, bk_cow_work);
	atomic_set(&cow->copies, 0);
	return cow;
}

struct block_device *bk_cow_origin(struct bk_cow *cow)
{
	return cow->origin;
}

sector_t bk_cow_capacity(struct bk_cow *cow)
{
	return cow->table.capacity_sectors;
}

u32 bk_cow_chunk_shift(struct bk_cow *cow)
{
	return cow->table.shift;
}

void bk_cow_destroy(struct bk_cow *cow)
{
	wait_var_event(&cow->copies, !atomic_read(&cow->copies));
	flush_work(&cow->work);
	WARN_ON_ONCE(!bio_list_empty(&cow->waiting) ||
		     !bio_list_empty(&cow->incoming) ||
		     !bio_list_empty(&cow->parked));
	while (cow->nr_spare)
		bk_pages_free(&cow->spare[--cow->nr_spare]);
	kvfree(cow->table.chunks);
	kfree(cow);
}

int bk_cow_init(void)
{
	bk_cow_wq = alloc_workqueue("bksnap_cow", WQ_MEM_RECLAIM | BK_WQ_PERCPU,
				    0);
	bk_copy_wq = alloc_workqueue("bksnap_copy", WQ_MEM_RECLAIM | BK_WQ_PERCPU,
				     BK_COPY_ACTIVE);
	bk_copy_cache = KMEM_CACHE(bk_copy, 0);
	bk_copy_pool = bk_copy_cache ?
		mempool_create_slab_pool(BK_COPY_POOL, bk_copy_cache) : NULL;
	if (bk_cow_wq && bk_copy_wq && bk_copy_pool)
		return 0;
	bk_cow_exit();
	return -ENOMEM;
}

void bk_cow_exit(void)
{
	mempool_destroy(bk_copy_pool);
	kmem_cache_destroy(bk_copy_cache);
	if (bk_copy_wq)
		destroy_workqueue(bk_copy_wq);
	if (bk_cow_wq)
		destroy_workqueue(bk_cow_wq);
}

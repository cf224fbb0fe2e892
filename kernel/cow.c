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
#include "compat.h"
#include "cow.h"
#include "diff_storage.h"
#include "interpose.h"
#include "own_io.h"
#include "snapshot.h"

#define BK_COPY_POOL	BK_COPY_ACTIVE
#define BK_DECIDE_BATCH	32	/* copies started per pass under the lock */
#define BK_COPY_BYTES	(1U << 20)	/* adjacent chunks copied at once */
#define BK_SPARE_BYTES	(8U << 20)	/* kept in spare copy buffers */

/* The copy of adjacent chunks [first, first + count): one read, one write. */
struct bk_copy {
	struct work_struct work;
	struct bk_cow *cow;
	u64 first;
	u32 count;
};

static struct workqueue_struct *bk_cow_wq;	/* deciders */
static struct workqueue_struct *bk_copy_wq;	/* copies, BK_COPY_ACTIVE */
static struct kmem_cache *bk_copy_cache;
static mempool_t *bk_copy_pool;

/* The chunks a write covers; false if it lies past the snapshot's end. */
static bool bk_cow_span(struct bk_cow *cow, struct bio *bio, u64 *first,
			u64 *last)
{
	return bk_chunk_span(&cow->table,
			     bk_bio_offset(bio, cow->origin_start),
			     bio_sectors(bio), first, last);
}

/* Can the write go now?  Changes nothing; cow->lock held. */
static bool bk_cow_free_to_go(struct bk_cow *cow, struct bio *bio)
{
	u64 c, first, last;

	if (!bk_cow_span(cow, bio, &first, &last))
		return true;	/* past the image's end: nothing to keep */
	for (c = first; c <= last; c++) {
		if (bk_chunk_write(&cow->table, c, true) != BK_WRITE_GO)
			return false;
	}
	return true;
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

static void bk_cow_start_copy(struct bk_cow *cow, u64 first, u32 count)
{
	struct bk_copy *cp = mempool_alloc(bk_copy_pool, GFP_NOIO);

	INIT_WORK(&cp->work, bk_copy_work);
	cp->cow = cow;
	cp->first = first;
	cp->count = count;
	atomic_inc(&cow->copies);
	queue_work(bk_copy_wq, &cp->work);
}

/*
 * Decide one incoming write: mark its uncopied chunks COPYING and start
 * their copies, adjacent ones together (up to BK_COPY_BYTES), a batch at a
 * time under the lock (a discard may span thousands).
 */
static void bk_cow_decide(struct bk_cow *cow, struct bio *bio)
{
	u32 per_copy = max(1U, BK_COPY_BYTES >> cow->table.shift);
	u64 runs[BK_DECIDE_BATCH];
	u32 counts[BK_DECIDE_BATCH];
	u64 c, first, last;
	unsigned int n, i;

	if (!bk_cow_span(cow, bio, &first, &last)) {
		bk_interpose_submit(bio);
		return;
	}
	for (c = first; c <= last;) {
		n = 0;
		spin_lock_irq(&cow->lock);
		for (; c <= last; c++) {
			bool extends = n && runs[n - 1] + counts[n - 1] == c &&
				       counts[n - 1] < per_copy;

			if (n == BK_DECIDE_BATCH && !extends)
				break;	/* before c may turn COPYING */
			if (bk_chunk_write(&cow->table, c, false) != BK_WRITE_COPY)
				continue;
			if (extends) {
				counts[n - 1]++;
			} else {
				runs[n] = c;
				counts[n++] = 1;
			}
		}
		if (c > last)
			bio_list_add(&cow->waiting, bio);
		spin_unlock_irq(&cow->lock);
		for (i = 0; i < n; i++)
			bk_cow_start_copy(cow, runs[i], counts[i]);
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

void bk_cow_kick(struct bk_cow *cow)
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

	ret = bk_snapshot_alloc_diff(cow->snap, sectors, pos);
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
		submit_bio_noacct(bio);
		if (atomic_dec_and_test(&cow->parked_inflight))
			wake_up_var(&cow->parked_inflight);
	}
}

/*
 * Report a step of the copy of chunks [first, first + count) to the table:
 * read from the origin (@pos unused), which may free held writes, or
 * stored at @pos, which frees the image reads parked meanwhile.  (A failure
 * frees every held write through bk_snapshot_fail().)
 */
static void bk_copy_report(struct bk_cow *cow, u64 first, u32 count,
			   bool stored, u64 pos, int ret)
{
	sector_t start = bk_chunk_start(&cow->table, first);
	struct bio_list go = BIO_EMPTY_LIST, reads = BIO_EMPTY_LIST;
	u64 c;

	if (ret)
		bk_snapshot_fail(cow->snap, ret);
	spin_lock_irq(&cow->lock);
	for (c = first; c < first + count; c++) {
		if (stored)
			bk_chunk_copy_done(&cow->table, c, pos +
					   bk_chunk_start(&cow->table, c) - start,
					   ret);
		else
			bk_chunk_copy_read(&cow->table, c, ret);
	}
	if (stored) {
		reads = cow->parked;
		bio_list_init(&cow->parked);
	} else {
		bk_cow_collect_free(cow, &go);
	}
	spin_unlock_irq(&cow->lock);
	bk_cow_submit_all(&go);
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
	u64 first = cp->first, pos = 0;
	u32 count = cp->count;
	sector_t start = bk_chunk_start(&cow->table, first);
	u64 sectors = bk_chunk_start(&cow->table, first + count - 1) - start +
		      bk_chunk_sectors(&cow->table, first + count - 1);
	struct bk_pages buf;
	int ret;

	mempool_free(cp, bk_copy_pool);
	ret = bk_copy_buf_get(cow, &buf);
	if (!ret)
		ret = bk_own_io(cow->origin, start, &buf, 0, sectors,
				REQ_OP_READ);
	bk_copy_report(cow, first, count, false, 0, ret);
	if (!ret) {
		ret = bk_copy_store(cow, &buf, sectors, &pos);
		bk_copy_report(cow, first, count, true, pos, ret);
	}
	if (buf.units)	/* NULL when no buffer came */
		bk_copy_buf_put(cow, &buf);
	memalloc_noio_restore(noio);
	if (atomic_dec_and_test(&cow->copies))
		wake_up_var(&cow->copies);
}

void bk_cow_park_read(struct bk_cow *cow, struct bio *bio)
{
	lockdep_assert_held(&cow->lock);
	bio_list_add(&cow->parked, bio);
	atomic_inc(&cow->parked_inflight);
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
	cow->copy_bytes = max(BK_COPY_BYTES, 1U << shift);
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

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-on-write for one snapshotted device.  The first write to a chunk is
 * held while the chunk's old data is read from the origin and stored in the
 * difference storage; later writes to it go straight through.  The
 * decisions are chunk.c's; this file does the I/O and holds the writes.
 *
 * Context: the tracker's filter calls bk_cow_write() under the RCU read
 * lock, without sleeping.  A write that needs copies goes to a per-device
 * decider, which starts them; copies run on a workqueue (up to
 * BK_COPY_ACTIVE at once per CPU, each with one buffer of BK_COPY_BYTES or
 * a chunk: the memory bound).  A held write is released when every chunk
 * it covers has its old data read and no image read is reading it from the
 * origin.
 */
#ifndef BK_COW_H
#define BK_COW_H

#include <linux/bio.h>
#include <linux/workqueue.h>
#include "chunk.h"
#include "own_io.h"

#define BK_COPY_ACTIVE	16
#define BK_COPY_SPARE	8	/* copy buffers kept for reuse, at most */

struct bk_snapshot;
struct bk_diff_storage;

struct bk_cow {
	struct block_device *origin;
	sector_t origin_start;		/* of the origin within its disk */
	struct bk_snapshot *snap;
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

int bk_cow_init(void);
void bk_cow_exit(void);

struct bk_cow *bk_cow_create(struct block_device *origin,
			     struct bk_snapshot *snap,
			     struct bk_diff_storage *diff);
/* After bk_cow_fail() and after no write can reach it any more. */
void bk_cow_destroy(struct bk_cow *cow);

/* True when the write was taken (held, or ended for REQ_NOWAIT). */
bool bk_cow_write(struct bk_cow *cow, struct bio *bio, sector_t start);

/* Stop copying; held writes go down; image reads fail with @error. */
void bk_cow_fail(struct bk_cow *cow, int error);

/* Held writes may have become free to go (after an image read ended). */
void bk_cow_kick(struct bk_cow *cow);

/*
 * Hold an image read of a STORING chunk (cow->lock held); it is submitted
 * again when a copy is stored, or when the snapshot fails.
 */
void bk_cow_park_read(struct bk_cow *cow, struct bio *bio);

/* Wait until every parked image read was submitted again. */
void bk_cow_wait_parked(struct bk_cow *cow);

#endif /* BK_COW_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-on-write for one snapshotted device.  The first write to a chunk is
 * held while the chunk's old data is read from the origin and stored in the
 * difference storage; later writes to it go straight through.  The
 * decisions are chunk.c's; this file does the I/O and holds the writes.
 *
 * Context: the tracker's filter calls bk_cow_write() under the RCU read
 * lock, without sleeping.  Writes that need a copy go to a per-device worker,
 * which starts the copies (up to BK_COPY_ACTIVE at once, each with one
 * chunk-sized buffer: the memory bound) and releases each held write when
 * every chunk it covers is copied and no image read is reading it from the
 * origin.
 */
#ifndef BK_COW_H
#define BK_COW_H

#include <linux/bio.h>
#include <linux/workqueue.h>
#include "chunk.h"

#define BK_COPY_ACTIVE	16

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
	struct work_struct work;
	atomic_t copies;		/* copies queued or running */
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

#endif /* BK_COW_H */

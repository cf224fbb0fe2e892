/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-on-write for one snapshotted device.  The first write to a chunk is
 * held while the chunk's old data is read from the origin and stored in the
 * difference storage; later writes to it go straight through.  The
 * decisions are chunk.c's and cow_plan.c's; cow.c does the I/O, holds the
 * writes and parks image reads.
 *
 * Owner: the snapshot creates and destroys the engine, one per member.  Its
 * state (chunk table, held writes, parked reads, copy buffers) is private
 * to cow.c, under one spinlock taken irqsave (completions call in) that no
 * other file takes: image reads go through bk_cow_read_begin/end().
 *
 * Context: the tracker's filter calls bk_cow_write() under the RCU read
 * lock, without sleeping.  A write that needs copies goes to a per-device
 * decider, which starts them; copies run on a workqueue (up to
 * BK_COPY_ACTIVE at once per CPU, each with one buffer of BK_COPY_BYTES or
 * a chunk: the memory bound).  A held write is released when every chunk
 * it covers has its old data read and no image read is reading it from the
 * origin.  The one call out of the engine is bk_snapshot_fail() when a copy
 * fails: the whole group fails.
 */
#ifndef BK_COW_H
#define BK_COW_H

#include <linux/bio.h>

#define BK_COPY_ACTIVE	16
#define BK_COPY_SPARE	8	/* copy buffers kept for reuse, at most */

struct bk_cow;
struct bk_snapshot;
struct bk_diff_storage;

int bk_cow_init(void);
void bk_cow_exit(void);

struct bk_cow *bk_cow_create(struct block_device *origin,
			     struct bk_snapshot *snap,
			     struct bk_diff_storage *diff);
/* After bk_cow_fail() and after no write can reach it any more. */
void bk_cow_destroy(struct bk_cow *cow);

/* What the snapshotted device looks like: fixed for the engine's life. */
struct block_device *bk_cow_origin(struct bk_cow *cow);
sector_t bk_cow_capacity(struct bk_cow *cow);
u32 bk_cow_chunk_shift(struct bk_cow *cow);

/* True when the write was taken (held, or ended for REQ_NOWAIT). */
bool bk_cow_write(struct bk_cow *cow, struct bio *bio, sector_t start);

/* Stop copying; held writes go down; image reads fail with @error. */
void bk_cow_fail(struct bk_cow *cow, int error);

enum bk_cow_read {
	BK_COW_READ_DIFF,	/* at *diff_pos (the chunk's start) */
	BK_COW_READ_ORIGIN,	/* then bk_cow_read_end() */
	BK_COW_READ_PARKED,	/* the engine took @bio: resubmitted later */
};

/*
 * Where an image read @bio within chunk @chunk finds the snapshot's data:
 * an enum bk_cow_read, or -EIO when the snapshot failed.  A parked read is
 * submitted again once its chunk is stored, or when the snapshot fails.
 */
int bk_cow_read_begin(struct bk_cow *cow, u64 chunk, struct bio *bio,
		      u64 *diff_pos);
/* An origin read of @chunk ended: 0, or -EIO (its data may be torn). */
int bk_cow_read_end(struct bk_cow *cow, u64 chunk);

/* Wait until every parked image read was submitted again. */
void bk_cow_wait_parked(struct bk_cow *cow);

#endif /* BK_COW_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-on-write decisions for one snapshotted device: a table of chunks,
 * each EMPTY (the origin still holds the snapshot's data), COPYING (its old
 * data is being read; the origin still holds it), STORING (the old data was
 * read and is being written to the difference storage; the origin may
 * change), COPIED (the old data is in the difference storage at diff_pos)
 * or FAILED, plus a count of image reads reading it from the origin.  The
 * glue performs the I/O and reports back; the table only decides.
 *
 * Rules:
 * - An origin write (or discard, write-zeroes) covering chunks [a, b] may go
 *   down only when every one of them is STORING or COPIED with no origin
 *   readers: the old data is safe and no image read can see the new data.
 *   The glue asks bk_chunk_write_free() (no change) whether it may go at
 *   once; if not, bk_chunk_write() for each chunk, starts the copies it is
 *   told to, holds the write while any chunk says WAIT, and asks
 *   bk_chunk_write_free() again for held writes after each
 *   bk_chunk_copy_read() and bk_chunk_read_done() on a chunk they cover
 *   (cow_plan.h does both for a whole write).  A bio seen again (split,
 *   resubmitted) finds its chunks STORING or COPIED.
 * - A copy reports twice: bk_chunk_copy_read() when the old data is in
 *   memory (the held writes may go: a write need not wait for the
 *   difference storage), bk_chunk_copy_done() when it is stored.
 * - An image read of a COPIED chunk reads the difference storage; of an
 *   EMPTY or COPYING one reads the origin, counted as a reader until
 *   bk_chunk_read_done(); of a STORING one waits: the glue asks again after
 *   bk_chunk_copy_done().
 * - Once failed (difference storage overflow, I/O error), the snapshot no
 *   longer copies: every write goes at once, every image read fails -EIO,
 *   including origin reads still in flight (their data may be torn).
 *
 * Chunk size: chosen with bk_cbt_geometry(capacity, BK_CHUNK_MAX_COUNT,
 * BK_CHUNK_MIN_SHIFT, BK_CHUNK_MAX_SHIFT, ...), the rule of the CBT map:
 * 32 KiB chunks up to 32 GiB, then doubling to keep at most 2^20 chunks
 * (1 MiB chunks at 1 TiB).  A chunk takes 16 bytes: the table is at most
 * 16 MiB, allocated while the snapshot lives.
 *
 * Locking: every function needs the table to itself (one spinlock per
 * table, taken irqsave as completions call in); nothing sleeps.
 */
#ifndef BK_CHUNK_H
#define BK_CHUNK_H

#include "bk_shim.h"

#define BK_CHUNK_MIN_SHIFT	15		/* 32 KiB */
#define BK_CHUNK_MAX_SHIFT	24		/* 16 MiB */
#define BK_CHUNK_MAX_COUNT	BIT_ULL(20)

enum bk_chunk_state {
	BK_CHUNK_EMPTY = 0,
	BK_CHUNK_COPYING,
	BK_CHUNK_STORING,
	BK_CHUNK_COPIED,
	BK_CHUNK_FAILED,
};

struct bk_chunk {
	u64 diff_pos;		/* COPIED: sector in the difference storage */
	u32 readers;		/* image reads in flight from the origin */
	u8 state;		/* enum bk_chunk_state */
};

struct bk_chunk_table {
	struct bk_chunk *chunks;	/* count entries, caller-allocated */
	u64 count;
	u32 shift;			/* log2 bytes of a chunk */
	u64 capacity_sectors;
	int error;			/* non-zero: the snapshot failed */
};

enum bk_write_decision {
	BK_WRITE_GO,		/* this chunk does not hold the write */
	BK_WRITE_COPY,		/* now COPYING: start its copy; the write waits */
	BK_WRITE_WAIT,		/* a copy or an origin read is in flight */
};

enum bk_read_decision {
	BK_READ_DIFF,		/* read the difference storage at *diff_pos */
	BK_READ_ORIGIN,		/* read the origin, then bk_chunk_read_done() */
	BK_READ_WAIT,		/* ask again after bk_chunk_copy_done() */
};

void bk_chunk_init(struct bk_chunk_table *t, struct bk_chunk *chunks,
		   u64 capacity_sectors, u32 shift, u64 count);
bool bk_chunk_span(const struct bk_chunk_table *t, sector_t sector,
		   u64 nr_sectors, u64 *first, u64 *last);
sector_t bk_chunk_start(const struct bk_chunk_table *t, u64 c);
u64 bk_chunk_sectors(const struct bk_chunk_table *t, u64 c);
bool bk_chunk_write_free(const struct bk_chunk_table *t, u64 c);
enum bk_write_decision bk_chunk_write(struct bk_chunk_table *t, u64 c);
void bk_chunk_copy_read(struct bk_chunk_table *t, u64 c, int error);
void bk_chunk_copy_done(struct bk_chunk_table *t, u64 c, u64 diff_pos,
			int error);
void bk_chunk_fail(struct bk_chunk_table *t, int error);
int bk_chunk_read(struct bk_chunk_table *t, u64 c, u64 *diff_pos);
int bk_chunk_read_done(struct bk_chunk_table *t, u64 c);

#endif /* BK_CHUNK_H */

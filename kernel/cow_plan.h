/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Copy-on-write planning for whole writes over a chunk table (chunk.h),
 * shared by the COW engine and its host model test:
 * - the span rule: a write may go now when no chunk it covers holds it;
 * - the run planner: the copies a write needs, adjacent chunks together in
 *   runs of up to BK_COPY_BYTES (one read, one store each), a bounded batch
 *   per call so that the caller's lock is not held across a huge discard.
 *
 * Locking: as chunk.h, the table to itself; nothing sleeps or allocates.
 */
#ifndef BK_COW_PLAN_H
#define BK_COW_PLAN_H

#include "chunk.h"

#define BK_COPY_BYTES	BIT(20)		/* adjacent chunks copied at once */

/* The copy of adjacent chunks [first, first + count). */
struct bk_copy_run {
	u64 first;
	u32 count;
};

bool bk_cow_write_free(const struct bk_chunk_table *t, sector_t sector,
		       u64 nr_sectors);
u32 bk_cow_chunks_per_copy(const struct bk_chunk_table *t);
unsigned int bk_cow_plan(struct bk_chunk_table *t, u64 *next, u64 last,
			 u32 per_copy, struct bk_copy_run *runs,
			 unsigned int max_runs);

#endif /* BK_COW_PLAN_H */

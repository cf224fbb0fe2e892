// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write planning; see cow_plan.h for the rules.
 */
#include "cow_plan.h"

/**
 * bk_cow_write_free - may a write of [sector, sector + nr_sectors) go now?
 * @t: the table
 * @sector: first sector, relative to the snapshotted device
 * @nr_sectors: sectors written
 *
 * Changes nothing.  A range past the device's end holds nothing (the block
 * layer fails it).
 *
 * Return: true when no chunk the write covers holds it.
 */
bool bk_cow_write_free(const struct bk_chunk_table *t, sector_t sector,
		       u64 nr_sectors)
{
	u64 c, first, last;

	if (!bk_chunk_span(t, sector, nr_sectors, &first, &last))
		return true;
	for (c = first; c <= last; c++) {
		if (!bk_chunk_write_free(t, c))
			return false;
	}
	return true;
}

/* Chunks copied together at most: BK_COPY_BYTES, or one larger chunk. */
u32 bk_cow_chunks_per_copy(const struct bk_chunk_table *t)
{
	u32 n = BK_COPY_BYTES >> t->shift;

	return n ? n : 1;
}

/**
 * bk_cow_plan - start deciding chunks [*next, last] of a write that may wait
 * @t: the table
 * @next: in, the first chunk not yet decided; out, the next one to decide
 *	  (past @last when the write is fully decided)
 * @last: the write's last chunk
 * @per_copy: most chunks in one run, > 0
 * @runs: out, the copies to start, @max_runs entries
 * @max_runs: the batch, > 0
 *
 * Every EMPTY chunk decided turns COPYING and joins a run.  The batch stops
 * before a chunk that would need run @max_runs + 1, so that it stays EMPTY.
 *
 * Return: the number of runs filled.
 */
unsigned int bk_cow_plan(struct bk_chunk_table *t, u64 *next, u64 last,
			 u32 per_copy, struct bk_copy_run *runs,
			 unsigned int max_runs)
{
	unsigned int n = 0;
	u64 c;

	for (c = *next; c <= last; c++) {
		struct bk_copy_run *run = n ? &runs[n - 1] : NULL;
		bool extends = run && run->first + run->count == c &&
			       run->count < per_copy;

		if (n == max_runs && !extends)
			break;
		if (bk_chunk_write(t, c) != BK_WRITE_COPY)
			continue;
		if (extends) {
			run->count++;
		} else {
			runs[n].first = c;
			runs[n++].count = 1;
		}
	}
	*next = c;
	return n;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Difference storage allocator; see diff_alloc.h for the rules.
 */
#include "diff_alloc.h"

/**
 * bk_diff_init - an empty store
 * @d: the store
 * @extents: @max_extents entries
 * @max_extents: how many extents the store can hold
 * @low_water: free sectors below which low space is reported; 0: 1/8
 */
void bk_diff_init(struct bk_diff_store *d, struct bk_diff_extent *extents,
		  u32 max_extents, u64 low_water)
{
	memset(d, 0, sizeof(*d));
	d->extents = extents;
	d->max_extents = max_extents;
	d->low_water = low_water;
}

/* Does [start, ...) on @storage continue the last extent? */
static bool continues_last(const struct bk_diff_store *d, u32 storage,
			   sector_t start)
{
	const struct bk_diff_extent *last;

	if (!d->nr_extents)
		return false;
	last = &d->extents[d->nr_extents - 1];
	return last->storage == storage && last->start + last->len == start;
}

/**
 * bk_diff_add - append storage sectors [start, start + len) of @storage
 * @d: the store
 * @storage: the caller's index of the file or device holding the extent
 * @start: its first sector there
 * @len: its length in sectors
 *
 * An extent continuing the last one on the same storage extends it.
 *
 * Return: 0, -EINVAL (empty or wrapping extent), -E2BIG (array full).
 */
int bk_diff_add(struct bk_diff_store *d, u32 storage, sector_t start,
		u64 len)
{
	if (!len || !bk_range_fits(start, len, U64_MAX) ||
	    !bk_range_fits(d->total, len, U64_MAX))
		return -EINVAL;
	if (continues_last(d, storage, start)) {
		d->extents[d->nr_extents - 1].len += len;
	} else {
		if (d->nr_extents == d->max_extents)
			return -E2BIG;
		d->extents[d->nr_extents++] = (struct bk_diff_extent) {
			.pos = d->total, .start = start, .len = len,
			.storage = storage,
		};
	}
	d->total += len;
	d->low_signalled = false;
	return 0;
}

u64 bk_diff_free(const struct bk_diff_store *d)
{
	return d->total - d->used;
}

/**
 * bk_diff_alloc - take the next @nr_sectors of the linear space
 * @d: the store
 * @nr_sectors: sectors wanted, > 0
 * @pos: out, where they start
 * @low_space: out, true when the caller must raise BKSNAP_EVENT_LOW_SPACE
 *
 * Return: 0, -EINVAL, or -ENOSPC (nothing allocated: the snapshot fails).
 */
int bk_diff_alloc(struct bk_diff_store *d, u64 nr_sectors, u64 *pos,
		  bool *low_space)
{
	u64 mark = d->low_water ?: d->total / 8;

	*low_space = false;
	if (!nr_sectors)
		return -EINVAL;
	if (nr_sectors > bk_diff_free(d))
		return -ENOSPC;
	*pos = d->used;
	d->used += nr_sectors;
	if (!d->low_signalled && bk_diff_free(d) < mark) {
		d->low_signalled = true;
		*low_space = true;
	}
	return 0;
}

/**
 * bk_diff_map - the first piece of linear range [pos, pos + nr_sectors)
 * @d: the store
 * @pos: start in the linear space
 * @nr_sectors: length, > 0
 * @storage: out, the caller's index of the storage holding the piece
 * @start: out, the piece's first sector there
 * @run: out, the piece's length (<= @nr_sectors); the caller goes on at
 *	 @pos + @run until the range is done
 *
 * Return: 0, -EINVAL, or -ERANGE when the range passes the storage's end.
 */
int bk_diff_map(const struct bk_diff_store *d, u64 pos, u64 nr_sectors,
		u32 *storage, sector_t *start, u64 *run)
{
	u32 lo = 0, hi = d->nr_extents;
	const struct bk_diff_extent *e;

	if (!nr_sectors)
		return -EINVAL;
	if (!bk_range_fits(pos, nr_sectors, d->total))
		return -ERANGE;
	while (hi - lo > 1) {	/* the last extent starting at or before pos */
		u32 mid = lo + (hi - lo) / 2;

		if (d->extents[mid].pos <= pos)
			lo = mid;
		else
			hi = mid;
	}
	e = &d->extents[lo];
	*storage = e->storage;
	*start = e->start + (pos - e->pos);
	*run = min_t(u64, nr_sectors, e->pos + e->len - pos);
	return 0;
}

// SPDX-License-Identifier: GPL-2.0
/*
 * Copy-on-write chunk state machine; see chunk.h for the rules.
 */
#include "chunk.h"

/**
 * bk_chunk_init - set up a table with every chunk EMPTY
 * @t: the table
 * @chunks: @count entries
 * @capacity_sectors: device size in 512-byte sectors
 * @shift: log2 bytes of a chunk, from bk_cbt_geometry()
 * @count: chunks covering the device, from bk_cbt_geometry()
 */
void bk_chunk_init(struct bk_chunk_table *t, struct bk_chunk *chunks,
		   u64 capacity_sectors, u32 shift, u64 count)
{
	memset(chunks, 0, count * sizeof(*chunks));
	t->chunks = chunks;
	t->count = count;
	t->shift = shift;
	t->capacity_sectors = capacity_sectors;
	t->error = 0;
}

/**
 * bk_chunk_span - the chunks a range of sectors touches
 * @t: the table
 * @sector: first sector
 * @nr_sectors: sectors in the range
 * @first: out, first chunk
 * @last: out, last chunk
 *
 * The part past the end of the device is ignored (the block layer fails it).
 *
 * Return: false if the range touches no chunk (empty, or past the end).
 */
bool bk_chunk_span(const struct bk_chunk_table *t, sector_t sector,
		   u64 nr_sectors, u64 *first, u64 *last)
{
	u32 s = t->shift - BK_SECTOR_SHIFT;

	if (!nr_sectors || sector >= t->capacity_sectors)
		return false;
	if (nr_sectors > t->capacity_sectors - sector)
		nr_sectors = t->capacity_sectors - sector;
	*first = sector >> s;
	*last = (sector + nr_sectors - 1) >> s;
	return true;
}

sector_t bk_chunk_start(const struct bk_chunk_table *t, u64 c)
{
	return c << (t->shift - BK_SECTOR_SHIFT);
}

/* Sectors of chunk @c inside the device: the last chunk may be short. */
u64 bk_chunk_sectors(const struct bk_chunk_table *t, u64 c)
{
	u64 size = 1ULL << (t->shift - BK_SECTOR_SHIFT);
	u64 rest = t->capacity_sectors - bk_chunk_start(t, c);

	return rest < size ? rest : size;
}

/**
 * bk_chunk_write_free - may an origin write covering chunk @c go now?
 * @t: the table
 * @c: a chunk the write covers
 *
 * Changes nothing: the question of the filter, of REQ_NOWAIT writes (which
 * must not wait: they fail with BLK_STS_AGAIN when the answer is no) and of
 * held writes asking again.
 *
 * Return: true when @c does not hold the write.
 */
bool bk_chunk_write_free(const struct bk_chunk_table *t, u64 c)
{
	const struct bk_chunk *ch = &t->chunks[c];

	if (t->error)
		return true;
	return (ch->state == BK_CHUNK_STORING || ch->state == BK_CHUNK_COPIED) &&
	       !ch->readers;
}

/**
 * bk_chunk_write - decide chunk @c for an origin write that may wait
 * @t: the table
 * @c: a chunk the write covers
 *
 * Return: GO, COPY (@c is now COPYING: the caller starts its copy, the
 * write waits) or WAIT.
 */
enum bk_write_decision bk_chunk_write(struct bk_chunk_table *t, u64 c)
{
	struct bk_chunk *ch = &t->chunks[c];

	if (!t->error && ch->state == BK_CHUNK_EMPTY) {
		ch->state = BK_CHUNK_COPYING;
		return BK_WRITE_COPY;
	}
	return bk_chunk_write_free(t, c) ? BK_WRITE_GO : BK_WRITE_WAIT;
}

/* A failed copy fails the snapshot: the first error wins. */
static void bk_chunk_copy_failed(struct bk_chunk_table *t, u64 c, int error)
{
	t->chunks[c].state = BK_CHUNK_FAILED;
	bk_chunk_fail(t, error);
}

/**
 * bk_chunk_copy_read - the old data of chunk @c was read from the origin
 * @t: the table
 * @c: a COPYING chunk
 * @error: 0, or why the read failed: the snapshot fails
 *
 * The data is in the copy's buffer: writes to @c no longer wait for it.
 * The caller then asks again for the writes held on @c and stores the data.
 */
void bk_chunk_copy_read(struct bk_chunk_table *t, u64 c, int error)
{
	if (error)
		bk_chunk_copy_failed(t, c, error);
	else
		t->chunks[c].state = BK_CHUNK_STORING;
}

/**
 * bk_chunk_copy_done - the copy of chunk @c ended
 * @t: the table
 * @c: a STORING chunk
 * @diff_pos: where its old data now is in the difference storage
 * @error: 0, or why the copy failed (-ENOSPC: storage overflow): the
 *	   snapshot fails
 *
 * The caller then asks again for the image reads waiting on @c.
 */
void bk_chunk_copy_done(struct bk_chunk_table *t, u64 c, u64 diff_pos,
			int error)
{
	struct bk_chunk *ch = &t->chunks[c];

	if (error) {
		bk_chunk_copy_failed(t, c, error);
		return;
	}
	ch->diff_pos = diff_pos;
	ch->state = BK_CHUNK_COPIED;
}

/*
 * Fail the snapshot (first error wins), e.g. when another member of its
 * consistency group failed.  The caller then releases every held write.
 */
void bk_chunk_fail(struct bk_chunk_table *t, int error)
{
	if (!t->error)
		t->error = error;
}

/**
 * bk_chunk_read - where an image read of chunk @c finds the snapshot's data
 * @t: the table
 * @c: the chunk read
 * @diff_pos: out, for BK_READ_DIFF
 *
 * Return: BK_READ_DIFF, BK_READ_ORIGIN (the caller must call
 * bk_chunk_read_done() when the origin read ends), BK_READ_WAIT (the data
 * is on its way to the difference storage), or -EIO if the snapshot failed.
 */
int bk_chunk_read(struct bk_chunk_table *t, u64 c, u64 *diff_pos)
{
	struct bk_chunk *ch = &t->chunks[c];

	if (t->error)
		return -EIO;
	if (ch->state == BK_CHUNK_COPIED) {
		*diff_pos = ch->diff_pos;
		return BK_READ_DIFF;
	}
	if (ch->state == BK_CHUNK_STORING)
		return BK_READ_WAIT;
	ch->readers++;
	return BK_READ_ORIGIN;
}

/**
 * bk_chunk_read_done - an image read of chunk @c from the origin ended
 * @t: the table
 * @c: the chunk
 *
 * The caller then asks again for the writes held on @c.
 *
 * Return: 0, or -EIO if the snapshot failed meanwhile: the data read may
 * be torn, the read must fail.
 */
int bk_chunk_read_done(struct bk_chunk_table *t, u64 c)
{
	t->chunks[c].readers--;
	return t->error ? -EIO : 0;
}

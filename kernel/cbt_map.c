// SPDX-License-Identifier: GPL-2.0
/*
 * Changed-block tracking map logic; see cbt_map.h for the rules.
 */
#include "cbt_map.h"

/* Number of blocks of 2^shift bytes covering capacity_sectors, rounded up. */
static u64 blocks_for(u64 capacity_sectors, u32 shift)
{
	u32 s = shift - BK_SECTOR_SHIFT;	/* < 55 */

	return (capacity_sectors >> s) +
	       !!(capacity_sectors & ((1ULL << s) - 1));
}

/**
 * bk_cbt_geometry - choose the CBT block size for a device
 * @capacity_sectors: device size in 512-byte sectors, > 0
 * @max_blocks: cap on the number of blocks (map bytes), > 0
 * @min_shift: log2 bytes of the smallest block, >= BK_SECTOR_SHIFT
 * @max_shift: log2 bytes of the largest block, >= @min_shift, < 64
 * @block_shift: out, the smallest shift in range whose count fits the cap
 * @block_count: out, blocks of that size covering the device
 *
 * Return: 0, -EINVAL for bad arguments, -E2BIG when even the largest block
 * needs more than @max_blocks blocks.
 */
int bk_cbt_geometry(u64 capacity_sectors, u64 max_blocks, u32 min_shift,
		    u32 max_shift, u32 *block_shift, u64 *block_count)
{
	u32 shift;

	if (!capacity_sectors || !max_blocks || min_shift < BK_SECTOR_SHIFT ||
	    min_shift > max_shift || max_shift >= 64)
		return -EINVAL;
	for (shift = min_shift; shift <= max_shift; shift++) {
		u64 count = blocks_for(capacity_sectors, shift);

		if (count <= max_blocks) {
			*block_shift = shift;
			*block_count = count;
			return 0;
		}
	}
	return -E2BIG;
}

/**
 * bk_cbt_init - set up a map over caller-allocated storage
 * @m: the map
 * @map: @block_count bytes
 * @capacity_sectors: device size in 512-byte sectors
 * @block_shift: from bk_cbt_geometry()
 * @block_count: from bk_cbt_geometry()
 * @generation: a fresh random UUID
 *
 * The map starts empty at sequence 1.
 */
void bk_cbt_init(struct bk_cbt_map *m, u8 *map, u64 capacity_sectors,
		 u32 block_shift, u64 block_count,
		 const u8 generation[BKSNAP_UUID_SIZE])
{
	m->map = map;
	m->capacity_sectors = capacity_sectors;
	m->block_shift = block_shift;
	m->block_count = block_count;
	bk_cbt_reset(m, generation);
}

/* Restart the map empty under a new generation at sequence 1. */
void bk_cbt_reset(struct bk_cbt_map *m, const u8 generation[BKSNAP_UUID_SIZE])
{
	memset(m->map, 0, m->block_count);
	memcpy(m->generation, generation, BKSNAP_UUID_SIZE);
	m->seq = 1;
	m->anchor = 0;
	memset(&m->link, 0, sizeof(m->link));
}

/**
 * bk_cbt_set_anchor - name the newest token whose changes the holder saved
 * @m: the map
 * @seq: a token of the current generation: 1 <= @seq < m->seq
 *
 * A later sequence wrap keeps the marks of the blocks changed since it.
 *
 * Return: 0, or -EINVAL when @seq is not a token taken in this generation.
 */
int bk_cbt_set_anchor(struct bk_cbt_map *m, u32 seq)
{
	if (!seq || seq >= m->seq)
		return -EINVAL;
	m->anchor = seq;
	return 0;
}

/*
 * The sequence wrap (cbt_map.h): restart under @generation at sequence 1,
 * keeping as byte 1 the blocks changed since the anchor, or every marked
 * block while an older link still stands.  Return: false if nothing could
 * be kept and the map restarted empty.
 */
static bool bk_cbt_wrap(struct bk_cbt_map *m,
			const u8 generation[BKSNAP_UUID_SIZE])
{
	u32 above = 0;	/* the byte a block needs to keep its mark */
	u64 i;

	if (m->anchor) {
		memcpy(m->link.generation, m->generation, BKSNAP_UUID_SIZE);
		m->link.seq = m->anchor;
		above = m->anchor;
	} else if (!m->link.seq) {
		bk_cbt_reset(m, generation);
		return false;
	}
	for (i = 0; i < m->block_count; i++)
		m->map[i] = m->map[i] > above;
	memcpy(m->generation, generation, BKSNAP_UUID_SIZE);
	m->seq = 1;
	m->anchor = 0;
	return true;
}

/*
 * memset() with marked stores, since marks race (cbt_map.h, "Locking"):
 * aligned words in the middle, so that a long range costs about what
 * memset() does; every byte of each store is @v.
 */
static void bk_cbt_fill(u8 *p, u8 v, u64 n)
{
	const unsigned long word = v * (~0UL / 0xff);

	for (; n && ((unsigned long)p & (sizeof(word) - 1)); n--, p++)
		WRITE_ONCE(*p, v);
	for (; n >= sizeof(word); n -= sizeof(word), p += sizeof(word))
		WRITE_ONCE(*(unsigned long *)p, word);
	for (; n; n--, p++)
		WRITE_ONCE(*p, v);
}

/**
 * bk_cbt_mark - record a write of sectors [sector, sector + nr_sectors)
 * @m: the map
 * @sector: first sector written
 * @nr_sectors: sectors written; 0 marks nothing
 *
 * The part of the range inside the device is always marked, so a write is
 * never missed even when it also runs past the end (the block layer fails
 * such a write, at worst it is over-reported).
 *
 * Return: 0, or -ERANGE when part of the range lies past the end.
 */
int bk_cbt_mark(struct bk_cbt_map *m, sector_t sector, u64 nr_sectors)
{
	u32 shift = m->block_shift - BK_SECTOR_SHIFT;
	int ret = 0;
	u64 first, last;

	if (!nr_sectors)
		return 0;
	if (sector >= m->capacity_sectors)
		return -ERANGE;
	if (nr_sectors > m->capacity_sectors - sector) {
		nr_sectors = m->capacity_sectors - sector;
		ret = -ERANGE;
	}
	first = sector >> shift;
	last = (sector + nr_sectors - 1) >> shift;
	bk_cbt_fill(m->map + first, m->seq, last - first + 1);
	return ret;
}

/**
 * bk_cbt_advance - take the token of everything written so far
 * @m: the map
 * @new_generation: a fresh random UUID, used only if the sequence wraps
 * @token: out, (generation, seq): the blocks changed after this instant
 *	   will be exactly those whose byte exceeds token->seq
 *
 * When the sequence is at BKSNAP_SEQ_MAX the map first wraps to
 * @new_generation (cbt_map.h), so the token returned is always valid.  The
 * blocks it keeps are byte 1, not above the token's sequence 1: they
 * changed before this snapshot.
 *
 * Return: true if the map restarted empty (the caller reports
 * BKSNAP_EVENT_CBT_RESET); a wrap that kept a link is not a reset.
 */
bool bk_cbt_advance(struct bk_cbt_map *m,
		    const u8 new_generation[BKSNAP_UUID_SIZE],
		    struct bk_cbt_token *token)
{
	bool reset = m->seq >= BKSNAP_SEQ_MAX && !bk_cbt_wrap(m, new_generation);

	memcpy(token->generation, m->generation, BKSNAP_UUID_SIZE);
	token->seq = m->seq++;
	return reset;
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Changed-block tracking map: one byte per block holding the sequence number
 * that was current when the block was last written (0: not written in this
 * generation).  The blocks changed since token (G, s) are those whose byte is
 * greater than s, for as long as the map's generation is G.
 *
 * Invariant: every byte is <= seq, so marking a block with seq never lowers
 * its byte.
 *
 * Sequence wrap: a generation has BKSNAP_SEQ_MAX - 1 tokens.  The map then
 * restarts under a new generation, but keeps what its holder still
 * needs when it can: the holder names with bk_cbt_set_anchor() the newest
 * token whose changes it has saved; the wrap keeps a mark (byte 1) on every
 * block whose byte exceeds the anchor, clears the rest, and links the new
 * generation to the anchor token (@link): every block changed since it is
 * marked in the new generation.  Without an anchor in this generation the
 * wrap keeps every mark and the old link (the marks still cover it); with
 * neither, the map restarts empty.
 *
 * Locking: bk_cbt_init(), bk_cbt_reset(), bk_cbt_set_anchor() and
 * bk_cbt_advance() need the map to themselves: no other call on it may run
 * (a lock, or a drain of the device's writes).  bk_cbt_mark() calls may run
 * concurrently with each other and with readers of the map: that race is by
 * design, and safe because
 *  - every concurrent mark stores the same value, seq, one byte at a time
 *    with WRITE_ONCE(), and a byte only ever rises to seq (the invariant);
 *  - so a reader copying the map while writes are marked sees each byte
 *    either before or after a mark, never a torn or invented value: at
 *    worst it reports a block written after its copy began (over-reporting
 *    a later write), and it never misses a write marked before the map was
 *    advanced, because advancing needs the map to itself.
 * Readers therefore copy the map without a lock against marks, annotated
 * data_race() for KCSAN (tracker.c).  Whether a token is current, and a
 * read's range, are ctl_args.c's checks (bk_check_cbt_read()).  A write is
 * marked before it is sent down, and the snapshot take calls
 * bk_cbt_advance() at the snapshot instant with writes drained: a write
 * marked before the advance must be in the image, or the next incremental
 * misses it.  Nothing here sleeps or allocates.
 *
 * Memory: one byte per block, at most BK_CBT_MAX_BLOCKS (8 MiB) per device.
 * Devices up to 32 GiB get 4 KiB blocks (256 KiB of map per GiB); larger
 * ones get larger blocks so the map stays at most 8 MiB: a 1 TiB device has
 * 128 KiB blocks (8 MiB per TiB), a 64 TiB one 8 MiB blocks (128 KiB per
 * TiB).
 */
#ifndef BK_CBT_MAP_H
#define BK_CBT_MAP_H

#include "bk_shim.h"

#define BK_CBT_MIN_SHIFT	12		/* 4 KiB, the page size */
#define BK_CBT_MAX_SHIFT	30		/* 1 GiB: 8 PiB with the cap */
#define BK_CBT_MAX_BLOCKS	BIT_ULL(23)	/* 8 MiB of map */

struct bk_cbt_token {
	u8 generation[BKSNAP_UUID_SIZE];
	u32 seq;
};

struct bk_cbt_map {
	u8 *map;			/* block_count bytes, caller-allocated */
	u64 block_count;
	u32 block_shift;		/* log2 bytes of a block */
	u32 seq;			/* new writes are marked with it */
	u8 generation[BKSNAP_UUID_SIZE];
	u64 capacity_sectors;
	u32 anchor;			/* holder's newest saved seq; 0: none */
	struct bk_cbt_token link;	/* seq 0: the map started empty */
};

int bk_cbt_geometry(u64 capacity_sectors, u64 max_blocks, u32 min_shift,
		    u32 max_shift, u32 *block_shift, u64 *block_count);
void bk_cbt_init(struct bk_cbt_map *m, u8 *map, u64 capacity_sectors,
		 u32 block_shift, u64 block_count,
		 const u8 generation[BKSNAP_UUID_SIZE]);
void bk_cbt_reset(struct bk_cbt_map *m, const u8 generation[BKSNAP_UUID_SIZE]);
int bk_cbt_mark(struct bk_cbt_map *m, sector_t sector, u64 nr_sectors);
int bk_cbt_set_anchor(struct bk_cbt_map *m, u32 seq);
bool bk_cbt_advance(struct bk_cbt_map *m,
		    const u8 new_generation[BKSNAP_UUID_SIZE],
		    struct bk_cbt_token *token);

#endif /* BK_CBT_MAP_H */

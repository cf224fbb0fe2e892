/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The module's own I/O (copy-on-write reads, difference-storage writes,
 * image reads): its bios come from one bio set, which is how the tracker
 * recognises them and lets them pass untracked and uncopied, whatever
 * device they go to, even the snapshotted one.
 */
#ifndef BK_OWN_IO_H
#define BK_OWN_IO_H

#include <linux/bio.h>

extern struct bio_set bk_bio_set;

/* Room in front of each own bio for whoever issued it. */
struct bk_own_ctx {
	void *owner;
	u64 index;
};

static inline struct bk_own_ctx *bk_own_ctx(struct bio *bio)
{
	return (struct bk_own_ctx *)bio - 1;
}

int bk_own_io_init(void);
void bk_own_io_exit(void);

static inline bool bk_bio_is_own(struct bio *bio)
{
	return bio->bi_pool == &bk_bio_set;
}

/*
 * A buffer for copies: units of 2^order contiguous pages, so that a bio of
 * a megabyte needs few segments (one request to the disk, not a split one);
 * order 0 when memory is too fragmented for larger units.  @units is NULL
 * when allocation failed.
 */
struct bk_pages {
	struct page **units;
	unsigned int nr;
	unsigned int order;
};

int bk_pages_alloc(struct bk_pages *p, u32 bytes, gfp_t gfp);
void bk_pages_free(struct bk_pages *p);

/*
 * Read or write @nr_sectors at @sector of @bdev from or to @p, starting
 * @offset sectors into the buffer; sleeps until done.
 */
int bk_own_io(struct block_device *bdev, sector_t sector, struct bk_pages *p,
	      u64 offset, u64 nr_sectors, blk_opf_t opf);

#endif /* BK_OWN_IO_H */

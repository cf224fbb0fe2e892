// SPDX-License-Identifier: GPL-2.0
#include <linux/blkdev.h>
#include <linux/slab.h>
#include "own_io.h"

/* Enough bios in reserve for the copy workers and image reads in flight. */
#define BK_BIO_POOL	64

struct bio_set bk_bio_set;

int bk_own_io_init(void)
{
	/* Image reads allocate clones inside ->submit_bio: need a rescuer. */
	return bioset_init(&bk_bio_set, BK_BIO_POOL, sizeof(struct bk_own_ctx),
			   BIOSET_NEED_BVECS | BIOSET_NEED_RESCUER);
}

void bk_own_io_exit(void)
{
	bioset_exit(&bk_bio_set);
}

#define BK_PAGES_ORDER	4	/* 64 KiB units */

static int bk_pages_alloc_order(struct bk_pages *p, u32 bytes,
				unsigned int order, gfp_t gfp)
{
	unsigned int i, nr = DIV_ROUND_UP(bytes, PAGE_SIZE << order);

	p->units = kcalloc(nr, sizeof(*p->units), gfp);
	if (!p->units)
		return -ENOMEM;
	p->nr = nr;
	p->order = order;
	for (i = 0; i < nr; i++) {
		p->units[i] = alloc_pages(gfp | (order ? __GFP_COMP : 0), order);
		if (!p->units[i]) {
			bk_pages_free(p);
			return -ENOMEM;
		}
	}
	return 0;
}

int bk_pages_alloc(struct bk_pages *p, u32 bytes, gfp_t gfp)
{
	unsigned int order = min_t(unsigned int, BK_PAGES_ORDER,
				   get_order(bytes));

	if (order && !bk_pages_alloc_order(p, bytes, order,
					   gfp | __GFP_NORETRY | __GFP_NOWARN))
		return 0;
	return bk_pages_alloc_order(p, bytes, 0, gfp);
}

void bk_pages_free(struct bk_pages *p)
{
	unsigned int i;

	for (i = 0; i < p->nr && p->units[i]; i++)
		__free_pages(p->units[i], p->order);
	kfree(p->units);
	p->units = NULL;
	p->nr = 0;
}

/* Bios of at most BIO_MAX_VECS units, one after the other. */
int bk_own_io(struct block_device *bdev, sector_t sector, struct bk_pages *p,
	      u64 offset, u64 nr_sectors, blk_opf_t opf)
{
	const unsigned int per_unit = (PAGE_SIZE << p->order) >> SECTOR_SHIFT;

	while (nr_sectors) {
		unsigned int vecs = min_t(u64, BIO_MAX_VECS,
					  DIV_ROUND_UP(nr_sectors, per_unit) + 1);
		struct bio *bio = bio_alloc_bioset(bdev, vecs, opf, GFP_NOIO,
						   &bk_bio_set);
		int ret;

		bio->bi_iter.bi_sector = sector;
		while (nr_sectors && bio->bi_vcnt < vecs) {
			unsigned int in_unit = offset % per_unit;
			unsigned int len = min_t(u64, per_unit - in_unit,
						 nr_sectors);

			__bio_add_page(bio, p->units[offset / per_unit],
				       len << SECTOR_SHIFT,
				       in_unit << SECTOR_SHIFT);
			offset += len;
			sector += len;
			nr_sectors -= len;
		}
		ret = submit_bio_wait(bio);
		bio_put(bio);
		if (ret)
			return ret;
	}
	return 0;
}

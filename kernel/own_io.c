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

int bk_pages_alloc(struct bk_pages *p, unsigned int nr, gfp_t gfp)
{
	unsigned int i;

	p->pages = kvcalloc(nr, sizeof(*p->pages), gfp);
	if (!p->pages)
		return -ENOMEM;
	p->nr = nr;
	for (i = 0; i < nr; i++) {
		p->pages[i] = alloc_page(gfp);
		if (!p->pages[i]) {
			bk_pages_free(p);
			return -ENOMEM;
		}
	}
	return 0;
}

void bk_pages_free(struct bk_pages *p)
{
	unsigned int i;

	for (i = 0; i < p->nr && p->pages[i]; i++)
		__free_page(p->pages[i]);
	kvfree(p->pages);
	p->pages = NULL;
	p->nr = 0;
}

/* Bios of at most BIO_MAX_VECS pages, one after the other. */
int bk_own_io(struct block_device *bdev, sector_t sector, struct bk_pages *p,
	      u64 offset, u64 nr_sectors, blk_opf_t opf)
{
	const unsigned int per_page = PAGE_SIZE >> SECTOR_SHIFT;

	while (nr_sectors) {
		unsigned int vecs = min_t(u64, BIO_MAX_VECS,
					  DIV_ROUND_UP(nr_sectors, per_page));
		struct bio *bio = bio_alloc_bioset(bdev, vecs, opf, GFP_NOIO,
						   &bk_bio_set);
		int ret;

		bio->bi_iter.bi_sector = sector;
		while (nr_sectors && bio->bi_vcnt < vecs) {
			unsigned int in_page = offset % per_page;
			unsigned int len = min_t(u64, per_page - in_page,
						 nr_sectors);

			__bio_add_page(bio, p->pages[offset / per_page],
				       len << SECTOR_SHIFT,
				       in_page << SECTOR_SHIFT);
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

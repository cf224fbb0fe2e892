// SPDX-License-Identifier: GPL-2.0
/*
 * Validation of ioctl arguments; see ctl_args.h.
 */
#include "ctl_args.h"

/* Every version up to ours: versions only add commands (bksnap.h). */
int bk_check_version(u32 version)
{
	return version && version <= BKSNAP_UAPI_VERSION ? 0 : -EPROTO;
}

static int check_header(u32 version, u32 flags)
{
	return bk_check_version(version) ?: flags ? -EINVAL : 0;
}

/* A capacity-bounded output array: ENOSPC when @needed entries don't fit. */
static int check_capacity(u32 version, u32 capacity, u32 needed)
{
	return bk_check_version(version) ?: capacity < needed ? -ENOSPC : 0;
}

/*
 * By path (the numbers must be 0) or by a number that fits in a dev_t; the
 * lookup reports ENOENT/ENOTBLK/ENODEV.
 */
int bk_check_dev_id(const struct bksnap_dev_id *d)
{
	if (d->path)
		return d->major || d->minor ? -EINVAL : 0;
	if (d->major >= 1U << (32 - BK_MINOR_BITS) ||
	    d->minor >= 1U << BK_MINOR_BITS)
		return -EINVAL;
	return 0;
}

int bk_check_version_info(const struct bksnap_version_info *v)
{
	return check_header(v->version, v->reserved);
}

/* BKSNAP_IOC_ATTACH and BKSNAP_IOC_DETACH. */
int bk_check_attach(const struct bksnap_attach *a)
{
	return check_header(a->version, a->flags) ?: bk_check_dev_id(&a->dev);
}

int bk_check_tracker_info(const struct bksnap_tracker_info *t)
{
	return check_header(t->version, t->flags | t->reserved) ?:
	       bk_check_dev_id(&t->dev);
}

/* @needed: the number of trackers, taken under the tracker list lock. */
int bk_check_list(const struct bksnap_list *l, u32 needed)
{
	return check_capacity(l->version, l->count, needed);
}

/*
 * A CBT command's region [first, first + count) of the current map; ESTALE
 * before ERANGE: another generation may have another size.
 */
static int check_region(const struct bksnap_dev_id *dev, const u8 *asked,
			u64 first, u64 count, const u8 *current_gen, u64 limit)
{
	int ret = bk_check_dev_id(dev);

	if (ret)
		return ret;
	if (!count)
		return -EINVAL;
	if (memcmp(asked, current_gen, BKSNAP_UUID_SIZE))
		return -ESTALE;
	return bk_range_fits(first, count, limit) ? 0 : -ERANGE;
}

int bk_check_cbt_read(const struct bksnap_cbt_read *r,
		      const u8 generation[BKSNAP_UUID_SIZE], u64 block_count)
{
	return check_header(r->version, r->flags) ?:
	       check_region(&r->dev, r->generation, r->first_block, r->count,
			    generation, block_count);
}

int bk_check_cbt_mark(const struct bksnap_cbt_mark *mk,
		      const u8 generation[BKSNAP_UUID_SIZE],
		      u64 capacity_sectors)
{
	return check_header(mk->version, mk->flags) ?:
	       check_region(&mk->dev, mk->generation, mk->sector,
			    mk->nr_sectors, generation, capacity_sectors);
}

/* The sequence is the map's to check: bk_cbt_set_anchor(). */
int bk_check_cbt_anchor(const struct bksnap_cbt_anchor *a,
			const u8 generation[BKSNAP_UUID_SIZE])
{
	return check_header(a->version, a->flags) ?:
	       check_region(&a->dev, a->generation, 0, 1, generation, 1);
}

/* The members array is checked once copied: bk_check_dev_id() for each. */
int bk_check_snapshot_create(const struct bksnap_snapshot_create *c,
			     u32 max_members)
{
	int ret = check_header(c->version, c->flags);

	if (ret)
		return ret;
	if (!c->member_count || c->member_count > max_members)
		return -EINVAL;
	return c->diff_fd < 0 ? -EBADF : 0;
}

/*
 * Members resolved to device numbers must be distinct (a device named twice,
 * perhaps once by path and once by number).  O(n^2): n <= max members.
 */
int bk_check_distinct_devs(const u32 *devs, u32 n)
{
	u32 i, j;

	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (devs[i] == devs[j])
				return -EINVAL;
	return 0;
}

int bk_check_snapshot_storage(const struct bksnap_snapshot_storage *s)
{
	return bk_check_version(s->version) ?: s->diff_fd < 0 ? -EBADF : 0;
}

/* BKSNAP_IOC_SNAPSHOT_DESTROY. */
int bk_check_snapshot_id(const struct bksnap_snapshot_id *s)
{
	return check_header(s->version, s->flags);
}

/* @needed: the snapshot's member count. */
int bk_check_snapshot_info(const struct bksnap_snapshot_info *i, u32 needed)
{
	return check_capacity(i->version, i->member_count, needed);
}

/* @needed: the number of snapshots, under the snapshot list lock. */
int bk_check_snapshot_list(const struct bksnap_snapshot_list *l, u32 needed)
{
	return check_capacity(l->version, l->count, needed);
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Validation of the ioctl argument structures of <linux/bksnap.h>, after
 * copy_from_user() and before anything acts on them.  Each check returns 0
 * or the negative errno the uAPI header documents; the version is checked
 * first (EPROTO), then flags and reserved fields (EINVAL), then values.
 * Pure functions: the limits they compare against (block count, capacity,
 * generation, number of trackers) are read by the caller under the lock
 * that keeps them stable until the command is done.
 */
#ifndef BK_CTL_ARGS_H
#define BK_CTL_ARGS_H

#include "bk_shim.h"

int bk_check_version(u32 version);
int bk_check_dev_id(const struct bksnap_dev_id *d);
int bk_check_version_info(const struct bksnap_version_info *v);
int bk_check_attach(const struct bksnap_attach *a);
int bk_check_tracker_info(const struct bksnap_tracker_info *t);
int bk_check_list(const struct bksnap_list *l, u32 needed);
int bk_check_cbt_read(const struct bksnap_cbt_read *r,
		      const u8 generation[BKSNAP_UUID_SIZE], u64 block_count);
int bk_check_cbt_mark(const struct bksnap_cbt_mark *mk,
		      const u8 generation[BKSNAP_UUID_SIZE],
		      u64 capacity_sectors);
int bk_check_cbt_anchor(const struct bksnap_cbt_anchor *a,
			const u8 generation[BKSNAP_UUID_SIZE]);
int bk_check_snapshot_create(const struct bksnap_snapshot_create *c,
			     u32 max_members);
int bk_check_distinct_devs(const u32 *devs, u32 n);
int bk_check_snapshot_storage(const struct bksnap_snapshot_storage *s);
int bk_check_snapshot_id(const struct bksnap_snapshot_id *s);
int bk_check_snapshot_info(const struct bksnap_snapshot_info *i, u32 needed);
int bk_check_snapshot_list(const struct bksnap_snapshot_list *l, u32 needed);

#endif /* BK_CTL_ARGS_H */

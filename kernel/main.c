// SPDX-License-Identifier: GPL-2.0
/*
 * bksnap: changed-block tracking and copy-on-write snapshots of live block
 * devices, attached without reboot or remount.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/module.h>
#include "cow.h"
#include "ctl.h"
#include "image.h"
#include "interpose.h"
#include "own_io.h"
#include "tracker.h"

static int __init bk_init(void)
{
	int ret = bk_own_io_init();

	if (ret)
		return ret;
	ret = bk_tracker_init();
	if (ret)
		goto err_own_io;
	ret = bk_cow_init();
	if (ret)
		goto err_tracker;
	ret = bk_image_init();
	if (ret)
		goto err_cow;
	ret = bk_interpose_start(bk_tracker_filter, bk_tracker_disk_gone);
	if (ret)
		goto err_image;
	ret = bk_ctl_init();
	if (ret)
		goto err_interpose;
	pr_info("loaded, version " BK_VERSION_STR "\n");
	return 0;

err_interpose:
	bk_interpose_stop();
err_image:
	bk_image_exit();
err_cow:
	bk_cow_exit();
err_tracker:
	bk_tracker_exit();
err_own_io:
	bk_own_io_exit();
	return ret;
}

/* Trackers and snapshots pin the module: by now none is left. */
static void __exit bk_exit(void)
{
	bk_ctl_exit();
	bk_interpose_stop();
	bk_image_exit();
	bk_cow_exit();
	bk_tracker_exit();
	bk_own_io_exit();
	pr_info("unloaded\n");
}

module_init(bk_init);
module_exit(bk_exit);
MODULE_DESCRIPTION("Changed-block tracking and snapshots of live block devices");
MODULE_AUTHOR("The bkagent authors");
MODULE_LICENSE("GPL");
MODULE_VERSION(BK_VERSION_STR);

// SPDX-License-Identifier: GPL-2.0
/*
 * The control device /dev/bksnap-ctl: ioctls of <linux/bksnap.h> and the
 * event stream.  Whoever drives it can read any disk, so it is root's
 * alone: mode 0600 and CAP_SYS_ADMIN on every command.  Arguments are
 * checked by ctl_args.c (shared with the host tests); every refusal is
 * logged with its errno.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/blkdev.h>
#include <linux/capability.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include "ctl.h"
#include "ctl_args.h"
#include "event.h"
#include "tracker.h"

/* The device a bksnap_dev_id names: by path or by number. */
static int bk_ctl_resolve(const struct bksnap_dev_id *id, dev_t *dev)
{
	char *path;
	int ret;

	if (!id->path) {
		*dev = MKDEV(id->major, id->minor);
		return 0;
	}
	path = strndup_user(u64_to_user_ptr(id->path), BKSNAP_PATH_MAX);
	if (IS_ERR(path))
		return PTR_ERR(path) == -EINVAL ? -ENAMETOOLONG : PTR_ERR(path);
	ret = lookup_bdev(path, dev);
	kfree(path);
	return ret;
}

static long bk_ctl_version(struct bksnap_version_info *v)
{
	int ret = bk_check_version_info(v);

	if (ret)
		return ret;
	v->uapi_version = BKSNAP_UAPI_VERSION;
	v->module_major = BK_VERSION_MAJOR;
	v->module_minor = BK_VERSION_MINOR;
	v->module_patch = BK_VERSION_PATCH;
	v->max_trackers = BK_MAX_TRACKERS;
	bk_tracker_limits(&v->cbt_min_block_shift, &v->cbt_max_block_shift,
			  &v->cbt_max_blocks);
	return 0;
}

static long bk_ctl_attach(struct bksnap_attach *a, bool attach)
{
	dev_t dev;
	int ret = bk_check_attach(a) ?: bk_ctl_resolve(&a->dev, &dev);

	if (ret)
		return ret;
	mutex_lock(&bk_trackers_mutex);
	ret = attach ? bk_tracker_attach(dev) : bk_tracker_detach(dev);
	mutex_unlock(&bk_trackers_mutex);
	/* No disk behind the number: the uAPI says ENODEV. */
	return ret == -ENXIO ? -ENODEV : ret;
}

/* The tracker an argument names; bk_trackers_mutex held. */
static int bk_ctl_tracker(const struct bksnap_dev_id *id,
			  struct bk_tracker **t)
{
	dev_t dev;
	int ret = bk_ctl_resolve(id, &dev);

	if (ret)
		return ret;
	*t = bk_tracker_find(dev);
	return *t ? 0 : -ENOENT;
}

static long bk_ctl_tracker_info(struct bksnap_tracker_info *info)
{
	struct bk_tracker *t;
	int ret = bk_check_tracker_info(info);

	if (ret)
		return ret;
	mutex_lock(&bk_trackers_mutex);
	ret = bk_ctl_tracker(&info->dev, &t);
	if (!ret) {
		memcpy(info->generation, t->cbt.generation,
		       BKSNAP_UUID_SIZE);
		info->sequence = t->cbt.seq;
		info->block_shift = t->cbt.block_shift;
		info->block_count = t->cbt.block_count;
		info->capacity_sectors = t->cbt.capacity_sectors;
		info->state = bk_tracker_state(t);
		info->major = MAJOR(t->dev);
		info->minor = MINOR(t->dev);
	}
	mutex_unlock(&bk_trackers_mutex);
	return ret;
}

static long bk_ctl_list(struct bksnap_list *l)
{
	struct bksnap_list_entry *entries;
	dev_t devs[BK_MAX_TRACKERS];
	unsigned int i, n;
	int ret;

	mutex_lock(&bk_trackers_mutex);
	n = bk_tracker_list(devs, BK_MAX_TRACKERS);
	mutex_unlock(&bk_trackers_mutex);
	ret = bk_check_list(l, n);
	if (ret) {
		if (ret == -ENOSPC)
			l->count = n;
		return ret;
	}
	l->count = n;
	if (!n)
		return 0;
	entries = kcalloc(n, sizeof(*entries), GFP_KERNEL);
	if (!entries)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		entries[i].major = MAJOR(devs[i]);
		entries[i].minor = MINOR(devs[i]);
	}
	if (copy_to_user(u64_to_user_ptr(l->entries), entries,
			 n * sizeof(*entries)))
		ret = -EFAULT;
	kfree(entries);
	return ret;
}

/* Copied out in pieces: the map may be megabytes, the lock is held. */
static long bk_ctl_cbt_read(const struct bksnap_cbt_read *r)
{
	u8 __user *dst = u64_to_user_ptr(r->buf);
	struct bk_tracker *t;
	int ret;

	if (r->version != BKSNAP_UAPI_VERSION)
		return -EPROTO;
	mutex_lock(&bk_trackers_mutex);
	ret = bk_ctl_tracker(&r->dev, &t) ?:
	      bk_check_cbt_read(r, t->cbt.generation, t->cbt.block_count);
	if (!ret && copy_to_user(dst, t->cbt.map + r->first_block, r->count))
		ret = -EFAULT;
	mutex_unlock(&bk_trackers_mutex);
	return ret;
}

static long bk_ctl_cbt_mark(const struct bksnap_cbt_mark *mk)
{
	struct bk_tracker *t;
	int ret;

	if (mk->version != BKSNAP_UAPI_VERSION)
		return -EPROTO;
	mutex_lock(&bk_trackers_mutex);
	ret = bk_ctl_tracker(&mk->dev, &t) ?:
	      bk_check_cbt_mark(mk, t->cbt.generation,
				t->cbt.capacity_sectors);
	if (!ret)
		ret = bk_cbt_mark(&t->cbt, mk->sector, mk->nr_sectors);
	mutex_unlock(&bk_trackers_mutex);
	return ret;
}

union bk_ctl_arg {
	struct bksnap_version_info version;
	struct bksnap_attach attach;
	struct bksnap_tracker_info info;
	struct bksnap_list list;
	struct bksnap_cbt_read cbt_read;
	struct bksnap_cbt_mark cbt_mark;
};

static long bk_ctl_dispatch(unsigned int cmd, union bk_ctl_arg *arg)
{
	switch (cmd) {
	case BKSNAP_IOC_VERSION:
		return bk_ctl_version(&arg->version);
	case BKSNAP_IOC_ATTACH:
		return bk_ctl_attach(&arg->attach, true);
	case BKSNAP_IOC_DETACH:
		return bk_ctl_attach(&arg->attach, false);
	case BKSNAP_IOC_TRACKER_INFO:
		return bk_ctl_tracker_info(&arg->info);
	case BKSNAP_IOC_LIST:
		return bk_ctl_list(&arg->list);
	case BKSNAP_IOC_CBT_READ:
		return bk_ctl_cbt_read(&arg->cbt_read);
	case BKSNAP_IOC_CBT_MARK:
		return bk_ctl_cbt_mark(&arg->cbt_mark);
	default:
		return -ENOTTY;
	}
}

static long bk_ctl_ioctl(struct file *file, unsigned int cmd,
			 unsigned long uarg)
{
	void __user *argp = (void __user *)uarg;
	size_t size = _IOC_SIZE(cmd);
	union bk_ctl_arg arg;
	long ret;

	if (!capable(CAP_SYS_ADMIN)) {
		pr_warn_ratelimited("ioctl %#x by uid %u refused: EPERM\n",
				    cmd, from_kuid(&init_user_ns,
						   current_uid()));
		return -EPERM;
	}
	if (_IOC_TYPE(cmd) != BKSNAP_IOC_MAGIC || size > sizeof(arg))
		return -ENOTTY;
	if (copy_from_user(&arg, argp, size))
		return -EFAULT;
	ret = bk_ctl_dispatch(cmd, &arg);
	if (ret && ret != -ENOSPC) {
		pr_info_ratelimited("ioctl nr %#x failed: %ld\n",
				    _IOC_NR(cmd), ret);
		return ret;
	}
	if ((_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(argp, &arg, size))
		return -EFAULT;
	return ret;
}

static const struct file_operations bk_ctl_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = bk_ctl_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.read = bk_event_read,
	.poll = bk_event_poll,
	.llseek = noop_llseek,
};

static struct miscdevice bk_ctl_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = BKSNAP_CTL_NAME,
	.fops = &bk_ctl_fops,
	.mode = 0600,
};

int bk_ctl_init(void)
{
	return misc_register(&bk_ctl_dev);
}

void bk_ctl_exit(void)
{
	misc_deregister(&bk_ctl_dev);
}

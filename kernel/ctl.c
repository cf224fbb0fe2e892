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
#include "chunk.h"
#include "ctl.h"
#include "ctl_args.h"
#include "event.h"
#include "snapshot.h"
#include "tracker.h"

/* See ctl.h: the outermost lock, of the whole configuration. */
DEFINE_MUTEX(bk_config_mutex);

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
	v->chunk_min_shift = BK_CHUNK_MIN_SHIFT;
	v->chunk_max_shift = BK_CHUNK_MAX_SHIFT;
	v->max_snapshot_devices = BK_MAX_SNAPSHOT_MEMBERS;
	return 0;
}

static long bk_ctl_attach(struct bksnap_attach *a, bool attach)
{
	struct bk_tracker *gone;
	dev_t dev;
	int ret = bk_check_attach(a) ?: bk_ctl_resolve(&a->dev, &dev);

	if (ret)
		return ret;
	mutex_lock(&bk_config_mutex);
	ret = attach ? bk_tracker_attach(dev) : bk_tracker_detach(dev, &gone);
	mutex_unlock(&bk_config_mutex);
	if (!attach && !ret)
		bk_tracker_release(gone);
	/* No disk behind the number: the uAPI says ENODEV. */
	return ret == -ENXIO ? -ENODEV : ret;
}

/* The tracker an argument names; bk_config_mutex held. */
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
	mutex_lock(&bk_config_mutex);
	ret = bk_ctl_tracker(&info->dev, &t);
	if (!ret)
		bk_tracker_info(t, info);
	mutex_unlock(&bk_config_mutex);
	return ret;
}

static long bk_ctl_list(struct bksnap_list *l)
{
	struct bksnap_list_entry *entries;
	dev_t devs[BK_MAX_TRACKERS];
	unsigned int i, n;
	int ret;

	mutex_lock(&bk_config_mutex);
	n = bk_tracker_list(devs, BK_MAX_TRACKERS);
	mutex_unlock(&bk_config_mutex);
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

static long bk_ctl_cbt_read(const struct bksnap_cbt_read *r)
{
	struct bk_tracker *t;
	int ret;

	if (bk_check_version(r->version))
		return -EPROTO;
	mutex_lock(&bk_config_mutex);
	ret = bk_ctl_tracker(&r->dev, &t) ?: bk_tracker_cbt_read(t, r);
	mutex_unlock(&bk_config_mutex);
	return ret;
}

static long bk_ctl_cbt_mark(const struct bksnap_cbt_mark *mk)
{
	struct bk_tracker *t;
	int ret;

	if (bk_check_version(mk->version))
		return -EPROTO;
	mutex_lock(&bk_config_mutex);
	ret = bk_ctl_tracker(&mk->dev, &t) ?: bk_tracker_cbt_mark(t, mk);
	mutex_unlock(&bk_config_mutex);
	return ret;
}

static long bk_ctl_cbt_anchor(struct bksnap_cbt_anchor *a)
{
	struct bk_tracker *t;
	int ret;

	if (bk_check_version(a->version))
		return -EPROTO;
	mutex_lock(&bk_config_mutex);
	ret = bk_ctl_tracker(&a->dev, &t) ?: bk_tracker_cbt_anchor(t, a);
	mutex_unlock(&bk_config_mutex);
	return ret;
}

static long bk_ctl_snapshot_create(struct bksnap_snapshot_create *c)
{
	struct bksnap_snapshot_member *members;
	u32 devs[BK_MAX_SNAPSHOT_MEMBERS];
	size_t size = c->member_count * sizeof(*members);
	struct bk_snapshot *snap;
	unsigned int i;
	dev_t dev;
	int ret = bk_check_snapshot_create(c, BK_MAX_SNAPSHOT_MEMBERS);

	if (ret)
		return ret;
	members = memdup_user(u64_to_user_ptr(c->members), size);
	if (IS_ERR(members))
		return PTR_ERR(members);
	for (i = 0; i < c->member_count && !ret; i++) {
		ret = bk_check_dev_id(&members[i].dev) ?:
		      bk_ctl_resolve(&members[i].dev, &dev);
		devs[i] = dev;
	}
	if (!ret)
		ret = bk_check_distinct_devs(devs, c->member_count);
	if (ret)
		goto out;
	mutex_lock(&bk_config_mutex);
	ret = bk_snapshot_create(devs, c->member_count, c->diff_fd,
				 c->low_water_sectors, &snap);
	if (!ret) {
		memcpy(c->id, snap->id, BKSNAP_UUID_SIZE);
		bk_snapshot_members(snap, members);
	}
	mutex_unlock(&bk_config_mutex);
	if (!ret && copy_to_user(u64_to_user_ptr(c->members), members, size))
		ret = -EFAULT;
out:
	kfree(members);
	return ret;
}

static long bk_ctl_snapshot_storage(const struct bksnap_snapshot_storage *s)
{
	struct bk_snapshot *snap;
	int ret = bk_check_snapshot_storage(s);

	if (ret)
		return ret;
	mutex_lock(&bk_config_mutex);
	snap = bk_snapshot_find(s->id);
	ret = snap ? bk_snapshot_add_storage(snap, s->diff_fd) : -ENOENT;
	mutex_unlock(&bk_config_mutex);
	return ret;
}

static long bk_ctl_snapshot_destroy(const struct bksnap_snapshot_id *s)
{
	struct bk_snapshot *snap;
	int ret = bk_check_snapshot_id(s);

	if (ret)
		return ret;
	mutex_lock(&bk_config_mutex);
	snap = bk_snapshot_find(s->id);
	if (snap)
		bk_snapshot_destroy(snap);
	mutex_unlock(&bk_config_mutex);
	return snap ? 0 : -ENOENT;
}

static long bk_ctl_snapshot_info(struct bksnap_snapshot_info *info)
{
	struct bksnap_snapshot_member members[BK_MAX_SNAPSHOT_MEMBERS];
	struct bk_snapshot *snap;
	unsigned int n = 0;
	int ret;

	if (bk_check_version(info->version))
		return -EPROTO;
	mutex_lock(&bk_config_mutex);
	snap = bk_snapshot_find(info->id);
	ret = snap ? bk_check_snapshot_info(info, snap->nr_members) : -ENOENT;
	if (snap) {
		n = snap->nr_members;
		info->member_count = n;
	}
	if (!ret) {
		info->error = READ_ONCE(snap->error);
		info->state = info->error ? BKSNAP_SNAP_FAILED : 0;
		bk_snapshot_usage(snap, &info->storage_sectors,
				  &info->used_sectors);
		bk_snapshot_members(snap, members);
	}
	mutex_unlock(&bk_config_mutex);
	if (!ret && copy_to_user(u64_to_user_ptr(info->members), members,
				 n * sizeof(*members)))
		ret = -EFAULT;
	return ret;
}

static long bk_ctl_snapshot_list(struct bksnap_snapshot_list *l)
{
	u8 *ids;
	unsigned int n;
	int ret;

	if (bk_check_version(l->version))
		return -EPROTO;
	mutex_lock(&bk_config_mutex);
	n = bk_snapshot_ids(NULL, 0);
	ids = kcalloc(max(n, 1U), BKSNAP_UUID_SIZE, GFP_KERNEL);
	if (ids)
		bk_snapshot_ids(ids, n);
	mutex_unlock(&bk_config_mutex);
	if (!ids)
		return -ENOMEM;
	ret = bk_check_snapshot_list(l, n);
	l->count = n;
	if (!ret && copy_to_user(u64_to_user_ptr(l->ids), ids,
				 n * BKSNAP_UUID_SIZE))
		ret = -EFAULT;
	kfree(ids);
	return ret;
}

union bk_ctl_arg {
	struct bksnap_version_info version;
	struct bksnap_attach attach;
	struct bksnap_tracker_info info;
	struct bksnap_list list;
	struct bksnap_cbt_read cbt_read;
	struct bksnap_cbt_mark cbt_mark;
	struct bksnap_cbt_anchor cbt_anchor;
	struct bksnap_snapshot_create snap_create;
	struct bksnap_snapshot_storage snap_storage;
	struct bksnap_snapshot_id snap_id;
	struct bksnap_snapshot_info snap_info;
	struct bksnap_snapshot_list snap_list;
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
	case BKSNAP_IOC_CBT_ANCHOR:
		return bk_ctl_cbt_anchor(&arg->cbt_anchor);
	case BKSNAP_IOC_SNAPSHOT_CREATE:
		return bk_ctl_snapshot_create(&arg->snap_create);
	case BKSNAP_IOC_SNAPSHOT_ADD_STORAGE:
		return bk_ctl_snapshot_storage(&arg->snap_storage);
	case BKSNAP_IOC_SNAPSHOT_DESTROY:
		return bk_ctl_snapshot_destroy(&arg->snap_id);
	case BKSNAP_IOC_SNAPSHOT_INFO:
		return bk_ctl_snapshot_info(&arg->snap_info);
	case BKSNAP_IOC_SNAPSHOT_LIST:
		return bk_ctl_snapshot_list(&arg->snap_list);
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

// SPDX-License-Identifier: GPL-2.0
/*
 * A bounded queue of events.  When userspace does not keep up, the oldest
 * events are dropped (and counted in the log): posting never blocks or
 * allocates, so it is safe from the I/O path.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kfifo.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include "event.h"

#define BK_EVENT_SLOTS 64

static DEFINE_KFIFO(bk_events, struct bksnap_event, BK_EVENT_SLOTS);
static DEFINE_SPINLOCK(bk_events_lock);
static DECLARE_WAIT_QUEUE_HEAD(bk_events_wait);

void bk_event_post(const struct bksnap_event *ev)
{
	struct bksnap_event dropped;
	unsigned long flags;

	spin_lock_irqsave(&bk_events_lock, flags);
	if (kfifo_is_full(&bk_events)) {
		if (kfifo_get(&bk_events, &dropped))
			pr_warn_ratelimited("event queue full, dropped event %u\n",
					    dropped.type);
	}
	kfifo_put(&bk_events, *ev);
	spin_unlock_irqrestore(&bk_events_lock, flags);
	wake_up_interruptible(&bk_events_wait);
}

void bk_event_device(enum bksnap_event_type type, dev_t dev, int error)
{
	struct bksnap_event ev = {
		.version = BKSNAP_UAPI_VERSION,
		.type = type,
		.major = MAJOR(dev),
		.minor = MINOR(dev),
		.error = error,
	};

	bk_event_post(&ev);
}

void bk_event_snapshot(enum bksnap_event_type type, const u8 *id, int error,
		       u64 storage_sectors, u64 used_sectors)
{
	struct bksnap_event ev = {
		.version = BKSNAP_UAPI_VERSION,
		.type = type,
		.error = error,
		.storage_sectors = storage_sectors,
		.used_sectors = used_sectors,
	};

	memcpy(ev.id, id, BKSNAP_UUID_SIZE);
	bk_event_post(&ev);
}

static bool bk_event_pop(struct bksnap_event *ev)
{
	unsigned long flags;
	bool got;

	spin_lock_irqsave(&bk_events_lock, flags);
	got = kfifo_get(&bk_events, ev);
	spin_unlock_irqrestore(&bk_events_lock, flags);
	return got;
}

/* Whole records only; blocks unless O_NONBLOCK. */
ssize_t bk_event_read(struct file *file, char __user *buf, size_t len,
		      loff_t *ppos)
{
	struct bksnap_event ev;
	size_t done = 0;
	int ret;

	if (len < sizeof(ev))
		return -EINVAL;
	while (done + sizeof(ev) <= len) {
		if (!bk_event_pop(&ev)) {
			if (done)
				break;
			if (file->f_flags & O_NONBLOCK)
				return -EAGAIN;
			ret = wait_event_interruptible(bk_events_wait,
						       !kfifo_is_empty(&bk_events));
			if (ret)
				return ret;
			continue;
		}
		if (copy_to_user(buf + done, &ev, sizeof(ev)))
			return done ? done : -EFAULT;
		done += sizeof(ev);
	}
	return done;
}

__poll_t bk_event_poll(struct file *file, poll_table *wait)
{
	poll_wait(file, &bk_events_wait, wait);
	return kfifo_is_empty(&bk_events) ? 0 : EPOLLIN | EPOLLRDNORM;
}

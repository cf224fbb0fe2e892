/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Events for userspace, read() from the control device.  The ring is
 * event.c's, under its own spinlock (a leaf: posting takes no other lock).
 */
#ifndef BK_EVENT_H
#define BK_EVENT_H

#include <linux/fs.h>
#include <linux/poll.h>
#include <linux/bksnap.h>

/* Callable from any context. */
void bk_event_post(const struct bksnap_event *ev);
void bk_event_device(enum bksnap_event_type type, dev_t dev, int error);
void bk_event_snapshot(enum bksnap_event_type type, const u8 *id, int error,
		       u64 storage_sectors, u64 used_sectors);

ssize_t bk_event_read(struct file *file, char __user *buf, size_t len,
		      loff_t *ppos);
__poll_t bk_event_poll(struct file *file, poll_table *wait);

#endif /* BK_EVENT_H */

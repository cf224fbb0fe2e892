/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BK_CTL_H
#define BK_CTL_H

#include <linux/mutex.h>

/* BK_VERSION_STR and BK_VERSION_MAJOR/MINOR/PATCH come from VERSION (Kbuild). */

/*
 * The configuration: which devices are tracked, which snapshots exist and
 * which tracker is in which snapshot, the difference storage handed over,
 * and CBT map resets.  Taken by every control command and by the tracker's
 * resize and device-gone work; outermost of the module's locks (see
 * docs/kernel.md, "Locks").
 */
extern struct mutex bk_config_mutex;

int bk_ctl_init(void);
void bk_ctl_exit(void);

#endif /* BK_CTL_H */

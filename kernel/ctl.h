/* SPDX-License-Identifier: GPL-2.0 */
#ifndef BK_CTL_H
#define BK_CTL_H

#define BK_VERSION_MAJOR	0
#define BK_VERSION_MINOR	1
#define BK_VERSION_PATCH	0

int bk_ctl_init(void);
void bk_ctl_exit(void);

#endif /* BK_CTL_H */

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Properties of the ioctl argument checks over arbitrary input bytes, shared
 * by the randomized gtest and the libFuzzer target.
 */
#ifndef BK_CTL_ARGS_PROPS_H
#define BK_CTL_ARGS_PROPS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which check ran (0 .. bk_ctl_args_checks - 1) and what it returned. */
struct bk_ctl_args_outcome {
	unsigned int check;
	int ret;
};

extern const unsigned int bk_ctl_args_checks;

/*
 * Decodes @data into one argument structure and the limits it is checked
 * against, runs the check, and returns NULL if every property holds, else
 * what failed.  Bytes past @size read as zero.  @out may be NULL.
 */
const char *bk_ctl_args_violation(const uint8_t *data, size_t size, struct bk_ctl_args_outcome *out);

#ifdef __cplusplus
}
#endif

#endif /* BK_CTL_ARGS_PROPS_H */

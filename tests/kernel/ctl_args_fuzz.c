// SPDX-License-Identifier: GPL-2.0
/* libFuzzer entry: the ioctl argument check properties over fuzzed bytes. */
#include <stdio.h>
#include <stdlib.h>

#include "ctl_args_props.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *violation = bk_ctl_args_violation(data, size, NULL);

	if (violation) {
		fprintf(stderr, "ctl_args property violated: %s\n", violation);
		abort();
	}
	return 0;
}

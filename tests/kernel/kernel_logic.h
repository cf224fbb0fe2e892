// The kernel module's plain-C decision logic, seen from C++ tests.
#pragma once

#include <cstring>

extern "C" {
#include "cbt_map.h"
#include "chunk.h"
#include "cow_plan.h"
#include "ctl_args.h"
#include "diff_alloc.h"
}

// Is a token of @generation current for @m?  The module's answer: its
// CBT_READ check says ESTALE when it is not.
inline bool bk_test_token_current(const bk_cbt_map &m, const u8 *generation)
{
	bksnap_cbt_read r{};

	r.version = BKSNAP_UAPI_VERSION;
	memcpy(r.generation, generation, BKSNAP_UUID_SIZE);
	r.count = 1;
	return bk_check_cbt_read(&r, m.generation, m.block_count) != -ESTALE;
}

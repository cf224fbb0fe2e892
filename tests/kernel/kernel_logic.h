// The kernel module's plain-C decision logic, seen from C++ tests.
#pragma once

extern "C" {
#include "cbt_map.h"
#include "chunk.h"
#include "ctl_args.h"
#include "diff_alloc.h"
}

// Difference storage for a snapshot: an anonymous (O_TMPFILE), fully
// allocated file in the configured directory, handed to the kernel by fd.
#pragma once

#include "bk/util/unique_fd.h"

#include <cstdint>
#include <string>

namespace bk::agent {

// Throws ApiError RESOURCE_EXHAUSTED/NO_SPACE when it does not fit.
util::UniqueFd make_diff_storage(const std::string &dir, std::uint64_t bytes);

} // namespace bk::agent

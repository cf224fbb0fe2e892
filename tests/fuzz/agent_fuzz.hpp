// Shared by the agent's fuzz targets and their seeds (agent_seeds.cpp).
#pragma once

#include <string>

namespace bk::fuzz {

// The snapshot whose record key fuzz_snapshot_record stores its input under.
inline const std::string kRecordId = "01234567-89ab-cdef-0123-456789abcdef";

} // namespace bk::fuzz

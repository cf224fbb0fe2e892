// The persisted form of a Chain (the value of key C/<device>, docs/cbt.md).
#pragma once

#include "bk/cbt/store.h"

#include <string>
#include <string_view>

namespace bk::cbt {

// Highest snapshot sequence of a generation: the kernel's map bytes hold it.
inline constexpr std::uint32_t max_sequence = 255;

std::string encode_chain(const Chain &c);

// Reads either layout back. A record whose shape or invariants are broken
// (segment count, sequences past max_sequence, ordinals that go backwards
// or overflow, a generation twice) throws StoreError: the store must not
// answer changed_since from it.
Chain decode_chain(std::string_view in);

} // namespace bk::cbt

// CRC-32C (Castagnoli), as DataChunk.checksum documents.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bk::util {

// Continues `crc` (0 to start) over `len` bytes.
std::uint32_t crc32c(std::uint32_t crc, const void *data, std::size_t len);
// crc32c of `len` zero bytes.
std::uint32_t crc32c_zeroes(std::size_t len);
// True when all `len` bytes are zero.
bool all_zero(const void *data, std::size_t len);

} // namespace bk::util

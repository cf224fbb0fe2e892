// Chunk data helpers: zero detection, zstd (bk/util/zstd.h) over byte vectors.
#pragma once

#include <cstring>

#include "bk/storage/types.hpp"

namespace bk::storage {

inline bool is_all_zero(ByteView data)
{
	return data.empty() || (data[0] == 0 && std::memcmp(data.data(), data.data() + 1, data.size() - 1) == 0);
}

// Compresses `in` into `out` (resized); returns false when the result would not be
// smaller than the input, so the caller stores the data raw.
bool zstd_compress(ByteView in, int level, Bytes &out);
// Throws Errc::corrupt unless `in` decompresses to exactly raw_len bytes.
void zstd_decompress(ByteView in, std::size_t raw_len, Bytes &out);

} // namespace bk::storage

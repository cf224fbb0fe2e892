// zstd with per-thread contexts: the one codec of repository records and of
// ReadExtents chunks on the wire (DataChunk.compression).
#pragma once

#include <cstddef>

namespace bk::util {

// Compresses `len` bytes at `in` into `out` (room for `cap` bytes) as one zstd
// frame that records its content size. Returns the frame's size, or 0 when it
// would not be smaller than min(len, cap + 1): the caller keeps the data raw.
// Spread samples are tried first at the fastest level: when even they do not
// shrink (random or already compressed data) no full pass is made.
std::size_t zstd_compress(const void *in, std::size_t len, void *out, std::size_t cap, int level);

// Decompresses the frame(s) `in` into `out`; true only when they hold exactly
// `raw_len` bytes (never writes past out + raw_len: a frame that holds more is
// refused, as is a damaged one).
bool zstd_decompress(const void *in, std::size_t len, void *out, std::size_t raw_len);

} // namespace bk::util

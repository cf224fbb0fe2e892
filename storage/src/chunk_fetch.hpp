// Fetching one chunk of a restore point from its pack: the path restore and PointReader
// share (read the record, authenticate, decompress, re-hash, check the length).
#pragma once

#include <string>

#include "pack.hpp"

namespace bk::storage {

// `loc` is the index's entry for `id` (null when the index lacks it) and `length` the
// chunk's length in the image. Throws Errc::corrupt when the chunk is missing or fails
// any check; `record` is scratch space.
void fetch_chunk(const Crypto &crypto, PackReader &packs, const ChunkLocation *loc, const ChunkId &id, std::size_t length,
		 const std::string &point, Bytes &record, Bytes &plain);

} // namespace bk::storage

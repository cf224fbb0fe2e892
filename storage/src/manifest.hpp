// Restore points. Each is one file points/<id>.point holding a complete manifest: the
// chunk id of every chunk of the device (all-zero id = a zero chunk), so a point never
// depends on another point.
//
// File: magic "BKpnt001" | u32 n | sealed header (n bytes) | sealed chunk list
// The two parts are sealed separately (aad = magic || id || part) so listing points
// reads only the small header.
#pragma once

#include <string>
#include <vector>

#include "bk/storage/types.hpp"
#include "crypto.hpp"
#include "layout.hpp"

namespace bk::storage {

struct Manifest {
	PointInfo info;
	std::vector<ChunkId> chunks; // one per chunk index of the device
};

std::uint64_t chunk_count(std::uint64_t size, std::uint32_t chunk_size);

// The two sealed parts of a point file, in the clear. Decoding throws Errc::corrupt.
Bytes encode_point_header(const PointInfo &info);
PointInfo decode_point_header(ByteView data);
Bytes encode_chunk_list(const std::vector<ChunkId> &chunks);
std::vector<ChunkId> decode_chunk_list(ByteView data, const PointInfo &info);

void write_manifest(const Layout &layout, const Crypto &crypto, const Manifest &manifest);
PointInfo read_point_info(const Layout &layout, const Crypto &crypto, const std::string &id);
Manifest read_manifest(const Layout &layout, const Crypto &crypto, const std::string &id);
// Ids of all points present (unordered).
std::vector<std::string> list_point_ids(const Layout &layout);

} // namespace bk::storage

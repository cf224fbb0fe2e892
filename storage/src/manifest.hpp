// Restore points. Each is one file points/<id>.point holding a complete manifest: the
// chunk id of every chunk of the device (all-zero id = a zero chunk), so a point never
// depends on another point.
//
// File: magic "BKpnt002" | u32 n | sealed header (n bytes) | sealed chunk list
// The two parts are sealed separately (aad = magic || id || part) so listing points
// reads only the small header. Version 2 adds the writer's host id at the header's end;
// version 1 points ("BKpnt001", repository format 1) are read with an empty host.
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
inline constexpr int kPointVersion = 2; // what write_manifest writes
Bytes encode_point_header(const PointInfo &info);
PointInfo decode_point_header(ByteView data, int version = kPointVersion);
Bytes encode_chunk_list(const std::vector<ChunkId> &chunks);
std::vector<ChunkId> decode_chunk_list(ByteView data, const PointInfo &info);

void write_manifest(const Layout &layout, const Crypto &crypto, const Manifest &manifest);
PointInfo read_point_info(const Layout &layout, const Crypto &crypto, const std::string &id);
Manifest read_manifest(const Layout &layout, const Crypto &crypto, const std::string &id);
// Ids of all points present (unordered).
std::vector<std::string> list_point_ids(const Layout &layout);

} // namespace bk::storage

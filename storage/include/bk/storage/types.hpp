// Value types shared by the repository API.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace bk::storage {

using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

// Progress of a long operation, in bytes of device data. total is 0 when unknown.
struct Progress {
	std::uint64_t done = 0;
	std::uint64_t total = 0;
};
// Calls are serialized but may come from worker threads; keep the callback cheap.
using ProgressFn = std::function<void(const Progress &)>;

struct BackupStats {
	std::uint64_t bytes_read = 0;   // device bytes handed to the writer
	std::uint64_t bytes_zero = 0;   // of which all-zero chunks (stored as a marker)
	std::uint64_t bytes_dedup = 0;  // of which chunks already in the repository
	std::uint64_t bytes_new = 0;    // of which chunks stored for the first time
	std::uint64_t bytes_stored = 0; // bytes written to packs (compressed + encrypted)
	std::uint64_t chunks_new = 0;
	std::uint64_t chunks_dedup = 0;
	std::uint64_t chunks_zero = 0;
	double seconds = 0;
};

// What `points` lists: the header of a restore point.
struct PointInfo {
	std::string id;          // 16 hex digits
	std::string device;      // caller-chosen device identity (e.g. a /dev/disk/by-id path)
	std::int64_t time = 0;   // unix seconds (UTC) the point represents
	std::uint32_t nanos = 0; // and the nanoseconds within that second
	std::uint64_t size = 0;  // device size in bytes
	std::uint32_t chunk_size = 0;
	std::string base;  // point this one was built from ("" for a full read)
	std::string token; // caller's note, e.g. the CBT change token the data was read at
	std::string host;  // host id of the writer; "" in a point written before host ids (format 1)
	BackupStats stats;
};

// Time order of points, total: two backups within one second still have a newest one
// (the incremental base, --keep-last); the id breaks exact ties.
inline bool older(const PointInfo &a, const PointInfo &b) { return std::tie(a.time, a.nanos, a.id) < std::tie(b.time, b.nanos, b.id); }

} // namespace bk::storage

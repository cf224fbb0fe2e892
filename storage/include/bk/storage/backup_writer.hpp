// Producing one restore point. The caller hands over chunk contents in any order (from a
// file, or from the agent's ReadExtents stream); hashing, compression and encryption run
// on worker threads behind a bounded queue. Nothing becomes visible until commit(): the
// point file is the last thing written, after the packs and index it needs are durable.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bk/storage/types.hpp"

namespace bk::storage {

namespace detail {
struct RepoState;
}

struct BackupRequest {
	std::string device;               // identity of the device (dedup works across devices)
	std::uint64_t size = 0;           // device size in bytes
	std::string base;                 // point to start from; "" = full (every chunk is put)
	std::int64_t time = 0;            // unix seconds the point represents; 0 = now
	std::uint32_t nanos = 0;          // nanoseconds within `time` (ignored when time is 0)
	std::string token;                // stored as PointInfo::token
	std::string host;                 // PointInfo::host (valid_host_id); "" = default_host_id()
	std::uint64_t expected_bytes = 0; // Progress::total (0 = unknown)
	ProgressFn progress;
	unsigned threads = 0; // workers; 0 = one per core
};

// A host id names the machine (or agent) a point belongs to: 1..64 characters
// [A-Za-z0-9._-]. Many hosts may back up into one repository at once.
bool valid_host_id(const std::string &host);
// This machine's: /etc/machine-id, else the hostname (other characters become '-').
std::string default_host_id();

// A byte range of a device, as CBT reports changes.
struct Extent {
	std::uint64_t offset = 0;
	std::uint64_t length = 0;
};

// The sorted, distinct chunk indexes that the extents touch.
std::vector<std::uint64_t> chunks_touched(std::span<const Extent> extents, std::uint32_t chunk_size);

class BackupWriter {
public:
	BackupWriter(std::shared_ptr<detail::RepoState> repo, const BackupRequest &request);
	BackupWriter(BackupWriter &&) noexcept;
	BackupWriter &operator=(BackupWriter &&) noexcept;
	// Destroying an uncommitted writer abandons the backup (no point is created).
	~BackupWriter();

	std::uint32_t chunk_size() const;
	std::uint64_t chunk_count() const;
	// Length of chunk `index`: chunk_size(), less for the device's last chunk.
	std::uint32_t chunk_length(std::uint64_t index) const;

	// A buffer to fill and hand back through put() (recycled to avoid allocations).
	Bytes buffer();
	// Each chunk index at most once; data.size() must equal chunk_length(index).
	void put(std::uint64_t index, Bytes &&data);
	void put(std::uint64_t index, ByteView data);
	// As put(), with a zstd frame that decompresses to exactly `data` (the agent's
	// wire compression, decompressed by the caller to check it: the id is still the
	// keyed hash of `data`). The record stores the frame instead of compressing
	// `data` again; a frame that does not decompress to `data` would make the chunk
	// fail authentication on every read.
	void put(std::uint64_t index, Bytes &&data, Bytes &&zstd_frame);
	// The chunk is known to be all zeros (e.g. a zero extent reported by the agent).
	void put_zero(std::uint64_t index);

	// Makes the point durable and returns it. Without a base, every chunk must have been put.
	PointInfo commit();

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace bk::storage

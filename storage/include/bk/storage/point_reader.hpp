// Random access to the device image of one restore point, without restoring it: what the
// NBD export (`bkagent serve`, storage/nbd/) reads through. A byte range maps to the
// point's chunks; each chunk is fetched, authenticated and decompressed by the same code
// restore uses, and kept in a bounded LRU cache of plaintext chunks (concurrent readers
// of one chunk decode it once). Zero chunks are never stored, so their ranges are
// answered without I/O and reported as zero extents.
//
// Thread-safe: read() and extents() may be called from many threads at once. The reader
// holds the repository's shared delete lock for its lifetime, so prune cannot remove the
// packs it reads (prune fails with Errc::locked while a point is open).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "bk/storage/types.hpp"

namespace bk::storage {

struct PointReaderOptions {
	std::uint64_t cache_bytes = 64u << 20; // plaintext chunks kept (at least one chunk)
};

// A run of chunks that are all zero or all data, clipped to the range asked for.
struct ImageExtent {
	std::uint64_t offset = 0;
	std::uint64_t length = 0;
	bool zero = false;
};

class PointReader {
public:
	struct Impl;
	explicit PointReader(std::unique_ptr<Impl> impl);
	PointReader(PointReader &&) noexcept;
	PointReader &operator=(PointReader &&) noexcept;
	~PointReader();

	const PointInfo &info() const;
	std::uint64_t size() const;

	// Fills `out` with the image bytes at [offset, offset + out.size()), which must lie
	// inside the image (Errc::invalid_argument otherwise). A chunk that fails to read or
	// authenticate throws Errc::corrupt (or Errc::io); other chunks stay readable.
	void read(std::uint64_t offset, std::span<std::uint8_t> out) const;
	// Covers [offset, offset + length) (clipped to the image) with alternating extents,
	// in ascending order.
	std::vector<ImageExtent> extents(std::uint64_t offset, std::uint64_t length) const;

private:
	std::unique_ptr<Impl> impl_;
};

} // namespace bk::storage

// Changed-extent listing and chunked reading of snapshot images.
#pragma once

#include "bk/cbt/store.h"
#include "core/snapshots.h"

#include <bkagent/v1/bkagent.pb.h>

#include <functional>
#include <optional>

namespace bk::agent {

inline constexpr std::uint32_t max_chunk_bytes = 1U << 20;
inline constexpr std::uint32_t max_ranges_per_read = 4096;
inline constexpr std::uint32_t max_extents_per_page = 4096;

// Emits pages of the extents of `dev` that may differ from `since` (all of
// the range without `since`); `write` returns false when the client left.
void list_changed_extents(const cbt::Store &store, const SnapshotDeviceState &dev, const std::optional<cbt::Token> &since,
			  const bkagent::v1::Range *range, std::uint32_t page_size,
			  const std::function<bool(const bkagent::v1::ChangedExtentsPage &)> &write);

struct ReadOptions {
	std::uint32_t chunk_bytes = 0; // 0: max_chunk_bytes
	bool elide_zeroes = false;
	std::optional<int> zstd_level; // compress chunks at this level (nullopt: raw)
};

// Streams `ranges` of the image as DataChunks; `write` returns false when
// the client left.
void read_extents(const SnapshotDeviceState &dev, const google::protobuf::RepeatedPtrField<bkagent::v1::Range> &ranges,
		  const ReadOptions &opts, const std::function<bool(const bkagent::v1::DataChunk &)> &write);

} // namespace bk::agent

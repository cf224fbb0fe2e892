// The chunk index: chunk id -> location in a pack. On disk it is a set of immutable
// segments index/<seq>-<random>.idx (16 hex digits each; format 1 wrote <seq>.idx):
// concurrent backups may pick the same sequence number, the random part keeps their
// segments apart. Loading reads them in (sequence, name) order and a later segment's
// entry for an id wins (entries of one id from concurrent backups are equally valid).
// Backup adds segments; prune replaces them all by one consolidated segment, written
// before the old ones are removed.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "bk/storage/error.hpp"
#include "crypto.hpp"
#include "pack.hpp"

namespace bk::storage {

struct IndexEntry {
	ChunkId id;
	ChunkLocation loc;

	bool operator==(const IndexEntry &) const = default;
};

class Index {
public:
	// Throws on a damaged segment, or with `on_bad` reports it and skips it.
	static Index load(const Layout &layout, const Crypto &crypto, const std::function<void(const Error &)> &on_bad = {});

	const ChunkLocation *find(const ChunkId &id) const;
	void insert(const ChunkId &id, const ChunkLocation &loc) { map_[id] = loc; }
	std::size_t size() const { return map_.size(); }
	const std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash> &entries() const { return map_; }
	struct Segment {
		std::uint64_t seq;
		std::string key;
		auto operator<=>(const Segment &) const = default;
	};
	// The segments this index was loaded from, in load order.
	const std::vector<Segment> &segments() const { return segments_; }
	std::uint64_t next_segment() const { return segments_.empty() ? 1 : segments_.back().seq + 1; }

private:
	std::unordered_map<ChunkId, ChunkLocation, ChunkIdHash> map_;
	std::vector<Segment> segments_;
};

// A segment file: magic | sealed(payload), payload = count u64 | count x entry.
// Decoding throws Errc::corrupt on any bad input.
Bytes encode_segment_payload(const std::vector<IndexEntry> &entries);
std::vector<IndexEntry> decode_segment_payload(ByteView payload);
Bytes encode_segment(const Crypto &crypto, const std::vector<IndexEntry> &entries);
std::vector<IndexEntry> decode_segment(const Crypto &crypto, ByteView file);

void write_segment(const Layout &layout, const Crypto &crypto, std::uint64_t seq, const std::vector<IndexEntry> &entries);

} // namespace bk::storage

// Cuts the agent's DataChunks, whatever their boundaries, into the chunks of
// a repository backup.
#pragma once

#include "bk/storage/backup_writer.hpp"

#include <bkagent/v1/bkagent.pb.h>

#include <map>
#include <string_view>

namespace bk::backup {

class ChunkAssembler {
public:
	explicit ChunkAssembler(storage::BackupWriter &writer);
	// `c` is opened (client::open_chunk: raw and checked) already; `frame` is
	// the zstd frame it came as ("" when raw). A chunk that is exactly one
	// repository chunk keeps its frame: the repository stores it as it is.
	void add(const bkagent::v1::DataChunk &c, std::string_view frame = {});
	// Throws unless every chunk begun was completed.
	void finish() const;

private:
	struct Partial {
		storage::Bytes data;
		std::uint64_t filled = 0;
	};
	storage::BackupWriter &w_;
	std::uint64_t cs_;
	std::map<std::uint64_t, Partial> partial_;
};

} // namespace bk::backup

#include "backup/chunk_assembler.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace bk::backup {

ChunkAssembler::ChunkAssembler(storage::BackupWriter &writer) : w_(writer), cs_(writer.chunk_size()) {}

void ChunkAssembler::add(const bkagent::v1::DataChunk &c, std::string_view frame)
{
	if (!frame.empty() && c.offset() % cs_ == 0 && c.length() == w_.chunk_length(c.offset() / cs_) &&
	    !partial_.contains(c.offset() / cs_)) {
		storage::Bytes data = w_.buffer(), packed = w_.buffer();
		data.assign(c.data().begin(), c.data().end());
		packed.assign(frame.begin(), frame.end());
		w_.put(c.offset() / cs_, std::move(data), std::move(packed));
		return;
	}
	for (std::uint64_t pos = c.offset(), end = c.offset() + c.length(); pos < end;) {
		const std::uint64_t idx = pos / cs_, start = idx * cs_;
		const std::uint32_t len = w_.chunk_length(idx);
		const std::uint64_t stop = std::min<std::uint64_t>(end, start + len);
		if (c.zero() && pos == start && stop == start + len) {
			w_.put_zero(idx);
			pos = stop;
			continue;
		}
		Partial &p = partial_[idx];
		if (p.data.empty()) {
			p.data = w_.buffer();
			p.data.resize(len);
		}
		std::uint8_t *dst = p.data.data() + (pos - start);
		if (c.zero())
			std::memset(dst, 0, stop - pos);
		else
			std::memcpy(dst, c.data().data() + (pos - c.offset()), stop - pos);
		p.filled += stop - pos;
		if (p.filled == len) {
			w_.put(idx, std::move(p.data));
			partial_.erase(idx);
		}
		pos = stop;
	}
}

void ChunkAssembler::finish() const
{
	if (!partial_.empty())
		throw std::runtime_error("the agent's stream ended inside chunk " + std::to_string(partial_.begin()->first));
}

} // namespace bk::backup

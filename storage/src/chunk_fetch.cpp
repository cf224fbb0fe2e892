#include "chunk_fetch.hpp"

#include "bk/storage/error.hpp"

namespace bk::storage {

void fetch_chunk(const Crypto &crypto, PackReader &packs, const ChunkLocation *loc, const ChunkId &id, std::size_t length,
		 const std::string &point, Bytes &record, Bytes &plain)
{
	if (!loc)
		throw Error(Errc::corrupt, "chunk " + id.hex() + " of point " + point + " is missing");
	packs.read(*loc, record);
	decode_record(crypto, record, id, loc->raw_len, plain);
	if (plain.size() != length)
		throw Error(Errc::corrupt, "chunk " + id.hex() + " has the wrong length");
}

} // namespace bk::storage

// Pack records: kind 0 decodes a record against the id and length its own header claims
// (what a matching index entry would say); kind 1 encodes the input as a chunk. Whatever
// decodes must be the chunk its id names and must survive re-encoding.
#include <cstdint>

#include "bk/storage/error.hpp"
#include "fuzz_common.hpp"
#include "pack.hpp"
#include "serial.hpp"

using namespace bk::storage;

namespace {

void check_round_trip(const Crypto &crypto, const ChunkId &id, const Bytes &plain)
{
	fuzz::require(crypto.chunk_id(plain) == id, "decoded chunk matches its id");
	for (int level : {1, 3}) {
		Record rec = encode_chunk(crypto, id, plain, level);
		Bytes whole = rec.header;
		whole.insert(whole.end(), rec.body.begin(), rec.body.end());
		Bytes again;
		decode_record(crypto, whole, id, static_cast<std::uint32_t>(plain.size()), again);
		fuzz::require(again == plain, "record re-encodes to the same chunk");
	}
}

} // namespace

void fuzz::test_input(const fuzz::Input &input)
{
	const auto &[mode, in, crypto] = input;
	if (mode.kind == 1) {
		Bytes plain(in.begin(), in.end());
		check_round_trip(crypto, crypto.chunk_id(plain), plain);
		return;
	}
	if (in.size() < kRecordHeaderSize)
		return;
	ChunkId id;
	std::copy_n(in.begin() + 8, id.bytes.size(), id.bytes.begin());
	const std::uint32_t raw_len = ByteReader(in.subspan(40, 4)).u32();
	Bytes plain;
	try {
		decode_record(crypto, in, id, raw_len, plain);
	} catch (const Error &) {
		return;
	}
	check_round_trip(crypto, id, plain);
}

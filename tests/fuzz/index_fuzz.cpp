// Index segments: a whole file (magic, authentication, payload) or, past authentication,
// a payload. A segment that decodes must encode to one that decodes to the same entries.
#include <cstdint>

#include "bk/storage/error.hpp"
#include "fuzz_common.hpp"
#include "index.hpp"

using namespace bk::storage;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
	if (size == 0)
		return 0;
	const fuzz::Mode mode = fuzz::mode_of(data[0]);
	const ByteView in(data + 1, size - 1);
	const Crypto crypto = fuzz::fixed_crypto(mode.encrypted);
	std::vector<IndexEntry> entries;
	try {
		entries = mode.kind == 0 ? decode_segment(crypto, in) : decode_segment_payload(in);
	} catch (const Error&) {
		return 0;
	}
	fuzz::require(decode_segment(crypto, encode_segment(crypto, entries)) == entries,
		      "segment re-encodes to the same entries");
	return 0;
}

// Index segments: a whole file (magic, authentication, payload) or, past authentication,
// a payload. A segment that decodes must encode to one that decodes to the same entries.
#include <cstdint>

#include "bk/storage/error.hpp"
#include "fuzz_common.hpp"
#include "index.hpp"

using namespace bk::storage;

void fuzz::test_input(const fuzz::Input &input)
{
	const auto &[mode, in, crypto] = input;
	std::vector<IndexEntry> entries;
	try {
		entries = mode.kind == 0 ? decode_segment(crypto, in) : decode_segment_payload(in);
	} catch (const Error &) {
		return;
	}
	fuzz::require(decode_segment(crypto, encode_segment(crypto, entries)) == entries, "segment re-encodes to the same entries");
}

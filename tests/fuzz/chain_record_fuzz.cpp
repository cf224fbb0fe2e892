// The CBT store's chain record (cbt/src/chain_record.h), the value it reads
// before answering any changed_since: only StoreError escapes, what decodes
// holds the store's invariants (it encodes to a record that decodes to the
// same chain) and, in the current layout, encodes back to the same bytes.
#include <cstdint>
#include <string>

#include "chain_record.h"
#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const std::string_view in(reinterpret_cast<const char *>(data), size);
	bk::cbt::Chain c;
	try {
		c = bk::cbt::decode_chain(in);
	} catch (const bk::cbt::StoreError &) {
		return 0;
	}
	using bk::storage::fuzz::require;
	const std::string out = bk::cbt::encode_chain(c);
	require(bk::cbt::decode_chain(out) == c, "a decoded chain encodes to a record of the same chain");
	require(c.segments.size() == 1 || out == in, "the current layout encodes back to its bytes");
	return 0;
}

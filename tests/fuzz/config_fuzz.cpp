// The repository config: JSON parsing and the scrypt-wrapped master key. A config that
// parses must print to text that parses to the same config.
#include <cstdint>

#include "bk/storage/error.hpp"
#include "config.hpp"
#include "fuzz_common.hpp"

using namespace bk::storage;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	RepoConfig c;
	try {
		c = parse_config(ByteView(data, size));
	} catch (const Error &) {
		return 0;
	}
	const std::string text = format_config(c);
	fuzz::require(parse_config(ByteView(reinterpret_cast<const std::uint8_t *>(text.data()), text.size())) == c,
		      "config re-parses to the same content");
	if (c.encrypted && c.kdf.n <= (1u << 10)) { // the seeds' cost; dearer KDFs only slow the run
		try {
			unlock_master_key(c, fuzz::kPassphrase);
		} catch (const Error &) {
		}
	}
	return 0;
}

// libFuzzer's entry point of the targets whose input starts with a mode byte.
#include <cstdint>

#include "fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	using namespace bk::storage;
	if (size == 0)
		return 0;
	const fuzz::Mode mode = fuzz::mode_of(data[0]);
	fuzz::test_input({mode, ByteView(data + 1, size - 1), fuzz::fixed_crypto(mode.encrypted)});
	return 0;
}

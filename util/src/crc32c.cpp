#include "bk/util/crc32c.h"

#include <isa-l/crc.h>
#include <isa-l/mem_routines.h>

#include <algorithm>
#include <array>
#include <climits>

namespace bk::util {

// ISA-L's crc32_iscsi() is CRC-32C without the pre- and post-inversion, and
// takes an int length.
std::uint32_t crc32c(std::uint32_t crc, const void *data, std::size_t len)
{
	auto *p = static_cast<unsigned char *>(const_cast<void *>(data)); // ISA-L only reads it
	std::uint32_t c = ~crc;
	for (std::size_t done = 0; done < len;) {
		const auto n = static_cast<int>(std::min<std::size_t>(len - done, INT_MAX));
		c = crc32_iscsi(p + done, n, c);
		done += static_cast<std::size_t>(n);
	}
	return ~c;
}

std::uint32_t crc32c_zeroes(std::size_t len)
{
	static const std::array<unsigned char, 64 << 10> zero{};
	std::uint32_t c = 0;
	for (std::size_t done = 0; done < len; done += zero.size())
		c = crc32c(c, zero.data(), std::min(zero.size(), len - done));
	return c;
}

bool all_zero(const void *data, std::size_t len) { return len == 0 || isal_zero_detect(const_cast<void *>(data), len) == 0; }

} // namespace bk::util

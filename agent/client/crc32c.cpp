#include "client/crc32c.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <unordered_map>

namespace bk::agent {

namespace {

constexpr std::uint32_t poly = 0x82F63B78; // reflected 0x1EDC6F41

constexpr std::array<std::uint32_t, 256> make_table()
{
	std::array<std::uint32_t, 256> t{};
	for (std::uint32_t i = 0; i < 256; ++i) {
		std::uint32_t c = i;
		for (int k = 0; k < 8; ++k)
			c = c & 1 ? (c >> 1) ^ poly : c >> 1;
		t[i] = c;
	}
	return t;
}
constexpr auto table = make_table();

std::uint32_t crc_portable(std::uint32_t c, const unsigned char *p, std::size_t n)
{
	while (n--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) std::uint32_t crc_sse42(std::uint32_t c, const unsigned char *p, std::size_t n)
{
	std::uint64_t c64 = c;
	while (n >= 8) {
		std::uint64_t v;
		std::memcpy(&v, p, 8);
		c64 = __builtin_ia32_crc32di(c64, v);
		p += 8;
		n -= 8;
	}
	c = static_cast<std::uint32_t>(c64);
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}
#endif

} // namespace

std::uint32_t crc32c(std::uint32_t crc, const void *data, std::size_t len)
{
	const auto *p = static_cast<const unsigned char *>(data);
	std::uint32_t c = ~crc;
#if defined(__x86_64__)
	static const bool hw = __builtin_cpu_supports("sse4.2");
	if (hw)
		return ~crc_sse42(c, p, len);
#endif
	return ~crc_portable(c, p, len);
}

std::uint32_t crc32c_zeroes(std::size_t len)
{
	// Zero chunks repeat the same few lengths: remember them.
	static std::mutex mutex;
	static std::unordered_map<std::size_t, std::uint32_t> memo;
	std::lock_guard lock(mutex);
	if (auto it = memo.find(len); it != memo.end())
		return it->second;
	static const std::array<unsigned char, 4096> zero{};
	std::uint32_t c = 0;
	for (std::size_t done = 0; done < len; done += zero.size())
		c = crc32c(c, zero.data(), std::min(zero.size(), len - done));
	if (memo.size() < 64)
		memo.emplace(len, c);
	return c;
}

bool all_zero(const void *data, std::size_t len)
{
	const auto *p = static_cast<const unsigned char *>(data);
	while (len >= 8) {
		std::uint64_t v;
		std::memcpy(&v, p, 8);
		if (v)
			return false;
		p += 8;
		len -= 8;
	}
	while (len--)
		if (*p++)
			return false;
	return true;
}

} // namespace bk::agent

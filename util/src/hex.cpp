#include "bk/util/hex.h"

namespace bk::util {

namespace {

int nibble(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

} // namespace

std::string to_hex(std::span<const std::uint8_t> data)
{
	static constexpr char digits[] = "0123456789abcdef";
	std::string out;
	out.reserve(data.size() * 2);
	for (const std::uint8_t b : data) {
		out.push_back(digits[b >> 4]);
		out.push_back(digits[b & 0xf]);
	}
	return out;
}

bool from_hex(std::string_view hex, std::span<std::uint8_t> out)
{
	if (hex.size() != 2 * out.size())
		return false;
	for (std::size_t i = 0; i < out.size(); ++i) {
		const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
	}
	return true;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex)
{
	std::vector<std::uint8_t> out(hex.size() / 2);
	if (hex.size() % 2 != 0 || !from_hex(hex, out))
		return std::nullopt;
	return out;
}

} // namespace bk::util

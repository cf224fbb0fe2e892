#include "driver/driver.h"

#include <charconv>

namespace bk::agent {

// 8-4-4-4-12 lowercase hex.
std::string format_uuid(const Uuid &id)
{
	static constexpr char hex[] = "0123456789abcdef";
	std::string out;
	for (std::size_t i = 0; i < id.size(); ++i) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out += '-';
		out += hex[id[i] >> 4];
		out += hex[id[i] & 0xf];
	}
	return out;
}

std::optional<Uuid> parse_uuid(const std::string &text)
{
	if (text.size() != 36)
		return std::nullopt;
	Uuid id{};
	std::size_t pos = 0;
	for (std::size_t i = 0; i < id.size(); ++i) {
		if (i == 4 || i == 6 || i == 8 || i == 10) {
			if (text[pos++] != '-')
				return std::nullopt;
		}
		auto [end, ec] = std::from_chars(text.data() + pos, text.data() + pos + 2, id[i], 16);
		if (ec != std::errc() || end != text.data() + pos + 2)
			return std::nullopt;
		pos += 2;
	}
	return id;
}

} // namespace bk::agent

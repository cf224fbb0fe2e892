#include "bk/cbt/token.h"

#include <charconv>

namespace bk::cbt {

std::string format_generation(const Generation &generation)
{
	static constexpr char hex[] = "0123456789abcdef";
	std::string out;
	out.reserve(2 * generation.size());
	for (auto byte : generation) {
		out += hex[byte >> 4];
		out += hex[byte & 0xf];
	}
	return out;
}

std::string format_token(const Token &token)
{
	return format_generation(token.generation) + ':' + std::to_string(token.sequence);
}

std::optional<Token> parse_token(std::string_view text)
{
	Token token;
	constexpr std::size_t hex_len = 2 * sizeof(Generation);
	if (text.size() < hex_len + 2 || text[hex_len] != ':')
		return std::nullopt;
	for (std::size_t i = 0; i < token.generation.size(); ++i) {
		const char *pair = text.data() + 2 * i;
		auto [end, ec] = std::from_chars(pair, pair + 2, token.generation[i], 16);
		if (ec != std::errc() || end != pair + 2)
			return std::nullopt;
	}
	const char *seq = text.data() + hex_len + 1;
	const char *last = text.data() + text.size();
	auto [end, ec] = std::from_chars(seq, last, token.sequence);
	if (ec != std::errc() || end != last || token.sequence == 0)
		return std::nullopt;
	return token;
}

} // namespace bk::cbt

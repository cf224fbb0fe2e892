#include "bk/cbt/token.h"

#include "bk/util/hex.h"

#include <charconv>

namespace bk::cbt {

std::string format_generation(const Generation &generation) { return util::to_hex(generation); }

std::string format_token(const Token &token) { return format_generation(token.generation) + ':' + std::to_string(token.sequence); }

std::optional<Token> parse_token(std::string_view text)
{
	Token token;
	constexpr std::size_t hex_len = 2 * sizeof(Generation);
	if (text.size() < hex_len + 2 || text[hex_len] != ':')
		return std::nullopt;
	if (!util::from_hex(text.substr(0, hex_len), token.generation))
		return std::nullopt;
	const char *seq = text.data() + hex_len + 1;
	const char *last = text.data() + text.size();
	auto [end, ec] = std::from_chars(seq, last, token.sequence);
	if (ec != std::errc() || end != last || token.sequence == 0)
		return std::nullopt;
	return token;
}

} // namespace bk::cbt

#include "client/token.h"

#include <cstring>

namespace bk::client {

std::string token_text(const bkagent::v1::ChangeToken &token)
{
	cbt::Token t;
	if (token.generation().size() != t.generation.size())
		return "";
	std::memcpy(t.generation.data(), token.generation().data(), t.generation.size());
	t.sequence = token.sequence();
	return cbt::format_token(t);
}

std::optional<bkagent::v1::ChangeToken> parse_token(const std::string &text)
{
	const auto t = cbt::parse_token(text);
	if (!t)
		return std::nullopt;
	bkagent::v1::ChangeToken out;
	to_proto(*t, &out);
	return out;
}

} // namespace bk::client

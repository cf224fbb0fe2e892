// ChangeToken (the API's form) <-> cbt::Token and its text "32 hex digits:sequence".
#pragma once

#include "bk/cbt/token.h"

#include <bkagent/v1/bkagent.pb.h>

#include <optional>
#include <string>

namespace bk::client {

inline void to_proto(const cbt::Token &t, bkagent::v1::ChangeToken *out)
{
	out->set_generation(reinterpret_cast<const char *>(t.generation.data()), t.generation.size());
	out->set_sequence(t.sequence);
}

// The text of a token; "" when unset or malformed.
std::string token_text(const bkagent::v1::ChangeToken &token);

// The token a text names; nullopt unless it is well formed.
std::optional<bkagent::v1::ChangeToken> parse_token(const std::string &text);

} // namespace bk::client

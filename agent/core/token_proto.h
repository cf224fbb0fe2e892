// ChangeToken <-> cbt::Token.
#pragma once

#include "bk/cbt/token.h"

#include <bkagent/v1/bkagent.pb.h>

namespace bk::agent {

inline void to_proto(const cbt::Token &t, bkagent::v1::ChangeToken *out)
{
	out->set_generation(reinterpret_cast<const char *>(t.generation.data()), t.generation.size());
	out->set_sequence(t.sequence);
}

// INVALID_ARGUMENT/BAD_REQUEST unless the token is well formed.
cbt::Token from_proto(const bkagent::v1::ChangeToken &t);

} // namespace bk::agent

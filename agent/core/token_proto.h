// ChangeToken <-> cbt::Token on the daemon's side.
#pragma once

#include "client/token.h"

namespace bk::agent {

using client::to_proto;

// INVALID_ARGUMENT/BAD_REQUEST unless the token is well formed.
cbt::Token from_proto(const bkagent::v1::ChangeToken &t);

} // namespace bk::agent

// What every operation on an open repository needs.
#pragma once

#include "config.hpp"
#include "crypto.hpp"
#include "layout.hpp"

namespace bk::storage::detail {

struct RepoState {
	Layout layout;
	RepoConfig config;
	Crypto crypto;
};

} // namespace bk::storage::detail

// Small file helpers shared by the client and the daemon.
#pragma once

#include <string>

namespace bk::client {

// The whole content of a file (certificates, keys, tokens); throws
// std::runtime_error naming the path when it cannot be read.
std::string read_file(const std::string &path);

} // namespace bk::client

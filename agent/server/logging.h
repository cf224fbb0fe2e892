// spdlog set-up: structured journald entries under systemd, plain stderr
// lines otherwise.
#pragma once

#include <string>

namespace bk::agent {

void setup_logging(const std::string &level);

} // namespace bk::agent

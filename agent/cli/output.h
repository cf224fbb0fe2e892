// Text and JSON renderings of API messages shared by CLI commands.
#pragma once

#include "client/token.h"

#include <CLI/CLI.hpp>
#include <bkagent/v1/bkagent.pb.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace bk::cli {

using client::token_text;
std::string human_bytes(std::uint64_t bytes);
std::string time_text(const google::protobuf::Timestamp &t); // ISO 8601 UTC

nlohmann::json to_json(const bkagent::v1::Snapshot &s);
nlohmann::json to_json(const bkagent::v1::Device &d);
std::string to_text(const bkagent::v1::Snapshot &s);

// Option NAME taking a duration ("90", "90s", "15m", "2h", "1d") into
// `seconds`, which stays 0 when the option is not given.
CLI::Option *add_duration(CLI::App *cmd, const std::string &name, std::int64_t &seconds, const std::string &help);

} // namespace bk::cli

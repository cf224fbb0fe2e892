// Running the real bkagent CLI from a test: --socket SOCKET --json ARGS, its
// stdout and exit code.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace bk::test {

struct CliRun {
	int code = -1;
	std::string out;
	nlohmann::json json() const { return nlohmann::json::parse(out); }
};

CliRun run_cli(const std::string &socket, std::vector<std::string> args);

std::string file_content(const std::string &path);

} // namespace bk::test

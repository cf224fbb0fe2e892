// The bkagent CLI's command registry. Each command group lives in its own
// file cli/cmd_<group>.cpp and registers itself:
//
//     static void setup(CLI::App &app, bk::cli::Context &ctx) {
//             auto *cmd = app.add_subcommand("verify", "...");
//             cmd->callback([&ctx] { ... ctx.agent().list_snapshots() ... ctx.print(json, text); });
//     }
//     BK_CLI_COMMAND(setup)
//
// Failed calls throw client::CallError; main() prints them and maps them to
// the documented exit codes.
#pragma once

#include "client/client.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bk::cli {

// Exit codes (documented in `bkagent --help` and docs/api.md).
enum Exit : int {
	exit_ok = 0,
	exit_failure = 1,      // internal error, anything else
	exit_usage = 2,        // bad command line
	exit_unreachable = 3,  // daemon not running / unreachable
	exit_not_found = 4,    // device, snapshot or token not found
	exit_precondition = 5, // state forbids it; includes "full read needed"
	exit_denied = 6,       // not root / authentication failed
	exit_invalid = 7,      // request rejected as invalid or out of range
};

class Context {
public:
	bool json = false;
	int exit_code = exit_ok;
	// Global options; agent() turns them into a client::Target.
	std::string socket = client::default_socket;
	std::string remote; // HOST:PORT
	std::string ca_file, cert_file, key_file, token_file, server_name;

	client::Client &agent();
	// Prints `j` with --json, else `text` (which should end in a newline).
	void print(const nlohmann::json &j, const std::string &text) const;

private:
	std::unique_ptr<client::Client> client_;
};

using Setup = void (*)(CLI::App &app, Context &ctx);
bool register_command(Setup setup);
const std::vector<Setup> &commands();

} // namespace bk::cli

#define BK_CLI_COMMAND(setup)                                                                                                              \
	namespace {                                                                                                                        \
	[[maybe_unused]] const bool bk_cli_registered = ::bk::cli::register_command(setup);                                                \
	}

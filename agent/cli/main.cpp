// bkagent: the command-line client of bkagentd.
#include "cli/registry.h"

#include <iostream>

namespace {

using namespace bk::cli;

const char *const description = R"(bkagent - block-level backup agent for Linux.

Talks to the bkagentd daemon (root only, over its Unix socket) to track
changed blocks of devices, take crash-consistent snapshots and query what
changed since a backup. Backup servers use the same gRPC API remotely.)";

const char *const footer = R"(
Examples:
  bkagent track add /dev/vdb          start tracking changes of /dev/vdb
  bkagent snapshot /dev/vdb /dev/vdc  consistent snapshot of both, prints the
                                      image devices and change tokens
  bkagent snapshots                   list live snapshots
  bkagent release 6f1c...             release a snapshot now
  bkagent cbt changes /dev/vdb --since 5f0c...e1:3
                                      what changed since that token
  bkagent status --json               machine-readable status

Exit codes:
  0 success          4 not found (device, snapshot)   7 invalid request
  1 other failure    5 precondition failed (e.g. not tracked; full read
  2 usage error        needed after a CBT reset)
  3 daemon unreachable  6 permission denied / not authenticated

Every command accepts --json (stdout gets one JSON document; errors are
{"error": {"code", "reason", "message"}}).)";

int exit_code_of(grpc::StatusCode code)
{
	switch (code) {
	case grpc::StatusCode::UNAVAILABLE:
	case grpc::StatusCode::DEADLINE_EXCEEDED: return exit_unreachable;
	case grpc::StatusCode::NOT_FOUND: return exit_not_found;
	case grpc::StatusCode::FAILED_PRECONDITION: return exit_precondition;
	case grpc::StatusCode::UNAUTHENTICATED:
	case grpc::StatusCode::PERMISSION_DENIED: return exit_denied;
	case grpc::StatusCode::INVALID_ARGUMENT:
	case grpc::StatusCode::OUT_OF_RANGE:
	case grpc::StatusCode::RESOURCE_EXHAUSTED:
	case grpc::StatusCode::ALREADY_EXISTS: return exit_invalid;
	default: return exit_failure;
	}
}

int report(const Context &ctx, const std::string &code, const std::string &reason, const std::string &message, int exit)
{
	if (ctx.json)
		std::cout << nlohmann::json{{"error", {{"code", code}, {"reason", reason}, {"message", message}}}}.dump(2) << '\n';
	else
		std::cerr << "bkagent: " << message << (reason.empty() ? "" : " [" + reason + "]") << '\n';
	return exit;
}

} // namespace

int main(int argc, char **argv)
{
	CLI::App app{description, "bkagent"};
	app.footer(footer);
	app.require_subcommand(1);
	// Global options may follow the command (`bkagent status --json`):
	// subcommands, created below, inherit this.
	app.fallthrough();
	Context ctx;
	app.add_flag("--json", ctx.json, "print JSON instead of text");
	app.add_option("--socket", ctx.socket, "the daemon's Unix socket")->capture_default_str();
	auto *remote = app.add_option("--agent", ctx.remote, "HOST:PORT of a remote agent (mutual TLS)")->group("Remote agent");
	app.add_option("--ca", ctx.ca_file, "CA certificate of the agent")->needs(remote)->group("Remote agent");
	app.add_option("--cert", ctx.cert_file, "client certificate")->needs(remote)->group("Remote agent");
	app.add_option("--key", ctx.key_file, "client private key")->needs(remote)->group("Remote agent");
	app.add_option("--token-file", ctx.token_file, "file holding the bearer token")->needs(remote)->group("Remote agent");
	app.add_option("--server-name", ctx.server_name, "TLS name of the agent if not HOST")->needs(remote)->group("Remote agent");
	for (Setup setup : commands())
		setup(app, ctx);

	try {
		app.parse(argc, argv);
	} catch (const CLI::ParseError &e) {
		return app.exit(e) == 0 ? exit_ok : exit_usage;
	} catch (const bk::client::CallError &e) {
		return report(ctx, bk::client::code_name(e.code()), e.reason(), e.what(), exit_code_of(e.code()));
	} catch (const std::exception &e) {
		return report(ctx, "UNKNOWN", "", e.what(), exit_failure);
	}
	return ctx.exit_code;
}

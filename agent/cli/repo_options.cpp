#include "cli/repo_options.h"

#include <cstdlib>
#include <fstream>

namespace bk::cli {

namespace st = bk::storage;

void add_repo_options(CLI::App *cmd, RepoArgs &args)
{
	cmd->add_option("--repo", args.dir, "repository directory (or $BKAGENT_REPO)")->envname("BKAGENT_REPO")->required();
	cmd->add_option("--passphrase-file", args.passphrase_file,
			"file whose first line is the passphrase (default: $BKAGENT_PASSPHRASE)");
}

std::string passphrase(const RepoArgs &args)
{
	if (!args.passphrase_file.empty()) {
		std::ifstream in(args.passphrase_file);
		std::string line;
		if (!std::getline(in, line))
			throw std::runtime_error("cannot read a passphrase from " + args.passphrase_file);
		return line;
	}
	const char *env = std::getenv("BKAGENT_PASSPHRASE");
	return env ? env : "";
}

grpc::StatusCode status_of(st::Errc code)
{
	switch (code) {
	case st::Errc::not_found: return grpc::StatusCode::NOT_FOUND;
	case st::Errc::bad_passphrase: return grpc::StatusCode::PERMISSION_DENIED;
	case st::Errc::locked:
	case st::Errc::unsupported_format: return grpc::StatusCode::FAILED_PRECONDITION;
	case st::Errc::invalid_argument: return grpc::StatusCode::INVALID_ARGUMENT;
	case st::Errc::corrupt: return grpc::StatusCode::DATA_LOSS;
	case st::Errc::io: break;
	}
	return grpc::StatusCode::INTERNAL;
}

st::Repository open_repo(const RepoArgs &args)
{
	const std::string pass = passphrase(args);
	try {
		return st::Repository::open(args.dir, pass);
	} catch (const st::Error &e) {
		if (e.code() == st::Errc::bad_passphrase && pass.empty())
			throw st::Error(e.code(), "the repository is encrypted: set BKAGENT_PASSPHRASE or --passphrase-file");
		throw;
	}
}

} // namespace bk::cli

// What every repository command shares: --repo/--passphrase-file and the S3 settings of
// an s3:// repository, the passphrase ($BKAGENT_PASSPHRASE or the file), opening the
// repository, and the mapping of storage errors onto the CLI's error path.
#pragma once

#include "cli/registry.h"

#include "bk/storage/error.hpp"
#include "bk/storage/repository.hpp"

#include <string>

namespace bk::cli {

struct RepoArgs {
	std::string dir; // a directory or s3://bucket/prefix
	std::string passphrase_file;
	bk::storage::StorageOptions storage;
};

void add_repo_options(CLI::App *cmd, RepoArgs &args);
std::string passphrase(const RepoArgs &args);
bk::storage::Repository open_repo(const RepoArgs &args);

grpc::StatusCode status_of(bk::storage::Errc code);

// Runs a command body; repository errors leave through the CLI's error path (message,
// --json error document, documented exit code) like the agent's own errors.
template <class Body> void guarded(Body &&body)
{
	try {
		body();
	} catch (const bk::storage::Error &e) {
		throw bk::client::CallError(grpc::Status(status_of(e.code()), e.what()));
	}
}

} // namespace bk::cli

#include "cli/repo_options.h"

#include <cstdlib>
#include <fstream>

namespace bk::cli {

namespace st = bk::storage;

void add_repo_options(CLI::App *cmd, RepoArgs &args)
{
	cmd->add_option("--repo", args.dir, "repository directory or s3://bucket/prefix (or $BKAGENT_REPO)")
		->envname("BKAGENT_REPO")
		->required();
	cmd->add_option("--passphrase-file", args.passphrase_file,
			"file whose first line is the passphrase (default: $BKAGENT_PASSPHRASE)");
	// Keys never on the command line: $AWS_ACCESS_KEY_ID/$AWS_SECRET_ACCESS_KEY or a file.
	st::S3Options &s3 = args.storage.s3;
	const char *group = "S3 (for an s3:// repository)";
	cmd->add_option("--s3-endpoint", s3.endpoint,
			"http(s)://host[:port] of the S3 service (or $BKAGENT_S3_ENDPOINT, or endpoint_url in the credentials file)")
		->envname("BKAGENT_S3_ENDPOINT")
		->group(group);
	cmd->add_option("--s3-credentials", s3.credentials_file,
			"AWS shared-credentials file (default: $AWS_ACCESS_KEY_ID, $AWS_SECRET_ACCESS_KEY, $AWS_REGION)")
		->envname("BKAGENT_S3_CREDENTIALS")
		->group(group);
	cmd->add_option("--s3-profile", s3.profile, "section of the credentials file (default: $AWS_PROFILE or default)")->group(group);
	cmd->add_option("--s3-region", s3.region, "signing region (default: $AWS_REGION or us-east-1)")->group(group);
	cmd->add_flag("--s3-virtual-host", s3.virtual_host, "address the bucket as bucket.host (default: host/bucket)")->group(group);
	cmd->add_option("--s3-ca-file", s3.ca_file, "CA bundle that verifies the endpoint's TLS certificate")->group(group);
	cmd->add_option("--s3-parallel", s3.parallel_uploads, "parts of one pack uploaded at once")
		->check(CLI::Range(1, 64))
		->capture_default_str()
		->group(group);
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
		return st::Repository::open(args.dir, pass, args.storage);
	} catch (const st::Error &e) {
		if (e.code() == st::Errc::bad_passphrase && pass.empty())
			throw st::Error(e.code(), "the repository is encrypted: set BKAGENT_PASSPHRASE or --passphrase-file");
		throw;
	}
}

} // namespace bk::cli

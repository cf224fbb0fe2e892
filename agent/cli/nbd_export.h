// A restore point as an nbdkit export (storage/nbd/ plugin): the checks that can be
// reported clearly (passphrase, point, listen target) and the nbdkit command line.
// `bkagent serve` execs it; `bkagent mount` runs it in the background on a private socket.
#pragma once

#include "cli/repo_options.h"

#include <string>
#include <vector>

namespace bk::cli {

struct ExportArgs {
	RepoArgs repo;
	std::string point;
	std::string listen; // unix:PATH or HOST:PORT; empty: /run/bkagent/point-ID.sock
	std::string tls_certificates, tls_psk;
	bool tls_verify_peer = false;
	bool writable = false;
	bool daemon = false;
	std::string pid_file;
	unsigned cache_mib = 64;
};

struct Export {
	bk::storage::PointInfo point;
	std::string uri;
	std::vector<std::string> argv; // nbdkit ...
};

[[noreturn]] void refuse(grpc::StatusCode code, const std::string &message);

// Opens the repository and the point, checks the listen target is free and builds the
// nbdkit command line. An encrypted repository's passphrase is in an inheritable memfd
// named on that command line, so nbdkit must be started by this process.
Export prepare_export(const ExportArgs &args);

} // namespace bk::cli

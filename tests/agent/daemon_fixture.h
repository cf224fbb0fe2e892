// Runs the real daemon (fake_bkagentd: bkagentd with the FakeKernel driver)
// as a child process with a private config, state and socket, and connects
// clients to it over the Unix socket or mutual TLS.
#pragma once

#include "client/client.h"
#include "fake_kernel.h"
#include "temp_dir.h"

#include <bkagent/v1/bkagent.grpc.pb.h>

#include <memory>
#include <string>

#include <sys/types.h>

namespace bk::test {

// A CA, server and client certificates made with the openssl CLI, plus a
// client certificate from an unrelated CA.
struct Certs {
	std::string ca, server_cert, server_key, client_cert, client_key, rogue_cert, rogue_key, token_file;
	static Certs make(const std::string &dir);
};

struct DaemonOptions {
	bool tcp = false;
	int lease_min_seconds = 1;
	int lease_default_seconds = 60;
	int max_parallel_reads = 8;
	int wire_zstd_level = 1;
	bool reflection = false;
};

class Daemon {
public:
	explicit Daemon(DaemonOptions options = {});
	~Daemon();
	Daemon(const Daemon &) = delete;
	Daemon &operator=(const Daemon &) = delete;

	void start(); // waits until it answers
	void stop();  // SIGTERM, expects exit status 0
	void kill9(); // SIGKILL
	bool running() const { return pid_ > 0; }

	FakeKernel &kernel() { return kernel_; }
	const TempDir &dir() const { return dir_; }
	const Certs &certs() const { return certs_; }
	std::string socket() const { return dir_ / "bkagentd.sock"; }
	std::string config_file() const { return dir_ / "bkagentd.conf"; }
	std::string hooks_dir() const { return dir_ / "hooks"; }
	int tcp_port() const { return tcp_port_; }
	std::string token() const;

	std::unique_ptr<bkagent::v1::Agent::Stub> unix_client() const;
	client::Target tls_target() const; // right certificate and token
	std::unique_ptr<bkagent::v1::Agent::Stub> client(const client::Target &t) const;

private:
	DaemonOptions options_;
	TempDir dir_;
	FakeKernel kernel_;
	Certs certs_;
	pid_t pid_ = -1;
	int tcp_port_ = 0;
};

// A context with a 30 s deadline.
std::unique_ptr<grpc::ClientContext> ctx(int seconds = 30);

// The reason name in both places the API promises it (trailer and
// details); fails the test if they disagree.
std::string reason_of(const grpc::ClientContext &context, const grpc::Status &status);

} // namespace bk::test

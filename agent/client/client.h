// Connecting to bkagentd and reading its error reasons: shared by the CLI,
// tests and backup-server code (e.g. `bkagent backup --agent HOST:PORT`).
#pragma once

#include <bkagent/v1/bkagent.grpc.pb.h>
#include <grpcpp/grpcpp.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

namespace bk::client {

inline constexpr const char *default_socket = "/run/bkagent/bkagentd.sock";

// Where and how to reach an agent. `address` is "unix:/path" for the local
// socket, otherwise "host:port" over mutual TLS with a bearer token.
struct Target {
	std::string address = std::string("unix:") + default_socket;
	std::string ca_file;   // CA of the agent's server certificate
	std::string cert_file; // client certificate (PEM)
	std::string key_file;  // client key (PEM)
	std::string token;     // bearer token
	std::string server_name; // TLS name to verify when it differs from host
};

std::shared_ptr<grpc::Channel> connect(const Target &target);

// A failed call: the gRPC status and the agent's reason name.
class CallError : public std::runtime_error {
public:
	explicit CallError(const grpc::Status &status);
	grpc::StatusCode code() const { return code_; }
	const std::string &reason() const { return reason_; }
	const std::map<std::string, std::string> &metadata() const { return metadata_; }

private:
	grpc::StatusCode code_;
	std::string reason_;
	std::map<std::string, std::string> metadata_;
};

// Throws CallError unless `status` is OK.
void check(const grpc::Status &status);

// The reason ("CBT_RESET", ...) in a status's details, or "".
std::string reason_of(const grpc::Status &status);

// True for the reasons that mean "read the whole device".
bool full_read_needed(const std::string &reason);

const char *code_name(grpc::StatusCode code);

// Throws std::runtime_error when a streamed chunk's data does not match its
// length or its CRC-32C: damage between the agent's read and here must never
// reach a copy.
void check_chunk(const bkagent::v1::DataChunk &chunk);

} // namespace bk::client

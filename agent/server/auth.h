// Who may call: root (configurable uids) over the Unix socket, identified
// by SO_PEERCRED at accept time; over TCP, an mTLS client (enforced by the
// TLS handshake) that also presents the bearer token.
#pragma once

#include <grpcpp/server_context.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bk::agent {

// Unix-socket connections (gRPC names their peer "fd:<n>") and the uid
// their peer had when it connected.
class UnixPeers {
public:
	void set(int fd, std::uint32_t uid);
	std::optional<std::uint32_t> uid(int fd) const;

private:
	mutable std::mutex mutex_;
	std::map<int, std::uint32_t> uids_;
};

class Authenticator {
public:
	Authenticator(const UnixPeers &peers, std::vector<std::uint32_t> allowed_uids, std::string bearer_token)
	    : peers_(peers), allowed_uids_(std::move(allowed_uids)), token_(std::move(bearer_token))
	{
	}
	// nullopt when the caller may proceed; otherwise why not.
	std::optional<std::string> deny_reason(const grpc::ServerContext &ctx) const;

private:
	const UnixPeers &peers_;
	std::vector<std::uint32_t> allowed_uids_;
	std::string token_;
};

} // namespace bk::agent

// Accepts local clients on the Unix socket, records their credentials
// (SO_PEERCRED) and hands each connection to the gRPC server.
#pragma once

#include "bk/util/unique_fd.h"
#include "server/auth.h"

#include <grpcpp/server.h>

#include <string>
#include <thread>

namespace bk::agent {

class UnixListener {
public:
	// Binds `path` (mode 0666: the uid check is the gate, so that other
	// users get a clear UNAUTHENTICATED instead of a refused connection).
	UnixListener(const std::string &path, UnixPeers &peers);
	~UnixListener();
	UnixListener(const UnixListener &) = delete;
	UnixListener &operator=(const UnixListener &) = delete;

	void start(grpc::Server &server);
	void stop();

private:
	void loop(grpc::Server &server);

	std::string path_;
	UnixPeers &peers_;
	util::UniqueFd listen_fd_;
	util::UniqueFd stop_fd_;
	std::thread thread_;
};

} // namespace bk::agent

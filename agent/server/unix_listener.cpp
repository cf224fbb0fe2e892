#include "server/unix_listener.h"

#include <grpcpp/server_posix.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

namespace bk::agent {

UnixListener::UnixListener(const std::string &path, UnixPeers &peers) : path_(path), peers_(peers), stop_fd_(::eventfd(0, EFD_CLOEXEC))
{
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	if (path.size() >= sizeof addr.sun_path)
		throw std::runtime_error("unix socket path too long: " + path);
	std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
	listen_fd_ = util::UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
	::unlink(path.c_str());
	if (!listen_fd_ || ::bind(listen_fd_.get(), reinterpret_cast<sockaddr *>(&addr), sizeof addr) < 0 ||
	    ::chmod(path.c_str(), 0666) < 0 || ::listen(listen_fd_.get(), 64) < 0)
		throw std::runtime_error("cannot listen on " + path + ": " + std::strerror(errno));
}

UnixListener::~UnixListener()
{
	stop();
	::unlink(path_.c_str());
}

void UnixListener::start(grpc::Server &server)
{
	thread_ = std::thread([this, &server] { loop(server); });
}

void UnixListener::stop()
{
	if (!thread_.joinable())
		return;
	const std::uint64_t one = 1;
	if (::write(stop_fd_.get(), &one, sizeof one) < 0)
		spdlog::error("unix listener: cannot signal stop");
	thread_.join();
}

void UnixListener::loop(grpc::Server &server)
{
	for (;;) {
		pollfd fds[2] = {{listen_fd_.get(), POLLIN, 0}, {stop_fd_.get(), POLLIN, 0}};
		if (::poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			spdlog::error("unix listener: poll: {}", std::strerror(errno));
			return;
		}
		if (fds[1].revents)
			return;
		const int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			continue;
		ucred cred{};
		socklen_t len = sizeof cred;
		if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			::close(fd);
			continue;
		}
		// Recorded before gRPC sees the fd: no call can race the entry.
		peers_.set(fd, cred.uid);
		grpc::AddInsecureChannelFromFd(&server, fd);
	}
}

} // namespace bk::agent

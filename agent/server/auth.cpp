#include "server/auth.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <charconv>

namespace bk::agent {

void UnixPeers::set(int fd, std::uint32_t uid)
{
	std::lock_guard lock(mutex_);
	uids_[fd] = uid;
}

std::optional<std::uint32_t> UnixPeers::uid(int fd) const
{
	std::lock_guard lock(mutex_);
	auto it = uids_.find(fd);
	if (it == uids_.end())
		return std::nullopt;
	return it->second;
}

std::optional<std::string> Authenticator::deny_reason(const grpc::ServerContext &ctx) const
{
	const std::string peer = ctx.peer();
	if (peer.starts_with("fd:")) {
		int fd = -1;
		std::from_chars(peer.data() + 3, peer.data() + peer.size(), fd);
		const auto uid = peers_.uid(fd);
		if (!uid)
			return "unknown local peer";
		if (std::find(allowed_uids_.begin(), allowed_uids_.end(), *uid) == allowed_uids_.end())
			return "uid " + std::to_string(*uid) + " may not use the agent (root only)";
		return std::nullopt;
	}
	// TCP: the handshake already required a verified client certificate.
	const auto auth = ctx.auth_context();
	if (!auth || !auth->IsPeerAuthenticated())
		return "no verified client certificate";
	if (token_.empty())
		return "no bearer token configured";
	const auto &md = ctx.client_metadata();
	const auto it = md.find("authorization");
	const std::string expected = "Bearer " + token_;
	if (it == md.end() || it->second.size() != expected.size() ||
	    CRYPTO_memcmp(it->second.data(), expected.data(), expected.size()) != 0)
		return "missing or wrong bearer token";
	return std::nullopt;
}

} // namespace bk::agent

#include "cli/nbd_export.h"

#include "bk/storage/location.hpp"

#include <netdb.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>

namespace bk::cli {

void refuse(grpc::StatusCode code, const std::string &message) { throw bk::client::CallError(grpc::Status(code, message)); }

namespace {

namespace fs = std::filesystem;

// Where the export listens: a Unix socket path, or a TCP host and port.
struct Listen {
	std::string socket;
	std::string host, port;

	std::string uri(bool tls) const
	{
		const std::string scheme = tls ? "nbds" : "nbd";
		if (!socket.empty())
			return scheme + "+unix:///?socket=" + socket;
		const bool v6 = host.find(':') != std::string::npos;
		return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + port + "/";
	}
};

Listen parse_listen(const std::string &text)
{
	Listen l;
	if (text.starts_with("unix:")) {
		l.socket = fs::absolute(text.substr(5)).string();
		return l;
	}
	const auto colon = text.rfind(':');
	if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "--listen takes unix:PATH or HOST:PORT, not " + text);
	l.host = text.substr(0, colon);
	l.port = text.substr(colon + 1);
	if (l.host.front() == '[' && l.host.back() == ']')
		l.host = l.host.substr(1, l.host.size() - 2);
	return l;
}

// Whether a process accepts connections on the Unix socket `path`; a socket nobody
// listens on refuses them. Any other failure counts as listening: the path is left alone.
bool listened_on(const std::string &path)
{
	sockaddr_un addr{};
	addr.sun_family = AF_UNIX;
	if (path.size() >= sizeof addr.sun_path)
		return true;
	path.copy(addr.sun_path, path.size());
	const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	const bool refused = ::connect(fd, reinterpret_cast<const sockaddr *>(&addr), sizeof addr) != 0 && errno == ECONNREFUSED;
	::close(fd);
	return !refused;
}

// A listen target in use is refused here, before anything starts: a socket path where
// something listens or that is not a socket, a port in use. A socket nobody listens on
// is one an export left when it stopped (nbdkit does not remove it): serving the point
// again at the same place, which a --writable-overlay names, replaces it.
void check_free(const Listen &l)
{
	if (!l.socket.empty()) {
		std::error_code ec;
		const fs::file_type type = fs::symlink_status(l.socket, ec).type();
		if (type == fs::file_type::socket && !listened_on(l.socket))
			fs::remove(l.socket);
		else if (type != fs::file_type::not_found)
			refuse(grpc::StatusCode::ALREADY_EXISTS, l.socket + " already exists");
		return;
	}
	addrinfo hints{};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	addrinfo *found = nullptr;
	if (const int rc = ::getaddrinfo(l.host.c_str(), l.port.c_str(), &hints, &found); rc != 0)
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "--listen " + l.host + ":" + l.port + ": " + ::gai_strerror(rc));
	std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> owned(found, ::freeaddrinfo);
	for (const addrinfo *a = found; a; a = a->ai_next) {
		const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd < 0)
			continue;
		const int on = 1;
		(void)::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on); // as nbdkit does
		const bool in_use = ::bind(fd, a->ai_addr, a->ai_addrlen) != 0 && errno == EADDRINUSE;
		::close(fd);
		if (in_use)
			refuse(grpc::StatusCode::ALREADY_EXISTS, l.host + ":" + l.port + " is already in use");
	}
}

// BKAGENT_NBDKIT_PLUGIN (the build tree), else beside the binary, else nbdkit's plugin
// directory where `make install` puts it.
std::string plugin_path()
{
	if (const char *env = std::getenv("BKAGENT_NBDKIT_PLUGIN"))
		return env;
	std::error_code ec;
	const fs::path beside = fs::read_symlink("/proc/self/exe", ec).parent_path() / "nbdkit-bkagent-plugin.so";
	if (!ec && fs::exists(beside, ec))
		return beside;
	if (!fs::exists(BK_NBDKIT_PLUGIN, ec))
		refuse(grpc::StatusCode::FAILED_PRECONDITION,
		       std::string("the nbdkit plugin is not installed at ") + BK_NBDKIT_PLUGIN + " (set BKAGENT_NBDKIT_PLUGIN)");
	return BK_NBDKIT_PLUGIN;
}

// An anonymous file holding the passphrase, inherited by nbdkit: the plugin reads and
// closes it, so the passphrase is in no argv, environment or named file.
int passphrase_fd(const std::string &pass)
{
	const int fd = ::memfd_create("bkagent-passphrase", 0);
	if (fd < 0 || ::write(fd, pass.data(), pass.size()) != static_cast<ssize_t>(pass.size()) || ::lseek(fd, 0, SEEK_SET) != 0)
		throw std::runtime_error(std::string("passphrase memfd: ") + std::strerror(errno));
	return fd;
}

} // namespace

Export prepare_export(const ExportArgs &args)
{
	const bool tls = !args.tls_certificates.empty() || !args.tls_psk.empty();
	// The nbdkit plugin opens the repository by path; S3 settings do not reach it.
	if (bk::storage::is_s3_location(args.repo.dir))
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "an NBD export needs a local repository, not " + args.repo.dir);
	const std::string pass = passphrase(args.repo);
	bk::storage::Repository repo = open_repo(args.repo);
	Export e{repo.point(args.point), {}, {}};
	const std::string plugin = plugin_path();
	std::string listen_text = args.listen;
	if (listen_text.empty()) {
		fs::create_directories("/run/bkagent");
		listen_text = "unix:/run/bkagent/point-" + e.point.id + ".sock";
	}
	const Listen listen = parse_listen(listen_text);
	check_free(listen);
	e.uri = listen.uri(tls);

	std::vector<std::string> &argv = e.argv;
	argv = {"nbdkit"};
	if (!args.daemon)
		argv.emplace_back("-f");
	if (!args.pid_file.empty())
		argv.push_back("--pidfile=" + fs::absolute(args.pid_file).string());
	if (!listen.socket.empty())
		argv.insert(argv.end(), {"-U", listen.socket});
	else
		argv.insert(argv.end(), {"-i", listen.host, "-p", listen.port});
	if (tls) {
		argv.emplace_back("--tls=require");
		if (!args.tls_certificates.empty())
			argv.push_back("--tls-certificates=" + fs::absolute(args.tls_certificates).string());
		if (!args.tls_psk.empty())
			argv.push_back("--tls-psk=" + fs::absolute(args.tls_psk).string());
		if (args.tls_verify_peer)
			argv.emplace_back("--tls-verify-peer");
	}
	if (args.writable)
		argv.emplace_back("--filter=cow"); // writes go to nbdkit's temporary overlay
	else
		argv.emplace_back("-r");
	argv.insert(argv.end(), {plugin, "repo=" + fs::absolute(args.repo.dir).string(), "point=" + e.point.id,
				 "cache=" + std::to_string(args.cache_mib) + "M"});
	if (repo.encrypted())
		argv.push_back("passphrase-fd=" + std::to_string(passphrase_fd(pass)));
	return e;
}

} // namespace bk::cli

// bkagent serve POINT: a restore point as a read-only NBD export. The command checks
// everything it can report clearly (passphrase, point, listen target), then execs nbdkit
// with the bkagent plugin (storage/nbd/), which reads the point through PointReader.
// The passphrase reaches the plugin through an inherited memfd, never argv or environ.
#include "cli/output.h"
#include "cli/registry.h"
#include "cli/repo_options.h"

#include <netdb.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>

namespace {

namespace fs = std::filesystem;
namespace st = bk::storage;
using namespace bk::cli;

struct ServeArgs {
	RepoArgs repo;
	std::string point;
	std::string listen;
	std::string tls_certificates, tls_psk;
	bool tls_verify_peer = false;
	bool writable = false;
	std::string overlay;
	bool daemon = false;
	std::string pid_file;
	unsigned cache_mib = 64;
};

[[noreturn]] void refuse(grpc::StatusCode code, const std::string &message) { throw bk::client::CallError(grpc::Status(code, message)); }

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

// A listen target that already exists is refused here, before anything starts: an
// existing socket path (another export, or a stale one to remove by hand), a port in use.
void check_free(const Listen &l)
{
	if (!l.socket.empty()) {
		std::error_code ec;
		if (fs::symlink_status(l.socket, ec).type() != fs::file_type::not_found)
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

// A qcow2 file whose backing file is the export: a VM opens it read-write, its writes
// stay in the file and the repository is never written.
void create_overlay(const std::string &file, const std::string &uri, std::uint64_t size)
{
	std::error_code ec;
	if (fs::symlink_status(file, ec).type() != fs::file_type::not_found)
		refuse(grpc::StatusCode::ALREADY_EXISTS, file + " already exists");
	// -u: the export is not up yet, so qemu-img must not open the backing file.
	const std::string cmd = "qemu-img create -q -f qcow2 -u -F raw -b '" + uri + "' '" + file + "' " + std::to_string(size);
	if (std::system(cmd.c_str()) != 0)
		throw std::runtime_error("qemu-img could not create the overlay " + file);
}

void serve(Context &ctx, const ServeArgs &args)
{
	const bool tls = !args.tls_certificates.empty() || !args.tls_psk.empty();
	if (!args.overlay.empty() && tls)
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "--writable-overlay needs an export without TLS");
	// The nbdkit plugin opens the repository by path; S3 settings do not reach it.
	if (st::is_s3_location(args.repo.dir))
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "serve needs a local repository, not " + args.repo.dir);
	const std::string pass = passphrase(args.repo);
	st::Repository repo = open_repo(args.repo);
	const st::PointInfo point = repo.point(args.point);
	const std::string plugin = plugin_path();
	std::string listen_text = args.listen;
	if (listen_text.empty()) {
		fs::create_directories("/run/bkagent");
		listen_text = "unix:/run/bkagent/point-" + point.id + ".sock";
	}
	const Listen listen = parse_listen(listen_text);
	check_free(listen);
	const std::string uri = listen.uri(tls);

	std::vector<std::string> argv = {"nbdkit"};
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
	argv.insert(argv.end(), {plugin, "repo=" + fs::absolute(args.repo.dir).string(), "point=" + point.id,
				 "cache=" + std::to_string(args.cache_mib) + "M"});
	if (repo.encrypted())
		argv.push_back("passphrase-fd=" + std::to_string(passphrase_fd(pass)));
	if (!args.overlay.empty())
		create_overlay(args.overlay, uri, point.size);

	nlohmann::json j = {{"point", point.id}, {"device", point.device}, {"size", point.size}, {"uri", uri}, {"writable", args.writable}};
	std::string text = "serving " + point.id + " (" + point.device + ", " + human_bytes(point.size) + ")" +
			   (args.writable ? " writable (changes are discarded)" : " read-only") + " at\n" + uri + "\n";
	if (!args.overlay.empty()) {
		j["overlay"] = fs::absolute(args.overlay).string();
		text += "qcow2 overlay: " + args.overlay + "\n";
	}
	ctx.print(j, text);
	std::cout.flush();

	::unsetenv("BKAGENT_PASSPHRASE");
	std::vector<char *> cargv;
	cargv.reserve(argv.size() + 1);
	for (std::string &a : argv)
		cargv.push_back(a.data());
	cargv.push_back(nullptr);
	::execvp("nbdkit", cargv.data());
	throw std::runtime_error(std::string("cannot run nbdkit: ") + std::strerror(errno));
}

void setup(CLI::App &app, Context &ctx)
{
	auto args = std::make_shared<ServeArgs>();
	auto *cmd = app.add_subcommand("serve", "Serve a restore point as a read-only NBD export (nbdkit)");
	cmd->footer(R"(
Opens POINT (an id or unique prefix) without restoring it and serves its device
image over NBD through nbdkit: reads are decrypted and decompressed on demand
(with a bounded chunk cache), zero chunks are reported as holes (block status
base:allocation) so clients skip them, and any number of clients may read at
once. A chunk that fails authentication fails that read with EIO; the rest of
the image stays readable. The repository is never written, and prune waits
(fails with "locked") while a point is served.

The NBD URI is printed first (--json: {"uri", ...}). By default nbdkit runs in
the foreground until interrupted; --daemon detaches it, and the --pid-file
appears once the export accepts connections. The default listen socket is
/run/bkagent/point-ID.sock. A socket path or port that already exists or is in
use is refused (exit 7). On SIGTERM (or Ctrl-C) nbdkit stops accepting and exits
when its last client has disconnected.

Writes: --writable puts nbdkit's cow filter in front (clients may write; the
writes are kept in a temporary file and discarded when nbdkit exits).
--writable-overlay FILE creates a qcow2 FILE backed by the export: a VM opens
FILE read-write, its writes persist in FILE, and FILE can be reused as long as
the same point is served at the same URI.

Examples:
  bkagent serve 3fa2 --repo /backup/repo
  nbdcopy 'nbd+unix:///?socket=/run/bkagent/point-3fa2c0de11aa7b90.sock' disk.img
  bkagent serve 3fa2 --repo /backup/repo --listen 0.0.0.0:10809 --tls-psk /etc/bk/psk
  bkagent serve 3fa2 --repo /backup/repo --listen unix:/run/vm1.sock \
          --writable-overlay /var/lib/vm1/boot.qcow2 --daemon --pid-file /run/vm1.pid
  qemu-system-x86_64 -drive file=/var/lib/vm1/boot.qcow2,format=qcow2 ...)");
	add_repo_options(cmd, args->repo);
	cmd->add_option("point", args->point, "restore point id or unique prefix")->required();
	cmd->add_option("--listen", args->listen, "unix:PATH or HOST:PORT (default unix:/run/bkagent/point-ID.sock)");
	cmd->add_option("--tls-certificates", args->tls_certificates,
			"directory with ca-cert.pem, server-cert.pem, server-key.pem (TLS required)")
		->group("TLS");
	cmd->add_option("--tls-psk", args->tls_psk, "nbdkit PSK file, lines USERNAME:HEXKEY (TLS required)")->group("TLS");
	cmd->add_flag("--tls-verify-peer", args->tls_verify_peer, "require client certificates")->group("TLS");
	auto *writable = cmd->add_flag("--writable", args->writable, "accept writes into a discarded overlay");
	cmd->add_option("--writable-overlay", args->overlay, "create a qcow2 overlay FILE backed by the export")->excludes(writable);
	cmd->add_flag("--daemon", args->daemon, "run nbdkit in the background");
	cmd->add_option("--pid-file", args->pid_file, "written when the export is ready");
	cmd->add_option("--cache-mib", args->cache_mib, "chunk cache size in MiB")->capture_default_str();
	cmd->callback([&ctx, args] { guarded([&] { serve(ctx, *args); }); });
}

} // namespace

BK_CLI_COMMAND(setup)

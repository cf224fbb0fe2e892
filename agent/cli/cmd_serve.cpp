// bkagent serve POINT: a restore point as a read-only NBD export. The command checks
// everything it can report clearly (passphrase, point, listen target), then execs nbdkit
// with the bkagent plugin (storage/nbd/), which reads the point through PointReader.
// The passphrase reaches the plugin through an inherited memfd, never argv or environ.
#include "cli/nbd_export.h"
#include "cli/output.h"
#include "cli/process.h"
#include "cli/registry.h"

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
	ExportArgs exp;
	std::string overlay;
};

// A qcow2 file whose backing file is the export: a VM opens it read-write, its writes
// stay in the file and the repository is never written.
void create_overlay(const std::string &file, const std::string &uri, std::uint64_t size)
{
	std::error_code ec;
	if (fs::symlink_status(file, ec).type() != fs::file_type::not_found)
		refuse(grpc::StatusCode::ALREADY_EXISTS, file + " already exists");
	// -u: the export is not up yet, so qemu-img must not open the backing file.
	// argv, not a shell: the file name may hold any character.
	if (run({"qemu-img", "create", "-q", "-f", "qcow2", "-u", "-F", "raw", "-b", uri, file, std::to_string(size)}).status != 0)
		throw std::runtime_error("qemu-img could not create the overlay " + file);
}

void serve(Context &ctx, const ServeArgs &args)
{
	if (!args.overlay.empty() && (!args.exp.tls_certificates.empty() || !args.exp.tls_psk.empty()))
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "--writable-overlay needs an export without TLS");
	Export e = prepare_export(args.exp);
	const st::PointInfo &point = e.point;
	if (!args.overlay.empty())
		create_overlay(args.overlay, e.uri, point.size);

	nlohmann::json j = {
		{"point", point.id}, {"device", point.device}, {"size", point.size}, {"uri", e.uri}, {"writable", args.exp.writable}};
	std::string text = "serving " + point.id + " (" + point.device + ", " + human_bytes(point.size) + ")" +
			   (args.exp.writable ? " writable (changes are discarded)" : " read-only") + " at\n" + e.uri + "\n";
	if (!args.overlay.empty()) {
		j["overlay"] = fs::absolute(args.overlay).string();
		text += "qcow2 overlay: " + args.overlay + "\n";
	}
	ctx.print(j, text);
	std::cout.flush();

	::unsetenv("BKAGENT_PASSPHRASE");
	std::vector<char *> cargv;
	cargv.reserve(e.argv.size() + 1);
	for (std::string &a : e.argv)
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
/run/bkagent/point-ID.sock. A socket path where something listens, any other
file there, or a port in use is refused (exit 7); a socket a stopped export left
behind is replaced. On SIGTERM (or Ctrl-C) nbdkit stops accepting and exits
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
	add_repo_options(cmd, args->exp.repo);
	cmd->add_option("point", args->exp.point, "restore point id or unique prefix")->required();
	cmd->add_option("--listen", args->exp.listen, "unix:PATH or HOST:PORT (default unix:/run/bkagent/point-ID.sock)");
	cmd->add_option("--tls-certificates", args->exp.tls_certificates,
			"directory with ca-cert.pem, server-cert.pem, server-key.pem (TLS required)")
		->group("TLS");
	cmd->add_option("--tls-psk", args->exp.tls_psk, "nbdkit PSK file, lines USERNAME:HEXKEY (TLS required)")->group("TLS");
	cmd->add_flag("--tls-verify-peer", args->exp.tls_verify_peer, "require client certificates")->group("TLS");
	auto *writable = cmd->add_flag("--writable", args->exp.writable, "accept writes into a discarded overlay");
	cmd->add_option("--writable-overlay", args->overlay, "create a qcow2 overlay FILE backed by the export")->excludes(writable);
	cmd->add_flag("--daemon", args->exp.daemon, "run nbdkit in the background");
	cmd->add_option("--pid-file", args->exp.pid_file, "written when the export is ready");
	cmd->add_option("--cache-mib", args->exp.cache_mib, "chunk cache size in MiB")->capture_default_str();
	cmd->callback([&ctx, args] { guarded([&] { serve(ctx, *args); }); });
}

} // namespace

BK_CLI_COMMAND(setup)

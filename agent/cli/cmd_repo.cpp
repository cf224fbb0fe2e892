// bkagent init | backup | restore | points (ls) | verify | prune — the backup repository
// (storage/, docs/repository.md): option wiring over the backup library (agent/backup/).
#include "backup/backup.h"
#include "cli/meter.h"
#include "cli/nbd_export.h"
#include "cli/output.h"
#include "cli/point_mount.h"
#include "cli/process.h"
#include "cli/registry.h"
#include "cli/repo_options.h"

#include "bk/storage/error.hpp"
#include "bk/storage/repository.hpp"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>

namespace {

namespace fs = std::filesystem;
namespace st = bk::storage;
using namespace bk::cli;

std::string point_time(std::int64_t unix_seconds)
{
	google::protobuf::Timestamp t;
	t.set_seconds(unix_seconds);
	return time_text(t);
}

nlohmann::json to_json(const st::PointInfo &p)
{
	const st::BackupStats &s = p.stats;
	return {{"id", p.id},
		{"host", p.host.empty() ? nlohmann::json() : nlohmann::json(p.host)},
		{"device", p.device},
		{"time", point_time(p.time)},
		{"size", p.size},
		{"base", p.base},
		{"token", p.token},
		{"stats",
		 {{"bytes_read", s.bytes_read},
		  {"bytes_new", s.bytes_new},
		  {"bytes_dedup", s.bytes_dedup},
		  {"bytes_zero", s.bytes_zero},
		  {"bytes_stored", s.bytes_stored},
		  {"seconds", s.seconds}}}};
}

std::string host_text(const std::string &host) { return host.empty() ? "(none)" : host; }

// --host H selects one host's points; --host '' those written before host ids.
void add_host_filter(CLI::App *cmd, std::optional<std::string> &host, const std::string &what)
{
	cmd->add_option("--host", host, what + " ('': points without a host)")->check([](const std::string &h) {
		return h.empty() || st::valid_host_id(h) ? "" : "a host id is 1..64 of A-Z a-z 0-9 . _ -";
	});
}

// ------------------------------------------------------------------ backup

struct BackupArgs {
	RepoArgs repo;
	std::string host;
	std::vector<std::string> devices;
	std::int64_t lease = 0;
	std::string label;
	bool full = false;
	bool raw_wire = false;
};

void backup(Context &ctx, const BackupArgs &args)
{
	st::Repository repo = open_repo(args.repo);
	Meter meter(ctx.json);
	bk::backup::BackupOptions opts;
	opts.devices = args.devices;
	if (args.lease)
		opts.lease = std::chrono::seconds(args.lease);
	if (!args.label.empty())
		opts.label = args.label;
	opts.force_full = args.full;
	opts.host = args.host;
	opts.wire_zstd = !ctx.remote.empty() && !args.raw_wire;
	opts.progress = meter.sink();
	const bk::backup::BackupResult result = bk::backup::back_up(ctx.agent(), repo, opts);
	nlohmann::json points = nlohmann::json::array();
	std::string text;
	for (const bk::backup::DeviceResult &d : result.devices) {
		const st::BackupStats &s = d.point.stats;
		const double rate = s.seconds > 0 ? static_cast<double>(s.bytes_read + s.bytes_zero) / s.seconds : 0;
		text += d.device + ": point " + d.point.id + " of host " + d.point.host +
			(d.incremental() ? " (incremental from " + d.point.base + ")" : " (full: " + d.full_reason + ")") + "\n" +
			"  read " + human_bytes(s.bytes_read) + ", new " + human_bytes(s.bytes_new) + ", deduplicated " +
			human_bytes(s.bytes_dedup) + ", zero " + human_bytes(s.bytes_zero) + ", stored " + human_bytes(s.bytes_stored) +
			", " + std::to_string(s.seconds).substr(0, 5) + " s (" + human_bytes(static_cast<std::uint64_t>(rate)) + "/s)\n";
		nlohmann::json j = to_json(d.point);
		j["mode"] = d.incremental() ? "incremental" : "full";
		if (!d.incremental())
			j["full_reason"] = d.full_reason;
		points.push_back(std::move(j));
	}
	ctx.print({{"snapshot", result.snapshot_id}, {"points", points}}, text);
}

// ------------------------------------------------------------ other commands

void setup_backup(CLI::App &app, Context &ctx)
{
	auto args = std::make_shared<BackupArgs>();
	auto *cmd = app.add_subcommand("backup", "Back up devices into a repository (incremental by CBT)");
	cmd->footer(R"(
Takes one consistent snapshot of all DEVICEs, then per device stores a restore
point: incremental (only the chunks CBT reports changed since the device's last
point, found by the change token stored with it) or full when there is no earlier
point, the token is unknown to the agent or CBT was reset. The agent's baseline
advances only after the point is durable. With --agent HOST:PORT the devices of
a remote host are backed up (the backup-server role): give that host's --host.
The remote agent then compresses the chunks it sends with zstd (at its
wire_zstd_level) and the repository stores them as they came; --raw-wire turns
that off (a fast link and a busy agent host).

Points are stored under a host id (--host, $BKAGENT_HOST, default this machine's
/etc/machine-id, else its hostname): many hosts back up into one repository at
once, their chunks deduplicated together, and each host's incrementals and
retention see only its own points.

Examples:
  BKAGENT_PASSPHRASE=... bkagent backup /dev/vdb --repo /backup/repo
  bkagent backup /dev/vg/root /dev/vg/home --repo /backup/repo --passphrase-file /root/.bkpass
  bkagent --agent db1:7443 --ca ca.pem --cert me.pem --key me.key --token-file tok \
          backup /dev/sdb --repo /backup/db1)");
	add_repo_options(cmd, args->repo);
	cmd->add_option("--host", args->host, "host id of the points: 1..64 of A-Z a-z 0-9 . _ - (default: the machine id)")
		->envname("BKAGENT_HOST")
		->check([](const std::string &h) { return st::valid_host_id(h) ? "" : "a host id is 1..64 of A-Z a-z 0-9 . _ -"; });
	cmd->add_option("devices", args->devices, "tracked block devices")->required();
	cmd->add_flag("--full", args->full, "read every chunk even when an incremental is possible");
	cmd->add_flag("--raw-wire", args->raw_wire, "with --agent: do not ask the agent to compress the chunks it sends");
	add_duration(cmd, "--lease", args->lease, "snapshot lease, e.g. 2h (default: daemon's)");
	cmd->add_option("--label", args->label, "snapshot label shown by `bkagent snapshots`");
	cmd->callback([&ctx, args] { guarded([&] { backup(ctx, *args); }); });
}

void setup_init(CLI::App &app, Context &ctx)
{
	auto repo = std::make_shared<RepoArgs>();
	auto plain = std::make_shared<bool>(false);
	auto chunk = std::make_shared<std::uint32_t>(1u << 20);
	auto *cmd = app.add_subcommand("init", "Create an empty repository (encrypted unless --unencrypted)");
	cmd->footer(R"(
The passphrase (BKAGENT_PASSPHRASE or --passphrase-file) wraps the repository key
through scrypt; it cannot be recovered. See docs/repository.md.

Example:
  BKAGENT_PASSPHRASE=... bkagent init --repo /backup/repo)");
	add_repo_options(cmd, *repo);
	cmd->add_flag("--unencrypted", *plain, "store data unencrypted (still authenticated by keyed hashes)");
	cmd->add_option("--chunk-size", *chunk, "bytes, a power of two from 64 KiB to 64 MiB")->capture_default_str();
	cmd->callback([&ctx, repo, plain, chunk] {
		guarded([&] {
			st::InitOptions o;
			o.encrypted = !*plain;
			o.passphrase = passphrase(*repo);
			o.chunk_size = *chunk;
			st::Repository::init(repo->dir, o, repo->storage);
			ctx.print({{"repository", repo->dir}, {"encrypted", o.encrypted}, {"chunk_size", o.chunk_size}},
				  "created " + std::string(o.encrypted ? "encrypted" : "UNENCRYPTED") + " repository " + repo->dir + "\n");
		});
	});
}

void setup_points(CLI::App &app, Context &ctx)
{
	auto repo = std::make_shared<RepoArgs>();
	auto device = std::make_shared<std::string>();
	auto host = std::make_shared<std::optional<std::string>>();
	auto *cmd = app.add_subcommand("points", "List the restore points of a repository, oldest first");
	cmd->alias("ls");
	cmd->footer(R"(
Each point shows the host id it was stored under; (none) marks a point written
before host ids (a repository of format 1).)");
	add_repo_options(cmd, *repo);
	cmd->add_option("--device", *device, "only this device's points");
	add_host_filter(cmd, *host, "only this host's points");
	cmd->callback([&ctx, repo, device, host] {
		guarded([&] {
			nlohmann::json j = nlohmann::json::array();
			std::string text;
			for (const st::PointInfo &p : open_repo(*repo).points()) {
				if ((!device->empty() && p.device != *device) || (*host && p.host != **host))
					continue;
				j.push_back(to_json(p));
				text += p.id + "  " + point_time(p.time) + "  " + host_text(p.host) + "  " + p.device + "  " +
					human_bytes(p.size) + "  " + (p.base.empty() ? "full" : "incremental") + "  new " +
					human_bytes(p.stats.bytes_new) + "\n";
			}
			ctx.print(j, text.empty() ? "no restore points\n" : text);
		});
	});
}

struct RestoreArgs {
	RepoArgs repo;
	std::optional<std::string> host;
	std::string point, target;
	bool only_differences = false;
	std::vector<std::string> files;
	std::string to;
	int partition = -1;
};

void restore_image(Context &ctx, const RestoreArgs &args)
{
	st::Repository repo = open_repo(args.repo);
	const st::PointInfo p = repo.point(args.point, args.host);
	Meter meter(ctx.json);
	st::RestoreOptions o;
	o.only_differences = args.only_differences;
	o.progress = bk::backup::progress_fn(meter.sink(), args.target);
	const st::RestoreStats s = repo.restore(p.id, args.target, o);
	ctx.print({{"point", p.id},
		   {"target", args.target},
		   {"bytes_total", s.bytes_total},
		   {"bytes_written", s.bytes_written},
		   {"chunks_unchanged", s.chunks_unchanged},
		   {"seconds", s.seconds}},
		  "restored " + p.id + " (" + p.device + ", " + human_bytes(s.bytes_total) + ") to " + args.target + ": wrote " +
			  human_bytes(s.bytes_written) + ", " + std::to_string(s.chunks_unchanged) + " chunks already equal\n");
}

// A temporary directory, removed (once empty) on every path.
class TempDir {
public:
	explicit TempDir(const fs::path &parent)
	{
		fs::create_directories(parent);
		std::string name = (parent / "restore-XXXXXX").string();
		if (!::mkdtemp(name.data()))
			throw std::runtime_error("cannot create a directory under " + parent.string());
		path_ = name;
	}
	~TempDir()
	{
		std::error_code ec;
		fs::remove(path_, ec);
	}
	TempDir(const TempDir &) = delete;
	TempDir &operator=(const TempDir &) = delete;
	const std::string &path() const { return path_; }

private:
	std::string path_;
};

// Files out of a point: mounted in a temporary directory, copied by cp -a (owners,
// modes, timestamps, symlinks, hard links among the copied files, xattrs), unmounted.
void restore_files(Context &ctx, const RestoreArgs &args)
{
	std::vector<std::string> paths;
	for (const std::string &f : args.files) {
		const fs::path rel = fs::path(f).lexically_normal().relative_path();
		if (rel.empty() || *rel.begin() == "..")
			refuse(grpc::StatusCode::INVALID_ARGUMENT, "--files takes paths inside the point's filesystem, not " + f);
		paths.push_back(rel.string());
	}
	fs::create_directories(args.to);
	const std::string to = fs::canonical(args.to);
	const TempDir dir("/run/bkagent/mounts");
	const MountRecord m = mount_point({args.repo, args.point, dir.path(), args.partition, ""});
	struct Unmount {
		const MountRecord &m;
		~Unmount()
		{
			try {
				unmount_point(m);
			} catch (const std::exception &) { // ignored: the mount stays for `bkagent umount`
			}
		}
	} unmount{m};
	for (const std::string &p : paths) {
		std::error_code ec;
		if (fs::symlink_status(fs::path(m.dir) / p, ec).type() == fs::file_type::not_found)
			refuse(grpc::StatusCode::NOT_FOUND, p + " is not in point " + m.point);
	}
	std::vector<std::string> cp = {"cp", "-a", "--parents", "--"};
	cp.insert(cp.end(), paths.begin(), paths.end());
	cp.push_back(to);
	if (run(cp, {.capture = false, .quiet = false, .cwd = m.dir}).status != 0)
		throw std::runtime_error("cp could not copy every file out of point " + m.point);
	ctx.print({{"point", m.point}, {"files", paths}, {"to", to}},
		  "restored " + std::to_string(paths.size()) + " path(s) of point " + m.point + " into " + to + "\n");
}

void setup_restore(CLI::App &app, Context &ctx)
{
	auto args = std::make_shared<RestoreArgs>();
	auto *cmd = app.add_subcommand("restore", "Write a restore point to a file or block device, or copy files out of it");
	cmd->footer(R"(
POINT is a point id or a unique prefix (see `bkagent points`). A file target is
created or replaced (sparse); a block device target must be at least the size of
the point. --only-differences reads the target and writes only the chunks that
differ (fast re-sync of a disk that is almost up to date).

--files PATH... --to DIR copies files and directories out of the point's
filesystem instead: the point is mounted read-only in a temporary directory (as
`bkagent mount` does, same needs and refusals), each PATH (relative to the
filesystem's root) is copied with `cp -a --parents` into DIR (DIR/PATH) keeping
owners, modes, timestamps, symlinks, xattrs and the hard links among the copied
files, and the point is unmounted.

Examples:
  bkagent restore 3fa2 /dev/vdc --repo /backup/repo
  bkagent restore 3fa2c0de11aa7b90 /var/tmp/vdb.img --repo /backup/repo
  bkagent restore 3fa2 --files etc/fstab home/ann --to /tmp/back --repo /backup/repo)");
	add_repo_options(cmd, args->repo);
	add_host_filter(cmd, args->host, "POINT is among this host's points");
	cmd->add_option("point", args->point, "restore point id or unique prefix")->required();
	auto *target = cmd->add_option("target", args->target, "file or block device to write");
	auto *only = cmd->add_flag("--only-differences", args->only_differences, "write only chunks that differ on the target");
	auto *files = cmd->add_option("--files", args->files, "paths to copy out of the point's filesystem")->excludes(target, only);
	auto *to = cmd->add_option("--to", args->to, "directory the --files are copied into")->needs(files);
	files->needs(to);
	cmd->add_option("--partition", args->partition, "with --files: partition number; 0: the whole device")
		->check(CLI::NonNegativeNumber)
		->needs(files);
	cmd->callback([&ctx, args] {
		guarded([&] {
			if (!args->files.empty())
				restore_files(ctx, *args);
			else if (!args->target.empty())
				restore_image(ctx, *args);
			else
				refuse(grpc::StatusCode::INVALID_ARGUMENT, "restore needs a TARGET, or --files and --to");
		});
	});
}

void setup_verify(CLI::App &app, Context &ctx)
{
	auto repo = std::make_shared<RepoArgs>();
	auto sample = std::make_shared<double>(1.0);
	auto host = std::make_shared<std::optional<std::string>>();
	auto *cmd = app.add_subcommand("verify", "Re-read and authenticate the chunks of every restore point");
	cmd->footer(R"(
Checks every point and index segment, then reads back every chunk the points use
(or a random --sample fraction): decrypts, authenticates, decompresses and
re-hashes it. Exit status 1 when anything is wrong. With --host only that host's
points and the chunks they use.

Example:
  bkagent verify --repo /backup/repo --sample 0.05)");
	add_repo_options(cmd, *repo);
	cmd->add_option("--sample", *sample, "fraction of chunks to read, (0, 1]")->check(CLI::Range(0.0, 1.0));
	add_host_filter(cmd, *host, "only this host's points");
	cmd->callback([&ctx, repo, sample, host] {
		guarded([&] {
			st::Repository r = open_repo(*repo);
			Meter meter(ctx.json);
			st::VerifyOptions o;
			o.sample = *sample;
			o.host = *host;
			o.progress = bk::backup::progress_fn(meter.sink(), "verify");
			const st::VerifyReport v = r.verify(o);
			std::string text = "points " + std::to_string(v.points) + ", chunks checked " + std::to_string(v.chunks_checked) +
					   " of " + std::to_string(v.chunks_referenced) + " (" + human_bytes(v.bytes_checked) +
					   "), orphan packs " + std::to_string(v.orphan_packs) + ": " + (v.ok() ? "OK" : "DAMAGED") + "\n";
			for (const std::string &e : v.errors)
				text += "  " + e + "\n";
			ctx.print({{"ok", v.ok()},
				   {"points", v.points},
				   {"chunks_referenced", v.chunks_referenced},
				   {"chunks_checked", v.chunks_checked},
				   {"bytes_checked", v.bytes_checked},
				   {"orphan_packs", v.orphan_packs},
				   {"errors", v.errors}},
				  text);
			if (!v.ok())
				ctx.exit_code = exit_failure;
		});
	});
}

void setup_prune(CLI::App &app, Context &ctx)
{
	auto repo = std::make_shared<RepoArgs>();
	auto opt = std::make_shared<st::PruneOptions>();
	auto *cmd = app.add_subcommand("prune", "Delete restore points the keep policy drops; reclaim space");
	cmd->footer(R"(
Per host and device: --keep-last N keeps the N newest points; --keep-hourly/daily/
weekly/monthly N keep the newest point of each of the N newest UTC hours / days /
weeks (Monday start) / months that have points. A point is kept when any rule keeps
it. With --host only that host's points may go (--host '': the points without a
host). Then chunks no remaining point uses are deleted (packs mostly unused are
rewritten). Prune excludes backups and other prunes: while one runs it refuses
(exit 5, naming the lock's holder); run it again later.

Example:
  bkagent prune --repo /backup/repo --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12)");
	add_repo_options(cmd, *repo);
	add_host_filter(cmd, opt->host, "only this host's points may go");
	cmd->add_option("--keep-last", opt->keep.last, "newest points to keep");
	cmd->add_option("--keep-hourly", opt->keep.hourly, "hours to keep the newest point of");
	cmd->add_option("--keep-daily", opt->keep.daily, "days to keep the newest point of");
	cmd->add_option("--keep-weekly", opt->keep.weekly, "weeks to keep the newest point of");
	cmd->add_option("--keep-monthly", opt->keep.monthly, "months to keep the newest point of");
	cmd->add_flag("--dry-run", opt->dry_run, "only show what would be removed");
	cmd->callback([&ctx, repo, opt] {
		guarded([&] {
			const st::PruneReport r = open_repo(*repo).prune(*opt);
			std::string text = std::string(opt->dry_run ? "would remove " : "removed ") + std::to_string(r.removed.size()) +
					   " points, kept " + std::to_string(r.kept.size());
			if (!opt->dry_run)
				text += "; freed " + human_bytes(r.bytes_freed) + " (" + std::to_string(r.packs_deleted) +
					" packs deleted, " + std::to_string(r.packs_repacked) + " repacked)";
			text += "\n";
			for (const std::string &id : r.removed)
				text += "  - " + id + "\n";
			ctx.print({{"dry_run", opt->dry_run},
				   {"removed", r.removed},
				   {"kept", r.kept},
				   {"bytes_freed", r.bytes_freed},
				   {"packs_deleted", r.packs_deleted},
				   {"packs_repacked", r.packs_repacked}},
				  text);
		});
	});
}

void setup(CLI::App &app, Context &ctx)
{
	setup_init(app, ctx);
	setup_backup(app, ctx);
	setup_restore(app, ctx);
	setup_points(app, ctx);
	setup_verify(app, ctx);
	setup_prune(app, ctx);
}

} // namespace

BK_CLI_COMMAND(setup)

// bkagent init | backup | restore | points (ls) | verify | prune — the backup repository
// (storage/, docs/repository.md). `backup` drives the agent's API: snapshot, changed
// extents since the token stored with the device's last point, read, store, commit.
#include "cli/output.h"
#include "cli/registry.h"
#include "cli/repo_options.h"

#include "bk/cbt/token.h"
#include "bk/storage/error.hpp"
#include "bk/storage/repository.hpp"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>

namespace {

namespace v1 = bkagent::v1;
namespace st = bk::storage;
using namespace bk::cli;

constexpr int kStreamSeconds = 24 * 3600;

// Progress on stderr while attached to a terminal: bytes, throughput, ETA.
class Meter {
public:
	Meter(const Context &ctx, std::string label) : on_(!ctx.json && ::isatty(2)), label_(std::move(label)) {}
	~Meter()
	{
		if (shown_)
			std::cerr << '\n';
	}
	Meter(const Meter &) = delete;
	Meter &operator=(const Meter &) = delete;

	st::ProgressFn fn()
	{
		if (!on_)
			return {};
		return [this](const st::Progress &p) { show(p); };
	}

private:
	void show(const st::Progress &p)
	{
		const auto now = std::chrono::steady_clock::now();
		if (shown_ && now - last_ < std::chrono::milliseconds(250) && p.done != p.total)
			return;
		last_ = now;
		shown_ = true;
		const double secs = std::chrono::duration<double>(now - start_).count();
		const double rate = secs > 0 ? static_cast<double>(p.done) / secs : 0;
		std::string line = label_ + "  " + human_bytes(p.done);
		if (p.total > 0)
			line += " / " + human_bytes(p.total);
		line += "  " + human_bytes(static_cast<std::uint64_t>(rate)) + "/s";
		if (p.total > p.done && rate > 0)
			line += "  ETA " + std::to_string(static_cast<long>(static_cast<double>(p.total - p.done) / rate)) + "s";
		std::cerr << '\r' << line << "\033[K" << std::flush;
	}

	bool on_;
	bool shown_ = false;
	std::string label_;
	std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_;
};

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

// ------------------------------------------------------------------ backup

struct BackupArgs {
	RepoArgs repo;
	std::vector<std::string> devices;
	std::string lease, label;
	bool full = false;
};

// The snapshot of this run, released however the run ends.
class RunSnapshot {
public:
	RunSnapshot(Context &ctx, const BackupArgs &args) : ctx_(ctx)
	{
		v1::CreateSnapshotRequest req;
		for (const auto &d : args.devices)
			req.add_devices(d);
		if (!args.lease.empty())
			req.mutable_lease()->set_seconds(parse_duration(args.lease));
		req.set_label(args.label.empty() ? "bkagent backup" : args.label);
		bk::client::check(ctx.agent().CreateSnapshot(Context::call(300).get(), req, &snap_));
	}
	~RunSnapshot()
	{
		v1::ReleaseSnapshotRequest req;
		req.set_snapshot_id(snap_.id());
		v1::ReleaseSnapshotResponse resp;
		(void)ctx_.agent().ReleaseSnapshot(Context::call().get(), req, &resp);
	}
	RunSnapshot(const RunSnapshot &) = delete;
	RunSnapshot &operator=(const RunSnapshot &) = delete;
	const v1::Snapshot &get() const { return snap_; }

private:
	Context &ctx_;
	v1::Snapshot snap_;
};

std::vector<std::uint64_t> changed_chunks(Context &ctx, const std::string &snapshot, const std::string &device,
					  const std::string &since, std::uint32_t chunk_size)
{
	const auto token = bk::cbt::parse_token(since);
	if (!token)
		throw std::runtime_error("the repository holds a malformed change token: " + since);
	v1::GetChangedExtentsRequest req;
	req.set_snapshot_id(snapshot);
	req.set_device(device);
	req.mutable_since()->set_generation(reinterpret_cast<const char *>(token->generation.data()),
					    token->generation.size());
	req.mutable_since()->set_sequence(token->sequence);
	auto call = Context::call(600);
	auto reader = ctx.agent().GetChangedExtents(call.get(), req);
	std::vector<st::Extent> extents;
	v1::ChangedExtentsPage page;
	while (reader->Read(&page))
		for (const auto &e : page.extents())
			if (e.changed())
				extents.push_back({e.offset(), e.length()});
	bk::client::check(reader->Finish());
	return st::chunks_touched(extents, chunk_size);
}

// Cuts the agent's DataChunks, whatever their boundaries, into repository chunks.
class ChunkAssembler {
public:
	explicit ChunkAssembler(st::BackupWriter &writer) : w_(writer), cs_(writer.chunk_size()) {}

	void add(const v1::DataChunk &c)
	{
		bk::client::check_chunk(c);
		for (std::uint64_t pos = c.offset(), end = c.offset() + c.length(); pos < end;) {
			const std::uint64_t idx = pos / cs_, start = idx * cs_;
			const std::uint32_t len = w_.chunk_length(idx);
			const std::uint64_t stop = std::min<std::uint64_t>(end, start + len);
			if (c.zero() && pos == start && stop == start + len) {
				w_.put_zero(idx);
				pos = stop;
				continue;
			}
			Partial &p = partial_[idx];
			if (p.data.empty()) {
				p.data = w_.buffer();
				p.data.resize(len);
			}
			std::uint8_t *dst = p.data.data() + (pos - start);
			if (c.zero())
				std::memset(dst, 0, stop - pos);
			else
				std::memcpy(dst, c.data().data() + (pos - c.offset()), stop - pos);
			p.filled += stop - pos;
			if (p.filled == len) {
				w_.put(idx, std::move(p.data));
				partial_.erase(idx);
			}
			pos = stop;
		}
	}

	void finish() const
	{
		if (!partial_.empty())
			throw std::runtime_error("the agent's stream ended inside chunk " +
						 std::to_string(partial_.begin()->first));
	}

private:
	struct Partial {
		st::Bytes data;
		std::uint64_t filled = 0;
	};
	st::BackupWriter &w_;
	std::uint64_t cs_;
	std::map<std::uint64_t, Partial> partial_;
};

void read_chunks(Context &ctx, const std::string &snapshot, const std::string &device,
		 const std::vector<std::uint64_t> &chunks, std::uint64_t size, st::BackupWriter &writer)
{
	v1::Capabilities caps;
	bk::client::check(ctx.agent().GetCapabilities(Context::call().get(), {}, &caps));
	const std::uint32_t max_ranges = caps.max_ranges_per_read() ? caps.max_ranges_per_read() : 1024;
	const std::uint64_t cs = writer.chunk_size();
	std::uint32_t chunk_bytes = static_cast<std::uint32_t>(cs);
	if (caps.max_chunk_bytes() && caps.max_chunk_bytes() < chunk_bytes)
		chunk_bytes = caps.max_chunk_bytes();

	ChunkAssembler assembler(writer);
	for (std::size_t i = 0; i < chunks.size();) {
		v1::ReadExtentsRequest req;
		req.set_snapshot_id(snapshot);
		req.set_device(device);
		req.set_chunk_bytes(chunk_bytes);
		req.set_elide_zeroes(true);
		while (i < chunks.size() && static_cast<std::uint32_t>(req.ranges_size()) < max_ranges) {
			std::size_t j = i + 1; // a run of consecutive chunks is one range
			while (j < chunks.size() && chunks[j] == chunks[j - 1] + 1)
				++j;
			v1::Range *r = req.add_ranges();
			r->set_offset(chunks[i] * cs);
			r->set_length(std::min(size, chunks[j - 1] * cs + cs) - chunks[i] * cs);
			i = j;
		}
		auto call = Context::call(kStreamSeconds);
		auto reader = ctx.agent().ReadExtents(call.get(), req);
		v1::DataChunk chunk;
		while (reader->Read(&chunk))
			assembler.add(chunk);
		bk::client::check(reader->Finish());
	}
	assembler.finish();
}

std::optional<st::PointInfo> last_point(st::Repository &repo, const v1::SnapshotDevice &dev)
{
	std::optional<st::PointInfo> last;
	for (st::PointInfo &p : repo.points()) // oldest first
		if (p.device == dev.device() && p.size == dev.size_bytes() && !p.token.empty())
			last = std::move(p);
	return last;
}

nlohmann::json backup_device(Context &ctx, st::Repository &repo, const v1::Snapshot &snap,
			     const v1::SnapshotDevice &dev, bool force_full, std::string &text)
{
	const std::uint64_t cs = repo.chunk_size();
	std::optional<st::PointInfo> base = force_full ? std::nullopt : last_point(repo, dev);
	std::string why_full = force_full ? "--full" : base ? "" : "no earlier point";
	std::vector<std::uint64_t> chunks;
	if (base) {
		try {
			chunks = changed_chunks(ctx, snap.id(), dev.device(), base->token, repo.chunk_size());
		} catch (const bk::client::CallError &e) {
			if (!bk::client::full_read_needed(e.reason()))
				throw;
			why_full = e.reason();
			base.reset();
		}
	}
	if (!base)
		for (std::uint64_t i = 0; i * cs < dev.size_bytes(); ++i)
			chunks.push_back(i);

	st::BackupRequest req;
	req.device = dev.device();
	req.size = dev.size_bytes();
	req.base = base ? base->id : "";
	req.time = snap.created_at().seconds();
	req.nanos = static_cast<std::uint32_t>(snap.created_at().nanos());
	req.token = token_text(dev.token());
	for (std::uint64_t c : chunks)
		req.expected_bytes += std::min(cs, dev.size_bytes() - c * cs);
	Meter meter(ctx, dev.device());
	req.progress = meter.fn();
	st::BackupWriter writer = repo.begin_backup(req);
	read_chunks(ctx, snap.id(), dev.device(), chunks, dev.size_bytes(), writer);
	const st::PointInfo point = writer.commit();

	// The point is durable: only now may the agent advance the device's baseline.
	v1::CommitBackupRequest commit;
	commit.set_snapshot_id(snap.id());
	commit.set_device(dev.device());
	v1::CommitBackupResponse committed;
	bk::client::check(ctx.agent().CommitBackup(Context::call().get(), commit, &committed));

	const st::BackupStats &s = point.stats;
	const double rate = s.seconds > 0 ? static_cast<double>(s.bytes_read + s.bytes_zero) / s.seconds : 0;
	text += dev.device() + ": point " + point.id + (base ? " (incremental from " + base->id + ")" :
				" (full: " + why_full + ")") + "\n" +
		"  read " + human_bytes(s.bytes_read) + ", new " + human_bytes(s.bytes_new) + ", deduplicated " +
		human_bytes(s.bytes_dedup) + ", zero " + human_bytes(s.bytes_zero) + ", stored " +
		human_bytes(s.bytes_stored) + ", " + std::to_string(s.seconds).substr(0, 5) + " s (" +
		human_bytes(static_cast<std::uint64_t>(rate)) + "/s)\n";
	nlohmann::json j = to_json(point);
	j["mode"] = base ? "incremental" : "full";
	if (!base)
		j["full_reason"] = why_full;
	return j;
}

void backup(Context &ctx, const BackupArgs &args)
{
	st::Repository repo = open_repo(args.repo);
	RunSnapshot snap(ctx, args);
	nlohmann::json points = nlohmann::json::array();
	std::string text;
	for (const v1::SnapshotDevice &dev : snap.get().devices())
		points.push_back(backup_device(ctx, repo, snap.get(), dev, args.full, text));
	ctx.print({{"snapshot", snap.get().id()}, {"points", points}}, text);
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
a remote host are backed up (the backup-server role).

Examples:
  BKAGENT_PASSPHRASE=... bkagent backup /dev/vdb --repo /backup/repo
  bkagent backup /dev/vg/root /dev/vg/home --repo /backup/repo --passphrase-file /root/.bkpass
  bkagent --agent db1:7443 --ca ca.pem --cert me.pem --key me.key --token-file tok \
          backup /dev/sdb --repo /backup/db1)");
	add_repo_options(cmd, args->repo);
	cmd->add_option("devices", args->devices, "tracked block devices")->required();
	cmd->add_flag("--full", args->full, "read every chunk even when an incremental is possible");
	cmd->add_option("--lease", args->lease, "snapshot lease, e.g. 2h (default: daemon's)");
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
			st::Repository::init(repo->dir, o);
			ctx.print({{"repository", repo->dir}, {"encrypted", o.encrypted}, {"chunk_size", o.chunk_size}},
				  "created " + std::string(o.encrypted ? "encrypted" : "UNENCRYPTED") + " repository " +
					  repo->dir + "\n");
		});
	});
}

void setup_points(CLI::App &app, Context &ctx)
{
	auto repo = std::make_shared<RepoArgs>();
	auto device = std::make_shared<std::string>();
	auto *cmd = app.add_subcommand("points", "List the restore points of a repository, oldest first");
	cmd->alias("ls");
	add_repo_options(cmd, *repo);
	cmd->add_option("--device", *device, "only this device's points");
	cmd->callback([&ctx, repo, device] {
		guarded([&] {
			nlohmann::json j = nlohmann::json::array();
			std::string text;
			for (const st::PointInfo &p : open_repo(*repo).points()) {
				if (!device->empty() && p.device != *device)
					continue;
				j.push_back(to_json(p));
				text += p.id + "  " + point_time(p.time) + "  " + p.device + "  " + human_bytes(p.size) +
					"  " + (p.base.empty() ? "full" : "incremental") + "  new " +
					human_bytes(p.stats.bytes_new) + "\n";
			}
			ctx.print(j, text.empty() ? "no restore points\n" : text);
		});
	});
}

void setup_restore(CLI::App &app, Context &ctx)
{
	struct Args {
		RepoArgs repo;
		std::string point, target;
		bool only_differences = false;
	};
	auto args = std::make_shared<Args>();
	auto *cmd = app.add_subcommand("restore", "Write a restore point to a file or block device");
	cmd->footer(R"(
POINT is a point id or a unique prefix (see `bkagent points`). A file target is
created or replaced (sparse); a block device target must be at least the size of
the point. --only-differences reads the target and writes only the chunks that
differ (fast re-sync of a disk that is almost up to date).

Examples:
  bkagent restore 3fa2 /dev/vdc --repo /backup/repo
  bkagent restore 3fa2c0de11aa7b90 /var/tmp/vdb.img --repo /backup/repo)");
	add_repo_options(cmd, args->repo);
	cmd->add_option("point", args->point, "restore point id or unique prefix")->required();
	cmd->add_option("target", args->target, "file or block device to write")->required();
	cmd->add_flag("--only-differences", args->only_differences, "write only chunks that differ on the target");
	cmd->callback([&ctx, args] {
		guarded([&] {
			st::Repository repo = open_repo(args->repo);
			const st::PointInfo p = repo.point(args->point);
			Meter meter(ctx, args->target);
			st::RestoreOptions o;
			o.only_differences = args->only_differences;
			o.progress = meter.fn();
			const st::RestoreStats s = repo.restore(p.id, args->target, o);
			ctx.print({{"point", p.id},
				   {"target", args->target},
				   {"bytes_total", s.bytes_total},
				   {"bytes_written", s.bytes_written},
				   {"chunks_unchanged", s.chunks_unchanged},
				   {"seconds", s.seconds}},
				  "restored " + p.id + " (" + p.device + ", " + human_bytes(s.bytes_total) + ") to " +
					  args->target + ": wrote " + human_bytes(s.bytes_written) + ", " +
					  std::to_string(s.chunks_unchanged) + " chunks already equal\n");
		});
	});
}

void setup_verify(CLI::App &app, Context &ctx)
{
	auto repo = std::make_shared<RepoArgs>();
	auto sample = std::make_shared<double>(1.0);
	auto *cmd = app.add_subcommand("verify", "Re-read and authenticate the chunks of every restore point");
	cmd->footer(R"(
Checks every point and index segment, then reads back every chunk the points use
(or a random --sample fraction): decrypts, authenticates, decompresses and
re-hashes it. Exit status 1 when anything is wrong.

Example:
  bkagent verify --repo /backup/repo --sample 0.05)");
	add_repo_options(cmd, *repo);
	cmd->add_option("--sample", *sample, "fraction of chunks to read, (0, 1]")->check(CLI::Range(0.0, 1.0));
	cmd->callback([&ctx, repo, sample] {
		guarded([&] {
			st::Repository r = open_repo(*repo);
			Meter meter(ctx, "verify");
			st::VerifyOptions o;
			o.sample = *sample;
			o.progress = meter.fn();
			const st::VerifyReport v = r.verify(o);
			std::string text = "points " + std::to_string(v.points) + ", chunks checked " +
					   std::to_string(v.chunks_checked) + " of " + std::to_string(v.chunks_referenced) +
					   " (" + human_bytes(v.bytes_checked) + "), orphan packs " +
					   std::to_string(v.orphan_packs) + ": " + (v.ok() ? "OK" : "DAMAGED") + "\n";
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
Per device: --keep-last N keeps the N newest points; --keep-daily/weekly/monthly N
keep the newest point of each of the N newest UTC days / weeks (Monday start) /
months that have points. A point is kept when any rule keeps it. Then chunks no
remaining point uses are deleted (packs mostly unused are rewritten).

Example:
  bkagent prune --repo /backup/repo --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12)");
	add_repo_options(cmd, *repo);
	cmd->add_option("--keep-last", opt->keep.last, "newest points to keep");
	cmd->add_option("--keep-daily", opt->keep.daily, "days to keep the newest point of");
	cmd->add_option("--keep-weekly", opt->keep.weekly, "weeks to keep the newest point of");
	cmd->add_option("--keep-monthly", opt->keep.monthly, "months to keep the newest point of");
	cmd->add_flag("--dry-run", opt->dry_run, "only show what would be removed");
	cmd->callback([&ctx, repo, opt] {
		guarded([&] {
			const st::PruneReport r = open_repo(*repo).prune(*opt);
			std::string text = std::string(opt->dry_run ? "would remove " : "removed ") +
					   std::to_string(r.removed.size()) + " points, kept " +
					   std::to_string(r.kept.size());
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

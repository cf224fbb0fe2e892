// bkagent snapshot | snapshots | release | renew
#include "cli/output.h"
#include "cli/registry.h"

#include <chrono>
#include <memory>
#include <optional>

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

struct SnapshotArgs {
	std::vector<std::string> devices;
	std::int64_t lease = 0;
	std::string pre_freeze, post_thaw, label;
	std::uint64_t diff_bytes = 0;
};

void setup(CLI::App &app, Context &ctx)
{
	auto args = std::make_shared<SnapshotArgs>();
	auto *snap = app.add_subcommand("snapshot", "Take a consistent snapshot of one or more tracked devices");
	snap->footer(R"(
All devices are captured at the same instant (a consistency group); mounted
filesystems are frozen for the take. Prints, per device, the read-only image
device holding the snapshot and its change token: keep the token with your
backup and pass it to `bkagent cbt changes --since` next time.

The snapshot lives until released (bkagent release ID) or until its lease
runs out (default set by the daemon, e.g. --lease 2h).

Examples:
  bkagent snapshot /dev/vdb
  bkagent snapshot /dev/vg/root /dev/vg/home --lease 30m --label nightly
  bkagent snapshot /dev/vdb --pre-freeze flush-db --post-thaw resume-db)");
	snap->add_option("devices", args->devices, "tracked block devices")->required();
	add_duration(snap, "--lease", args->lease, "lease, e.g. 600, 90s, 15m, 2h");
	snap->add_option("--pre-freeze", args->pre_freeze, "hook (name in the daemon's hooks dir) run before");
	snap->add_option("--post-thaw", args->post_thaw, "hook run after the take");
	snap->add_option("--label", args->label, "free text shown by `bkagent snapshots`");
	snap->add_option("--diff-storage", args->diff_bytes, "bytes of difference storage (default: by size)");
	snap->callback([&ctx, args] {
		v1::CreateSnapshotRequest req;
		for (const auto &d : args->devices)
			req.add_devices(d);
		if (args->lease)
			req.mutable_lease()->set_seconds(args->lease);
		req.set_pre_freeze_hook(args->pre_freeze);
		req.set_post_thaw_hook(args->post_thaw);
		req.set_label(args->label);
		req.set_diff_storage_bytes(args->diff_bytes);
		const v1::Snapshot resp = ctx.agent().create_snapshot(req);
		ctx.print(to_json(resp), to_text(resp));
	});

	app.add_subcommand("snapshots", "List live snapshots")->callback([&ctx] {
		nlohmann::json j = nlohmann::json::array();
		std::string text;
		for (const auto &s : ctx.agent().list_snapshots()) {
			j.push_back(to_json(s));
			text += to_text(s);
		}
		ctx.print(j, text.empty() ? "no live snapshots\n" : text);
	});

	auto id = std::make_shared<std::string>();
	auto *release = app.add_subcommand("release", "Release a snapshot now (its image devices disappear)");
	release->add_option("id", *id, "snapshot id (from `bkagent snapshots`)")->required();
	release->callback([&ctx, id] {
		ctx.agent().release_snapshot(*id);
		ctx.print({{"released", *id}}, "released " + *id + "\n");
	});

	auto renew_id = std::make_shared<std::string>();
	auto renew_lease = std::make_shared<std::int64_t>(0);
	auto *renew = app.add_subcommand("renew", "Extend a snapshot's lease (from now)");
	renew->add_option("id", *renew_id, "snapshot id")->required();
	add_duration(renew, "--lease", *renew_lease, "new lease from now, e.g. 30m (default: daemon's)");
	renew->callback([&ctx, renew_id, renew_lease] {
		std::optional<std::chrono::seconds> lease;
		if (*renew_lease)
			lease = std::chrono::seconds(*renew_lease);
		const v1::Lease resp = ctx.agent().renew_lease(*renew_id, lease);
		ctx.print({{"id", *renew_id}, {"lease_expires_at", time_text(resp.expires_at())}},
			  "lease of " + *renew_id + " until " + time_text(resp.expires_at()) + "\n");
	});
}

} // namespace

BK_CLI_COMMAND(setup)

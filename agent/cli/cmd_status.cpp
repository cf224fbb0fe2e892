// bkagent status | devices
#include "cli/output.h"
#include "cli/registry.h"

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

void status(Context &ctx)
{
	v1::Capabilities caps;
	bk::client::check(ctx.agent().GetCapabilities(Context::call().get(), {}, &caps));
	v1::ListDevicesRequest dreq;
	dreq.set_tracked_only(true);
	v1::ListDevicesResponse devs;
	bk::client::check(ctx.agent().ListDevices(Context::call().get(), dreq, &devs));
	v1::ListSnapshotsResponse snaps;
	bk::client::check(ctx.agent().ListSnapshots(Context::call().get(), {}, &snaps));

	nlohmann::json tracked = nlohmann::json::array();
	std::string text = "agent " + caps.agent_version() + " (" + caps.api_version() + ")\nmodule " +
			   (caps.module_loaded() ? caps.module_version() + " loaded" : std::string("NOT LOADED")) + "\n";
	text += "tracked devices: " + std::to_string(devs.devices_size()) + "\n";
	for (const auto &d : devs.devices()) {
		tracked.push_back(to_json(d));
		text += "  " + d.path() + "  " + v1::TrackingState_Name(d.state()) + "\n";
	}
	text += "live snapshots: " + std::to_string(snaps.snapshots_size()) + "\n";
	nlohmann::json live = nlohmann::json::array();
	for (const auto &s : snaps.snapshots()) {
		live.push_back(to_json(s));
		text += "  " + s.id() + "  " + v1::SnapshotState_Name(s.state()) + "  lease until " +
			time_text(s.lease().expires_at()) + "\n";
	}
	ctx.print({{"agent_version", caps.agent_version()},
		   {"api_version", caps.api_version()},
		   {"module_loaded", caps.module_loaded()},
		   {"module_version", caps.module_version()},
		   {"cbt_block_size_min", caps.cbt_min_block_size()},
		   {"cbt_block_size_max", caps.cbt_max_block_size()},
		   {"max_snapshot_devices", caps.max_snapshot_devices()},
		   {"tracked", tracked},
		   {"snapshots", live}},
		  text);
}

void setup(CLI::App &app, Context &ctx)
{
	app.add_subcommand("status", "Agent and module versions, tracked devices, live snapshots")->callback([&ctx] {
		status(ctx);
	});
	app.add_subcommand("devices", "All block devices of the host and their tracking state")->callback([&ctx] {
		v1::ListDevicesResponse resp;
		bk::client::check(ctx.agent().ListDevices(Context::call().get(), {}, &resp));
		nlohmann::json j = nlohmann::json::array();
		std::string text;
		for (const auto &d : resp.devices()) {
			j.push_back(to_json(d));
			text += d.path() + "  " + d.kind() + "  " + human_bytes(d.size_bytes()) + "  " +
				v1::TrackingState_Name(d.state()) + "\n";
		}
		ctx.print(j, text);
	});
}

} // namespace

BK_CLI_COMMAND(setup)

// bkagent status | devices
#include "cli/output.h"
#include "cli/registry.h"

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

void status(Context &ctx)
{
	const v1::Capabilities caps = ctx.agent().capabilities();
	const std::vector<v1::Device> devs = ctx.agent().list_devices(true);
	const std::vector<v1::Snapshot> snaps = ctx.agent().list_snapshots();

	nlohmann::json tracked = nlohmann::json::array();
	std::string text = "agent " + caps.agent_version() + " (" + caps.api_version() + ")\nmodule " +
			   (caps.module_loaded() ? caps.module_version() + " loaded" : std::string("NOT LOADED")) + "\n";
	text += "tracked devices: " + std::to_string(devs.size()) + "\n";
	for (const auto &d : devs) {
		tracked.push_back(to_json(d));
		text += "  " + d.path() + "  " + v1::TrackingState_Name(d.state()) + "\n";
	}
	text += "live snapshots: " + std::to_string(snaps.size()) + "\n";
	nlohmann::json live = nlohmann::json::array();
	for (const auto &s : snaps) {
		live.push_back(to_json(s));
		text += "  " + s.id() + "  " + v1::SnapshotState_Name(s.state()) + "  lease until " + time_text(s.lease().expires_at()) +
			"\n";
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
	app.add_subcommand("status", "Agent and module versions, tracked devices, live snapshots")->callback([&ctx] { status(ctx); });
	app.add_subcommand("devices", "All block devices of the host and their tracking state")->callback([&ctx] {
		nlohmann::json j = nlohmann::json::array();
		std::string text;
		for (const auto &d : ctx.agent().list_devices(false)) {
			j.push_back(to_json(d));
			text += d.path() + "  " + d.kind() + "  " + human_bytes(d.size_bytes()) + "  " + v1::TrackingState_Name(d.state()) +
				"\n";
		}
		ctx.print(j, text);
	});
}

} // namespace

BK_CLI_COMMAND(setup)

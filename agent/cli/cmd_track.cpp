// bkagent track add | remove | status
#include "cli/output.h"
#include "cli/registry.h"

#include <memory>

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

std::string device_line(const v1::Device &d)
{
	std::string line = d.path() + "  " + v1::TrackingState_Name(d.state()) + "  " + human_bytes(d.size_bytes());
	if (d.state() != v1::UNTRACKED) {
		line += "  block " + human_bytes(d.cbt_block_size()) + "  current " + token_text(d.current());
		const std::string base = token_text(d.committed_baseline());
		line += "  baseline " + (base.empty() ? std::string("none") : base);
	}
	if (!d.mountpoint().empty())
		line += "  (" + d.filesystem() + " on " + d.mountpoint() + ")";
	if (!d.chain_note().empty())
		line += "\n    " + d.chain_note();
	return line + "\n";
}

void setup(CLI::App &app, Context &ctx)
{
	auto *track = app.add_subcommand("track", "Changed-block tracking of devices");
	track->require_subcommand(1);
	track->footer(R"(
Tracking records which blocks of a device are written, so that the next
backup reads only those. Start it once per device (it lasts until the module
is unloaded or the host reboots; bkagentd's systemd unit can re-add devices
at boot). Examples:
  bkagent track add /dev/vdb
  bkagent track status
  bkagent track remove /dev/vdb)");

	auto dev = std::make_shared<std::string>();
	auto *add = track->add_subcommand("add", "Start tracking a block device");
	add->add_option("device", *dev, "block device, e.g. /dev/vdb")->required();
	add->callback([&ctx, dev] {
		const v1::Device resp = ctx.agent().start_tracking(*dev);
		ctx.print(to_json(resp), device_line(resp));
	});

	auto *remove = track->add_subcommand("remove", "Stop tracking (the next backup of it is full)");
	remove->add_option("device", *dev, "tracked block device")->required();
	remove->callback([&ctx, dev] {
		ctx.agent().stop_tracking(*dev);
		ctx.print({{"untracked", *dev}}, "stopped tracking " + *dev + "\n");
	});

	auto *status = track->add_subcommand("status", "Tracking state of one device or of all tracked ones");
	status->add_option("device", *dev, "block device (default: all tracked)");
	status->callback([&ctx, dev] {
		nlohmann::json j = nlohmann::json::array();
		std::string text;
		for (const auto &d : ctx.agent().list_devices(dev->empty())) {
			if (!dev->empty() && d.path() != *dev)
				continue;
			j.push_back(to_json(d));
			text += device_line(d);
		}
		if (!dev->empty() && j.empty())
			throw bk::client::CallError(
				grpc::Status(grpc::StatusCode::NOT_FOUND, *dev + ": no such block device (give its canonical path)"));
		ctx.print(j, text.empty() ? "no tracked devices\n" : text);
	});
}

} // namespace

BK_CLI_COMMAND(setup)

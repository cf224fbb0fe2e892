// bkagent image pull: the backup server's read path as a command.
#include "backup/image_pull.h"
#include "cli/meter.h"
#include "cli/output.h"
#include "cli/registry.h"

#include <memory>

namespace {

using namespace bk::cli;

struct PullArgs {
	std::string snapshot, device, target, since;
	int streams = 2;
};

void pull(Context &ctx, const PullArgs &args)
{
	Meter meter(ctx.json);
	bk::backup::PullOptions opts{args.snapshot, args.device, args.target, {}, args.streams, meter.sink()};
	if (!args.since.empty()) {
		opts.since = bk::client::parse_token(args.since);
		if (!opts.since)
			throw CLI::ValidationError("since", "'" + args.since + "' is not a change token");
	}
	const bk::backup::PullResult r = bk::backup::pull_image(ctx.agent(), opts);
	ctx.print({{"snapshot", args.snapshot},
		   {"device", args.device},
		   {"target", args.target},
		   {"since", args.since},
		   {"token", r.token},
		   {"extents", r.extents},
		   {"bytes", r.bytes},
		   {"streamed_bytes", r.streamed_bytes},
		   {"seconds", r.seconds}},
		  "pulled " + human_bytes(r.bytes) + " in " + std::to_string(r.extents) + " extents (" + human_bytes(r.streamed_bytes) +
			  " streamed) into " + args.target + " in " + std::to_string(r.seconds) + " s; image token " + r.token + "\n");
}

void setup(CLI::App &app, Context &ctx)
{
	auto *image = app.add_subcommand("image", "Snapshot images");
	image->require_subcommand(1);
	auto args = std::make_shared<PullArgs>();
	auto *p = image->add_subcommand("pull", "Copy a snapshot image (or what changed in it) into a file or device");
	p->footer(R"(
Streams the image of DEVICE in snapshot ID through the API (as a backup
server does) into TARGET, verifying every chunk's CRC-32C. With --since,
only the extents changed since that token are written: TARGET must then
hold the image of the token's snapshot, and becomes this one's. Exit code 5
with reason CBT_RESET/UNCLEAN_SHUTDOWN/UNKNOWN_TOKEN means: pull without
--since.
Examples:
  bkagent image pull 6f1c... /dev/vdb /backup/vdb.img
  bkagent image pull 7a2d... /dev/vdb /backup/vdb.img --since 5f0c...e1:3)");
	p->add_option("id", args->snapshot, "snapshot id")->required();
	p->add_option("device", args->device, "device in the snapshot")->required();
	p->add_option("target", args->target, "file or block device to write")->required();
	p->add_option("--since", args->since, "change token of the image TARGET holds");
	p->add_option("--streams", args->streams, "parallel read streams")->capture_default_str()->check(CLI::Range(1, 64));
	p->callback([&ctx, args] { pull(ctx, *args); });
}

} // namespace

BK_CLI_COMMAND(setup)

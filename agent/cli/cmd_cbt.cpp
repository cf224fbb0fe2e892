// bkagent cbt changes | commit
#include "cli/output.h"
#include "cli/registry.h"

#include <memory>
#include <optional>

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

struct CbtArgs {
	std::string device, since, snapshot, token;
};

v1::ChangeToken token_arg(const std::string &text)
{
	const auto t = bk::client::parse_token(text);
	if (!t)
		throw CLI::ValidationError("token", "'" + text + "' is not a change token (32 hex digits ':' sequence)");
	return *t;
}

void changes(Context &ctx, const CbtArgs &args)
{
	v1::GetChangedExtentsRequest req;
	req.set_device(args.device);
	if (!args.since.empty())
		*req.mutable_since() = token_arg(args.since);
	// Without --snapshot, a snapshot just for this query.
	std::optional<bk::client::SnapshotHold> temp;
	if (args.snapshot.empty()) {
		v1::CreateSnapshotRequest snap;
		snap.add_devices(args.device);
		snap.set_label("bkagent cbt changes");
		temp.emplace(ctx.agent(), snap);
	}
	req.set_snapshot_id(temp ? temp->get().id() : args.snapshot);

	nlohmann::json extents = nlohmann::json::array();
	std::string text, token;
	std::uint64_t total = 0, count = 0;
	ctx.agent().changed_extents(req, [&](const v1::ChangedExtentsPage &page) {
		token = token_text(page.token());
		for (const auto &e : page.extents()) {
			++count;
			if (ctx.json)
				extents.push_back({{"offset", e.offset()}, {"length", e.length()}, {"zero", e.zero()}});
			else
				text += std::to_string(e.offset()) + " " + std::to_string(e.length()) + (e.zero() ? " zero" : "") + "\n";
		}
		if (page.last())
			total = page.changed_bytes_total();
	});
	ctx.print({{"device", args.device},
		   {"since", args.since},
		   {"token", token},
		   {"snapshot", req.snapshot_id()},
		   {"changed_bytes", total},
		   {"extents", extents}},
		  "# offset length [zero] of " + args.device + " changed since " +
			  (args.since.empty() ? std::string("the beginning") : args.since) + "\n" + text + "# " + std::to_string(count) +
			  " extents, " + human_bytes(total) + "; snapshot token " + token + "\n");
}

void setup(CLI::App &app, Context &ctx)
{
	auto *cbt = app.add_subcommand("cbt", "Changed-block queries and baselines");
	cbt->require_subcommand(1);
	auto args = std::make_shared<CbtArgs>();

	auto *ch = cbt->add_subcommand("changes", "Extents of DEV changed since a change token");
	ch->footer(R"(
Lists byte extents (offset length) that may differ between the image the
token names and now (a snapshot taken for the query, or --snapshot ID).
Without --since: the whole device. If the agent cannot prove the changes
(module reloaded, unclean stop, unknown token) it exits with code 5 and the
reason (CBT_RESET, UNCLEAN_SHUTDOWN, UNKNOWN_TOKEN): do a full backup.
Examples:
  bkagent cbt changes /dev/vdb --since 5f0c0d...e1:3
  bkagent cbt changes /dev/vdb --since 5f0c0d...e1:3 --snapshot 6f1c... --json)");
	ch->add_option("device", args->device, "tracked block device")->required();
	ch->add_option("--since", args->since, "change token from an earlier snapshot");
	ch->add_option("--snapshot", args->snapshot, "query this live snapshot instead of taking one");
	ch->callback([&ctx, args] { changes(ctx, *args); });

	auto *commit = cbt->add_subcommand("commit", "Make a stored backup the baseline of DEV");
	commit->footer(R"(
Tell the agent your copy of DEV from --snapshot ID (or from --token T) is
safely stored: incrementals will be computed from it, older tokens are
forgotten. Example:
  bkagent cbt commit /dev/vdb --snapshot 6f1c...)");
	commit->add_option("device", args->device, "tracked block device")->required();
	auto *snap = commit->add_option("--snapshot", args->snapshot, "the snapshot that was backed up");
	commit->add_option("--token", args->token, "the token that was backed up")->excludes(snap);
	commit->callback([&ctx, args] {
		v1::CommitBackupRequest req;
		req.set_device(args->device);
		req.set_snapshot_id(args->snapshot);
		if (!args->token.empty())
			*req.mutable_token() = token_arg(args->token);
		else if (args->snapshot.empty())
			throw CLI::ValidationError("commit", "give --snapshot ID or --token T");
		const v1::CommitBackupResponse resp = ctx.agent().commit_backup(req);
		const std::string base = token_text(resp.baseline());
		ctx.print({{"device", args->device}, {"baseline", base}}, args->device + " baseline " + base + "\n");
	});
}

} // namespace

BK_CLI_COMMAND(setup)

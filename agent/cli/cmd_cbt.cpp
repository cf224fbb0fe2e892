// bkagent cbt changes | commit
#include "cli/output.h"
#include "cli/registry.h"

#include "bk/cbt/token.h"

#include <memory>

namespace {

namespace v1 = bkagent::v1;
using namespace bk::cli;

struct CbtArgs {
	std::string device, since, snapshot, token;
};

void set_token(const std::string &text, v1::ChangeToken *out)
{
	const auto t = bk::cbt::parse_token(text);
	if (!t)
		throw CLI::ValidationError("token", "'" + text + "' is not a change token (32 hex digits ':' sequence)");
	out->set_generation(reinterpret_cast<const char *>(t->generation.data()), t->generation.size());
	out->set_sequence(t->sequence);
}

// A snapshot just for this query, released when done.
class TemporarySnapshot {
public:
	TemporarySnapshot(Context &ctx, const std::string &device) : ctx_(ctx)
	{
		v1::CreateSnapshotRequest req;
		req.add_devices(device);
		req.set_label("bkagent cbt changes");
		v1::Snapshot snap;
		bk::client::check(ctx.agent().CreateSnapshot(Context::call(300).get(), req, &snap));
		id_ = snap.id();
	}
	~TemporarySnapshot()
	{
		v1::ReleaseSnapshotRequest req;
		req.set_snapshot_id(id_);
		v1::ReleaseSnapshotResponse resp;
		(void)ctx_.agent().ReleaseSnapshot(Context::call().get(), req, &resp);
	}
	TemporarySnapshot(const TemporarySnapshot &) = delete;
	TemporarySnapshot &operator=(const TemporarySnapshot &) = delete;
	const std::string &id() const { return id_; }

private:
	Context &ctx_;
	std::string id_;
};

void changes(Context &ctx, const CbtArgs &args)
{
	v1::GetChangedExtentsRequest req;
	req.set_device(args.device);
	if (!args.since.empty())
		set_token(args.since, req.mutable_since());
	std::unique_ptr<TemporarySnapshot> temp;
	if (args.snapshot.empty())
		temp = std::make_unique<TemporarySnapshot>(ctx, args.device);
	req.set_snapshot_id(temp ? temp->id() : args.snapshot);

	auto call = Context::call(600);
	auto reader = ctx.agent().GetChangedExtents(call.get(), req);
	v1::ChangedExtentsPage page;
	nlohmann::json extents = nlohmann::json::array();
	std::string text, token;
	std::uint64_t total = 0, count = 0;
	while (reader->Read(&page)) {
		token = token_text(page.token());
		for (const auto &e : page.extents()) {
			++count;
			if (ctx.json)
				extents.push_back({{"offset", e.offset()}, {"length", e.length()}, {"zero", e.zero()}});
			else
				text += std::to_string(e.offset()) + " " + std::to_string(e.length()) +
					(e.zero() ? " zero" : "") + "\n";
		}
		if (page.last())
			total = page.changed_bytes_total();
	}
	bk::client::check(reader->Finish());
	ctx.print({{"device", args.device},
		   {"since", args.since},
		   {"token", token},
		   {"snapshot", req.snapshot_id()},
		   {"changed_bytes", total},
		   {"extents", extents}},
		  "# offset length [zero] of " + args.device + " changed since " +
			  (args.since.empty() ? std::string("the beginning") : args.since) + "\n" + text + "# " +
			  std::to_string(count) + " extents, " + human_bytes(total) + "; snapshot token " + token +
			  "\n");
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
			set_token(args->token, req.mutable_token());
		else if (args->snapshot.empty())
			throw CLI::ValidationError("commit", "give --snapshot ID or --token T");
		v1::CommitBackupResponse resp;
		bk::client::check(ctx.agent().CommitBackup(Context::call().get(), req, &resp));
		const std::string base = token_text(resp.baseline());
		ctx.print({{"device", args->device}, {"baseline", base}}, args->device + " baseline " + base + "\n");
	});
}

} // namespace

BK_CLI_COMMAND(setup)

#include "backup/backup.h"

#include "backup/chunk_assembler.h"
#include "client/token.h"

#include <algorithm>

namespace bk::backup {

namespace v1 = bkagent::v1;
namespace st = bk::storage;

namespace {

std::vector<std::uint64_t> changed_chunks(client::Client &agent, const std::string &snapshot, const std::string &device,
					  const std::string &since, std::uint32_t chunk_size)
{
	const auto token = client::parse_token(since);
	if (!token)
		throw std::runtime_error("the repository holds a malformed change token: " + since);
	v1::GetChangedExtentsRequest req;
	req.set_snapshot_id(snapshot);
	req.set_device(device);
	*req.mutable_since() = *token;
	std::vector<st::Extent> extents;
	agent.changed_extents(req, [&extents](const v1::ChangedExtentsPage &page) {
		for (const auto &e : page.extents())
			if (e.changed())
				extents.push_back({e.offset(), e.length()});
	});
	return st::chunks_touched(extents, chunk_size);
}

// Reads `chunks` (sorted indexes) of the device's image into `writer`: runs
// of consecutive chunks are one range, at most the agent's ranges per call.
void read_chunks(client::Client &agent, const std::string &snapshot, const std::string &device, const std::vector<std::uint64_t> &chunks,
		 std::uint64_t size, bool wire_zstd, st::BackupWriter &writer)
{
	const v1::Capabilities caps = agent.capabilities();
	const std::uint32_t max_ranges = caps.max_ranges_per_read() ? caps.max_ranges_per_read() : 1024;
	const std::uint64_t cs = writer.chunk_size();
	std::uint32_t chunk_bytes = static_cast<std::uint32_t>(cs);
	if (caps.max_chunk_bytes() && caps.max_chunk_bytes() < chunk_bytes)
		chunk_bytes = caps.max_chunk_bytes();

	// An agent before api_revision 2 lists no compression.
	const bool zstd =
		wire_zstd && std::find(caps.compressions().begin(), caps.compressions().end(), v1::ZSTD) != caps.compressions().end();
	ChunkAssembler assembler(writer);
	for (std::size_t i = 0; i < chunks.size();) {
		v1::ReadExtentsRequest req;
		req.set_snapshot_id(snapshot);
		req.set_device(device);
		req.set_chunk_bytes(chunk_bytes);
		req.set_elide_zeroes(true);
		req.set_compression(zstd ? v1::ZSTD : v1::COMPRESSION_NONE);
		while (i < chunks.size() && static_cast<std::uint32_t>(req.ranges_size()) < max_ranges) {
			std::size_t j = i + 1;
			while (j < chunks.size() && chunks[j] == chunks[j - 1] + 1)
				++j;
			v1::Range *r = req.add_ranges();
			r->set_offset(chunks[i] * cs);
			r->set_length(std::min(size, chunks[j - 1] * cs + cs) - chunks[i] * cs);
			i = j;
		}
		agent.read_extents(req, [&assembler](const v1::DataChunk &c, std::string_view frame) { assembler.add(c, frame); });
	}
	assembler.finish();
}

// The newest point of the host's device at its current size that holds a token. A point
// without a host (format 1) may be the host's own: the agent refuses a token it did not
// issue (a full read then), so using one as a base is safe.
std::optional<st::PointInfo> last_point(st::Repository &repo, const v1::SnapshotDevice &dev, const std::string &host)
{
	std::optional<st::PointInfo> last;
	for (st::PointInfo &p : repo.points()) // oldest first
		if (p.device == dev.device() && p.size == dev.size_bytes() && !p.token.empty() && (p.host == host || p.host.empty()))
			last = std::move(p);
	return last;
}

} // namespace

st::ProgressFn progress_fn(ProgressSink *sink, std::string what)
{
	if (!sink)
		return {};
	return [sink, what = std::move(what)](const st::Progress &p) { sink->update(what, p); };
}

DeviceResult back_up_device(client::Client &agent, st::Repository &repo, const v1::Snapshot &snap, const v1::SnapshotDevice &dev,
			    const BackupOptions &opts)
{
	const bool force_full = opts.force_full;
	const std::string host = opts.host.empty() ? st::default_host_id() : opts.host;
	const std::uint64_t cs = repo.chunk_size();
	std::optional<st::PointInfo> base = force_full ? std::nullopt : last_point(repo, dev, host);
	DeviceResult result{dev.device(), {}, force_full ? "forced" : base ? "" : "no earlier point"};
	std::vector<std::uint64_t> chunks;
	if (base) {
		try {
			chunks = changed_chunks(agent, snap.id(), dev.device(), base->token, repo.chunk_size());
		} catch (const client::CallError &e) {
			if (!client::full_read_needed(e.reason()))
				throw;
			result.full_reason = e.reason();
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
	req.token = client::token_text(dev.token());
	req.host = host;
	for (std::uint64_t c : chunks)
		req.expected_bytes += std::min(cs, dev.size_bytes() - c * cs);
	req.progress = progress_fn(opts.progress, dev.device());
	st::BackupWriter writer = repo.begin_backup(req);
	read_chunks(agent, snap.id(), dev.device(), chunks, dev.size_bytes(), opts.wire_zstd, writer);
	result.point = writer.commit();

	// The point is durable: only now may the agent advance the device's baseline.
	v1::CommitBackupRequest commit;
	commit.set_snapshot_id(snap.id());
	commit.set_device(dev.device());
	agent.commit_backup(commit);
	return result;
}

BackupResult back_up(client::Client &agent, st::Repository &repo, const BackupOptions &opts)
{
	v1::CreateSnapshotRequest req;
	for (const auto &d : opts.devices)
		req.add_devices(d);
	if (opts.lease)
		req.mutable_lease()->set_seconds(opts.lease->count());
	req.set_label(opts.label);
	req.set_pre_freeze_hook(opts.pre_freeze_hook);
	req.set_post_thaw_hook(opts.post_thaw_hook);
	const client::SnapshotHold snap(agent, req);
	BackupResult result{snap.get().id(), {}};
	for (const v1::SnapshotDevice &dev : snap.get().devices())
		result.devices.push_back(back_up_device(agent, repo, snap.get(), dev, opts));
	return result;
}

} // namespace bk::backup

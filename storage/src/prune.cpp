// Prune: forget the points the policy drops, then reclaim the chunks no point uses.
// Order (each step durable before the next, so a crash anywhere leaves a sound repository):
//   1. delete dropped point files;
//   2. copy the live records of mostly-dead packs into new packs;
//   3. write one consolidated index segment (live chunks only, new locations) with a
//      sequence number above all others, so it wins over the old ones;
//   4. delete the old segments;
//   5. delete dead, repacked and orphan packs, and stale temporary files.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "backend.hpp"
#include "bk/storage/error.hpp"
#include "index.hpp"
#include "manifest.hpp"
#include "operations.hpp"

namespace bk::storage::detail {

namespace {

struct PackUse {
	std::uint64_t file_size = 0;
	std::uint64_t live_bytes = 0;
	std::vector<IndexEntry> live;
};

std::vector<PointInfo> sorted_points(const RepoState &repo)
{
	std::vector<PointInfo> points;
	for (const std::string &id : list_point_ids(repo.layout))
		points.push_back(read_point_info(repo.layout, repo.crypto, id));
	std::sort(points.begin(), points.end(), older);
	return points;
}

// Copies the live records of `packs` into new packs, updating `entries` in place.
void repack(const RepoState &repo, std::vector<IndexEntry *> &entries)
{
	std::sort(entries.begin(), entries.end(), [](const IndexEntry *a, const IndexEntry *b) {
		return a->loc.pack != b->loc.pack ? a->loc.pack < b->loc.pack : a->loc.offset < b->loc.offset;
	});
	PackReader reader(repo.layout);
	std::optional<PackWriter> writer;
	std::vector<std::pair<IndexEntry *, ChunkLocation>> moved;
	auto commit = [&] {
		writer->finish();
		for (auto &[entry, loc] : moved)
			entry->loc = loc;
		moved.clear();
		writer.reset();
	};
	Bytes record, plain;
	for (IndexEntry *e : entries) {
		reader.read(e->loc, record);
		// Authenticate before copying: prune must never launder corrupt data.
		decode_record(repo.crypto, record, e->id, e->loc.raw_len, plain);
		if (!writer)
			writer.emplace(repo.layout);
		moved.emplace_back(e, writer->append(record, {}, e->loc.raw_len));
		if (writer->size() >= repo.config.pack_size)
			commit();
	}
	if (writer)
		commit();
}

} // namespace

PruneReport prune_repository(const RepoState &repo, const PruneOptions &options)
{
	if (options.keep.keeps_nothing())
		throw Error(Errc::invalid_argument, "the keep policy keeps nothing; refusing to delete every point");
	if (!(options.repack_threshold >= 0 && options.repack_threshold <= 1))
		throw Error(Errc::invalid_argument, "repack threshold must be in [0, 1]");
	const Layout &layout = repo.layout;
	Backend &store = layout.store();
	const std::unique_ptr<RepoLock> writers = store.lock(Layout::kWriteLock, LockMode::exclusive);
	const std::unique_ptr<RepoLock> readers = store.lock(Layout::kDeleteLock, LockMode::exclusive);

	PruneReport report;
	std::vector<PointInfo> points = sorted_points(repo);
	std::vector<bool> keep = select_kept(points, options.keep);
	for (std::size_t i = 0; i < points.size(); ++i)
		if ((!options.devices.empty() &&
		     std::find(options.devices.begin(), options.devices.end(), points[i].device) == options.devices.end()) ||
		    (options.host && points[i].host != *options.host))
			keep[i] = true;
	for (std::size_t i = 0; i < points.size(); ++i)
		(keep[i] ? report.kept : report.removed).push_back(points[i].id);
	if (options.dry_run)
		return report;

	// Which chunks the kept points use, and where (checked before anything is deleted).
	std::unordered_set<ChunkId, ChunkIdHash> live_ids;
	for (const std::string &id : report.kept)
		for (const ChunkId &c : read_manifest(layout, repo.crypto, id).chunks)
			if (!c.is_zero())
				live_ids.insert(c);
	const Index index = Index::load(layout, repo.crypto);
	std::unordered_map<PackId, PackUse, PackIdHash> packs;
	for (const PackFile &p : list_packs(layout))
		packs[p.id].file_size = p.size;
	std::vector<IndexEntry> live;
	live.reserve(live_ids.size());
	for (const auto &[id, loc] : index.entries()) {
		if (!live_ids.contains(id))
			continue;
		if (!packs.contains(loc.pack))
			throw Error(Errc::corrupt, "chunk " + id.hex() + " is in a missing pack; run verify");
		live.push_back({id, loc});
		packs[loc.pack].live_bytes += loc.length;
	}
	if (live.size() != live_ids.size())
		throw Error(Errc::corrupt, "restore points use chunks missing from the index; run verify");

	// 1. Forget.
	writers->check();
	readers->check();
	for (const std::string &id : report.removed)
		store.remove(Layout::point(id));
	store.sync(Layout::points());

	// 2. Repack mostly-dead packs; choose the packs to delete.
	std::set<PackId> doomed;
	std::vector<IndexEntry *> to_move;
	for (auto &[id, use] : packs) {
		std::uint64_t dead = use.file_size - std::min(use.file_size, use.live_bytes);
		if (use.live_bytes == 0) {
			doomed.insert(id);
		} else if (static_cast<double>(dead) > options.repack_threshold * static_cast<double>(use.file_size)) {
			doomed.insert(id);
			++report.packs_repacked;
		}
		if (doomed.contains(id))
			report.bytes_freed += dead;
	}
	for (IndexEntry &e : live)
		if (doomed.contains(e.loc.pack))
			to_move.push_back(&e);
	repack(repo, to_move);
	report.packs_deleted = doomed.size() - report.packs_repacked;

	// 3 + 4. Replace the index by one segment of live chunks.
	write_segment(layout, repo.crypto, index.next_segment(), live);
	writers->check();
	readers->check();
	for (const Index::Segment &segment : index.segments())
		store.remove(segment.key);
	store.sync(Layout::index());

	// 5. Delete packs and leftovers of crashed writers.
	std::set<std::string> dirs;
	for (const PackId &id : doomed) {
		const std::string key = Layout::pack(pack_name(id));
		store.remove(key);
		dirs.insert(key.substr(0, key.find_last_of('/')));
	}
	store.remove_leftovers();
	for (const std::string &d : dirs)
		store.sync(d);
	return report;
}

} // namespace bk::storage::detail

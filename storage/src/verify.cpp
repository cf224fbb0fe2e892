#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "bk/storage/error.hpp"
#include "index.hpp"
#include "manifest.hpp"
#include "operations.hpp"
#include "parallel.hpp"

namespace bk::storage::detail {

VerifyReport verify_repository(const RepoState &repo, const VerifyOptions &options)
{
	if (!(options.sample > 0 && options.sample <= 1))
		throw Error(Errc::invalid_argument, "verify sample must be in (0, 1]");
	VerifyReport report;
	std::mutex mutex; // guards report.errors and `bad` during the parallel part
	auto fail = [&](const std::string &what) {
		std::lock_guard lock(mutex);
		report.errors.push_back(what);
	};
	std::unordered_set<ChunkId, ChunkIdHash> bad; // chunks that cannot be restored
	auto fail_chunk = [&](const ChunkId &c, const std::string &what) {
		fail(what);
		std::lock_guard lock(mutex);
		bad.insert(c);
	};
	std::set<std::string> damaged; // points that cannot be restored

	// Points first, then the index: see restore_point.
	std::map<std::string, std::vector<ChunkId>> point_chunks;
	std::unordered_set<ChunkId, ChunkIdHash> referenced;
	std::vector<std::string> ids = list_point_ids(repo.layout);
	if (!options.point.empty()) {
		if (std::find(ids.begin(), ids.end(), options.point) == ids.end())
			throw Error(Errc::not_found, "no restore point " + options.point);
		ids = {options.point};
	}
	for (const std::string &id : ids) {
		try {
			Manifest m = read_manifest(repo.layout, repo.crypto, id);
			if (options.host && m.info.host != *options.host)
				continue;
			++report.points;
			for (const ChunkId &c : m.chunks)
				if (!c.is_zero())
					referenced.insert(c);
			point_chunks.emplace(id, std::move(m.chunks));
		} catch (const Error &e) {
			fail(e.what());
			damaged.insert(id);
		}
	}
	report.chunks_referenced = referenced.size();

	// A damaged segment is reported and skipped: the chunks only it indexed show up
	// below as unindexed, naming the points that need them.
	const Index index = Index::load(repo.layout, repo.crypto, [&](const Error &e) { fail(e.what()); });
	std::unordered_map<PackId, std::uint64_t, PackIdHash> pack_sizes;
	for (const PackFile &p : list_packs(repo.layout))
		pack_sizes.emplace(p.id, p.size);
	std::unordered_set<PackId, PackIdHash> used;
	for (const auto &[id, loc] : index.entries()) {
		used.insert(loc.pack);
		if ((!options.point.empty() || options.host) && !referenced.contains(id))
			continue; // another point's (host's) chunk: not this verify's business
		auto it = pack_sizes.find(loc.pack);
		if (it == pack_sizes.end())
			fail_chunk(id, "chunk " + id.hex() + ": pack " + pack_name(loc.pack) + " is missing");
		else if (loc.length > it->second || loc.offset > it->second - loc.length)
			fail_chunk(id, "chunk " + id.hex() + ": pack " + pack_name(loc.pack) + " is truncated");
	}
	for (const auto &[pack, size] : pack_sizes)
		report.orphan_packs += used.contains(pack) ? 0 : 1;

	std::vector<ChunkId> check;
	for (const ChunkId &c : referenced) {
		if (!index.find(c))
			fail_chunk(c, "chunk " + c.hex() + " is used by a restore point but not in the index");
		else if (!bad.contains(c))
			check.push_back(c);
	}
	if (options.sample < 1) {
		auto n = static_cast<std::size_t>(std::ceil(static_cast<double>(check.size()) * options.sample));
		std::shuffle(check.begin(), check.end(), std::mt19937_64(std::random_device{}()));
		check.resize(std::min(check.size(), std::max<std::size_t>(n, 1)));
	}

	std::uint64_t total = 0;
	for (const ChunkId &c : check)
		total += index.find(c)->raw_len;
	ProgressReporter progress(options.progress, total);
	PackReader packs(repo.layout);
	std::atomic<std::uint64_t> checked{0}, bytes{0};
	parallel_for(options.threads, check.size(), [&](std::uint64_t i) {
		thread_local Bytes record, plain;
		const ChunkLocation &loc = *index.find(check[i]);
		try {
			packs.read(loc, record);
			decode_record(repo.crypto, record, check[i], loc.raw_len, plain);
			++checked;
			bytes += loc.raw_len;
		} catch (const Error &e) {
			fail_chunk(check[i], e.what());
		}
		progress.add(loc.raw_len);
	});
	report.chunks_checked = checked;
	report.bytes_checked = bytes;

	// Name every point that needs a damaged chunk, with the first such chunk.
	for (const auto &[id, chunks] : point_chunks) {
		std::uint64_t n = 0, first = 0;
		for (std::uint64_t i = 0; i < chunks.size(); ++i)
			if (bad.contains(chunks[i]) && n++ == 0)
				first = i;
		if (n == 0)
			continue;
		damaged.insert(id);
		fail("restore point " + id + ": " + std::to_string(n) + " damaged chunk(s), first chunk " + std::to_string(first) + " (" +
		     chunks[first].hex() + ")");
	}
	report.damaged_points.assign(damaged.begin(), damaged.end());
	for (const ChunkId &c : bad)
		report.damaged_chunks.push_back(c.hex());
	std::sort(report.damaged_chunks.begin(), report.damaged_chunks.end());
	return report;
}

} // namespace bk::storage::detail

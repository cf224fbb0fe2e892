#include "bk/storage/point_reader.hpp"

#include <algorithm>
#include <cstring>
#include <future>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "backend.hpp"
#include "bk/storage/error.hpp"
#include "chunk_fetch.hpp"
#include "index.hpp"
#include "manifest.hpp"
#include "operations.hpp"

namespace bk::storage {

namespace {

// LRU of decoded chunks by id. A miss inserts a pending entry before decoding, so the
// readers of one chunk that arrive meanwhile wait for that decode instead of repeating
// it (nbd clients split a sequential read into requests smaller than a chunk and send
// them in parallel). A failed decode is not cached: the next read tries again.
class ChunkCache {
public:
	using Chunk = std::shared_ptr<const Bytes>;

	explicit ChunkCache(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

	template <class Load> Chunk get(const ChunkId &id, Load &&load)
	{
		std::unique_lock lock(mutex_);
		if (auto it = map_.find(id); it != map_.end()) {
			lru_.splice(lru_.begin(), lru_, it->second);
			std::shared_future<Chunk> pending = it->second->chunk;
			lock.unlock();
			return pending.get();
		}
		std::promise<Chunk> promise;
		const std::uint64_t serial = ++serial_;
		lru_.push_front(Entry{id, serial, promise.get_future().share()});
		map_[id] = lru_.begin();
		while (lru_.size() > capacity_) { // waiters on an evicted entry keep its future
			map_.erase(lru_.back().id);
			lru_.pop_back();
		}
		lock.unlock();
		try {
			Chunk chunk = std::make_shared<const Bytes>(load());
			promise.set_value(chunk);
			return chunk;
		} catch (...) {
			promise.set_exception(std::current_exception());
			forget(id, serial);
			throw;
		}
	}

private:
	struct Entry {
		ChunkId id;
		std::uint64_t serial; // tells this insertion from a later one of the same id
		std::shared_future<Chunk> chunk;
	};

	void forget(const ChunkId &id, std::uint64_t serial)
	{
		std::lock_guard lock(mutex_);
		auto it = map_.find(id);
		if (it != map_.end() && it->second->serial == serial) {
			lru_.erase(it->second);
			map_.erase(it);
		}
	}

	std::size_t capacity_;
	std::mutex mutex_;
	std::list<Entry> lru_; // most recently used first
	std::unordered_map<ChunkId, std::list<Entry>::iterator, ChunkIdHash> map_;
	std::uint64_t serial_ = 0;
};

} // namespace

struct PointReader::Impl {
	Impl(std::shared_ptr<const detail::RepoState> state, const std::string &id, const PointReaderOptions &options)
	    : repo(std::move(state)), lock(repo->layout.store().lock(Layout::kDeleteLock, LockMode::shared)), packs(repo->layout),
	      cache(options.cache_bytes / repo->config.chunk_size)
	{
		// The manifest before the index, as restore does: a concurrent backup publishes
		// the segments a point needs before the point.
		Manifest m = read_manifest(repo->layout, repo->crypto, id);
		const Index index = Index::load(repo->layout, repo->crypto);
		info = std::move(m.info);
		chunks = std::move(m.chunks);
		// Only this point's locations are kept, not the whole index.
		locations.reserve(chunks.size());
		for (const ChunkId &c : chunks) {
			const ChunkLocation *loc = c.is_zero() ? nullptr : index.find(c);
			locations.push_back(loc ? std::optional(*loc) : std::nullopt);
		}
	}

	std::size_t chunk_length(std::uint64_t i) const
	{
		const std::uint64_t cs = info.chunk_size;
		return static_cast<std::size_t>(std::min(cs, info.size - i * cs));
	}

	ChunkCache::Chunk chunk(std::uint64_t i)
	{
		return cache.get(chunks[i], [&] {
			thread_local Bytes record;
			Bytes plain;
			const auto &loc = locations[i];
			fetch_chunk(repo->crypto, packs, loc ? &*loc : nullptr, chunks[i], chunk_length(i), info.id, record, plain);
			return plain;
		});
	}

	std::shared_ptr<const detail::RepoState> repo;
	std::unique_ptr<RepoLock> lock;
	PointInfo info;
	std::vector<ChunkId> chunks;
	std::vector<std::optional<ChunkLocation>> locations;
	PackReader packs;
	ChunkCache cache;
};

PointReader::PointReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PointReader::PointReader(PointReader &&) noexcept = default;
PointReader &PointReader::operator=(PointReader &&) noexcept = default;
PointReader::~PointReader() = default;

const PointInfo &PointReader::info() const { return impl_->info; }

std::uint64_t PointReader::size() const { return impl_->info.size; }

void PointReader::read(std::uint64_t offset, std::span<std::uint8_t> out) const
{
	if (offset > size() || out.size() > size() - offset)
		throw Error(Errc::invalid_argument, "read beyond the end of point " + impl_->info.id);
	const std::uint64_t cs = impl_->info.chunk_size;
	for (std::size_t done = 0; done < out.size();) {
		const std::uint64_t pos = offset + done, i = pos / cs;
		const std::size_t within = static_cast<std::size_t>(pos - i * cs);
		const std::size_t n = std::min(out.size() - done, impl_->chunk_length(i) - within);
		if (impl_->chunks[i].is_zero()) {
			std::memset(out.data() + done, 0, n);
		} else {
			const ChunkCache::Chunk c = impl_->chunk(i);
			std::memcpy(out.data() + done, c->data() + within, n);
		}
		done += n;
	}
}

std::vector<ImageExtent> PointReader::extents(std::uint64_t offset, std::uint64_t length) const
{
	std::vector<ImageExtent> out;
	const std::uint64_t end = std::min(size(), offset + std::min(length, size()));
	const std::uint64_t cs = impl_->info.chunk_size;
	for (std::uint64_t pos = offset; pos < end;) {
		const std::uint64_t i = pos / cs;
		const std::uint64_t stop = std::min(end, i * cs + impl_->chunk_length(i));
		const bool zero = impl_->chunks[i].is_zero();
		if (!out.empty() && out.back().zero == zero)
			out.back().length += stop - pos;
		else
			out.push_back({pos, stop - pos, zero});
		pos = stop;
	}
	return out;
}

namespace detail {

PointReader open_point(std::shared_ptr<const RepoState> repo, const std::string &id, const PointReaderOptions &options)
{
	return PointReader(std::make_unique<PointReader::Impl>(std::move(repo), id, options));
}

} // namespace detail

} // namespace bk::storage

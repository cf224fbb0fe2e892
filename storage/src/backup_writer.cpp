#include "bk/storage/backup_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <optional>
#include <unordered_set>

#include "backend.hpp"
#include "bk/storage/error.hpp"
#include "codec.hpp"
#include "index.hpp"
#include "manifest.hpp"
#include "parallel.hpp"
#include "repo_state.hpp"

namespace bk::storage {

namespace {

// Finished packs are indexed in batches so that an interrupted long backup still leaves
// most of its data indexed (the next run deduplicates against it).
constexpr std::uint64_t kSegmentBytes = std::uint64_t{1} << 30;

struct Job {
	std::uint64_t index;
	Bytes data;
	Bytes frame; // zstd of data made by the caller, or empty
};

bool host_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'; }

} // namespace

bool valid_host_id(const std::string &host)
{
	return !host.empty() && host.size() <= 64 && std::all_of(host.begin(), host.end(), host_char);
}

std::string default_host_id()
{
	std::string id;
	std::getline(std::ifstream("/etc/machine-id"), id);
	if (valid_host_id(id))
		return id;
	char name[256] = {};
	if (::gethostname(name, sizeof name - 1) != 0 || !*name)
		throw Error(Errc::io, "no host id: /etc/machine-id is unusable and the hostname is unset");
	id = std::string(name).substr(0, 64);
	std::replace_if(
		id.begin(), id.end(), [](char c) { return !host_char(c); }, '-');
	return id;
}

std::vector<std::uint64_t> chunks_touched(std::span<const Extent> extents, std::uint32_t chunk_size)
{
	std::vector<std::uint64_t> out;
	for (const Extent &e : extents) {
		if (e.length == 0)
			continue;
		for (std::uint64_t c = e.offset / chunk_size; c <= (e.offset + e.length - 1) / chunk_size; ++c)
			out.push_back(c);
	}
	std::sort(out.begin(), out.end());
	out.erase(std::unique(out.begin(), out.end()), out.end());
	return out;
}

// Threads: the caller's thread validates and queues chunks; workers hash, deduplicate,
// compress, encrypt and append to the open pack; a sealer makes full packs durable and
// indexes them, so fsync never stalls the workers.
struct BackupWriter::Impl {
	Impl(std::shared_ptr<detail::RepoState> state, const BackupRequest &request);
	~Impl()
	{
		stop_workers();
		stop_sealer();
	}

	void check_index(std::uint64_t index, std::size_t length);
	void work();
	void process(Job &job);
	void hand_off_pack(); // caller holds mutex (or is the only thread left)
	void seal();
	void flush_segment();
	void stop_workers();
	void stop_sealer();
	void fail(std::exception_ptr e);
	bool failed();
	void rethrow_failure();
	void report_progress();

	struct SealJob {
		std::unique_ptr<PackWriter> pack;
		std::vector<IndexEntry> entries;
	};

	std::shared_ptr<detail::RepoState> repo;
	const Layout &layout;
	const Crypto &crypto;
	BackupRequest req;
	std::unique_ptr<RepoLock> lock;
	Index index; // loaded under the write lock: prune cannot change it meanwhile
	Manifest manifest;
	std::vector<bool> put_done;
	std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
	std::uint64_t bytes_handed = 0; // put or put_zero, for progress
	std::uint64_t bytes_read = 0;   // put only
	const unsigned nworkers;
	bool committed = false;

	std::mutex failure_mutex;
	std::exception_ptr failure;

	// Owned by the sealer thread, and by commit() once the sealer has stopped.
	std::vector<IndexEntry> unindexed; // of durable packs, not yet in a segment
	std::uint64_t unindexed_bytes = 0;
	std::uint64_t next_segment;

	std::mutex mutex;                                 // guards the members below
	std::unordered_set<ChunkId, ChunkIdHash> claimed; // new chunks of this backup
	std::unique_ptr<PackWriter> pack;
	std::vector<IndexEntry> pack_entries; // of the open pack
	BackupStats stats;
	std::vector<Bytes> spare;

	BoundedQueue<Job> queue;
	BoundedQueue<SealJob> sealing{2};
	std::jthread sealer;
	std::vector<std::jthread> workers;
};

BackupWriter::Impl::Impl(std::shared_ptr<detail::RepoState> state, const BackupRequest &request)
    : repo(std::move(state)), layout(repo->layout), crypto(repo->crypto), req(request),
      // Shared: backups (of many hosts) run at once; only prune excludes them.
      lock(layout.store().lock(Layout::kWriteLock, LockMode::shared)), index(Index::load(layout, crypto)),
      nworkers(worker_count(request.threads)), next_segment(index.next_segment()), queue(std::size_t{2} * nworkers)
{
	const std::uint32_t cs = repo->config.chunk_size;
	if (req.device.empty())
		throw Error(Errc::invalid_argument, "backup needs a device identity");
	if (req.host.empty())
		req.host = default_host_id();
	if (!valid_host_id(req.host))
		throw Error(Errc::invalid_argument, "host id \"" + req.host + "\" must be 1..64 characters of A-Z a-z 0-9 . _ -");
	upgrade_config(layout, repo->config);
	if (req.size == 0)
		throw Error(Errc::invalid_argument, "cannot back up an empty device");
	if (!req.base.empty()) {
		manifest = read_manifest(layout, crypto, req.base);
		if (manifest.info.size != req.size || manifest.info.chunk_size != cs)
			throw Error(Errc::invalid_argument,
				    "base point " + req.base + " has a different device size; a full backup is needed");
	} else {
		manifest.chunks.resize(storage::chunk_count(req.size, cs));
	}
	put_done.resize(manifest.chunks.size());
	sealer = std::jthread([this] { seal(); });
	for (unsigned i = 0; i < nworkers; ++i)
		workers.emplace_back([this] { work(); });
}

void BackupWriter::Impl::stop_workers()
{
	queue.close();
	workers.clear(); // joins
}

void BackupWriter::Impl::stop_sealer()
{
	sealing.close();
	if (sealer.joinable())
		sealer.join();
}

void BackupWriter::Impl::fail(std::exception_ptr e)
{
	std::lock_guard guard(failure_mutex);
	if (!failure)
		failure = std::move(e);
}

bool BackupWriter::Impl::failed()
{
	std::lock_guard guard(failure_mutex);
	return failure != nullptr;
}

void BackupWriter::Impl::rethrow_failure()
{
	std::lock_guard guard(failure_mutex);
	if (failure)
		std::rethrow_exception(failure);
}

void BackupWriter::Impl::check_index(std::uint64_t i, std::size_t length)
{
	if (committed)
		throw Error(Errc::invalid_argument, "backup already committed");
	if (i >= manifest.chunks.size())
		throw Error(Errc::invalid_argument, "chunk index " + std::to_string(i) + " past the device end");
	if (put_done[i])
		throw Error(Errc::invalid_argument, "chunk " + std::to_string(i) + " was already put");
	std::uint64_t cs = repo->config.chunk_size;
	std::uint64_t expect = std::min<std::uint64_t>(cs, req.size - i * cs);
	if (length != expect)
		throw Error(Errc::invalid_argument, "chunk " + std::to_string(i) + " must be " + std::to_string(expect) + " bytes");
	put_done[i] = true;
	bytes_handed += length;
}

void BackupWriter::Impl::report_progress()
{
	if (req.progress)
		req.progress(Progress{bytes_handed, req.expected_bytes});
}

void BackupWriter::Impl::work()
{
	while (std::optional<Job> job = queue.pop()) {
		try {
			if (!failed())
				process(*job);
		} catch (...) {
			fail(std::current_exception());
		}
		std::lock_guard guard(mutex);
		if (spare.size() < 3 * nworkers + 2)
			spare.push_back(std::move(job->data));
		if (!job->frame.empty() && spare.size() < 3 * nworkers + 2)
			spare.push_back(std::move(job->frame));
	}
}

void BackupWriter::Impl::process(Job &job)
{
	const ByteView data = job.data;
	const auto len = static_cast<std::uint32_t>(data.size());
	if (is_all_zero(data)) {
		manifest.chunks[job.index] = ChunkId{};
		std::lock_guard guard(mutex);
		stats.bytes_zero += len;
		++stats.chunks_zero;
		return;
	}
	const ChunkId id = crypto.chunk_id(data);
	manifest.chunks[job.index] = id;
	{
		std::lock_guard guard(mutex);
		if (index.find(id) || !claimed.insert(id).second) {
			stats.bytes_dedup += len;
			++stats.chunks_dedup;
			return;
		}
	}
	const Record record = encode_chunk(crypto, id, data, repo->config.zstd_level, job.frame);
	std::lock_guard guard(mutex);
	if (!pack)
		pack = std::make_unique<PackWriter>(layout);
	pack_entries.push_back({id, pack->append(record.header, record.body, len)});
	stats.bytes_new += len;
	stats.bytes_stored += record.size();
	++stats.chunks_new;
	if (pack->size() >= repo->config.pack_size)
		hand_off_pack();
}

void BackupWriter::Impl::hand_off_pack()
{
	sealing.push(SealJob{std::move(pack), std::move(pack_entries)});
	pack_entries = {};
}

void BackupWriter::Impl::seal()
{
	while (std::optional<SealJob> job = sealing.pop()) {
		try {
			if (failed())
				continue; // the job's destructor removes the temporary pack
			job->pack->finish();
			unindexed_bytes += job->pack->size();
			unindexed.insert(unindexed.end(), job->entries.begin(), job->entries.end());
			if (unindexed_bytes >= kSegmentBytes)
				flush_segment();
		} catch (...) {
			fail(std::current_exception());
		}
	}
}

void BackupWriter::Impl::flush_segment()
{
	if (unindexed.empty())
		return;
	write_segment(layout, crypto, next_segment++, unindexed);
	unindexed.clear();
	unindexed_bytes = 0;
}

BackupWriter::BackupWriter(std::shared_ptr<detail::RepoState> repo, const BackupRequest &request)
    : impl_(std::make_unique<Impl>(std::move(repo), request))
{
}

BackupWriter::BackupWriter(BackupWriter &&) noexcept = default;
BackupWriter &BackupWriter::operator=(BackupWriter &&) noexcept = default;
BackupWriter::~BackupWriter() = default;

std::uint32_t BackupWriter::chunk_size() const { return impl_->repo->config.chunk_size; }

std::uint64_t BackupWriter::chunk_count() const { return impl_->manifest.chunks.size(); }

std::uint32_t BackupWriter::chunk_length(std::uint64_t index) const
{
	std::uint64_t cs = chunk_size();
	if (index >= chunk_count())
		throw Error(Errc::invalid_argument, "chunk index past the device end");
	return static_cast<std::uint32_t>(std::min<std::uint64_t>(cs, impl_->req.size - index * cs));
}

Bytes BackupWriter::buffer()
{
	Bytes b;
	{
		std::lock_guard guard(impl_->mutex);
		if (!impl_->spare.empty()) {
			b = std::move(impl_->spare.back());
			impl_->spare.pop_back();
		}
	}
	b.resize(chunk_size());
	return b;
}

void BackupWriter::put(std::uint64_t index, Bytes &&data) { put(index, std::move(data), Bytes{}); }

void BackupWriter::put(std::uint64_t index, Bytes &&data, Bytes &&zstd_frame)
{
	impl_->rethrow_failure();
	impl_->check_index(index, data.size());
	impl_->bytes_read += data.size();
	impl_->queue.push(Job{index, std::move(data), std::move(zstd_frame)});
	impl_->report_progress();
}

void BackupWriter::put(std::uint64_t index, ByteView data)
{
	Bytes copy = buffer();
	copy.assign(data.begin(), data.end());
	put(index, std::move(copy));
}

void BackupWriter::put_zero(std::uint64_t index)
{
	impl_->rethrow_failure();
	std::uint32_t len = chunk_length(index);
	impl_->check_index(index, len);
	impl_->manifest.chunks[index] = ChunkId{};
	{
		std::lock_guard guard(impl_->mutex);
		impl_->stats.bytes_zero += len;
		++impl_->stats.chunks_zero;
	}
	impl_->report_progress();
}

PointInfo BackupWriter::commit()
{
	Impl &m = *impl_;
	if (m.committed)
		throw Error(Errc::invalid_argument, "backup already committed");
	if (m.req.base.empty() && !std::all_of(m.put_done.begin(), m.put_done.end(), [](bool b) { return b; }))
		throw Error(Errc::invalid_argument, "a full backup needs every chunk");
	m.stop_workers();
	if (m.pack)
		m.hand_off_pack();
	m.stop_sealer();
	m.rethrow_failure();
	m.flush_segment();

	PointInfo &info = m.manifest.info;
	info.id = random_hex(8);
	info.device = m.req.device;
	if (m.req.time != 0) {
		info.time = m.req.time;
		info.nanos = m.req.nanos;
	} else {
		timespec now{};
		clock_gettime(CLOCK_REALTIME, &now);
		info.time = now.tv_sec;
		info.nanos = static_cast<std::uint32_t>(now.tv_nsec);
	}
	info.size = m.req.size;
	info.chunk_size = m.repo->config.chunk_size;
	info.base = m.req.base;
	info.token = m.req.token;
	info.host = m.req.host;
	info.stats = m.stats;
	info.stats.bytes_read = m.bytes_read;
	info.stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m.started).count();
	m.lock->check();
	write_manifest(m.layout, m.crypto, m.manifest);
	m.committed = true;
	return info;
}

} // namespace bk::storage

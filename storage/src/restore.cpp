#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>

#include "bk/storage/error.hpp"
#include "chunk_fetch.hpp"
#include "codec.hpp"
#include "fs.hpp"
#include "index.hpp"
#include "manifest.hpp"
#include "operations.hpp"
#include "parallel.hpp"

namespace bk::storage::detail {

namespace {

struct Target {
	Fd fd;
	bool block_device = false;
};

Target open_target(const fs::path &path, std::uint64_t size, bool only_differences)
{
	Target t;
	struct stat st {};
	t.block_device = ::stat(path.c_str(), &st) == 0 && S_ISBLK(st.st_mode);
	if (t.block_device) {
		// O_EXCL on a block device: EBUSY while it is mounted or otherwise claimed.
		t.fd = open_file(path, O_RDWR | O_EXCL);
		std::uint64_t dev_size = 0;
		if (::ioctl(t.fd.get(), BLKGETSIZE64, &dev_size) != 0)
			throw_errno("BLKGETSIZE64 " + path.string());
		if (dev_size < size)
			throw Error(Errc::invalid_argument, path.string() + " is smaller than the restore point");
		return t;
	}
	t.fd = open_file(path, O_RDWR | O_CREAT);
	// A fresh sparse file reads as zeros, so zero chunks need not be written at all.
	if (!only_differences && ::ftruncate(t.fd.get(), 0) != 0)
		throw_errno("truncate " + path.string());
	if (::ftruncate(t.fd.get(), static_cast<off_t>(size)) != 0)
		throw_errno("truncate " + path.string());
	return t;
}

} // namespace

RestoreStats restore_point(const RepoState &repo, const std::string &id, const fs::path &target, const RestoreOptions &options)
{
	const auto started = std::chrono::steady_clock::now();
	// The manifest is read before the index: a backup running alongside publishes the
	// index segments a point needs before the point itself.
	const Manifest m = read_manifest(repo.layout, repo.crypto, id);
	// A damaged segment only matters if it held this point's chunks (verify reports it):
	// those are then missing here. A point with unindexed chunks fails before the target
	// is touched; chunk data is authenticated as it is read, and only authenticated chunks
	// are written.
	const Index index = Index::load(repo.layout, repo.crypto, [](const Error &) {});
	for (std::uint64_t i = 0; i < m.chunks.size(); ++i)
		if (!m.chunks[i].is_zero() && !index.find(m.chunks[i]))
			throw Error(Errc::corrupt,
				    "chunk " + std::to_string(i) + " (" + m.chunks[i].hex() + ") of point " + id + " is not in the index");
	Target out = open_target(target, m.info.size, options.only_differences);
	PackReader packs(repo.layout);
	const std::uint64_t cs = m.info.chunk_size;

	RestoreStats stats;
	stats.bytes_total = m.info.size;
	std::atomic<std::uint64_t> written{0}, chunks_written{0}, unchanged{0};
	ProgressReporter progress(options.progress, m.info.size);
	parallel_for(options.threads, m.chunks.size(), [&](std::uint64_t i) {
		thread_local Bytes record, plain, current;
		const ChunkId &cid = m.chunks[i];
		const std::uint64_t offset = i * cs;
		const auto len = static_cast<std::size_t>(std::min<std::uint64_t>(cs, m.info.size - offset));
		if (options.only_differences) {
			current.resize(len);
			pread_exact(out.fd.get(), current, offset, target);
			bool same = cid.is_zero() ? is_all_zero(current) : repo.crypto.chunk_id(current) == cid;
			if (same) {
				++unchanged;
				progress.add(len);
				return;
			}
		} else if (cid.is_zero() && !out.block_device) {
			progress.add(len);
			return;
		}
		if (cid.is_zero()) {
			plain.assign(len, 0);
		} else {
			fetch_chunk(repo.crypto, packs, index.find(cid), cid, len, id, record, plain);
		}
		pwrite_all(out.fd.get(), plain, offset, target);
		written += len;
		++chunks_written;
		progress.add(len);
	});
	fsync_fd(out.fd.get(), target);
	stats.bytes_written = written;
	stats.chunks_written = chunks_written;
	stats.chunks_unchanged = unchanged;
	stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
	return stats;
}

} // namespace bk::storage::detail

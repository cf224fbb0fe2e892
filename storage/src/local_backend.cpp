// The local backend: a repository directory. Objects are files; put() is write temp +
// fsync + rename + fsync dir (fs.hpp), locks are flock(2) (lock.hpp).
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>

#include "backend.hpp"
#include "bk/storage/error.hpp"
#include "crypto.hpp"
#include "fs.hpp"
#include "lock.hpp"

namespace bk::storage {

namespace {

class FileReader final : public ObjectReader {
public:
	explicit FileReader(fs::path path) : path_(std::move(path)), fd_(open_file(path_, O_RDONLY)) {}
	std::uint64_t size() override { return fd_size(fd_.get(), path_); }
	void read(std::span<std::uint8_t> buf, std::uint64_t offset) override { pread_exact(fd_.get(), buf, offset, path_); }

private:
	fs::path path_;
	Fd fd_;
};

// Appends to a temporary file under tmp/; commit() is fsync + rename + fsync dir.
class FileWriter final : public ObjectWriter {
public:
	FileWriter(fs::path target, const fs::path &tmp_dir)
	    : target_(std::move(target)), tmp_(tmp_dir / ("new-" + random_hex(8))), fd_(open_file(tmp_, O_WRONLY | O_CREAT | O_EXCL))
	{
	}
	FileWriter(const FileWriter &) = delete;
	FileWriter &operator=(const FileWriter &) = delete;
	~FileWriter() override
	{
		if (!committed_)
			::unlink(tmp_.c_str());
	}

	void append(ByteView data) override
	{
		pwrite_all(fd_.get(), data, size_, tmp_);
		size_ += data.size();
	}

	void commit() override
	{
		fsync_fd(fd_.get(), tmp_);
		fd_.reset();
		crash_point();
		if (::rename(tmp_.c_str(), target_.c_str()) != 0)
			throw_errno("rename to " + target_.string());
		committed_ = true;
		crash_point();
		fsync_dir(target_.parent_path());
		crash_point();
	}

private:
	fs::path target_;
	fs::path tmp_;
	Fd fd_;
	std::uint64_t size_ = 0;
	bool committed_ = false;
};

class FlockLock final : public RepoLock {
public:
	FlockLock(const fs::path &path, FileLock::Mode mode) : lock_(path, mode) {}

private:
	FileLock lock_;
};

void make_dir(const fs::path &dir)
{
	std::error_code ec;
	fs::create_directory(dir, ec);
	if (ec)
		throw Error(Errc::io, "mkdir " + dir.string() + ": " + ec.message());
}

class LocalBackend final : public Backend {
public:
	explicit LocalBackend(fs::path root) : root_(std::move(root)) {}

	std::string location() const override { return root_.string(); }
	std::string where(const std::string &key) const override { return path(key).string(); }

	void create() override
	{
		std::error_code ec;
		if (fs::exists(root_, ec) && !fs::is_empty(root_, ec))
			throw Error(Errc::invalid_argument, "refusing to create a repository in non-empty " + root_.string());
		make_dir(root_);
		for (const char *d : {"tmp", "packs", "index", "points", "locks"})
			make_dir(root_ / d);
		for (int i = 0; i < 256; ++i) {
			char name[3];
			std::snprintf(name, sizeof name, "%02x", i);
			make_dir(root_ / "packs" / name);
		}
		fsync_dir(root_ / "packs");
		fsync_dir(root_);
	}

	void put(const std::string &key, ByteView data) override { write_file_atomic(path(key), data, tmp()); }
	Bytes get(const std::string &key) override { return read_file(path(key)); }
	std::unique_ptr<ObjectReader> open(const std::string &key) override { return std::make_unique<FileReader>(path(key)); }
	std::unique_ptr<ObjectWriter> create_object(const std::string &key) override
	{
		return std::make_unique<FileWriter>(path(key), tmp());
	}

	std::vector<ObjectEntry> list(const std::string &dir) override
	{
		std::vector<ObjectEntry> out;
		for (const auto &e : fs::recursive_directory_iterator(path(dir)))
			if (e.is_regular_file())
				out.push_back({fs::relative(e.path(), root_).string(), e.file_size()});
		return out;
	}

	void remove(const std::string &key) override { remove_file(path(key)); }
	void sync(const std::string &dir) override { fsync_dir(path(dir)); }

	void remove_leftovers() override
	{
		for (const auto &e : fs::directory_iterator(tmp()))
			remove_file(e.path());
		fsync_dir(tmp());
	}

	std::unique_ptr<RepoLock> lock(const std::string &name, LockMode mode) override
	{
		return std::make_unique<FlockLock>(root_ / "locks" / name,
						   mode == LockMode::exclusive ? FileLock::Mode::exclusive : FileLock::Mode::shared);
	}

private:
	fs::path path(const std::string &key) const { return root_ / key; }
	fs::path tmp() const { return root_ / "tmp"; }

	fs::path root_;
};

} // namespace

std::shared_ptr<Backend> make_local_backend(const std::string &dir) { return std::make_shared<LocalBackend>(dir); }

bool is_s3_location(const std::string &location) { return location.starts_with("s3://"); }

std::shared_ptr<Backend> open_backend(const std::string &location, const StorageOptions &options)
{
	if (is_s3_location(location))
		return make_s3_backend(location, options.s3);
	return make_local_backend(location);
}

} // namespace bk::storage

#include "fs.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>

#include "bk/storage/error.hpp"
#include "crypto.hpp"

namespace bk::storage {

Fd open_file(const fs::path &path, int flags, mode_t mode)
{
	int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
	if (fd < 0) {
		if (errno == ENOENT)
			throw Error(Errc::not_found, "no such file: " + path.string());
		throw_errno("open " + path.string());
	}
	return Fd(fd);
}

std::uint64_t fd_size(int fd, const fs::path &what)
{
	struct stat st {};
	if (::fstat(fd, &st) != 0)
		throw_errno("stat " + what.string());
	return static_cast<std::uint64_t>(st.st_size);
}

void pread_exact(int fd, std::span<std::uint8_t> buf, std::uint64_t offset, const fs::path &what)
{
	std::size_t done = 0;
	while (done < buf.size()) {
		ssize_t n = ::pread(fd, buf.data() + done, buf.size() - done, static_cast<off_t>(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			throw_errno("read " + what.string());
		if (n == 0)
			throw Error(Errc::corrupt, "unexpected end of file: " + what.string());
		done += static_cast<std::size_t>(n);
	}
}

void pwrite_all(int fd, ByteView data, std::uint64_t offset, const fs::path &what)
{
	std::size_t done = 0;
	while (done < data.size()) {
		ssize_t n = ::pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			throw_errno("write " + what.string());
		done += static_cast<std::size_t>(n);
	}
}

void fsync_fd(int fd, const fs::path &what)
{
	if (::fsync(fd) != 0)
		throw_errno("fsync " + what.string());
}

void fsync_dir(const fs::path &dir)
{
	Fd fd = open_file(dir, O_RDONLY | O_DIRECTORY);
	fsync_fd(fd.get(), dir);
}

Bytes read_file(const fs::path &path)
{
	Fd fd = open_file(path, O_RDONLY);
	Bytes data(fd_size(fd.get(), path));
	pread_exact(fd.get(), data, 0, path);
	return data;
}

void write_file_atomic(const fs::path &target, ByteView data, const fs::path &tmp_dir)
{
	fs::path tmp = tmp_dir / ("tmp-" + random_hex(8));
	{
		Fd fd = open_file(tmp, O_WRONLY | O_CREAT | O_EXCL);
		pwrite_all(fd.get(), data, 0, tmp);
		crash_point();
		fsync_fd(fd.get(), tmp);
	}
	crash_point();
	if (::rename(tmp.c_str(), target.c_str()) != 0) {
		int saved = errno;
		::unlink(tmp.c_str());
		errno = saved;
		throw_errno("rename to " + target.string());
	}
	crash_point();
	fsync_dir(target.parent_path());
	crash_point();
}

void remove_file(const fs::path &path)
{
	if (::unlink(path.c_str()) != 0 && errno != ENOENT)
		throw_errno("remove " + path.string());
	crash_point();
}

namespace {
std::atomic<long> g_crash_points{0};
}

void crash_point()
{
	static const long limit = [] {
		const char *env = std::getenv("BK_TEST_CRASH_AFTER");
		return env ? std::strtol(env, nullptr, 10) : 0L;
	}();
	long passed = ++g_crash_points;
	if (limit > 0 && passed == limit)
		::kill(::getpid(), SIGKILL);
}

long crash_points_passed() { return g_crash_points.load(); }

} // namespace bk::storage

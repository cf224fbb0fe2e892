#include "lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "bk/storage/error.hpp"

namespace bk::storage {

namespace {

constexpr std::size_t kMaxPidDigits = 10;

} // namespace

std::string lock_holder(ByteView content)
{
	if (content.empty() || content.size() > kMaxPidDigits ||
	    !std::all_of(content.begin(), content.end(), [](std::uint8_t c) { return c >= '0' && c <= '9'; }))
		return "";
	return std::string(content.begin(), content.end());
}

FileLock::FileLock(const fs::path &path, Mode mode) : fd_(open_file(path, O_RDWR | O_CREAT)), mode_(mode)
{
	int op = (mode == Mode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
	while (::flock(fd_.get(), op) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			// A pid is short: a damaged lock file of any size costs one small read.
			Bytes owner(kMaxPidDigits + 1);
			ssize_t n = ::pread(fd_.get(), owner.data(), owner.size(), 0);
			owner.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
			std::string pid = lock_holder(owner);
			throw Error(Errc::locked, "repository is busy (" + path.filename().string() + " lock held" +
							  (pid.empty() ? "" : " by pid " + pid) + ")");
		}
		throw_errno("flock " + path.string());
	}
	if (mode == Mode::exclusive) { // tell the next contender who holds it
		std::string pid = std::to_string(::getpid());
		if (::ftruncate(fd_.get(), 0) != 0)
			throw_errno("truncate " + path.string());
		pwrite_all(fd_.get(), ByteView(reinterpret_cast<const std::uint8_t *>(pid.data()), pid.size()), 0, path);
	}
}

FileLock::~FileLock()
{
	// The pid is only meaningful while the lock is held; failing to clear it only leaves
	// a stale name for the next contender's message.
	if (mode_ == Mode::exclusive && ::ftruncate(fd_.get(), 0) != 0)
		return;
}

} // namespace bk::storage

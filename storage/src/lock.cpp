#include "lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "bk/storage/error.hpp"

namespace bk::storage {

FileLock::FileLock(const fs::path& path, Mode mode)
	: fd_(open_file(path, O_RDWR | O_CREAT)), mode_(mode)
{
	int op = (mode == Mode::exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB;
	while (::flock(fd_.get(), op) != 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			Bytes owner = read_file(path);
			std::string pid(owner.begin(), owner.end());
			throw Error(Errc::locked, "repository is busy (" + path.filename().string() +
							  " lock held" +
							  (pid.empty() ? "" : " by pid " + pid) + ")");
		}
		throw_errno("flock " + path.string());
	}
	if (mode == Mode::exclusive) {  // tell the next contender who holds it
		std::string pid = std::to_string(::getpid());
		if (::ftruncate(fd_.get(), 0) != 0)
			throw_errno("truncate " + path.string());
		pwrite_all(fd_.get(), ByteView(reinterpret_cast<const std::uint8_t*>(pid.data()), pid.size()),
			   0, path);
	}
}

FileLock::~FileLock()
{
	if (mode_ == Mode::exclusive)  // the pid is only meaningful while the lock is held
		(void)::ftruncate(fd_.get(), 0);
}

}  // namespace bk::storage

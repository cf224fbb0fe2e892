// Lock files: whatever a lock file holds, a contender is refused with Errc::locked and
// names the holder only when the file holds a pid; an exclusive holder writes its own
// pid, which reads back as the holder.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdint>

#include "bk/storage/error.hpp"
#include "fuzz_common.hpp"
#include "lock.hpp"
#include "temp_dir.h"

using namespace bk::storage;

namespace {

const fs::path &lock_path()
{
	static const bk::test::TempDir dir("bk-lock-fuzz");
	static const fs::path path = dir.path() / "write";
	return path;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	const ByteView content(data, size);
	const std::string holder = lock_holder(content);
	fuzz::require(holder.empty() || holder == std::string(content.begin(), content.end()), "a holder is the whole content");
	{
		Fd other = open_file(lock_path(), O_RDWR | O_CREAT | O_TRUNC);
		pwrite_all(other.get(), content, 0, lock_path());
		fuzz::require(::flock(other.get(), LOCK_EX | LOCK_NB) == 0, "first lock succeeds");
		try {
			FileLock contender(lock_path(), FileLock::Mode::shared);
			fuzz::require(false, "a held lock refuses a contender");
		} catch (const Error &e) {
			fuzz::require(e.code() == Errc::locked, "refusal is Errc::locked");
			const std::string what = e.what();
			fuzz::require(holder.empty() ? what.find("by pid") == std::string::npos
						     : what.find("by pid " + holder + ")") != std::string::npos,
				      "refusal names the holder exactly when there is one");
		}
	}
	FileLock mine(lock_path(), FileLock::Mode::exclusive);
	fuzz::require(lock_holder(read_file(lock_path())) == std::to_string(::getpid()), "an exclusive holder reads back as the holder");
	return 0;
}

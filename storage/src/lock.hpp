// Repository locks: flock(2) on files under locks/. The kernel drops a lock when its holder
// dies, so a killed process never leaves a stale lock behind.
//   locks/write  — shared by backups (many hosts at once), exclusive for prune
//   locks/delete — shared by readers (restore, verify, list); exclusive for prune, the
//                  only operation that removes files
#pragma once

#include <string>

#include "fs.hpp"

namespace bk::storage {

// The pid an exclusive holder wrote into its lock file: `content` when it is a decimal
// number, "" otherwise (empty, damaged, or too long to be a pid).
std::string lock_holder(ByteView content);

class FileLock {
public:
	enum class Mode { shared, exclusive };
	// Never blocks: throws Errc::locked when another process holds a conflicting lock.
	FileLock(const fs::path &path, Mode mode);
	FileLock(const FileLock &) = delete;
	FileLock &operator=(const FileLock &) = delete;
	~FileLock();

private:
	Fd fd_;
	Mode mode_;
};

} // namespace bk::storage

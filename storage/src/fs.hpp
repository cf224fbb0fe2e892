// File-system helpers: exact reads/writes, and the crash-safe
// publication of a file (write temp + fsync + rename + fsync directory).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <span>
#include <utility>

#include "bk/storage/types.hpp"
#include "bk/util/unique_fd.h"

namespace bk::storage {

namespace fs = std::filesystem;

using Fd = util::UniqueFd;

Fd open_file(const fs::path &path, int flags, mode_t mode = 0644);
std::uint64_t fd_size(int fd, const fs::path &what);

// Reads exactly buf.size() bytes; a short read means the file is truncated (Errc::corrupt).
void pread_exact(int fd, std::span<std::uint8_t> buf, std::uint64_t offset, const fs::path &what);
void pwrite_all(int fd, ByteView data, std::uint64_t offset, const fs::path &what);
void fsync_fd(int fd, const fs::path &what);
void fsync_dir(const fs::path &dir);

Bytes read_file(const fs::path &path);

// Publishes `data` at `target` atomically and durably: a crash leaves either the old state
// or the complete new file, never a partial one. The temporary lives in `tmp_dir`, which
// must be on the same file system.
void write_file_atomic(const fs::path &target, ByteView data, const fs::path &tmp_dir);

// Removes a file (missing is fine); the caller syncs the directory when order matters.
void remove_file(const fs::path &path);

// Test hook for kill -9 injection: when BK_TEST_CRASH_AFTER=N is set in the environment,
// the N-th crash point reached kills the process with SIGKILL. Crash points sit between
// the steps of every durable update.
void crash_point();
long crash_points_passed();

} // namespace bk::storage

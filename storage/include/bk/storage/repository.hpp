// The backup repository: restore points of block devices, stored as deduplicated,
// compressed, encrypted chunks in pack files. See docs/repository.md for the format and
// the crash-safety argument. Errors are thrown as bk::storage::Error.
//
// Locking: backups (of one host or many) run together and exclude prune (the write
// lock); restore, verify and points() run alongside a backup but not alongside prune
// (the delete lock). Conflicts throw Errc::locked immediately.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bk/storage/backup_writer.hpp"
#include "bk/storage/location.hpp"
#include "bk/storage/point_reader.hpp"
#include "bk/storage/prune_policy.hpp"
#include "bk/storage/types.hpp"

namespace bk::storage {

namespace detail {
struct RepoState;
}

struct InitOptions {
	bool encrypted = true;               // false only when asked for explicitly
	std::string passphrase;              // required when encrypted
	std::uint32_t chunk_size = 1u << 20; // power of two, 64 KiB .. 64 MiB
	std::uint64_t pack_size = 32u << 20; // target size of a pack file
	int zstd_level = 3;
	std::uint64_t scrypt_n = 1u << 15; // KDF cost (power of two); lower only in tests
};

struct RestoreOptions {
	bool only_differences = false; // read the target and write only chunks that differ
	ProgressFn progress;
	unsigned threads = 0; // 0: one per core
};

struct RestoreStats {
	std::uint64_t bytes_total = 0;
	std::uint64_t bytes_written = 0;
	std::uint64_t chunks_written = 0;
	std::uint64_t chunks_unchanged = 0; // skipped: already equal on the target
	double seconds = 0;
};

struct VerifyOptions {
	double sample = 1.0;               // fraction of the referenced chunks to read back (0..1]
	std::string point{};               // non-empty: only this point (full id) and the chunks it uses
	std::optional<std::string> host{}; // only the points of this host id ("": points without one)
	ProgressFn progress;
	unsigned threads = 0;
};

struct VerifyReport {
	std::uint64_t points = 0;
	std::uint64_t chunks_referenced = 0; // distinct non-zero chunks used by some point
	std::uint64_t chunks_checked = 0;    // read, authenticated, decompressed and re-hashed
	std::uint64_t bytes_checked = 0;
	std::uint64_t orphan_packs = 0;          // packs no index entry uses (left by a crash; prune removes)
	std::vector<std::string> errors;         // empty when the repository is sound
	std::vector<std::string> damaged_points; // ids of points that cannot be restored, sorted
	std::vector<std::string> damaged_chunks; // hex ids of chunks that are missing or fail, sorted
	bool ok() const { return errors.empty(); }
};

struct PruneOptions {
	KeepPolicy keep;
	std::vector<std::string> devices{}; // non-empty: only these devices' points may go
	std::optional<std::string> host{};  // only this host's points may go ("": points without a host)
	bool dry_run = false;
	// A pack whose unreferenced bytes exceed this fraction is rewritten without them.
	double repack_threshold = 0.2;
};

struct PruneReport {
	std::vector<std::string> kept;
	std::vector<std::string> removed;
	std::uint64_t packs_deleted = 0;
	std::uint64_t packs_repacked = 0;
	std::uint64_t bytes_freed = 0;
};

class Repository {
public:
	// `location` is a directory or s3://bucket/prefix (location.hpp; `storage` configures S3).
	static Repository init(const std::filesystem::path &location, const InitOptions &options, const StorageOptions &storage = {});
	// The passphrase is ignored for an unencrypted repository.
	static Repository open(const std::filesystem::path &location, const std::string &passphrase, const StorageOptions &storage = {});

	Repository(Repository &&) noexcept;
	Repository &operator=(Repository &&) noexcept;
	~Repository();

	std::uint32_t chunk_size() const;
	bool encrypted() const;

	// All restore points, oldest first.
	std::vector<PointInfo> points() const;
	// Resolves a full id or a unique prefix of one, among the points of `host` when given
	// ("": the points written before host ids).
	PointInfo point(const std::string &id_or_prefix, const std::optional<std::string> &host = std::nullopt) const;

	// Starts a backup; the writer holds the write lock (shared) until committed or destroyed.
	BackupWriter begin_backup(const BackupRequest &request);
	// Writes the device image of a point to a file (created, sparse) or a block device.
	RestoreStats restore(const std::string &id, const std::filesystem::path &target, const RestoreOptions &options = {});
	// Random access to the image of a point (see point_reader.hpp); holds the shared
	// delete lock while it lives.
	PointReader open_point(const std::string &id, const PointReaderOptions &options = {}) const;
	VerifyReport verify(const VerifyOptions &options = {});
	PruneReport prune(const PruneOptions &options);

private:
	explicit Repository(std::shared_ptr<detail::RepoState> state);
	std::shared_ptr<detail::RepoState> state_;
};

// Backs up the image readable through `fd` (a file or block device of request.size bytes).
// With `changed` null every chunk is read; otherwise only the listed chunk indexes are read
// and the others are taken from request.base.
PointInfo backup_fd(Repository &repo, BackupRequest request, int fd, const std::vector<std::uint64_t> *changed = nullptr);

} // namespace bk::storage

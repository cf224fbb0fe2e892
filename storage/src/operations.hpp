// The repository operations behind Repository's methods, one file each.
#pragma once

#include "bk/storage/repository.hpp"
#include "fs.hpp"
#include "repo_state.hpp"

namespace bk::storage::detail {

RestoreStats restore_point(const RepoState &repo, const std::string &id, const fs::path &target, const RestoreOptions &options);
VerifyReport verify_repository(const RepoState &repo, const VerifyOptions &options);
PruneReport prune_repository(const RepoState &repo, const PruneOptions &options);
PointReader open_point(std::shared_ptr<const RepoState> repo, const std::string &id, const PointReaderOptions &options);

// Serializes progress reports coming from worker threads.
class ProgressReporter {
public:
	ProgressReporter(const ProgressFn &fn, std::uint64_t total) : fn_(fn), total_(total) {}
	void add(std::uint64_t bytes)
	{
		if (!fn_)
			return;
		std::lock_guard lock(mutex_);
		done_ += bytes;
		fn_(Progress{done_, total_});
	}

private:
	const ProgressFn &fn_;
	std::uint64_t total_;
	std::mutex mutex_;
	std::uint64_t done_ = 0;
};

} // namespace bk::storage::detail

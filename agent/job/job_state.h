// What a job's runs leave behind for `bkagent job status` and the metrics:
// STATE_DIR/NAME.json, replaced atomically after every run, and the run lock
// STATE_DIR/NAME.lock.
#pragma once

#include "bk/util/unique_fd.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bk::job {

inline constexpr const char *default_state_dir = "/var/lib/bkagent/jobs";

struct RunRecord {
	std::int64_t started = 0; // Unix seconds
	std::int64_t ended = 0;
	double seconds = 0;
	int exit_code = 0;
	std::string message; // "" when it succeeded
	std::uint64_t bytes_read = 0;
	std::uint64_t bytes_stored = 0;
	std::vector<std::string> points; // made by the run
};

struct JobState {
	std::optional<RunRecord> last_run, last_success, last_failure;
	std::uint64_t points = 0; // of the job's devices in its repository after the last run that saw it
	// Per device: fulls the agent demanded (CBT reset, unclean shutdown, unknown token).
	std::map<std::string, std::uint64_t> cbt_resets;
};

nlohmann::json to_json(const RunRecord &r);
nlohmann::json to_json(const JobState &s);
// A missing file is an empty state; a damaged one throws std::runtime_error.
JobState load_state(const std::string &dir, const std::string &name);
void save_state(const std::string &dir, const std::string &name, const JobState &state);

// Replaces `path` with `content` atomically (temporary file, fsync, rename).
void write_atomically(const std::string &path, const std::string &content);

// An exclusive flock on STATE_DIR/NAME.lock, held while it lives; the
// kernel drops it when the process dies, so a crashed run never blocks the next.
class JobLock {
public:
	// Throws std::runtime_error when the lock file cannot be opened.
	JobLock(const std::string &dir, const std::string &name);
	bool held() const { return held_; } // false: another run holds it

private:
	util::UniqueFd fd_;
	bool held_ = false;
};

} // namespace bk::job

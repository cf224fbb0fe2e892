// A backup job: /etc/bkagent/jobs/NAME.conf, JSON with // comments like
// bkagentd.conf (keys: deploy/man/bkagent-job.5).
#pragma once

#include "bk/storage/location.hpp"
#include "bk/storage/prune_policy.hpp"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace bk::job {

inline constexpr const char *default_jobs_dir = "/etc/bkagent/jobs";

// A job file that cannot be used; what() names the file, the key and what is wrong.
class ConfigError : public std::invalid_argument {
public:
	using std::invalid_argument::invalid_argument;
};

struct JobConfig {
	std::string name;
	std::string file;
	std::vector<std::string> devices;             // one consistency group
	std::string repository;                       // directory or s3://bucket/prefix
	storage::StorageOptions storage;              // "s3": endpoint, credentials file, ...
	std::string passphrase_file;                  // "": $BKAGENT_PASSPHRASE (or an unencrypted repository)
	std::string schedule = "daily";               // systemd OnCalendar
	std::optional<storage::KeepPolicy> retention; // nullopt: never prune
	std::string pre_freeze_hook, post_thaw_hook;  // hook names on the agent's host
	double verify_sample = 0.02;                  // of the new points' chunks; 0: no verify
	std::string io_class = "idle";                // "idle", "best-effort" or "none" (inherit)
	int nice = 10;
	std::optional<std::chrono::seconds> lease;
	std::string host; // host id of the job's points ("": the machine's, storage::default_host_id)

	// `text` is the content of `file`; throws ConfigError.
	static JobConfig parse(const std::string &name, const std::string &file, const std::string &text);
	// Reads DIR/NAME.conf and checks the schedule with systemd-analyze (when installed).
	static JobConfig load(const std::string &dir, const std::string &name);
};

// Job names are systemd instance names and file names: [A-Za-z0-9_.-], not starting with '.'.
bool valid_job_name(const std::string &name);
// The names of DIR/*.conf, sorted.
std::vector<std::string> job_names(const std::string &dir);

} // namespace bk::job

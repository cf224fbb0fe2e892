// `bkagent job run NAME`: lock, backup (snapshot, incremental or full, commit,
// release), prune by the job's retention, partial verify of the new points;
// then the job's state and the metrics file. Failures are outcomes here, not
// exceptions: each has its exit code, recorded for status and metrics.
#pragma once

#include "backup/backup.h"
#include "job/job_config.h"
#include "job/job_state.h"
#include "job/metrics.h"

#include <functional>
#include <string>

namespace bk::job {

// Exit codes of `bkagent job run` (bkagent-job(5), bkagent(8)).
enum RunExit : int {
	run_ok = 0,
	run_unreachable = 3, // the agent did not answer (as the CLI's exit code 3)
	run_busy = 10,       // another run of this job holds its lock
	run_config = 11,     // the job file is missing or wrong
	run_failed = 12,     // backup or prune failed (no half point; the CBT baseline stays)
	run_verify = 13,     // the new points' sampled chunks failed verification
};

struct Paths {
	std::string jobs_dir = default_jobs_dir;
	std::string state_dir = default_state_dir;
	std::string metrics_file = default_metrics_file; // written only when its directory exists
};

struct RunSummary {
	RunRecord record; // what status and the metrics show
	std::vector<backup::DeviceResult> devices;
	std::uint64_t points_kept = 0, points_removed = 0;
	std::uint64_t chunks_verified = 0;
};

using Say = std::function<void(const std::string &line)>; // one line per phase

RunSummary run_job(client::Client &agent, const std::string &name, const Paths &paths, const Say &say);

// The metrics of every job in paths.jobs_dir and of the agent (which may be down).
std::string metrics_text(client::Client &agent, const Paths &paths);
// Rewrites paths.metrics_file when its directory exists.
void write_metrics(client::Client &agent, const Paths &paths);

} // namespace bk::job

#include "job/job_runner.h"

#include "bk/storage/error.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

namespace bk::job {

namespace {

namespace st = bk::storage;
namespace fs = std::filesystem;

// A failed phase: its exit code and message.
struct Failure {
	int code;
	std::string message;
};

std::int64_t unix_now()
{
	return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string passphrase_of(const JobConfig &job)
{
	if (job.passphrase_file.empty()) {
		const char *env = std::getenv("BKAGENT_PASSPHRASE");
		return env ? env : "";
	}
	std::ifstream in(job.passphrase_file);
	std::string line;
	if (!std::getline(in, line))
		throw Failure{run_config,
			      job.file + ": config key 'passphrase_file': cannot read a passphrase from " + job.passphrase_file};
	return line;
}

// Idle I/O class and niceness for this process: the repository writes and
// compression. (The device reads happen in bkagentd.)
void lower_priority(const JobConfig &job, const Say &say)
{
	constexpr int ioprio_who_process = 1, ioprio_class_shift = 13, ioprio_class_be = 2, ioprio_class_idle = 3;
	if (job.io_class != "none") {
		const int cls = job.io_class == "idle" ? ioprio_class_idle : ioprio_class_be;
		const int prio = cls << ioprio_class_shift | (cls == ioprio_class_be ? 7 : 0);
		if (::syscall(SYS_ioprio_set, ioprio_who_process, 0, prio) != 0)
			say("warning: cannot set I/O class " + job.io_class);
	}
	if (::setpriority(PRIO_PROCESS, 0, job.nice) != 0)
		say("warning: cannot set nice " + std::to_string(job.nice));
}

std::string human(std::uint64_t bytes)
{
	const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	double v = static_cast<double>(bytes);
	int u = 0;
	for (; v >= 1024 && u < 4; ++u)
		v /= 1024;
	char buf[32];
	std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

bool agent_reason_demands_full(const std::string &reason)
{
	return reason == "CBT_RESET" || reason == "UNCLEAN_SHUTDOWN" || reason == "UNKNOWN_TOKEN";
}

// The phases after the lock; throws Failure.
void run_phases(client::Client &agent, const JobConfig &job, JobState &state, RunSummary &sum, const Say &say)
{
	lower_priority(job, say);
	st::Repository repo = [&] {
		try {
			return st::Repository::open(job.repository, passphrase_of(job), job.storage);
		} catch (const st::Error &e) {
			throw Failure{run_failed, "open repository " + job.repository + ": " + e.what()};
		}
	}();

	say("backup: one snapshot of " + std::to_string(job.devices.size()) + " device(s)");
	backup::BackupOptions opts;
	std::string snapshot_id;
	opts.devices = job.devices;
	opts.lease = job.lease;
	opts.label = "bkagent job " + job.name;
	opts.pre_freeze_hook = job.pre_freeze_hook;
	opts.post_thaw_hook = job.post_thaw_hook;
	opts.host = job.host.empty() ? st::default_host_id() : job.host;
	try {
		backup::BackupResult r = backup::back_up(agent, repo, opts);
		sum.devices = std::move(r.devices);
		snapshot_id = std::move(r.snapshot_id);
	} catch (const client::CallError &e) {
		const bool down = e.code() == grpc::StatusCode::UNAVAILABLE || e.code() == grpc::StatusCode::DEADLINE_EXCEEDED;
		throw Failure{down ? run_unreachable : run_failed, std::string(down ? "agent unreachable: " : "backup failed: ") +
									   e.what() + (e.reason().empty() ? "" : " [" + e.reason() + "]")};
	} catch (const std::exception &e) {
		throw Failure{run_failed, std::string("backup failed: ") + e.what()};
	}
	for (const backup::DeviceResult &d : sum.devices) {
		const st::BackupStats &s = d.point.stats;
		sum.record.points.push_back(d.point.id);
		sum.record.bytes_read += s.bytes_read;
		sum.record.bytes_stored += s.bytes_stored;
		if (agent_reason_demands_full(d.full_reason))
			++state.cbt_resets[d.device];
		say("backup " + d.device + ": point " + d.point.id + " " +
		    (d.incremental() ? "incremental from " + d.point.base : "full (" + d.full_reason + ")") + ", read " +
		    human(s.bytes_read) + ", stored " + human(s.bytes_stored));
	}
	say("backup: committed, snapshot " + snapshot_id + " released");

	if (job.retention) {
		st::PruneOptions p;
		p.keep = *job.retention;
		p.devices = job.devices;
		p.host = opts.host; // another host's points of the same device names are not the job's
		try {
			const st::PruneReport r = repo.prune(p);
			sum.points_removed = r.removed.size();
			say("prune: removed " + std::to_string(r.removed.size()) + " point(s), freed " + human(r.bytes_freed));
		} catch (const std::exception &e) {
			throw Failure{run_failed, std::string("prune failed: ") + e.what()};
		}
	} else {
		say("prune: no retention set, skipped");
	}
	const std::set<std::string> mine(job.devices.begin(), job.devices.end());
	state.points = 0;
	for (const st::PointInfo &p : repo.points())
		state.points += mine.contains(p.device) && p.host == opts.host ? 1 : 0;
	sum.points_kept = state.points;

	if (job.verify_sample == 0) {
		say("verify: off");
		return;
	}
	for (const std::string &id : sum.record.points) {
		st::VerifyOptions v;
		v.point = id;
		v.sample = job.verify_sample;
		st::VerifyReport r;
		try {
			r = repo.verify(v);
		} catch (const std::exception &e) {
			throw Failure{run_verify, "verify " + id + " failed: " + e.what()};
		}
		sum.chunks_verified += r.chunks_checked;
		if (!r.ok())
			throw Failure{run_verify, "verify " + id + ": " + r.errors.front()};
		say("verify " + id + ": " + std::to_string(r.chunks_checked) + " of " + std::to_string(r.chunks_referenced) + " chunks OK");
	}
}

AgentView agent_view(client::Client &agent) { return {agent.list_devices(true), agent.list_snapshots()}; }

} // namespace

RunSummary run_job(client::Client &agent, const std::string &name, const Paths &paths, const Say &say)
{
	RunSummary sum;
	RunRecord &rec = sum.record;
	rec.started = unix_now();
	const auto t0 = std::chrono::steady_clock::now();
	if (!valid_job_name(name)) {
		rec.exit_code = run_config;
		rec.message = "bad job name '" + name + "'";
		return sum;
	}
	fs::create_directories(paths.state_dir);
	const JobLock lock(paths.state_dir, name);
	if (!lock.held()) {
		rec.exit_code = run_busy;
		rec.message = "another run of job " + name + " is active";
		return sum; // that run owns the state
	}
	JobState state = load_state(paths.state_dir, name);
	try {
		const JobConfig job = JobConfig::load(paths.jobs_dir, name);
		run_phases(agent, job, state, sum, say);
	} catch (const ConfigError &e) {
		rec.exit_code = run_config;
		rec.message = e.what();
	} catch (const Failure &f) {
		rec.exit_code = f.code;
		rec.message = f.message;
	}
	rec.ended = unix_now();
	rec.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	state.last_run = rec;
	(rec.exit_code == run_ok ? state.last_success : state.last_failure) = rec;
	save_state(paths.state_dir, name, state);
	write_metrics(agent, paths);
	return sum;
}

std::string metrics_text(client::Client &agent, const Paths &paths)
{
	std::vector<std::pair<std::string, JobState>> jobs;
	for (const std::string &name : job_names(paths.jobs_dir))
		jobs.emplace_back(name, load_state(paths.state_dir, name));
	try {
		const AgentView view = agent_view(agent);
		return render_metrics(jobs, &view);
	} catch (const client::CallError &) {
		return render_metrics(jobs, nullptr);
	}
}

void write_metrics(client::Client &agent, const Paths &paths)
{
	if (paths.metrics_file.empty() || !fs::is_directory(fs::path(paths.metrics_file).parent_path()))
		return;
	write_atomically(paths.metrics_file, metrics_text(agent, paths));
}

} // namespace bk::job

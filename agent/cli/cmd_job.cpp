// bkagent job run|list|status|enable|disable, bkagent metrics — scheduled backup
// jobs (agent/job/, bkagent-job(5)): option wiring and printing.
#include "cli/output.h"
#include "cli/registry.h"

#include "job/job_runner.h"
#include "job/timer.h"

#include <iostream>
#include <memory>

namespace {

using namespace bk::cli;
namespace jb = bk::job;

struct JobArgs {
	jb::Paths paths;
	std::string systemd_dir = jb::default_systemd_dir;
	std::string name;
};

void add_paths(CLI::App *cmd, jb::Paths &paths)
{
	cmd->add_option("--jobs-dir", paths.jobs_dir, "job files NAME.conf")->envname("BKAGENT_JOBS_DIR")->capture_default_str();
	cmd->add_option("--state-dir", paths.state_dir, "job state and locks")->envname("BKAGENT_JOB_STATE_DIR")->capture_default_str();
	cmd->add_option("--metrics-file", paths.metrics_file, "Prometheus text file, written when its directory exists")
		->envname("BKAGENT_METRICS_FILE")
		->capture_default_str();
}

std::string when(std::int64_t unix_seconds)
{
	google::protobuf::Timestamp t;
	t.set_seconds(unix_seconds);
	return time_text(t);
}

nlohmann::json record_json(const std::optional<jb::RunRecord> &r)
{
	if (!r)
		return nullptr;
	nlohmann::json j = jb::to_json(*r);
	j["ended_at"] = when(r->ended);
	return j;
}

std::string record_text(const char *what, const std::optional<jb::RunRecord> &r)
{
	if (!r)
		return std::string("  ") + what + ": never\n";
	std::string s = std::string("  ") + what + ": " + when(r->ended) + ", " + std::to_string(r->seconds).substr(0, 5) + " s, exit " +
			std::to_string(r->exit_code) + ", read " + human_bytes(r->bytes_read) + ", stored " + human_bytes(r->bytes_stored) +
			"\n";
	if (!r->message.empty())
		s += "    " + r->message + "\n";
	return s;
}

// One job's status; a bad job file shows as its error.
std::pair<nlohmann::json, std::string> status_of(const JobArgs &args, const std::string &name)
{
	const jb::JobState st = jb::load_state(args.paths.state_dir, name);
	const jb::TimerInfo timer = jb::timer_info(name);
	nlohmann::json j = {{"job", name},
			    {"last_run", record_json(st.last_run)},
			    {"last_success", record_json(st.last_success)},
			    {"last_failure", record_json(st.last_failure)},
			    {"points", st.points},
			    {"timer_enabled", timer.enabled},
			    {"next_run", timer.next}};
	std::string text = name;
	try {
		const jb::JobConfig c = jb::JobConfig::load(args.paths.jobs_dir, name);
		j["devices"] = c.devices;
		j["repository"] = c.repository;
		j["schedule"] = c.schedule;
		text += "  " + c.repository + "  schedule " + c.schedule + "\n";
	} catch (const jb::ConfigError &e) {
		j["config_error"] = e.what();
		text += "  BAD JOB FILE: " + std::string(e.what()) + "\n";
	}
	text += "  timer: " +
		std::string(timer.enabled ? "enabled, next run " + (timer.next.empty() ? "unknown" : timer.next) : "not enabled") +
		"\n  points kept: " + std::to_string(st.points) + "\n" + record_text("last success", st.last_success) +
		record_text("last failure", st.last_failure);
	return {j, text};
}

void run(Context &ctx, const JobArgs &args)
{
	auto say = [&ctx](const std::string &line) {
		if (!ctx.json)
			std::cout << line << '\n' << std::flush;
	};
	const jb::RunSummary s = jb::run_job(ctx.agent(), args.name, args.paths, say);
	const jb::RunRecord &r = s.record;
	nlohmann::json points = nlohmann::json::array();
	for (const auto &d : s.devices)
		points.push_back({{"device", d.device},
				  {"id", d.point.id},
				  {"mode", d.incremental() ? "incremental" : "full"},
				  {"full_reason", d.full_reason},
				  {"bytes_read", d.point.stats.bytes_read},
				  {"bytes_stored", d.point.stats.bytes_stored}});
	const std::string text = "job " + args.name + ": " +
				 (r.exit_code == 0 ? std::string("OK") : "FAILED (exit " + std::to_string(r.exit_code) + ")") + " in " +
				 std::to_string(r.seconds).substr(0, 5) + " s, read " + human_bytes(r.bytes_read) + ", stored " +
				 human_bytes(r.bytes_stored) + ", " + std::to_string(s.points_kept) + " points kept\n" +
				 (r.message.empty() ? "" : "  " + r.message + "\n");
	ctx.print({{"job", args.name},
		   {"exit_code", r.exit_code},
		   {"message", r.message},
		   {"seconds", r.seconds},
		   {"bytes_read", r.bytes_read},
		   {"bytes_stored", r.bytes_stored},
		   {"points", points},
		   {"points_kept", s.points_kept},
		   {"points_removed", s.points_removed},
		   {"chunks_verified", s.chunks_verified}},
		  text);
	ctx.exit_code = r.exit_code;
}

CLI::App *name_command(CLI::App *job, const std::shared_ptr<JobArgs> &args, const char *name, const char *help)
{
	auto *cmd = job->add_subcommand(name, help);
	cmd->add_option("name", args->name, "job name (JOBS_DIR/NAME.conf)")->required();
	return cmd;
}

void setup(CLI::App &app, Context &ctx)
{
	auto args = std::make_shared<JobArgs>();
	auto *job = app.add_subcommand("job", "Scheduled backup jobs (/etc/bkagent/jobs/NAME.conf, bkagent-job(5))");
	job->require_subcommand(1);
	add_paths(job, args->paths);
	job->add_option("--systemd-dir", args->systemd_dir, "where timer drop-ins go")->capture_default_str();
	job->footer(R"(
Exit codes of `job run`:
  0 success           10 another run of this job is active
  3 agent unreachable 11 job file missing or wrong (names the file and key)
                      12 backup or prune failed (no half point; CBT baseline kept)
                      13 verify of the new points failed

Examples:
  bkagent job run nightly        back up, prune, verify now
  bkagent job enable nightly     start its systemd timer (the job's schedule)
  bkagent job status nightly     last success and failure, points, next run)");

	name_command(job, args, "run", "Run a job now: backup, prune, partial verify")->callback([&ctx, args] { run(ctx, *args); });
	job->add_subcommand("list", "All jobs with their last runs")->callback([&ctx, args] {
		nlohmann::json j = nlohmann::json::array();
		std::string text;
		for (const std::string &name : jb::job_names(args->paths.jobs_dir)) {
			auto [js, t] = status_of(*args, name);
			j.push_back(std::move(js));
			text += t;
		}
		ctx.print(j, text.empty() ? "no jobs in " + args->paths.jobs_dir + "\n" : text);
	});
	name_command(job, args, "status", "A job's last success and failure, points kept, next run")->callback([&ctx, args] {
		if (!jb::valid_job_name(args->name) || !std::filesystem::exists(args->paths.jobs_dir + "/" + args->name + ".conf"))
			throw bk::client::CallError(
				grpc::Status(grpc::StatusCode::NOT_FOUND, "no job " + args->name + " in " + args->paths.jobs_dir));
		auto [j, text] = status_of(*args, args->name);
		ctx.print(j, text);
	});
	name_command(job, args, "enable", "Schedule a job: its systemd timer with the job's OnCalendar")->callback([&ctx, args] {
		const jb::JobConfig c = jb::JobConfig::load(args->paths.jobs_dir, args->name);
		jb::enable_timer(c, args->systemd_dir);
		const jb::TimerInfo t = jb::timer_info(c.name);
		ctx.print({{"job", c.name}, {"timer", jb::timer_unit(c.name)}, {"schedule", c.schedule}, {"next_run", t.next}},
			  "enabled " + jb::timer_unit(c.name) + " (" + c.schedule + "), next run " + (t.next.empty() ? "unknown" : t.next) +
				  "\n");
	});
	name_command(job, args, "disable", "Stop scheduling a job")->callback([&ctx, args] {
		jb::disable_timer(args->name, args->systemd_dir);
		ctx.print({{"job", args->name}, {"timer", jb::timer_unit(args->name)}}, "disabled " + jb::timer_unit(args->name) + "\n");
	});

	auto *metrics = app.add_subcommand("metrics", "Print the Prometheus metrics of the jobs and the agent");
	metrics->footer(R"(
The same text every `job run` writes to --metrics-file for node_exporter's
textfile collector; --write rewrites that file now.)");
	add_paths(metrics, args->paths);
	auto write = std::make_shared<bool>(false);
	metrics->add_flag("--write", *write, "also rewrite the metrics file");
	metrics->callback([&ctx, args, write] {
		const std::string text = jb::metrics_text(ctx.agent(), args->paths);
		if (*write)
			jb::write_metrics(ctx.agent(), args->paths);
		std::cout << text;
	});
}

} // namespace

BK_CLI_COMMAND(setup)

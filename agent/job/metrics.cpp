#include "job/metrics.h"

#include <cmath>
#include <cstdio>
#include <functional>

namespace bk::job {

namespace {

namespace v1 = bkagent::v1;

std::string escape(const std::string &v)
{
	std::string out;
	for (char c : v) {
		if (c == '\\' || c == '"')
			out += '\\';
		if (c == '\n')
			out += "\\n";
		else
			out += c;
	}
	return out;
}

std::string number(double v)
{
	char buf[64];
	// Integers (timestamps, bytes) exactly, durations to the microsecond or so.
	std::snprintf(buf, sizeof buf, v == std::floor(v) ? "%.0f" : "%.9g", v);
	return buf;
}

class Exposition {
public:
	// Starts a family: its HELP and TYPE lines.
	void family(const std::string &name, const char *type, const std::string &help)
	{
		name_ = name;
		text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
	}
	void sample(const std::vector<std::pair<std::string, std::string>> &labels, double value, const std::string &suffix = "")
	{
		text_ += name_ + suffix;
		if (!labels.empty()) {
			text_ += '{';
			for (std::size_t i = 0; i < labels.size(); ++i)
				text_ += (i ? "," : "") + labels[i].first + "=\"" + escape(labels[i].second) + "\"";
			text_ += '}';
		}
		text_ += " " + number(value) + "\n";
	}
	const std::string &text() const { return text_; }

private:
	std::string name_;
	std::string text_;
};

using Jobs = std::vector<std::pair<std::string, JobState>>;

// One gauge family over the jobs that have `rec`, valued by `value`.
void job_gauge(Exposition &out, const Jobs &jobs, const std::string &name, const std::string &help,
	       const std::optional<RunRecord> JobState::*rec, const std::function<double(const RunRecord &)> &value)
{
	out.family(name, "gauge", help);
	for (const auto &[job, state] : jobs)
		if (state.*rec)
			out.sample({{"job", job}}, value(*(state.*rec)));
}

} // namespace

std::string render_metrics(const Jobs &jobs, const AgentView *agent)
{
	Exposition out;
	const auto last = &JobState::last_run;
	job_gauge(out, jobs, "bkagent_job_last_success_timestamp_seconds", "Unix time the job's last successful run ended.",
		  &JobState::last_success, [](const RunRecord &r) { return static_cast<double>(r.ended); });
	job_gauge(out, jobs, "bkagent_job_last_failure_timestamp_seconds", "Unix time the job's last failed run ended.",
		  &JobState::last_failure, [](const RunRecord &r) { return static_cast<double>(r.ended); });
	job_gauge(out, jobs, "bkagent_job_last_run_timestamp_seconds", "Unix time the job's last run ended.", last,
		  [](const RunRecord &r) { return static_cast<double>(r.ended); });
	job_gauge(out, jobs, "bkagent_job_last_run_duration_seconds", "Duration of the job's last run.", last,
		  [](const RunRecord &r) { return r.seconds; });
	job_gauge(out, jobs, "bkagent_job_last_exit_code", "Exit code of the job's last run (0: success; see bkagent-job(5)).", last,
		  [](const RunRecord &r) { return r.exit_code; });
	job_gauge(out, jobs, "bkagent_job_last_read_bytes", "Bytes the job's last run read from its devices.", last,
		  [](const RunRecord &r) { return static_cast<double>(r.bytes_read); });
	job_gauge(out, jobs, "bkagent_job_last_stored_bytes", "Bytes the job's last run added to its repository.", last,
		  [](const RunRecord &r) { return static_cast<double>(r.bytes_stored); });
	out.family("bkagent_job_points", "gauge", "Restore points of the job's devices in its repository.");
	for (const auto &[job, state] : jobs)
		if (state.last_run)
			out.sample({{"job", job}}, static_cast<double>(state.points));
	out.family("bkagent_job_cbt_resets", "counter",
		   "Full reads the agent demanded in the job's runs (CBT reset, unclean shutdown, unknown token).");
	for (const auto &[job, state] : jobs)
		for (const auto &[device, n] : state.cbt_resets)
			out.sample({{"job", job}, {"device", device}}, static_cast<double>(n), "_total");

	out.family("bkagent_agent_up", "gauge", "Whether bkagentd answered when the metrics were written.");
	out.sample({}, agent ? 1 : 0);
	if (!agent)
		return out.text();
	out.family("bkagent_device_tracking_state", "gauge", "Tracking state of a tracked device (1 for the current state).");
	for (const v1::Device &d : agent->devices)
		for (v1::TrackingState s : {v1::TRACKING, v1::IN_SNAPSHOT, v1::GONE, v1::CBT_ERROR})
			out.sample({{"device", d.path()}, {"state", v1::TrackingState_Name(s)}}, d.state() == s ? 1 : 0);
	out.family("bkagent_device_size_bytes", "gauge", "Size of a tracked device.");
	for (const v1::Device &d : agent->devices)
		out.sample({{"device", d.path()}}, static_cast<double>(d.size_bytes()));
	double reserved = 0, used = 0;
	for (const v1::Snapshot &s : agent->snapshots) {
		reserved += static_cast<double>(s.diff_storage_bytes());
		used += static_cast<double>(s.diff_used_bytes());
	}
	out.family("bkagent_live_snapshots", "gauge", "Snapshots the agent holds.");
	out.sample({}, static_cast<double>(agent->snapshots.size()));
	out.family("bkagent_diff_storage_bytes", "gauge", "Difference storage reserved by the live snapshots.");
	out.sample({}, reserved);
	out.family("bkagent_diff_storage_used_bytes", "gauge", "Difference storage the live snapshots use.");
	out.sample({}, used);
	return out.text();
}

} // namespace bk::job

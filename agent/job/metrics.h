// Prometheus text exposition (format 0.0.4) of the jobs' last runs and the
// agent's devices, for node_exporter's textfile collector.
#pragma once

#include "job/job_state.h"

#include <bkagent/v1/bkagent.pb.h>

#include <string>
#include <utility>
#include <vector>

namespace bk::job {

inline constexpr const char *default_metrics_file = "/var/lib/prometheus/node-exporter/bkagent.prom";

// What the agent said when asked for its status.
struct AgentView {
	std::vector<bkagent::v1::Device> devices; // tracked ones
	std::vector<bkagent::v1::Snapshot> snapshots;
};

// `agent` null: the agent did not answer (bkagent_agent_up 0, no device series).
std::string render_metrics(const std::vector<std::pair<std::string, JobState>> &jobs, const AgentView *agent);

} // namespace bk::job

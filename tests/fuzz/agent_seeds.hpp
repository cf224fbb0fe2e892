// Seeds of the agent's fuzz targets (agent_rpc, snapshot_record, job), written by
// bk_fuzz_seeds beside the repository decoders'.
#pragma once

#include <filesystem>

namespace bk::fuzz {

namespace fs = std::filesystem;

// SEEDS/{agent_rpc,snapshot_record,job}/; `job_conf` is deploy/jobs/nightly.conf.
void write_agent_seeds(const fs::path &out, const fs::path &job_conf);

} // namespace bk::fuzz

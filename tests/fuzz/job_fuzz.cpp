// Job files and job state (agent/job): bit 0 of the first byte picks what the rest is.
// 0: a job file through JobConfig::parse, which returns a job or throws ConfigError
// naming the bad key (anything else escaping is a finding; job files have no writer,
// so no round trip). 1: a job's state file through load_state, which returns a state
// or throws std::runtime_error; a state that loads saves to a file that loads to the
// same state.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <stdlib.h>

#include "job/job_config.h"
#include "job/job_state.h"
#include "property.hpp"
#include "temp_dir.h"

namespace {

namespace fs = std::filesystem;
using bk::fuzz::require;

const std::string &state_dir()
{
	static const bk::test::TempDir dir("bk-job-fuzz");
	static const std::string path = dir.path().string();
	return path;
}

void state_round_trip(const std::string &text)
{
	std::ofstream(fs::path(state_dir()) / "fuzz.json", std::ios::binary | std::ios::trunc) << text;
	bk::job::JobState state;
	try {
		state = bk::job::load_state(state_dir(), "fuzz");
	} catch (const std::runtime_error &) {
		return;
	}
	bk::job::save_state(state_dir(), "fuzz", state);
	require(bk::job::to_json(bk::job::load_state(state_dir(), "fuzz")) == bk::job::to_json(state),
		"a job state re-saves to the same state");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
	if (size == 0)
		return 0;
	const std::string text(reinterpret_cast<const char *>(data) + 1, size - 1);
	if (data[0] & 1) {
		state_round_trip(text);
		return 0;
	}
	try {
		bk::job::JobConfig::parse("fuzz", "fuzz.conf", text);
	} catch (const bk::job::ConfigError &) {
	}
	return 0;
}

// Running a helper program (systemd-analyze, systemctl) without a shell.
#pragma once

#include <string>
#include <vector>

namespace bk::job {

struct CommandResult {
	int status = -1;    // exit status; -1 when it could not run or died by a signal
	std::string output; // stdout and stderr
};

// Runs argv[0] (looked up in PATH) with its output captured.
CommandResult run_command(const std::vector<std::string> &argv);

std::string first_line(const std::string &text);

} // namespace bk::job

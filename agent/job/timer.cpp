#include "job/timer.h"

#include "job/command.h"
#include "job/job_state.h"

#include <filesystem>
#include <stdexcept>

namespace bk::job {

namespace {

namespace fs = std::filesystem;

fs::path dropin_dir(const std::string &name, const std::string &systemd_dir) { return fs::path(systemd_dir) / (timer_unit(name) + ".d"); }

void systemctl(const std::vector<std::string> &args)
{
	std::vector<std::string> argv{"systemctl"};
	argv.insert(argv.end(), args.begin(), args.end());
	const CommandResult r = run_command(argv);
	if (r.status != 0) {
		std::string cmd;
		for (const std::string &a : argv)
			cmd += (cmd.empty() ? "" : " ") + a;
		throw std::runtime_error(cmd + " failed: " + first_line(r.output));
	}
}

std::string trimmed(std::string s)
{
	while (!s.empty() && (s.back() == '\n' || s.back() == ' '))
		s.pop_back();
	return s;
}

} // namespace

std::string timer_unit(const std::string &name) { return "bkagent-job@" + name + ".timer"; }

void enable_timer(const JobConfig &job, const std::string &systemd_dir)
{
	const fs::path dir = dropin_dir(job.name, systemd_dir);
	fs::create_directories(dir);
	// The empty assignment clears the template's OnCalendar.
	write_atomically((dir / "schedule.conf").string(), "# Written by `bkagent job enable " + job.name + "` from " + job.file +
								   ".\n[Timer]\nOnCalendar=\nOnCalendar=" + job.schedule + "\n");
	systemctl({"daemon-reload"});
	systemctl({"enable", "--now", timer_unit(job.name)});
}

void disable_timer(const std::string &name, const std::string &systemd_dir)
{
	systemctl({"disable", "--now", timer_unit(name)});
	fs::remove_all(dropin_dir(name, systemd_dir));
	systemctl({"daemon-reload"});
}

TimerInfo timer_info(const std::string &name)
{
	TimerInfo t;
	const CommandResult enabled = run_command({"systemctl", "is-enabled", timer_unit(name)});
	t.enabled = enabled.status == 0 && trimmed(enabled.output) == "enabled";
	const CommandResult next = run_command({"systemctl", "show", "-P", "NextElapseUSecRealtime", timer_unit(name)});
	if (next.status == 0)
		t.next = trimmed(next.output);
	return t;
}

} // namespace bk::job

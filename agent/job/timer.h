// A job's systemd timer, bkagent-job@NAME.timer: its OnCalendar comes from the
// job file through a drop-in, SYSTEMD_DIR/bkagent-job@NAME.timer.d/schedule.conf.
#pragma once

#include "job/job_config.h"

#include <string>

namespace bk::job {

inline constexpr const char *default_systemd_dir = "/etc/systemd/system";

std::string timer_unit(const std::string &name); // bkagent-job@NAME.timer

// Writes the drop-in, reloads systemd and enables and starts the timer;
// throws std::runtime_error with systemctl's message.
void enable_timer(const JobConfig &job, const std::string &systemd_dir);
// Stops and disables the timer and removes the drop-in.
void disable_timer(const std::string &name, const std::string &systemd_dir);

struct TimerInfo {
	bool enabled = false;
	std::string next; // systemd's "next elapse" time, "" when unknown
};
// What systemd says (nothing when systemd does not run).
TimerInfo timer_info(const std::string &name);

} // namespace bk::job

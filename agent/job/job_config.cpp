#include "job/job_config.h"
#include "conf/json_keys.h"
#include "job/command.h"

#include "bk/storage/backup_writer.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace bk::job {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

storage::KeepPolicy parse_retention(const json &job)
{
	const json &r = conf::section(job, "retention", {"keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly"});
	storage::KeepPolicy k;
	conf::take(r, "keep_last", k.last);
	conf::take(r, "keep_hourly", k.hourly);
	conf::take(r, "keep_daily", k.daily);
	conf::take(r, "keep_weekly", k.weekly);
	conf::take(r, "keep_monthly", k.monthly);
	if (k.keeps_nothing())
		throw std::invalid_argument("config key 'retention' keeps nothing: set keep_last, keep_hourly, keep_daily, "
					    "keep_weekly or keep_monthly >= 1");
	return k;
}

// The settings of an s3:// repository; keys never here, only in a credentials
// file or the AWS environment variables.
storage::S3Options parse_s3(const json &job)
{
	const json &o = conf::section(job, "s3",
				      {"endpoint", "credentials_file", "profile", "region", "virtual_host", "ca_file", "parallel_uploads"});
	storage::S3Options s3;
	conf::take(o, "endpoint", s3.endpoint);
	conf::take(o, "credentials_file", s3.credentials_file);
	conf::take(o, "profile", s3.profile);
	conf::take(o, "region", s3.region);
	conf::take(o, "virtual_host", s3.virtual_host);
	conf::take(o, "ca_file", s3.ca_file);
	conf::take(o, "parallel_uploads", s3.parallel_uploads);
	if (s3.parallel_uploads < 1 || s3.parallel_uploads > 64)
		throw std::invalid_argument("config key 's3.parallel_uploads' must be in 1..64");
	return s3;
}

JobConfig parse_keys(const std::string &text)
{
	const json j = conf::parse_object(text);
	conf::reject_unknown(j,
			     {"devices", "repository", "s3", "passphrase_file", "schedule", "retention", "pre_freeze_hook",
			      "post_thaw_hook", "verify_sample", "io_class", "nice", "lease_seconds", "host"},
			     "");
	JobConfig c;
	conf::take(j, "devices", c.devices);
	conf::take(j, "repository", c.repository);
	if (j.contains("s3"))
		c.storage.s3 = parse_s3(j);
	conf::take(j, "passphrase_file", c.passphrase_file);
	conf::take(j, "schedule", c.schedule);
	if (j.contains("retention"))
		c.retention = parse_retention(j);
	conf::take(j, "pre_freeze_hook", c.pre_freeze_hook);
	conf::take(j, "post_thaw_hook", c.post_thaw_hook);
	conf::take(j, "verify_sample", c.verify_sample);
	conf::take(j, "io_class", c.io_class);
	conf::take(j, "nice", c.nice);
	conf::take(j, "host", c.host);
	if (j.contains("lease_seconds")) {
		std::chrono::seconds lease{0};
		conf::take_seconds(j, "lease_seconds", lease);
		c.lease = lease;
	}

	if (c.devices.empty())
		throw std::invalid_argument("config key 'devices' is missing: list the devices to back up together");
	for (const std::string &d : c.devices)
		if (d.empty() || d[0] != '/')
			throw std::invalid_argument("config key 'devices': '" + d + "' is not a device path");
	if (c.repository.empty())
		throw std::invalid_argument("config key 'repository' is missing");
	if (j.contains("s3") && !storage::is_s3_location(c.repository))
		throw std::invalid_argument("config key 's3' is for an s3://bucket/prefix repository, not " + c.repository);
	if (c.schedule.empty() || c.schedule.find('\n') != std::string::npos)
		throw std::invalid_argument("config key 'schedule' must be one OnCalendar expression");
	if (!(c.verify_sample >= 0 && c.verify_sample <= 1))
		throw std::invalid_argument("config key 'verify_sample' must be in [0, 1]");
	if (c.io_class != "idle" && c.io_class != "best-effort" && c.io_class != "none")
		throw std::invalid_argument("config key 'io_class' must be \"idle\", \"best-effort\" or \"none\"");
	if (c.nice < -20 || c.nice > 19)
		throw std::invalid_argument("config key 'nice' must be in -20..19");
	if (j.contains("host") && !storage::valid_host_id(c.host))
		throw std::invalid_argument("config key 'host' must be 1..64 characters of A-Z a-z 0-9 . _ -");
	return c;
}

} // namespace

bool valid_job_name(const std::string &name)
{
	return !name.empty() && name.size() <= 200 && name[0] != '.' && std::all_of(name.begin(), name.end(), [](char ch) {
		return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' ||
		       ch == '.';
	});
}

JobConfig JobConfig::parse(const std::string &name, const std::string &file, const std::string &text)
{
	if (!valid_job_name(name))
		throw ConfigError("bad job name '" + name + "': use letters, digits, '_', '-', '.'");
	try {
		JobConfig c = parse_keys(text);
		c.name = name;
		c.file = file;
		return c;
	} catch (const std::invalid_argument &e) {
		throw ConfigError(file + ": " + e.what());
	}
}

JobConfig JobConfig::load(const std::string &dir, const std::string &name)
{
	if (!valid_job_name(name))
		throw ConfigError("bad job name '" + name + "': use letters, digits, '_', '-', '.'");
	const std::string file = (fs::path(dir) / (name + ".conf")).string();
	std::ifstream in(file);
	if (!in)
		throw ConfigError(file + ": cannot read the job file");
	std::stringstream text;
	text << in.rdbuf();
	JobConfig c = parse(name, file, text.str());
	if (!c.passphrase_file.empty() && !std::ifstream(c.passphrase_file))
		throw ConfigError(file + ": config key 'passphrase_file': cannot read " + c.passphrase_file);
	// Validated by the parser the timer will use; hosts without systemd (cron) skip this.
	if (fs::exists("/usr/bin/systemd-analyze")) {
		const CommandResult r = run_command({"/usr/bin/systemd-analyze", "calendar", c.schedule});
		if (r.status != 0)
			throw ConfigError(file + ": config key 'schedule': '" + c.schedule + "' is not a systemd calendar expression (" +
					  first_line(r.output) + ")");
	}
	return c;
}

std::vector<std::string> job_names(const std::string &dir)
{
	std::vector<std::string> names;
	std::error_code ec;
	for (const auto &e : fs::directory_iterator(dir, ec))
		if (e.path().extension() == ".conf" && valid_job_name(e.path().stem().string()))
			names.push_back(e.path().stem().string());
	std::sort(names.begin(), names.end());
	return names;
}

} // namespace bk::job

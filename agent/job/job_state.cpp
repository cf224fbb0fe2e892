#include "job/job_state.h"

#include "conf/json_keys.h"

#include "bk/util/unique_fd.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace bk::job {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::runtime_error sys_error(const std::string &what) { return std::runtime_error(what + ": " + std::strerror(errno)); }

std::string state_file(const std::string &dir, const std::string &name) { return (fs::path(dir) / (name + ".json")).string(); }

// Integers range-checked: a damaged file's float or 1e40 would convert with undefined behaviour.
using conf::required;

RunRecord record_of(const json &j)
{
	RunRecord r;
	r.started = required<std::int64_t>(j, "started");
	r.ended = required<std::int64_t>(j, "ended");
	r.seconds = required<double>(j, "seconds");
	r.exit_code = required<int>(j, "exit_code");
	r.message = required<std::string>(j, "message");
	r.bytes_read = required<std::uint64_t>(j, "bytes_read");
	r.bytes_stored = required<std::uint64_t>(j, "bytes_stored");
	r.points = required<std::vector<std::string>>(j, "points");
	return r;
}

} // namespace

json to_json(const RunRecord &r)
{
	return {{"started", r.started}, {"ended", r.ended},           {"seconds", r.seconds},           {"exit_code", r.exit_code},
		{"message", r.message}, {"bytes_read", r.bytes_read}, {"bytes_stored", r.bytes_stored}, {"points", r.points}};
}

json to_json(const JobState &s)
{
	json j = {{"points", s.points}, {"cbt_resets", s.cbt_resets}};
	for (const auto &[key, rec] :
	     {std::pair{"last_run", &s.last_run}, std::pair{"last_success", &s.last_success}, std::pair{"last_failure", &s.last_failure}})
		j[key] = *rec ? to_json(**rec) : json();
	return j;
}

JobState load_state(const std::string &dir, const std::string &name)
{
	const std::string file = state_file(dir, name);
	std::ifstream in(file);
	JobState s;
	if (!in)
		return s;
	try {
		const json j = json::parse(in);
		s.points = required<std::uint64_t>(j, "points");
		const json &resets = j.at("cbt_resets");
		if (!resets.is_object())
			throw std::invalid_argument("key 'cbt_resets' must be an object");
		for (const auto &[device, count] : resets.items())
			s.cbt_resets[device] = required<std::uint64_t>(resets, device.c_str());
		for (const auto &[key, rec] : {std::pair{"last_run", &s.last_run}, std::pair{"last_success", &s.last_success},
					       std::pair{"last_failure", &s.last_failure}})
			if (!j.at(key).is_null())
				*rec = record_of(j.at(key));
	} catch (const std::exception &e) { // json::exception, or conf::take's std::invalid_argument
		throw std::runtime_error(file + ": damaged job state (" + e.what() + "); delete it to start afresh");
	}
	return s;
}

void save_state(const std::string &dir, const std::string &name, const JobState &state)
{
	write_atomically(state_file(dir, name), to_json(state).dump(2) + "\n");
}

void write_atomically(const std::string &path, const std::string &content)
{
	const fs::path target(path);
	const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
	std::string tmp = (dir / ("." + target.filename().string() + ".XXXXXX")).string();
	util::UniqueFd fd(::mkstemp(tmp.data()));
	if (!fd)
		throw sys_error("cannot create a file in " + dir.string());
	auto fail = [&](const std::string &what) {
		std::runtime_error e = sys_error(what + " " + tmp);
		::unlink(tmp.c_str());
		return e;
	};
	for (std::size_t done = 0; done < content.size();) {
		const ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			throw fail("cannot write");
		done += static_cast<std::size_t>(n);
	}
	// Readable by the metrics collector (node_exporter does not run as root).
	if (::fchmod(fd.get(), 0644) != 0 || ::fsync(fd.get()) != 0)
		throw fail("cannot sync");
	fd.reset();
	if (::rename(tmp.c_str(), path.c_str()) != 0)
		throw fail("cannot rename to " + path + " from");
	const util::UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (d)
		::fsync(d.get());
}

JobLock::JobLock(const std::string &dir, const std::string &name)
{
	const std::string file = (fs::path(dir) / (name + ".lock")).string();
	fd_ = util::UniqueFd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	if (!fd_)
		throw sys_error("cannot open the job lock " + file);
	if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0)
		held_ = true;
	else if (errno != EWOULDBLOCK)
		throw sys_error("cannot lock " + file);
}

} // namespace bk::job

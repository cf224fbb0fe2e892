#include "cli/point_mount.h"

#include "cli/nbd_export.h"
#include "cli/process.h"

#include "bk/util/unique_fd.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <thread>

namespace bk::cli {

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const fs::path mounts_root = "/run/bkagent/mounts";
// Tools whose failure is reported in our own words (or is expected, e.g. undo steps).
const RunOptions quietly{.capture = false, .quiet = true, .cwd = {}};
const RunOptions probe{.capture = true, .quiet = true, .cwd = {}};

// Undo steps run in reverse order unless the whole sequence succeeded.
class Undo {
public:
	Undo() = default;
	~Undo()
	{
		for (auto it = steps_.rbegin(); it != steps_.rend(); ++it) {
			try {
				(*it)();
			} catch (const std::exception &) { // ignored: keep undoing, the first error is the one reported
			}
		}
	}
	Undo(const Undo &) = delete;
	Undo &operator=(const Undo &) = delete;
	void push(std::function<void()> step) { steps_.push_back(std::move(step)); }
	void dismiss() { steps_.clear(); }

private:
	std::vector<std::function<void()>> steps_;
};

std::string first_line(const fs::path &file)
{
	std::ifstream in(file);
	std::string line;
	std::getline(in, line);
	return line;
}

// Polls `ready` every 50 ms for up to `limit`.
bool wait_for(const std::function<bool()> &ready, std::chrono::milliseconds limit = 10s)
{
	for (auto waited = 0ms; waited < limit; waited += 50ms) {
		if (ready())
			return true;
		std::this_thread::sleep_for(50ms);
	}
	return ready();
}

bool is_mount_point(const std::string &dir) { return run({"mountpoint", "-q", dir}).status == 0; }

// /sys/block/nbd0 exists once the nbd driver is loaded (it creates nbds_max devices).
void ensure_nbd()
{
	std::error_code ec;
	if (fs::exists("/sys/block/nbd0", ec))
		return;
	(void)run({"modprobe", "nbd"}, quietly);
	if (!fs::exists("/sys/block/nbd0", ec))
		refuse(grpc::StatusCode::FAILED_PRECONDITION,
		       "no NBD devices: `modprobe nbd` failed (does this kernel have the nbd module?)");
}

// The first /dev/nbdN with no connection: no client pid and size 0.
std::string free_nbd()
{
	for (int i = 0;; ++i) {
		const fs::path sys = "/sys/block/nbd" + std::to_string(i);
		std::error_code ec;
		if (!fs::exists(sys, ec))
			refuse(grpc::StatusCode::RESOURCE_EXHAUSTED, "every /dev/nbd device is in use");
		if (!fs::exists(sys / "pid", ec) && first_line(sys / "size") == "0")
			return "nbd" + std::to_string(i);
	}
}

// Held from choosing a free /dev/nbdN until nbd-client has connected it: two mounts at
// once would otherwise pick the same device, and the second nbd-client would fail.
util::UniqueFd lock_devices()
{
	const std::string file = mounts_root.parent_path() / "nbd.lock";
	util::UniqueFd fd(::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	while (fd && ::flock(fd.get(), LOCK_EX) != 0)
		if (errno != EINTR)
			fd.reset();
	if (!fd)
		throw std::runtime_error("cannot lock " + file + ": " + std::strerror(errno));
	return fd;
}

// The partitions the kernel found on /dev/NAME (numbers K of /sys/block/NAME/NAMEpK).
std::vector<int> partitions(const std::string &name)
{
	std::vector<int> found;
	for (const auto &e : fs::directory_iterator("/sys/block/" + name)) {
		const std::string entry = e.path().filename().string();
		if (entry.starts_with(name + "p"))
			found.push_back(std::stoi(entry.substr(name.size() + 1)));
	}
	std::sort(found.begin(), found.end());
	return found;
}

std::string joined(const std::vector<int> &numbers)
{
	std::string text;
	for (int n : numbers)
		text += (text.empty() ? "" : ", ") + std::to_string(n);
	return text;
}

int choose_partition(const std::string &name, int wanted)
{
	const std::vector<int> parts = partitions(name);
	if (wanted == 0)
		return 0;
	if (wanted > 0) {
		if (std::find(parts.begin(), parts.end(), wanted) == parts.end())
			refuse(grpc::StatusCode::NOT_FOUND,
			       "the point has no partition " + std::to_string(wanted) +
				       (parts.empty() ? " (no partition table)" : " (partitions: " + joined(parts) + ")"));
		return wanted;
	}
	if (parts.size() > 1)
		refuse(grpc::StatusCode::INVALID_ARGUMENT, "the point has partitions " + joined(parts) + ": choose one with --partition");
	return parts.empty() ? 0 : parts.front();
}

// Read-only, journal replayed: a point of a filesystem that was not frozen (a
// partition of a snapshotted disk, say) is crash-consistent, and without its
// journal (noload, norecovery) shows stale or missing files. The replay writes
// go to nbdkit's cow overlay (prepare_server) and are discarded.
std::string mount_options(const std::string &fstype, const std::string &extra)
{
	std::string opts = "ro";
	if (fstype == "xfs")
		opts += ",nouuid"; // the source filesystem may be mounted here too
	if (!extra.empty())
		opts += "," + extra;
	return opts;
}

// nbdkit as `bkagent serve --daemon` runs it, on the mount's own socket. Preparing it
// checks the point and the passphrase: the first refusals.
Export prepare_server(const MountArgs &args, const std::string &state)
{
	ExportArgs e;
	e.repo = args.repo;
	e.point = args.point;
	e.listen = "unix:" + state + "/nbdkit.sock";
	e.daemon = true;
	e.pid_file = state + "/nbdkit.pid";
	e.writable = true; // nbdkit's cow filter: the journal replay's writes, never the repository
	return prepare_export(e);
}

pid_t start_server(const Export &exp, const std::string &state)
{
	if (run(exp.argv).status != 0)
		throw std::runtime_error("nbdkit could not serve point " + exp.point.id);
	const std::string pid_file = state + "/nbdkit.pid";
	if (!wait_for([&] { return !first_line(pid_file).empty(); }))
		throw std::runtime_error("nbdkit did not write " + pid_file);
	return std::stoi(first_line(pid_file));
}

// The mount records, each with its directory.
std::vector<std::pair<fs::path, nlohmann::json>> records()
{
	std::vector<std::pair<fs::path, nlohmann::json>> found;
	std::error_code ec;
	for (const auto &e : fs::directory_iterator(mounts_root, ec)) {
		std::ifstream in(e.path() / "mount.json");
		nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
		if (!j.is_discarded())
			found.emplace_back(e.path(), std::move(j));
	}
	return found;
}

bool is_nbdkit(pid_t pid) { return first_line("/proc/" + std::to_string(pid) + "/comm") == "nbdkit"; }

void stop_server(pid_t pid)
{
	if (pid <= 0 || !is_nbdkit(pid))
		return;
	::kill(pid, SIGTERM);
	if (!wait_for([&] { return !is_nbdkit(pid); }))
		::kill(pid, SIGKILL);
}

void disconnect(const std::string &device) { (void)run({"nbd-client", "-d", device}, quietly); }

} // namespace

nlohmann::json MountRecord::to_json() const
{
	return {{"point", point},   {"device", device}, {"partition", partition}, {"source", source},
		{"fstype", fstype}, {"dir", dir},       {"state_dir", state_dir}, {"server_pid", server}};
}

MountRecord MountRecord::from_json(const nlohmann::json &j)
{
	return {j.at("point"),  j.at("device"), j.at("partition"), j.at("source"),
		j.at("fstype"), j.at("dir"),    j.at("state_dir"), j.at("server_pid")};
}

MountRecord mount_point(const MountArgs &args)
{
	MountRecord m;
	Undo undo;
	fs::create_directories(mounts_root);
	std::string state = mounts_root / "mount-XXXXXX";
	if (!::mkdtemp(state.data()))
		throw std::runtime_error("cannot create a directory under " + mounts_root.string());
	m.state_dir = state;
	undo.push([&] { fs::remove_all(m.state_dir); });
	const Export exp = prepare_server(args, m.state_dir);
	m.point = exp.point.id;
	std::error_code ec;
	m.dir = fs::canonical(args.dir, ec);
	if (ec || !fs::is_directory(m.dir))
		refuse(grpc::StatusCode::NOT_FOUND, args.dir + " is not a directory");
	if (is_mount_point(m.dir))
		refuse(grpc::StatusCode::FAILED_PRECONDITION, m.dir + " is already a mount point");
	ensure_nbd();
	m.server = start_server(exp, m.state_dir);
	undo.push([&] { stop_server(m.server); });

	std::string name;
	{
		const util::UniqueFd devices = lock_devices();
		name = free_nbd();
		m.device = "/dev/" + name;
		if (run({"nbd-client", "-unix", m.state_dir + "/nbdkit.sock", m.device}, quietly).status != 0)
			throw std::runtime_error("nbd-client could not attach the export to " + m.device);
	}
	undo.push([&] { disconnect(m.device); });

	// Without udev nobody opens the new device, and the kernel reads its partition table
	// on the first open: ask for it explicitly.
	(void)run({"blockdev", "--rereadpt", m.device}, quietly);
	m.partition = choose_partition(name, args.partition);
	m.source = m.partition ? m.device + "p" + std::to_string(m.partition) : m.device;
	if (!wait_for([&] { return fs::exists(m.source); }))
		throw std::runtime_error(m.source + " did not appear");

	m.fstype = run({"blkid", "-p", "-o", "value", "-s", "TYPE", m.source}, probe).out;
	while (!m.fstype.empty() && m.fstype.back() == '\n')
		m.fstype.pop_back();
	if (m.fstype.empty())
		refuse(grpc::StatusCode::FAILED_PRECONDITION,
		       "no filesystem found on " + (m.partition ? "partition " + std::to_string(m.partition) : std::string("the device")) +
			       " of point " + m.point);
	if (run({"mount", "-t", m.fstype, "-o", mount_options(m.fstype, args.fs_options), m.source, m.dir}).status != 0)
		throw std::runtime_error("could not mount " + m.fstype + " " + m.source + " on " + m.dir);
	undo.push([&] { (void)run({"umount", m.dir}, quietly); });

	// A record of the same directory was left by a crash (the directory was no mount point).
	for (const auto &[path, j] : records())
		if (j.value("dir", "") == m.dir)
			fs::remove_all(path);
	std::ofstream(m.state_dir + "/mount.json") << m.to_json().dump() << "\n";
	undo.dismiss();
	return m;
}

MountRecord find_mount(const std::string &dir)
{
	const std::string want = fs::weakly_canonical(dir);
	for (const auto &[path, j] : records())
		if (j.value("dir", "") == want)
			return MountRecord::from_json(j);
	refuse(grpc::StatusCode::NOT_FOUND, dir + " is not mounted by `bkagent mount`");
}

void unmount_point(const MountRecord &m)
{
	if (is_mount_point(m.dir) && run({"umount", m.dir}).status != 0)
		refuse(grpc::StatusCode::FAILED_PRECONDITION, "cannot unmount " + m.dir + " (in use?); nothing else was changed");
	disconnect(m.device);
	stop_server(m.server);
	fs::remove_all(m.state_dir);
}

} // namespace bk::cli

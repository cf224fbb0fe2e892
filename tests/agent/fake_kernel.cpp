#include "fake_kernel.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

namespace bk::test {

namespace fs = std::filesystem;
using agent::DriverError;
using nlohmann::json;

namespace {

constexpr std::uint32_t disk_major = 250;
constexpr std::uint32_t image_major = 251;
constexpr std::uint32_t seq_max = 255;

[[noreturn]] void fail(int err, const std::string &what) { throw DriverError(err, what + ": " + std::strerror(err)); }

std::string random_hex16()
{
	cbt::Generation g{};
	if (getrandom(g.data(), g.size(), 0) != static_cast<ssize_t>(g.size()))
		fail(EIO, "getrandom");
	return cbt::format_generation(g);
}

cbt::Generation gen_of(const std::string &hex) { return cbt::parse_token(hex + ":1").value().generation; }

agent::Uuid uuid_of(const std::string &text) { return agent::parse_uuid(text).value(); }

// The whole kernel state, loaded and stored under an exclusive lock.
class State {
public:
	explicit State(const fs::path &dir) : dir_(dir), lock_(::open((dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600))
	{
		if (lock_ < 0 || ::flock(lock_, LOCK_EX) < 0)
			fail(errno, "fake kernel lock");
		std::ifstream in(dir / "state.json");
		j = in ? json::parse(in) : json{{"next_minor", 0}, {"next_image", 0}, {"disks", json::object()},
						{"trackers", json::object()}, {"snapshots", json::object()}};
	}
	~State() { ::close(lock_); }
	State(const State &) = delete;
	State &operator=(const State &) = delete;

	void save()
	{
		const fs::path tmp = dir_ / "state.json.tmp";
		std::ofstream(tmp) << j.dump();
		fs::rename(tmp, dir_ / "state.json");
	}

	// The registered disk at `path` (ENOENT / ENOTBLK like the kernel).
	json &disk(const std::string &path)
	{
		std::error_code ec;
		const std::string canonical = fs::weakly_canonical(path, ec).string();
		if (j["disks"].contains(canonical))
			return j["disks"][canonical];
		if (fs::exists(path))
			fail(ENOTBLK, path);
		fail(ENOENT, path);
	}
	std::string path_of_minor(std::uint32_t minor)
	{
		for (auto &[path, d] : j["disks"].items())
			if (d["minor"] == minor)
				return path;
		fail(ENODEV, "minor " + std::to_string(minor));
	}
	json *tracker(const json &disk)
	{
		const std::string key = std::to_string(disk["minor"].get<std::uint32_t>());
		return j["trackers"].contains(key) ? &j["trackers"][key] : nullptr;
	}
	json &tracked(const std::string &path)
	{
		json *t = tracker(disk(path));
		if (!t)
			fail(ENOENT, path + " not tracked");
		return *t;
	}
	fs::path map_file(const json &disk) { return dir_ / "maps" / std::to_string(disk["minor"].get<std::uint32_t>()); }
	static std::uint64_t blocks(const json &disk)
	{
		const std::uint64_t bs = std::uint64_t{1} << disk["shift"].get<std::uint32_t>();
		return (disk["size"].get<std::uint64_t>() + bs - 1) / bs;
	}
	// A fresh, empty map with a new generation (attach, wrap, reload).
	void restart_map(const json &disk, json &tracker)
	{
		tracker["gen"] = random_hex16();
		tracker["seq"] = 1;
		const fs::path map = map_file(disk);
		fs::remove(map);
		std::ofstream(map, std::ios::binary).flush();
		fs::resize_file(map, blocks(disk));
	}
	void event(const agent::KernelEvent &e)
	{
		std::ofstream(dir_ / "events", std::ios::binary | std::ios::app)
			.write(reinterpret_cast<const char *>(&e), sizeof e);
	}

	json j;

private:
	fs::path dir_;
	int lock_;
};

// Copies the data extents of `from` into a new sparse file `to`.
void copy_sparse(const std::string &from, const std::string &to, std::uint64_t size)
{
	const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
	const int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (in < 0 || out < 0)
		fail(errno, "image copy");
	off_t pos = 0;
	while (static_cast<std::uint64_t>(pos) < size) {
		const off_t data = ::lseek(in, pos, SEEK_DATA);
		if (data < 0)
			break;
		off_t hole = ::lseek(in, data, SEEK_HOLE);
		off_t src = data, dst = data;
		while (src < hole) {
			const ssize_t n = ::copy_file_range(in, &src, out, &dst, static_cast<std::size_t>(hole - src), 0);
			if (n <= 0)
				fail(n < 0 ? errno : EIO, "copy_file_range");
		}
		pos = hole;
	}
	if (::ftruncate(out, static_cast<off_t>(size)) < 0)
		fail(errno, "ftruncate");
	::close(in);
	::close(out);
}

} // namespace

FakeKernel::FakeKernel(fs::path dir) : dir_(std::move(dir))
{
	fs::create_directories(dir_ / "maps");
	fs::create_directories(dir_ / "images");
	fs::create_directories(dir_ / "disks");
	std::error_code ec;
	events_read_ = fs::file_size(dir_ / "events", ec);
	if (ec)
		events_read_ = 0;
}

std::string FakeKernel::add_disk(const std::string &name, std::uint64_t size, std::uint32_t block_shift)
{
	State s(dir_);
	const std::string path = (dir_ / "disks" / name).string();
	std::ofstream(path, std::ios::binary).flush();
	fs::resize_file(path, size);
	const std::uint32_t minor = s.j["next_minor"];
	s.j["next_minor"] = minor + 1;
	s.j["disks"][path] = {{"minor", minor}, {"size", size}, {"shift", block_shift}};
	s.save();
	return path;
}

void FakeKernel::write(const std::string &path, std::uint64_t offset, const std::string &data)
{
	State s(dir_);
	json &d = s.disk(path);
	if (offset + data.size() > d["size"].get<std::uint64_t>())
		fail(ENOSPC, "write past the end of " + path);
	const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
	if (fd < 0 || ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) != static_cast<ssize_t>(data.size()))
		fail(errno, "write " + path);
	::close(fd);
	if (!data.empty() && s.tracker(d)) {
		const std::uint32_t shift = d["shift"];
		const std::uint64_t first = offset >> shift;
		const std::uint64_t last = (offset + data.size() - 1) >> shift;
		std::uint8_t seq = static_cast<std::uint8_t>((*s.tracker(d))["seq"].get<std::uint32_t>());
		const std::string marks(last - first + 1, static_cast<char>(seq));
		const int map = ::open(s.map_file(d).c_str(), O_WRONLY | O_CLOEXEC);
		if (map < 0 || ::pwrite(map, marks.data(), marks.size(), static_cast<off_t>(first)) < 0)
			fail(errno, "mark");
		::close(map);
	}
}

void FakeKernel::mark(const std::string &path, const std::vector<std::pair<std::uint64_t, std::uint64_t>> &runs)
{
	State s(dir_);
	json &d = s.disk(path);
	json &t = s.tracked(path);
	const int map = ::open(s.map_file(d).c_str(), O_WRONLY | O_CLOEXEC);
	if (map < 0)
		fail(errno, "mark");
	for (const auto &[first, count] : runs) {
		const std::string marks(count, static_cast<char>(t["seq"].get<std::uint32_t>()));
		if (::pwrite(map, marks.data(), marks.size(), static_cast<off_t>(first)) < 0)
			fail(errno, "mark");
	}
	::close(map);
}

void FakeKernel::reload()
{
	State s(dir_);
	s.j["trackers"] = json::object();
	s.j["snapshots"] = json::object();
	for (const auto &e : fs::directory_iterator(dir_ / "images"))
		fs::remove(e.path());
	for (const auto &e : fs::directory_iterator(dir_ / "maps"))
		fs::remove(e.path());
	s.save();
}

void FakeKernel::fail_snapshot(const agent::Uuid &id)
{
	State s(dir_);
	const std::string key = agent::format_uuid(id);
	if (!s.j["snapshots"].contains(key))
		fail(ENOENT, key);
	json &snap = s.j["snapshots"][key];
	snap["failed"] = true;
	snap["error"] = ENOSPC;
	for (const auto &m : snap["members"])
		fs::resize_file(image_path({image_major, m["image"].get<std::uint32_t>()}), 0);
	agent::KernelEvent e;
	e.type = agent::KernelEventType::overflow;
	e.snapshot = id;
	e.error = ENOSPC;
	s.event(e);
	s.save();
}

agent::ModuleInfo FakeKernel::version()
{
	agent::ModuleInfo m;
	m.uapi_version = 1;
	m.module_major = 0;
	m.module_minor = 9;
	m.module_patch = 0;
	m.max_trackers = 64;
	m.cbt_min_block_shift = 12;
	m.cbt_max_block_shift = 20;
	m.cbt_max_blocks = std::uint64_t{1} << 32;
	m.chunk_min_shift = 12;
	m.chunk_max_shift = 20;
	m.max_snapshot_devices = 8;
	return m;
}

agent::BlockDevice FakeKernel::device(const std::string &path)
{
	State s(dir_);
	const json &d = s.disk(path);
	return {fs::weakly_canonical(path).string(), {disk_major, d["minor"].get<std::uint32_t>()},
		d["size"].get<std::uint64_t>(), "disk"};
}

std::vector<agent::BlockDevice> FakeKernel::block_devices()
{
	State s(dir_);
	std::vector<agent::BlockDevice> out;
	for (auto &[path, d] : s.j["disks"].items())
		out.push_back({path, {disk_major, d["minor"].get<std::uint32_t>()}, d["size"].get<std::uint64_t>(), "disk"});
	return out;
}

void FakeKernel::attach(const std::string &path)
{
	State s(dir_);
	json &d = s.disk(path);
	if (s.tracker(d))
		fail(EBUSY, path + " already tracked");
	if (s.j["trackers"].size() >= version().max_trackers)
		fail(ENOSPC, "max trackers");
	json t = {{"snap", false}};
	s.restart_map(d, t);
	s.j["trackers"][std::to_string(d["minor"].get<std::uint32_t>())] = t;
	s.save();
}

void FakeKernel::detach(const std::string &path)
{
	State s(dir_);
	json &d = s.disk(path);
	json &t = s.tracked(path);
	if (t["snap"].get<bool>())
		fail(EBUSY, path + " is in a snapshot");
	fs::remove(s.map_file(d));
	s.j["trackers"].erase(std::to_string(d["minor"].get<std::uint32_t>()));
	s.save();
}

agent::TrackerInfo FakeKernel::tracker_info(const std::string &path)
{
	State s(dir_);
	const json &d = s.disk(path);
	const json &t = s.tracked(path);
	agent::TrackerInfo info;
	info.dev = {disk_major, d["minor"].get<std::uint32_t>()};
	info.generation = gen_of(t["gen"]);
	info.sequence = t["seq"];
	info.block_shift = d["shift"];
	info.block_count = State::blocks(d);
	info.capacity_sectors = d["size"].get<std::uint64_t>() / 512;
	info.state = t["snap"].get<bool>() ? agent::state_snapshot : 0;
	return info;
}

std::vector<agent::DevNum> FakeKernel::trackers()
{
	State s(dir_);
	std::vector<agent::DevNum> out;
	for (auto &[minor, t] : s.j["trackers"].items())
		out.push_back({disk_major, static_cast<std::uint32_t>(std::stoul(minor))});
	return out;
}

void FakeKernel::cbt_read(const std::string &path, const cbt::Generation &gen, std::uint64_t first,
			  std::uint64_t count, std::uint8_t *out)
{
	State s(dir_);
	const json &d = s.disk(path);
	const json &t = s.tracked(path);
	if (gen_of(t["gen"]) != gen)
		fail(ESTALE, "generation");
	if (first > State::blocks(d) || count > State::blocks(d) - first)
		fail(ERANGE, "map range");
	const int map = ::open(s.map_file(d).c_str(), O_RDONLY | O_CLOEXEC);
	if (map < 0 || ::pread(map, out, count, static_cast<off_t>(first)) != static_cast<ssize_t>(count))
		fail(EIO, "map read");
	::close(map);
}

agent::SnapshotInfo FakeKernel::snapshot_create(const std::vector<std::string> &paths, int diff_fd, std::uint64_t)
{
	State s(dir_);
	struct stat st {};
	if (::fstat(diff_fd, &st) < 0)
		fail(EBADF, "diff_fd");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		fail(EINVAL, "diff_fd type");
	if (paths.empty() || paths.size() > version().max_snapshot_devices)
		fail(EINVAL, "member count");
	std::set<std::string> seen;
	for (const auto &p : paths) {
		json &t = s.tracked(p);
		if (t["snap"].get<bool>())
			fail(EBUSY, p + " already in a snapshot");
		if (!seen.insert(fs::weakly_canonical(p).string()).second)
			fail(EINVAL, "device twice");
	}
	agent::SnapshotInfo info;
	if (getrandom(info.id.data(), info.id.size(), 0) != static_cast<ssize_t>(info.id.size()))
		fail(EIO, "getrandom");
	json members = json::array();
	for (const auto &p : paths) {
		json &d = s.disk(p);
		json &t = s.tracked(p);
		const std::uint32_t image = s.j["next_image"];
		s.j["next_image"] = image + 1;
		copy_sparse(fs::weakly_canonical(p).string(), image_path({image_major, image}), d["size"]);
		agent::SnapshotMember m;
		m.dev = {disk_major, d["minor"].get<std::uint32_t>()};
		m.token = {gen_of(t["gen"]), t["seq"].get<std::uint32_t>()};
		m.image = {image_major, image};
		m.chunk_shift = 12;
		info.members.push_back(m);
		members.push_back({{"minor", m.dev.minor}, {"gen", t["gen"]}, {"seq", t["seq"]}, {"image", image}});
		t["snap"] = true;
		// The sequence advances with the take; past the maximum the map
		// restarts under a new generation.
		if (t["seq"].get<std::uint32_t>() >= seq_max)
			s.restart_map(d, t);
		else
			t["seq"] = t["seq"].get<std::uint32_t>() + 1;
	}
	info.storage_sectors = static_cast<std::uint64_t>(st.st_size) / 512;
	s.j["snapshots"][agent::format_uuid(info.id)] = {
		{"failed", false}, {"error", 0}, {"storage", info.storage_sectors}, {"members", members}};
	s.save();
	return info;
}

void FakeKernel::snapshot_add_storage(const agent::Uuid &id, int diff_fd)
{
	State s(dir_);
	struct stat st {};
	if (::fstat(diff_fd, &st) < 0)
		fail(EBADF, "diff_fd");
	const std::string key = agent::format_uuid(id);
	if (!s.j["snapshots"].contains(key))
		fail(ENOENT, key);
	json &snap = s.j["snapshots"][key];
	snap["storage"] = snap["storage"].get<std::uint64_t>() + static_cast<std::uint64_t>(st.st_size) / 512;
	s.save();
}

void FakeKernel::snapshot_destroy(const agent::Uuid &id)
{
	State s(dir_);
	const std::string key = agent::format_uuid(id);
	if (!s.j["snapshots"].contains(key))
		fail(ENOENT, key);
	for (const auto &m : s.j["snapshots"][key]["members"]) {
		fs::remove(image_path({image_major, m["image"].get<std::uint32_t>()}));
		const std::string minor = std::to_string(m["minor"].get<std::uint32_t>());
		if (s.j["trackers"].contains(minor))
			s.j["trackers"][minor]["snap"] = false;
	}
	s.j["snapshots"].erase(key);
	s.save();
}

agent::SnapshotInfo FakeKernel::snapshot_info(const agent::Uuid &id)
{
	State s(dir_);
	const std::string key = agent::format_uuid(id);
	if (!s.j["snapshots"].contains(key))
		fail(ENOENT, key);
	const json &snap = s.j["snapshots"][key];
	agent::SnapshotInfo info;
	info.id = id;
	info.failed = snap["failed"];
	info.error = snap["error"];
	info.storage_sectors = snap["storage"];
	for (const auto &m : snap["members"]) {
		agent::SnapshotMember member;
		member.dev = {disk_major, m["minor"].get<std::uint32_t>()};
		member.token = {gen_of(m["gen"]), m["seq"].get<std::uint32_t>()};
		member.image = {image_major, m["image"].get<std::uint32_t>()};
		info.members.push_back(member);
	}
	return info;
}

std::vector<agent::Uuid> FakeKernel::snapshots()
{
	State s(dir_);
	std::vector<agent::Uuid> out;
	for (auto &[id, snap] : s.j["snapshots"].items())
		out.push_back(uuid_of(id));
	return out;
}

std::string FakeKernel::image_path(agent::DevNum image)
{
	if (image.major != image_major)
		fail(ENODEV, "not an image");
	return (dir_ / "images" / ("img" + std::to_string(image.minor))).string();
}

std::optional<agent::KernelEvent> FakeKernel::next_event(std::chrono::milliseconds timeout)
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	for (;;) {
		{
			std::ifstream in(dir_ / "events", std::ios::binary);
			agent::KernelEvent e;
			if (in.seekg(static_cast<std::streamoff>(events_read_)) &&
			    in.read(reinterpret_cast<char *>(&e), sizeof e)) {
				events_read_ += sizeof e;
				return e;
			}
		}
		if (std::chrono::steady_clock::now() >= deadline)
			return std::nullopt;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
}

} // namespace bk::test

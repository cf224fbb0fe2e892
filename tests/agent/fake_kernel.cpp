#include "fake_kernel.h"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

extern "C" {
#include "cbt_map.h"
#include "ctl_args.h"
}

namespace bk::test {

namespace fs = std::filesystem;
using agent::DriverError;
using nlohmann::json;

namespace {

constexpr std::uint32_t disk_major = 250;
constexpr std::uint32_t image_major = 251;
constexpr std::uint32_t sector_shift = 9;

[[noreturn]] void fail(int err, const std::string &what) { throw DriverError(err, what + ": " + std::strerror(err)); }

cbt::Generation random_generation()
{
	cbt::Generation g{};
	if (getrandom(g.data(), g.size(), 0) != static_cast<ssize_t>(g.size()))
		fail(EIO, "getrandom");
	return g;
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
		j = in ? json::parse(in)
		       : json{{"next_minor", 0},
			      {"next_image", 0},
			      {"disks", json::object()},
			      {"trackers", json::object()},
			      {"snapshots", json::object()}};
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
	void event(const agent::KernelEvent &e)
	{
		std::ofstream(dir_ / "events", std::ios::binary | std::ios::app).write(reinterpret_cast<const char *>(&e), sizeof e);
	}

	json j;

private:
	fs::path dir_;
	int lock_;
};

// A tracker's CBT map, kept by the module's own C (cbt_map.c) over the map
// file, mapped shared so that the daemon and the test mark one map; the
// generation and sequence live in the tracker's state.  Nothing here decides
// what a write marks or what a snapshot's token is.
class Cbt {
public:
	// The map of `tracker` on `disk`; `fresh`: a new, empty one (attach).
	Cbt(State &s, const json &disk, json &tracker, bool fresh) : tracker_(tracker)
	{
		const std::uint64_t capacity = disk["size"].get<std::uint64_t>() >> sector_shift;
		const std::uint32_t shift = disk["shift"];
		u32 block_shift = 0;
		u64 count = 0; // the kernel's u64, not std::uint64_t
		if (bk_cbt_geometry(capacity, ~0ULL, shift, shift, &block_shift, &count))
			fail(EINVAL, "CBT geometry");
		const fs::path file = s.map_file(disk);
		if (fresh)
			fs::remove(file);
		fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		void *map = MAP_FAILED;
		if (fd_ >= 0 && ::ftruncate(fd_, static_cast<off_t>(count)) == 0)
			map = ::mmap(nullptr, count, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
		if (map == MAP_FAILED) {
			const int err = errno;
			if (fd_ >= 0)
				::close(fd_);
			fail(err, "map file");
		}
		bytes_ = count;
		auto *bytes = static_cast<std::uint8_t *>(map);
		if (fresh) {
			const cbt::Generation gen = random_generation();
			bk_cbt_init(&m_, bytes, capacity, block_shift, count, gen.data());
			save();
			return;
		}
		m_.map = bytes;
		m_.block_count = count;
		m_.block_shift = block_shift;
		m_.capacity_sectors = capacity;
		m_.seq = tracker["seq"];
		const cbt::Generation gen = gen_of(tracker["gen"]);
		std::memcpy(m_.generation, gen.data(), gen.size());
		m_.anchor = tracker.value("anchor", 0U);
		m_.link.seq = tracker.value("link_seq", 0U);
		if (m_.link.seq) {
			const cbt::Generation link = gen_of(tracker["link_gen"]);
			std::memcpy(m_.link.generation, link.data(), link.size());
		}
	}
	~Cbt()
	{
		::munmap(m_.map, bytes_);
		::close(fd_);
	}
	Cbt(const Cbt &) = delete;
	Cbt &operator=(const Cbt &) = delete;

	// A write of bytes [offset, offset + len) as the tracker's filter sees it.
	void write(std::uint64_t offset, std::uint64_t len)
	{
		if (!len)
			return;
		const std::uint64_t first = offset >> sector_shift;
		const std::uint64_t end = (offset + len + (1U << sector_shift) - 1) >> sector_shift;
		bk_cbt_mark(&m_, first, end - first);
	}
	// Blocks [first, first + count) marked as CBT_MARK would.
	void mark_blocks(std::uint64_t first, std::uint64_t count)
	{
		const std::uint32_t s = m_.block_shift - sector_shift;
		bk_cbt_mark(&m_, first << s, count << s);
	}
	// The snapshot take: the image's token; true if the map restarted.
	bool advance(cbt::Token &token)
	{
		const cbt::Generation fresh = random_generation();
		bk_cbt_token t{};
		const bool wrapped = bk_cbt_advance(&m_, fresh.data(), &t);
		std::memcpy(token.generation.data(), t.generation, token.generation.size());
		token.sequence = t.seq;
		save();
		return wrapped;
	}
	// The module's CBT_READ: its argument checks (ESTALE, ERANGE), then the bytes.
	void read(const cbt::Generation &gen, std::uint64_t first, std::uint64_t count, std::uint8_t *out) const
	{
		bksnap_cbt_read r{};
		r.version = BKSNAP_UAPI_VERSION;
		std::memcpy(r.generation, gen.data(), gen.size());
		r.first_block = first;
		r.count = count;
		if (const int ret = bk_check_cbt_read(&r, m_.generation, m_.block_count))
			fail(-ret, "cbt read");
		std::memcpy(out, m_.map + first, count);
	}
	// The module's CBT_ANCHOR: its argument checks (ESTALE, EINVAL), the
	// anchor, then the link (nullopt: none).
	std::optional<cbt::Token> anchor(const cbt::Token &token)
	{
		bksnap_cbt_anchor a{};
		a.version = BKSNAP_UAPI_VERSION;
		std::memcpy(a.generation, token.generation.data(), token.generation.size());
		a.sequence = token.sequence;
		int ret = bk_check_cbt_anchor(&a, m_.generation);
		if (!ret && a.sequence)
			ret = bk_cbt_set_anchor(&m_, a.sequence);
		if (ret)
			fail(-ret, "cbt anchor");
		save();
		if (!m_.link.seq)
			return std::nullopt;
		cbt::Token link{{}, m_.link.seq};
		std::memcpy(link.generation.data(), m_.link.generation, link.generation.size());
		return link;
	}
	const bk_cbt_map &map() const { return m_; }

private:
	void save()
	{
		auto hex = [](const u8 *g) {
			cbt::Generation gen{};
			std::memcpy(gen.data(), g, gen.size());
			return cbt::format_generation(gen);
		};
		tracker_["gen"] = hex(m_.generation);
		tracker_["seq"] = m_.seq;
		tracker_["anchor"] = m_.anchor;
		tracker_["link_seq"] = m_.link.seq;
		tracker_["link_gen"] = hex(m_.link.generation);
	}

	json &tracker_;
	bk_cbt_map m_{};
	std::uint64_t bytes_ = 0;
	int fd_ = -1;
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
	if (json *t = s.tracker(d))
		Cbt(s, d, *t, false).write(offset, data.size());
}

void FakeKernel::mark(const std::string &path, const std::vector<std::pair<std::uint64_t, std::uint64_t>> &runs)
{
	State s(dir_);
	json &d = s.disk(path);
	Cbt cbt(s, d, s.tracked(path), false);
	for (const auto &[first, count] : runs)
		cbt.mark_blocks(first, count);
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
	agent::KernelEvent e(agent::KernelEventType::overflow);
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
	return {fs::weakly_canonical(path).string(), {disk_major, d["minor"].get<std::uint32_t>()}, d["size"].get<std::uint64_t>(), "disk"};
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
	json &t = s.j["trackers"][std::to_string(d["minor"].get<std::uint32_t>())];
	t = {{"snap", false}};
	const Cbt fresh(s, d, t, true); // its new, empty map; the generation in t
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
	json &t = s.tracked(path);
	const Cbt cbt(s, d, t, false);
	agent::TrackerInfo info;
	info.dev = {disk_major, d["minor"].get<std::uint32_t>()};
	std::memcpy(info.generation.data(), cbt.map().generation, info.generation.size());
	info.sequence = cbt.map().seq;
	info.block_shift = cbt.map().block_shift;
	info.block_count = cbt.map().block_count;
	info.capacity_sectors = cbt.map().capacity_sectors;
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

void FakeKernel::cbt_read(const std::string &path, const cbt::Generation &gen, std::uint64_t first, std::uint64_t count, std::uint8_t *out)
{
	State s(dir_);
	Cbt(s, s.disk(path), s.tracked(path), false).read(gen, first, count, out);
}

std::optional<cbt::Token> FakeKernel::cbt_anchor(const std::string &path, const cbt::Token &token)
{
	State s(dir_);
	auto link = Cbt(s, s.disk(path), s.tracked(path), false).anchor(token);
	s.save();
	return link;
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
		if (Cbt(s, d, t, false).advance(m.token)) {
			agent::KernelEvent e(agent::KernelEventType::cbt_reset);
			e.dev = m.dev;
			s.event(e);
		}
		m.image = {image_major, image};
		m.chunk_shift = 12;
		info.members.push_back(m);
		members.push_back({{"minor", m.dev.minor},
				   {"gen", cbt::format_generation(m.token.generation)},
				   {"seq", m.token.sequence},
				   {"image", image}});
		t["snap"] = true;
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
			agent::KernelEvent e(agent::KernelEventType::low_space); // read over below
			if (in.seekg(static_cast<std::streamoff>(events_read_)) && in.read(reinterpret_cast<char *>(&e), sizeof e)) {
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

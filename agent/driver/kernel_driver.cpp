#include "driver/kernel_driver.h"

#include "driver/sysfs.h"

#include <linux/bksnap.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

namespace bk::agent {

namespace {

template <typename T> T arg_of(std::uint32_t version)
{
	T arg;
	std::memset(&arg, 0, sizeof arg);
	arg.version = version;
	return arg;
}

bksnap_dev_id dev_id(const std::string &path)
{
	bksnap_dev_id id{};
	id.path = reinterpret_cast<std::uintptr_t>(path.c_str());
	return id;
}

SnapshotMember member_of(const bksnap_snapshot_member &m)
{
	SnapshotMember out;
	out.dev = {m.dev.major, m.dev.minor};
	std::memcpy(out.token.generation.data(), m.generation, out.token.generation.size());
	out.token.sequence = m.sequence;
	out.image = {m.image_major, m.image_minor};
	out.chunk_shift = m.chunk_shift;
	return out;
}

// Grows `items` until the kernel's count fits (LIST-style ioctls: ENOSPC
// with the needed count).
template <typename Arg, typename Item, typename Call> std::vector<Item> list_all(std::uint32_t version, const Call &call)
{
	std::vector<Item> items(16);
	for (;;) {
		auto arg = arg_of<Arg>(version);
		arg.count = static_cast<std::uint32_t>(items.size());
		int err = call(arg, items.data());
		if (err == ENOSPC && arg.count > items.size()) {
			items.resize(arg.count);
			continue;
		}
		if (err)
			throw DriverError(err, "bksnap list");
		items.resize(arg.count);
		return items;
	}
}

} // namespace

KernelDriver::KernelDriver(std::string control_path) : control_path_(std::move(control_path)) {}

KernelDriver::~KernelDriver()
{
	if (fd_ >= 0)
		::close(fd_);
}

int KernelDriver::control()
{
	std::lock_guard lock(open_mutex_);
	if (fd_ < 0) {
		fd_ = ::open(control_path_.c_str(), O_RDWR | O_CLOEXEC);
		if (fd_ < 0) {
			const int err = errno;
			throw ModuleUnavailable(err, "is the bksnap module loaded? cannot open " + control_path_);
		}
		// Every module answers VERSION in version 1; an older one than us
		// refuses our version (EPROTO), so speak its own.
		auto v = arg_of<bksnap_version_info>(1);
		if (::ioctl(fd_, BKSNAP_IOC_VERSION, &v) == 0)
			uapi_version_ = std::min<std::uint32_t>(v.uapi_version, BKSNAP_UAPI_VERSION);
	}
	return fd_;
}

std::uint32_t KernelDriver::uapi_version()
{
	control();
	return uapi_version_;
}

template <typename T> T KernelDriver::versioned() { return arg_of<T>(uapi_version()); }

void KernelDriver::ioctl_or_throw(unsigned long request, void *arg, const char *what)
{
	if (::ioctl(control(), request, arg) < 0) {
		const int err = errno;
		throw DriverError(err, what);
	}
}

ModuleInfo KernelDriver::version()
{
	auto v = versioned<bksnap_version_info>();
	ioctl_or_throw(BKSNAP_IOC_VERSION, &v, "bksnap version");
	return {v.uapi_version,        v.module_major,   v.module_minor,    v.module_patch,    v.max_trackers,        v.cbt_min_block_shift,
		v.cbt_max_block_shift, v.cbt_max_blocks, v.chunk_min_shift, v.chunk_max_shift, v.max_snapshot_devices};
}

BlockDevice KernelDriver::device(const std::string &path)
{
	struct stat st {};
	if (::stat(path.c_str(), &st) < 0) {
		const int err = errno;
		throw DriverError(err, path);
	}
	if (!S_ISBLK(st.st_mode))
		throw DriverError(ENOTBLK, path);
	BlockDevice d = sysfs::by_number({major(st.st_rdev), minor(st.st_rdev)});
	d.path = std::filesystem::canonical(path).string();
	return d;
}

std::vector<BlockDevice> KernelDriver::block_devices() { return sysfs::block_devices(); }

void KernelDriver::attach(const std::string &path)
{
	auto a = versioned<bksnap_attach>();
	a.dev = dev_id(path);
	ioctl_or_throw(BKSNAP_IOC_ATTACH, &a, "bksnap attach");
}

void KernelDriver::detach(const std::string &path)
{
	auto a = versioned<bksnap_attach>();
	a.dev = dev_id(path);
	ioctl_or_throw(BKSNAP_IOC_DETACH, &a, "bksnap detach");
}

TrackerInfo KernelDriver::tracker_info(const std::string &path)
{
	auto t = versioned<bksnap_tracker_info>();
	t.dev = dev_id(path);
	ioctl_or_throw(BKSNAP_IOC_TRACKER_INFO, &t, "bksnap tracker info");
	TrackerInfo out;
	out.dev = {t.major, t.minor};
	std::memcpy(out.generation.data(), t.generation, out.generation.size());
	out.sequence = t.sequence;
	out.block_shift = t.block_shift;
	out.block_count = t.block_count;
	out.capacity_sectors = t.capacity_sectors;
	out.state = t.state;
	return out;
}

std::vector<DevNum> KernelDriver::trackers()
{
	auto entries = list_all<bksnap_list, bksnap_list_entry>(uapi_version(), [this](bksnap_list &arg, bksnap_list_entry *buf) {
		arg.entries = reinterpret_cast<std::uintptr_t>(buf);
		return ::ioctl(control(), BKSNAP_IOC_LIST, &arg) < 0 ? errno : 0;
	});
	std::vector<DevNum> out;
	out.reserve(entries.size());
	for (const auto &e : entries)
		out.push_back({e.major, e.minor});
	return out;
}

void KernelDriver::cbt_read(const std::string &path, const cbt::Generation &gen, std::uint64_t first, std::uint64_t count,
			    std::uint8_t *out)
{
	auto r = versioned<bksnap_cbt_read>();
	r.dev = dev_id(path);
	std::memcpy(r.generation, gen.data(), gen.size());
	r.first_block = first;
	r.count = count;
	r.buf = reinterpret_cast<std::uintptr_t>(out);
	ioctl_or_throw(BKSNAP_IOC_CBT_READ, &r, "bksnap cbt read");
}

std::optional<cbt::Token> KernelDriver::cbt_anchor(const std::string &path, const cbt::Token &token)
{
	auto a = versioned<bksnap_cbt_anchor>();
	if (a.version < 2)
		return std::nullopt; // the module cannot carry a wrap
	a.dev = dev_id(path);
	std::memcpy(a.generation, token.generation.data(), token.generation.size());
	a.sequence = token.sequence;
	ioctl_or_throw(BKSNAP_IOC_CBT_ANCHOR, &a, "bksnap cbt anchor");
	if (!a.link_sequence)
		return std::nullopt;
	cbt::Token link;
	std::memcpy(link.generation.data(), a.link_generation, link.generation.size());
	link.sequence = a.link_sequence;
	return link;
}

SnapshotInfo KernelDriver::snapshot_create(const std::vector<std::string> &paths, int diff_fd, std::uint64_t low_water_sectors)
{
	std::vector<bksnap_snapshot_member> members(paths.size());
	for (std::size_t i = 0; i < paths.size(); ++i)
		members[i].dev = dev_id(paths[i]);
	auto c = versioned<bksnap_snapshot_create>();
	c.member_count = static_cast<std::uint32_t>(members.size());
	c.diff_fd = diff_fd;
	c.members = reinterpret_cast<std::uintptr_t>(members.data());
	c.low_water_sectors = low_water_sectors;
	ioctl_or_throw(BKSNAP_IOC_SNAPSHOT_CREATE, &c, "bksnap snapshot create");
	SnapshotInfo info;
	std::memcpy(info.id.data(), c.id, info.id.size());
	for (const auto &m : members)
		info.members.push_back(member_of(m));
	return info;
}

void KernelDriver::snapshot_add_storage(const Uuid &id, int diff_fd)
{
	auto s = versioned<bksnap_snapshot_storage>();
	s.diff_fd = diff_fd;
	std::memcpy(s.id, id.data(), id.size());
	ioctl_or_throw(BKSNAP_IOC_SNAPSHOT_ADD_STORAGE, &s, "bksnap add storage");
}

void KernelDriver::snapshot_destroy(const Uuid &id)
{
	auto s = versioned<bksnap_snapshot_id>();
	std::memcpy(s.id, id.data(), id.size());
	ioctl_or_throw(BKSNAP_IOC_SNAPSHOT_DESTROY, &s, "bksnap snapshot destroy");
}

SnapshotInfo KernelDriver::snapshot_info(const Uuid &id)
{
	std::vector<bksnap_snapshot_member> members(8);
	for (;;) {
		auto s = versioned<bksnap_snapshot_info>();
		std::memcpy(s.id, id.data(), id.size());
		s.member_count = static_cast<std::uint32_t>(members.size());
		s.members = reinterpret_cast<std::uintptr_t>(members.data());
		ioctl_or_throw(BKSNAP_IOC_SNAPSHOT_INFO, &s, "bksnap snapshot info");
		if (s.member_count > members.size()) {
			members.resize(s.member_count);
			continue;
		}
		SnapshotInfo info;
		info.id = id;
		info.failed = s.state & BKSNAP_SNAP_FAILED;
		info.error = s.error;
		for (std::uint32_t i = 0; i < s.member_count; ++i)
			info.members.push_back(member_of(members[i]));
		info.storage_sectors = s.storage_sectors;
		info.used_sectors = s.used_sectors;
		return info;
	}
}

std::vector<Uuid> KernelDriver::snapshots()
{
	return list_all<bksnap_snapshot_list, Uuid>(uapi_version(), [this](bksnap_snapshot_list &arg, Uuid *buf) {
		arg.ids = reinterpret_cast<std::uintptr_t>(buf);
		return ::ioctl(control(), BKSNAP_IOC_SNAPSHOT_LIST, &arg) < 0 ? errno : 0;
	});
}

std::string KernelDriver::image_path(DevNum image) { return sysfs::by_number(image).path; }

static_assert(static_cast<__u32>(KernelEventType::low_space) == BKSNAP_EVENT_LOW_SPACE &&
		      static_cast<__u32>(KernelEventType::overflow) == BKSNAP_EVENT_OVERFLOW &&
		      static_cast<__u32>(KernelEventType::snapshot_failed) == BKSNAP_EVENT_SNAPSHOT_FAILED &&
		      static_cast<__u32>(KernelEventType::device_gone) == BKSNAP_EVENT_DEVICE_GONE &&
		      static_cast<__u32>(KernelEventType::cbt_reset) == BKSNAP_EVENT_CBT_RESET,
	      "KernelEventType numbers events as the uAPI does");

std::optional<KernelEvent> KernelDriver::next_event(std::chrono::milliseconds timeout)
{
	pollfd p{control(), POLLIN, 0};
	const int n = ::poll(&p, 1, static_cast<int>(timeout.count()));
	if (n <= 0)
		return std::nullopt;
	bksnap_event e{};
	const ssize_t got = ::read(p.fd, &e, sizeof e);
	if (got != static_cast<ssize_t>(sizeof e))
		return std::nullopt;
	// A newer module may raise events this agent does not know: it says so
	// and reads on (the event loop logs and goes on).
	if (e.type < BKSNAP_EVENT_LOW_SPACE || e.type > BKSNAP_EVENT_CBT_RESET)
		throw DriverError(EPROTO,
				  "kernel event of type " + std::to_string(e.type) + ", unknown to this bkagentd (a newer bksnap module?)");
	KernelEvent out(static_cast<KernelEventType>(e.type));
	std::memcpy(out.snapshot.data(), e.id, out.snapshot.size());
	out.dev = {e.major, e.minor};
	out.error = e.error;
	out.storage_sectors = e.storage_sectors;
	out.used_sectors = e.used_sectors;
	return out;
}

} // namespace bk::agent

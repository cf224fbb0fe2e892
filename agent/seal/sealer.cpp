#include "seal/sealer.h"

#include "bk/util/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <random>
#include <sstream>
#include <system_error>
#include <thread>

namespace bk::agent::seal {

namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t map_window = 1 << 20; // map bytes per CBT_READ

std::vector<std::uint8_t> read_map(Driver &driver, const std::string &path, const TrackerInfo &t)
{
	std::vector<std::uint8_t> map(t.block_count);
	for (std::uint64_t first = 0; first < t.block_count; first += map_window)
		driver.cbt_read(path, t.generation, first, std::min(map_window, t.block_count - first), map.data() + first);
	return map;
}

std::string first_line(const fs::path &p)
{
	std::ifstream in(p);
	std::string line;
	std::getline(in, line);
	line.erase(line.find_last_not_of(" \t\r\n") + 1);
	return line;
}

// The hardware serial sysfs shows for the device (or its disk, for a
// partition): virtio's serial, SCSI/NVMe serial or wwid.
std::string serial_of(const std::string &path)
{
	std::error_code ec;
	const fs::path sys = fs::path("/sys/class/block") / fs::canonical(path, ec).filename();
	if (ec)
		return {};
	for (const fs::path &dir : {sys, sys / ".."})
		for (const char *name : {"serial", "device/serial", "device/wwid", "wwid"})
			if (std::string s = first_line(dir / name); !s.empty())
				return s;
	return {};
}

// Reads through O_DIRECT where the device allows it: the page cache of a
// block device may hold blocks a filesystem later rewrote by its own bios.
class DeviceFile {
public:
	explicit DeviceFile(const std::string &path)
	{
		fd_ = util::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
		if (!fd_) // e.g. a file on tmpfs

			fd_ = util::UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
		if (!fd_)
			throw std::system_error(errno, std::generic_category(), "open " + path);
	}
	void read(std::uint64_t offset, std::size_t len, std::uint8_t *out) const
	{
		constexpr std::uint64_t align = 4096;
		const std::uint64_t start = offset / align * align;
		const std::size_t span = static_cast<std::size_t>((offset + len + align - 1) / align * align - start);
		std::unique_ptr<std::uint8_t, decltype(&std::free)> buf(static_cast<std::uint8_t *>(std::aligned_alloc(align, span)),
									&std::free);
		if (!buf)
			throw std::bad_alloc();
		std::size_t done = 0;
		while (done < span) {
			const ssize_t n = ::pread(fd_.get(), buf.get() + done, span - done, static_cast<off_t>(start + done));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				throw std::system_error(errno, std::generic_category(), "read device");
			if (n == 0)
				break;
			done += static_cast<std::size_t>(n);
		}
		if (done < offset - start + len)
			throw std::runtime_error("short read of the device");
		std::memcpy(out, buf.get() + (offset - start), len);
	}

private:
	util::UniqueFd fd_;
};

std::string random_stamp()
{
	std::random_device rd;
	std::ostringstream s;
	s << std::hex << rd() << rd() << rd() << rd();
	return s.str();
}

std::string path_of(Driver &driver, const DevNum &dev)
{
	for (const auto &b : driver.block_devices())
		if (b.dev == dev)
			return b.path;
	return {};
}

// Waits for the device to appear (udev may still be creating its node).
bool wait_for(const std::string &path, std::chrono::milliseconds wait)
{
	const auto until = std::chrono::steady_clock::now() + wait;
	while (!fs::exists(path)) {
		if (std::chrono::steady_clock::now() >= until)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(100));
	}
	return true;
}

bool tracked(Driver &driver, const std::string &path)
{
	const auto dev = driver.device(path).dev;
	const auto all = driver.trackers();
	return std::find(all.begin(), all.end(), dev) != all.end();
}

Outcome seal_one(Driver &driver, const cbt::SealDir &seals, const std::string &path)
{
	if (std::string busy = in_use(path); !busy.empty())
		return {path, false, "not sealed: " + busy};
	const TrackerInfo t = driver.tracker_info(path);
	if (t.state & (state_cbt_error | state_gone))
		return {path, false, "not sealed: its change map is unusable"};
	cbt::Seal s;
	s.device = device_state(path, t);
	s.sealed = {t.generation, t.sequence};
	s.map = read_map(driver, path, t);
	// A write between the two reads would be missing from the seal.
	const TrackerInfo again = driver.tracker_info(path);
	if (again.generation != t.generation || again.sequence != t.sequence || read_map(driver, path, again) != s.map)
		return {path, false, "not sealed: written while it was being sealed"};
	seals.write(s);
	return {path, true, "sealed at " + cbt::format_token(s.sealed) + " (" + s.device.fs.kind + ")"};
}

Outcome restore_one(Driver &driver, const cbt::SealDir &seals, const std::string &path, std::chrono::milliseconds wait)
{
	std::optional<cbt::Seal> sealed;
	std::string why;
	try {
		sealed = seals.read(path, cbt::Seal::Kind::seal);
	} catch (const std::exception &e) {
		why = e.what();
	}
	if (!wait_for(path, wait))
		return {path, false, "device not present at boot: seal dropped"};
	if (!tracked(driver, path))
		driver.attach(path); // first: every write from now on is marked
	const TrackerInfo t = driver.tracker_info(path);
	if (sealed && t.generation == sealed->sealed.generation)
		return {path, true, "map still live (no restart since the seal): nothing to carry"};
	const cbt::DeviceState now = device_state(path, t);
	if (why.empty())
		why = sealed ? cbt::seal_mismatch(sealed->device, now).value_or("") : "the seal vanished";
	cbt::Seal record;
	if (why.empty()) {
		record = std::move(*sealed);
		record.kind = cbt::Seal::Kind::carry;
	} else {
		record.kind = cbt::Seal::Kind::rejected;
		record.device = now;
		record.sealed = sealed ? sealed->sealed : cbt::Token{};
		record.why = why;
	}
	record.successor = t.generation;
	seals.write(record);
	if (!why.empty())
		return {path, false, "seal rejected: " + why};
	return {path, true, "carried " + cbt::format_token(record.sealed) + " on to " + cbt::format_generation(t.generation)};
}

} // namespace

std::string in_use(const std::string &path)
{
	std::error_code ec;
	const std::string real = fs::canonical(path, ec).string();
	std::ifstream mounts("/proc/self/mounts");
	for (std::string line; std::getline(mounts, line);) {
		std::istringstream f(line);
		std::string dev, dir, type, opts;
		if (!(f >> dev >> dir >> type >> opts) || !dev.starts_with("/dev/"))
			continue;
		const std::string mounted = fs::canonical(dev, ec).string();
		const bool rw = opts == "rw" || opts.starts_with("rw,");
		if (!ec && rw && mounted.starts_with(real)) // the device or a partition of it
			return mounted + " is mounted read-write on " + dir;
	}
	const fs::path holders = fs::path("/sys/class/block") / fs::path(real).filename() / "holders";
	if (fs::exists(holders, ec) && !fs::is_empty(holders, ec))
		return "it has holders (dm, md or LVM on top)";
	return {};
}

cbt::DeviceState device_state(const std::string &path, const TrackerInfo &t)
{
	cbt::DeviceState d;
	d.path = path;
	d.serial = serial_of(path);
	d.size_bytes = t.capacity_sectors * 512;
	d.block_shift = t.block_shift;
	d.block_count = t.block_count;
	const DeviceFile file(path);
	d.fs = cbt::fingerprint([&](std::uint64_t off, std::size_t len, std::uint8_t *out) { file.read(off, len, out); }, d.size_bytes);
	return d;
}

std::vector<Outcome> seal_all(Driver &driver, const cbt::SealDir &seals, const std::vector<std::string> &only)
{
	std::vector<DevNum> wanted;
	wanted.reserve(only.size());
	for (const auto &path : only)
		wanted.push_back(driver.device(fs::canonical(path).string()).dev);
	std::vector<Outcome> out;
	for (const DevNum &dev : driver.trackers()) {
		if (!only.empty() && std::find(wanted.begin(), wanted.end(), dev) == wanted.end())
			continue;
		const std::string path = path_of(driver, dev);
		try {
			if (path.empty())
				throw std::runtime_error("no device node");
			out.push_back(seal_one(driver, seals, path));
		} catch (const std::exception &e) {
			out.push_back({path.empty() ? std::to_string(dev.major) + ":" + std::to_string(dev.minor) : path, false,
				       std::string("not sealed: ") + e.what()});
		}
	}
	return out;
}

std::vector<Outcome> restore_all(Driver &driver, const cbt::SealDir &seals, std::chrono::milliseconds wait)
{
	seals.write_stamp(random_stamp());
	std::vector<Outcome> out;
	for (const std::string &path : seals.devices(cbt::Seal::Kind::seal)) {
		try {
			out.push_back(restore_one(driver, seals, path, wait));
		} catch (const std::exception &e) {
			out.push_back({path, false, std::string("not restored: ") + e.what()});
		}
		// A seal serves one boot: the device is about to become writable.
		seals.remove(path, cbt::Seal::Kind::seal);
	}
	return out;
}

std::vector<Outcome> import_records(const cbt::SealDir &from, const cbt::SealDir &to)
{
	std::vector<Outcome> out;
	std::error_code ec;
	if (!fs::is_directory(from.path(), ec))
		return out;
	for (const auto kind : {cbt::Seal::Kind::carry, cbt::Seal::Kind::rejected})
		for (const std::string &path : from.devices(kind)) {
			try {
				if (auto record = from.read(path, kind)) {
					to.write(*record);
					out.push_back({path, true,
						       std::string("record of the initramfs's restore taken over (") +
							       (kind == cbt::Seal::Kind::carry ? "carried" : "rejected: " + record->why) +
							       ")"});
				}
			} catch (const std::exception &e) {
				out.push_back({path, false, std::string("record of the initramfs's restore unreadable: ") + e.what()});
			}
			from.remove(path, kind);
		}
	return out;
}

} // namespace bk::agent::seal

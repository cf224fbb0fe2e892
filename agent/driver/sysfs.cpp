#include "driver/sysfs.h"

#include <linux/bksnap.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

namespace bk::agent::sysfs {

namespace fs = std::filesystem;

namespace {

std::string read_line(const fs::path &file)
{
	std::ifstream in(file);
	std::string line;
	std::getline(in, line);
	return line;
}

std::string kind_of(const fs::path &sys, const std::string &name)
{
	if (fs::exists(sys / "partition"))
		return "part";
	for (const char *prefix : {"dm", "md", "loop", "nbd", "zram"})
		if (name.starts_with(prefix))
			return prefix;
	return "disk";
}

// DEVNAME from uevent names the node (dm-0, not the sysfs link name).
std::string node_name(const fs::path &sys)
{
	std::ifstream in(sys / "uevent");
	for (std::string line; std::getline(in, line);)
		if (line.starts_with("DEVNAME="))
			return line.substr(8);
	return sys.filename().string();
}

BlockDevice describe(const fs::path &sys)
{
	BlockDevice d;
	const std::string name = node_name(sys);
	d.path = "/dev/" + name;
	const std::string dev = read_line(sys / "dev");
	const auto colon = dev.find(':');
	if (colon != std::string::npos) {
		d.dev.major = static_cast<std::uint32_t>(std::stoul(dev.substr(0, colon)));
		d.dev.minor = static_cast<std::uint32_t>(std::stoul(dev.substr(colon + 1)));
	}
	const std::string size = read_line(sys / "size");
	d.size_bytes = size.empty() ? 0 : std::stoull(size) * 512;
	d.kind = kind_of(sys, name);
	return d;
}

} // namespace

std::vector<BlockDevice> block_devices()
{
	std::vector<BlockDevice> out;
	std::error_code ec;
	for (const auto &entry : fs::directory_iterator("/sys/class/block", ec)) {
		BlockDevice d = describe(fs::canonical(entry.path(), ec));
		// Snapshot images are the agent's own, not devices to back up.
		if (d.size_bytes && !d.path.starts_with("/dev/" BKSNAP_IMAGE_PREFIX))
			out.push_back(std::move(d));
	}
	return out;
}

BlockDevice by_number(DevNum dev)
{
	const fs::path sys = "/sys/dev/block/" + std::to_string(dev.major) + ":" + std::to_string(dev.minor);
	std::error_code ec;
	const fs::path real = fs::canonical(sys, ec);
	if (ec)
		throw DriverError(ENODEV, sys.filename().string());
	return describe(real);
}

} // namespace bk::agent::sysfs

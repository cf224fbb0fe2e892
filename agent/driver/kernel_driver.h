// The real driver: ioctls on /dev/bksnap-ctl.
#pragma once

#include "driver/driver.h"

#include <mutex>

namespace bk::agent {

class KernelDriver final : public Driver {
public:
	explicit KernelDriver(std::string control_path = "/dev/bksnap-ctl");
	~KernelDriver() override;
	KernelDriver(const KernelDriver &) = delete;
	KernelDriver &operator=(const KernelDriver &) = delete;

	ModuleInfo version() override;
	BlockDevice device(const std::string &path) override;
	std::vector<BlockDevice> block_devices() override;
	void attach(const std::string &path) override;
	void detach(const std::string &path) override;
	TrackerInfo tracker_info(const std::string &path) override;
	std::vector<DevNum> trackers() override;
	void cbt_read(const std::string &path, const cbt::Generation &gen, std::uint64_t first, std::uint64_t count,
		      std::uint8_t *out) override;
	std::optional<cbt::Token> cbt_anchor(const std::string &path, const cbt::Token &token) override;
	SnapshotInfo snapshot_create(const std::vector<std::string> &paths, int diff_fd, std::uint64_t low_water_sectors) override;
	void snapshot_add_storage(const Uuid &id, int diff_fd) override;
	void snapshot_destroy(const Uuid &id) override;
	SnapshotInfo snapshot_info(const Uuid &id) override;
	std::vector<Uuid> snapshots() override;
	std::string image_path(DevNum image) override;
	std::optional<KernelEvent> next_event(std::chrono::milliseconds timeout) override;

private:
	// The control fd, opened on first use so the daemon can start (and
	// answer GetCapabilities) before the module is loaded.
	int control();
	// The uAPI version both sides speak (bksnap.h), and an argument in it.
	std::uint32_t uapi_version();
	template <typename T> T versioned();
	void ioctl_or_throw(unsigned long request, void *arg, const char *what);

	std::string control_path_;
	std::mutex open_mutex_;
	int fd_ = -1;
	std::uint32_t uapi_version_ = 1; // the module's, up to ours: set at open
};

} // namespace bk::agent

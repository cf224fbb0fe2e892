// The agent's view of the bksnap kernel module (uAPI: linux/bksnap.h).
//
// Production code uses KernelDriver (ioctls on /dev/bksnap-ctl). Host tests
// substitute a test double that models the same semantics. Every method
// throws DriverError carrying the errno the uAPI documents.
#pragma once

#include "bk/cbt/token.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

namespace bk::agent {

using Uuid = std::array<std::uint8_t, 16>;
std::string format_uuid(const Uuid &id);
std::optional<Uuid> parse_uuid(const std::string &text);

struct DevNum {
	std::uint32_t major = 0;
	std::uint32_t minor = 0;
	friend bool operator==(const DevNum &, const DevNum &) = default;
	friend auto operator<=>(const DevNum &, const DevNum &) = default;
};

// A block device of the host.
struct BlockDevice {
	std::string path; // canonical, e.g. /dev/vdb
	DevNum dev;
	std::uint64_t size_bytes = 0;
	std::string kind; // disk, part, dm, md, loop, ...
};

struct ModuleInfo {
	std::uint32_t uapi_version = 0;
	std::uint32_t module_major = 0, module_minor = 0, module_patch = 0;
	std::uint32_t max_trackers = 0;
	std::uint32_t cbt_min_block_shift = 0, cbt_max_block_shift = 0;
	std::uint64_t cbt_max_blocks = 0;
	std::uint32_t chunk_min_shift = 0, chunk_max_shift = 0;
	std::uint32_t max_snapshot_devices = 0;
};

// Tracker state bits, as BKSNAP_STATE_*.
inline constexpr std::uint32_t state_snapshot = 1U << 0;
inline constexpr std::uint32_t state_gone = 1U << 1;
inline constexpr std::uint32_t state_cbt_error = 1U << 2;

struct TrackerInfo {
	DevNum dev;
	cbt::Generation generation{};
	std::uint32_t sequence = 0; // new writes are marked with it
	std::uint32_t block_shift = 0;
	std::uint64_t block_count = 0;
	std::uint64_t capacity_sectors = 0;
	std::uint32_t state = 0;
};

struct SnapshotMember {
	DevNum dev;
	cbt::Token token;
	DevNum image;
	std::uint32_t chunk_shift = 0;
};

struct SnapshotInfo {
	Uuid id{};
	bool failed = false;
	int error = 0;
	std::vector<SnapshotMember> members;
	std::uint64_t storage_sectors = 0;
	std::uint64_t used_sectors = 0;
};

enum class KernelEventType { low_space = 1, overflow, snapshot_failed, device_gone, cbt_reset };

// An event always has a type: there is no "none" to default to.
struct KernelEvent {
	explicit KernelEvent(KernelEventType t) : type(t) {}
	KernelEventType type;
	Uuid snapshot{};
	DevNum dev;
	int error = 0;
	std::uint64_t storage_sectors = 0;
	std::uint64_t used_sectors = 0;
};

// A uAPI call failed: code() is the errno (generic category); what() is
// `what` and the errno's text.
class DriverError : public std::system_error {
public:
	DriverError(int code, const std::string &what) : std::system_error(code, std::generic_category(), what) {}
};

// The control device is missing: the module is not loaded.
class ModuleUnavailable : public DriverError {
	using DriverError::DriverError;
};

class Driver {
public:
	virtual ~Driver() = default;

	virtual ModuleInfo version() = 0;
	// Resolves a path to a block device: ENOENT, ENOTBLK.
	virtual BlockDevice device(const std::string &path) = 0;
	virtual std::vector<BlockDevice> block_devices() = 0;
	virtual void attach(const std::string &path) = 0;
	virtual void detach(const std::string &path) = 0;
	virtual TrackerInfo tracker_info(const std::string &path) = 0;
	virtual std::vector<DevNum> trackers() = 0;
	// Map bytes [first, first + count) of generation `gen`: ESTALE, ERANGE.
	virtual void cbt_read(const std::string &path, const cbt::Generation &gen, std::uint64_t first, std::uint64_t count,
			      std::uint8_t *out) = 0;
	// Anchors `token`, the newest snapshot whose changes the caller saved,
	// so that a sequence wrap keeps the marks since it (sequence 0 anchors
	// nothing), and returns the current generation's link: the token of an
	// older generation whose changes the current map marks (nullopt: the map
	// started empty, or a module without BKSNAP_IOC_CBT_ANCHOR). ESTALE
	// when token.generation is not current.
	virtual std::optional<cbt::Token> cbt_anchor(const std::string &path, const cbt::Token &token) = 0;
	// Takes a consistency group; `diff_fd` is the difference storage.
	virtual SnapshotInfo snapshot_create(const std::vector<std::string> &paths, int diff_fd, std::uint64_t low_water_sectors) = 0;
	virtual void snapshot_add_storage(const Uuid &id, int diff_fd) = 0;
	virtual void snapshot_destroy(const Uuid &id) = 0;
	virtual SnapshotInfo snapshot_info(const Uuid &id) = 0;
	virtual std::vector<Uuid> snapshots() = 0;
	// The path of an image block device.
	virtual std::string image_path(DevNum image) = 0;
	// Waits up to `timeout` for the next event.
	virtual std::optional<KernelEvent> next_event(std::chrono::milliseconds timeout) = 0;
};

} // namespace bk::agent

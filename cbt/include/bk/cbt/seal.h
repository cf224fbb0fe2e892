// Seals: a tracked device's change map saved at a clean shutdown and checked
// at the next boot, so its chain carries over (docs/cbt.md, "Clean reboots").
// Plain C++ without RocksDB: the seal tool, the daemon and the fuzz target
// share it.
#pragma once

#include "bk/cbt/token.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bk::cbt {

// A seal file that cannot be used: truncated, damaged, another version.
class SealError : public std::runtime_error {
	using std::runtime_error::runtime_error;
};

inline constexpr std::uint32_t seal_version = 1;

// What the filesystem on a device records of its mounts and writes (see
// fingerprint()); kind "none" proves nothing.
struct Fingerprint {
	std::string kind; // "ext", "xfs" or "none"
	std::string bytes;
	friend bool operator==(const Fingerprint &, const Fingerprint &) = default;
};

// The state of a device as the seal tool sees it, at shutdown and at boot.
struct DeviceState {
	std::string path;   // the agent's name of it, e.g. /dev/vdb
	std::string serial; // hardware serial from sysfs ("" if none)
	std::uint64_t size_bytes = 0;
	std::uint32_t block_shift = 0;
	std::uint64_t block_count = 0;
	Fingerprint fs;
	friend bool operator==(const DeviceState &, const DeviceState &) = default;
};

// One seal-directory record. A seal (successor zero) is written at shutdown;
// at boot it becomes a carry (successor: the new generation that continues
// `sealed`, with the map) or a rejection (successor, `why`, no map).
struct Seal {
	enum class Kind : std::uint32_t { seal = 0, carry = 1, rejected = 2 };
	Kind kind = Kind::seal;
	DeviceState device;
	Token sealed;                  // generation, and the sequence new writes had
	std::vector<std::uint8_t> map; // the whole map, device.block_count bytes
	Generation successor{};        // carry, rejected
	std::string why;               // rejected
};

// Fixed layout, little-endian, CRC-32C over everything before the trailer.
std::string encode_seal(const Seal &seal);
// Throws SealError unless `bytes` is one whole, intact record of this version.
Seal decode_seal(std::string_view bytes);

// Why the device as found at boot (`now`: path, serial, size, the new
// tracker's geometry, fingerprint read after attach) cannot continue the
// sealed chain; nullopt when it can.
std::optional<std::string> seal_mismatch(const DeviceState &sealed, const DeviceState &now);

// Reads `len` bytes at byte `offset` of a device into `out`.
using DeviceReader = std::function<void(std::uint64_t offset, std::size_t len, std::uint8_t *out)>;

// The fingerprint of the filesystem on a device of `size` bytes: the ext2/3/4
// superblock, or the xfs superblock sector plus its internal log's head.
// Throws SealError for a layout whose writes it cannot see (xfs with an
// external log).
Fingerprint fingerprint(const DeviceReader &read, std::uint64_t size);

// The directory of seal records, <state_dir>/seal: one file per device and
// kind, named by the hex of the device path; writes are atomic and durable.
class SealDir {
public:
	explicit SealDir(std::filesystem::path dir) : dir_(std::move(dir)) {}
	const std::filesystem::path &path() const { return dir_; }

	std::filesystem::path file(const std::string &device, Seal::Kind kind) const;
	// The device path a record file names (nullopt: not a record's name).
	static std::optional<std::string> device_of(const std::filesystem::path &file);
	// Temp file, fsync, rename, fsync of the directory.
	void write(const Seal &seal) const;
	// nullopt when absent; SealError when unreadable or corrupt.
	std::optional<Seal> read(const std::string &device, Seal::Kind kind) const;
	// Unlink and fsync the directory (absent: nothing).
	void remove(const std::string &device, Seal::Kind kind) const;
	// Devices that have a record of `kind`.
	std::vector<std::string> devices(Seal::Kind kind) const;

	// The stamp of the boot-time restore run ("": none ran yet).
	std::string stamp() const;
	void write_stamp(const std::string &stamp) const;

private:
	void write_file(const std::filesystem::path &target, std::string_view bytes) const;
	void sync_dir() const;
	std::filesystem::path dir_;
};

} // namespace bk::cbt

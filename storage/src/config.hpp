// The repository's config file: format version, chunking and compression parameters, and
// the master key (wrapped by a scrypt-derived key, or in the clear when unencrypted).
#pragma once

#include <bit>
#include <cstdint>
#include <string>

#include "crypto.hpp"
#include "layout.hpp"

namespace bk::storage {

// A chunk size is a power of two from 64 KiB to 64 MiB.
inline constexpr std::uint32_t kMinChunkSize = 64u << 10;
inline constexpr std::uint32_t kMaxChunkSize = 64u << 20;
inline bool valid_chunk_size(std::uint64_t n) { return std::has_single_bit(n) && n >= kMinChunkSize && n <= kMaxChunkSize; }

inline constexpr std::uint64_t kMaxPackSize = std::uint64_t{1} << 32;
inline constexpr int kMinZstdLevel = 1, kMaxZstdLevel = 19;
// 2^20 with r = 8 is 1 GiB of scrypt memory: a bound on what opening a repository costs.
inline constexpr std::uint64_t kMaxScryptN = std::uint64_t{1} << 20;

struct RepoConfig {
	// 2: points name their host (BKpnt002), backups share the write lock and name their
	// index segments uniquely. A format-1 repository is read as it is and upgraded by its
	// first backup (upgrade_config).
	static constexpr std::uint32_t kFormat = 2;
	static constexpr std::uint32_t kOldestFormat = 1;

	std::uint32_t format = kFormat;
	std::string repo_id;
	std::uint32_t chunk_size = 0;
	std::uint64_t pack_size = 0;
	int zstd_level = 3;
	bool encrypted = true;
	ScryptParams kdf;
	Bytes salt;
	Bytes key; // AES-256-GCM(master key) under the scrypt key, or the master key itself

	bool operator==(const RepoConfig &) const = default;
};

// The config file's text: parse throws Errc::corrupt (or unsupported_format) on bad input.
RepoConfig parse_config(ByteView text);
std::string format_config(const RepoConfig &config);
RepoConfig load_config(const Layout &layout);
void save_config(const Layout &layout, const RepoConfig &config);
// Rewrites an older format's config as the current format (under the write lock, before
// anything of the new format is written); the same content for every racing writer.
void upgrade_config(const Layout &layout, const RepoConfig &config);

// Wraps a fresh master key into `config` (which must have repo_id, encrypted and kdf set).
MasterKey create_master_key(RepoConfig &config, const std::string &passphrase);
// Throws Errc::bad_passphrase when the passphrase does not unwrap the key.
MasterKey unlock_master_key(const RepoConfig &config, const std::string &passphrase);

} // namespace bk::storage

// bkagentd configuration (JSON with // comments; see deploy/bkagentd.conf).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bk::agent {

// zstd's fast levels from -7 (cheapest) to its normal 19; ultra levels are not
// worth their memory for 1 MiB chunks.
inline constexpr int min_wire_zstd_level = -7, max_wire_zstd_level = 19;

struct TcpConfig {
	std::string listen;         // host:port
	std::string cert_file;      // server certificate chain (PEM)
	std::string key_file;       // server private key (PEM)
	std::string client_ca_file; // CA that signs client certificates
	std::string token_file;     // bearer token, one line
};

struct Config {
	std::string unix_socket = "/run/bkagent/bkagentd.sock";
	std::vector<std::uint32_t> unix_allowed_uids{0};
	std::optional<TcpConfig> tcp;
	bool reflection = false;
	std::string state_dir = "/var/lib/bkagent";     // RocksDB lives in state_dir/cbt
	std::string diff_dir = "/var/lib/bkagent/diff"; // difference storage files
	std::chrono::seconds lease_default{600};
	std::chrono::seconds lease_min{10};
	std::chrono::seconds lease_max{86400};
	std::uint32_t diff_storage_percent = 10; // of the group's size
	std::uint64_t diff_storage_min_bytes = 64ULL << 20;
	std::uint64_t diff_storage_max_bytes = 16ULL << 30;
	std::string hooks_dir = "/etc/bkagent/hooks";
	std::chrono::seconds hook_timeout{60};
	std::uint32_t max_parallel_reads = 8;
	int wire_zstd_level = 1; // of ReadExtents chunks a client asks to be compressed
	std::string log_level = "info";

	// Parses `text`; throws std::invalid_argument naming the bad key.
	static Config parse(const std::string &text);
	static Config load(const std::string &path);
};

} // namespace bk::agent

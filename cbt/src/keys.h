// RocksDB key layout of the CBT store (documented in docs/cbt.md).
#pragma once

#include "bk/cbt/token.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace bk::cbt::keys {

inline constexpr std::string_view clean_marker = "M/clean";
inline constexpr std::string_view initialized = "M/init";

inline void put_be(std::string &key, std::uint64_t value, int bytes)
{
	for (int i = bytes - 1; i >= 0; --i)
		key += static_cast<char>((value >> (8 * i)) & 0xff);
}

inline std::uint64_t get_be(std::string_view bytes)
{
	std::uint64_t value = 0;
	for (char c : bytes)
		value = (value << 8) | static_cast<std::uint8_t>(c);
	return value;
}

inline std::string gen_part(const Generation &g) { return {reinterpret_cast<const char *>(g.data()), g.size()}; }

// C/<device>: the device's Chain.
inline std::string chain(const std::string &device) { return "C/" + device; }
// R/<generation>: a retired generation and the FullReason of its tokens.
inline std::string retired(const Generation &g) { return "R/" + gen_part(g); }
// N/<device>: what the last restart of the device's map did to its chain.
inline std::string note(const std::string &device) { return "N/" + device; }
// B/<device>: the boot-time restore stamp the device was last reconciled under.
inline std::string boot(const std::string &device) { return "B/" + device; }
// S/<name>: an opaque agent record.
inline constexpr std::string_view record_prefix = "S/";

// D/<chain id><chunk be64><ordinal be32>: bitmap of the blocks of chunk
// that changed between the previous recorded snapshot and the one of chain
// ordinal `ordinal` (a chain's id is its first generation, whose ordinals
// are its sequences).
inline std::string delta_prefix(const Generation &id) { return "D/" + gen_part(id); }
inline std::string delta(const Generation &id, std::uint64_t chunk, std::uint32_t ordinal)
{
	std::string key = delta_prefix(id);
	put_be(key, chunk, 8);
	put_be(key, ordinal, 4);
	return key;
}
inline constexpr std::size_t delta_key_size = 2 + 16 + 8 + 4;
inline std::uint64_t delta_chunk(std::string_view key) { return get_be(key.substr(18, 8)); }
inline std::uint32_t delta_ordinal(std::string_view key) { return static_cast<std::uint32_t>(get_be(key.substr(26, 4))); }

} // namespace bk::cbt::keys

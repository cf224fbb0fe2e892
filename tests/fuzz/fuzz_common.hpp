// Shared by the repository fuzz targets and their seed generator: the fixed keys the
// targets authenticate with (the seeds are re-sealed under them, so mutations get past
// authentication into the parsers), the input-mode byte and the property check.
#pragma once

#include <numeric>
#include <string>

#include "crypto.hpp"
#include "property.hpp"

namespace bk::storage::fuzz {

// The id a point file under test carries (its name and the aad of its sealed parts).
inline const std::string kPointId = "00000000000000ff";
inline const std::string kPassphrase = "correct horse battery staple";

inline Crypto fixed_crypto(bool encrypted)
{
	MasterKey key;
	std::iota(key.enc.begin(), key.enc.end(), std::uint8_t{1});
	std::iota(key.id.begin(), key.id.end(), std::uint8_t{101});
	return Crypto(key, encrypted);
}

// The first input byte: bits 0-1 pick what the rest is (target-specific), bit 2 an
// encrypted repository.
struct Mode {
	unsigned kind;
	bool encrypted;
};
inline Mode mode_of(std::uint8_t b) { return {b & 3u, (b & 4u) != 0}; }
inline std::uint8_t mode_byte(unsigned kind, bool encrypted) { return static_cast<std::uint8_t>(kind | (encrypted ? 4 : 0)); }

// An input as the targets read it: the mode byte, then the body, with the mode's keys.
struct Input {
	Mode mode;
	ByteView body;
	Crypto crypto;
};
// What a moded target defines; mode_main.cpp splits libFuzzer's input and calls it.
void test_input(const Input &input);

using bk::fuzz::require;

} // namespace bk::storage::fuzz

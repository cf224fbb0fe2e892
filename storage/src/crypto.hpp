// Keys and primitives: keyed chunk ids (HMAC-SHA256), sealing (AES-256-GCM, or an
// HMAC tag in an unencrypted repository), scrypt, randomness.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "bk/storage/types.hpp"
#include "bk/util/hex.h"

namespace bk::storage {

struct ChunkId {
	std::array<std::uint8_t, 32> bytes{};

	bool operator==(const ChunkId &) const = default;
	bool is_zero() const noexcept; // the marker of an all-zero chunk
	std::string hex() const;
};

struct ChunkIdHash {
	std::size_t operator()(const ChunkId &id) const noexcept
	{
		std::size_t h = 0;
		std::memcpy(&h, id.bytes.data(), sizeof h); // the id is already a uniform hash
		return h;
	}
};

// The repository's secrets: one key encrypts, the other keys the chunk-id hash so ids
// reveal nothing about content to someone without the key.
struct MasterKey {
	static constexpr std::size_t kSize = 64;
	std::array<std::uint8_t, 32> enc{};
	std::array<std::uint8_t, 32> id{};

	static MasterKey generate();
	static MasterKey from_bytes(ByteView raw); // kSize bytes: enc || id
	Bytes to_bytes() const;
};

class Crypto {
public:
	Crypto(MasterKey key, bool encrypted) : key_(key), encrypted_(encrypted) {}
	Crypto(const Crypto &) = default;
	~Crypto();

	bool encrypted() const noexcept { return encrypted_; }
	ChunkId chunk_id(ByteView data) const;
	// Authenticated container for `plain`, bound to `aad`. open() throws Errc::corrupt
	// when the data or the aad was altered.
	Bytes seal(ByteView aad, ByteView plain) const;
	Bytes open(ByteView aad, ByteView sealed) const;

private:
	MasterKey key_;
	bool encrypted_;
};

// AES-256-GCM with a random 96-bit nonce: output is nonce || ciphertext || tag.
Bytes gcm_seal(ByteView key, ByteView aad, ByteView plain);
// Returns false when authentication fails.
bool gcm_open(ByteView key, ByteView aad, ByteView sealed, Bytes &plain);

struct ScryptParams {
	std::uint64_t n = std::uint64_t{1} << 15; // 32 MiB of memory with r = 8
	std::uint32_t r = 8;
	std::uint32_t p = 1;

	bool operator==(const ScryptParams &) const = default;
};
Bytes scrypt(const std::string &passphrase, ByteView salt, const ScryptParams &params, std::size_t length);

Bytes random_bytes(std::size_t n);
std::string random_hex(std::size_t n_bytes);
using util::to_hex;
Bytes from_hex(const std::string &hex); // throws Errc::corrupt on bad input

} // namespace bk::storage

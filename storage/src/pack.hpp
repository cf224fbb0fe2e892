// Pack files: a pack is a plain concatenation of chunk records, with no header or trailer,
// so every byte of a pack belongs to a record that restore and verify authenticate.
//
// Record: magic "BKc1" | flags u8 (bit 0: zstd) | 3 zero bytes | chunk id (32)
//         | raw length u32 | body length u32 | body
// Body:   AES-256-GCM(nonce || ciphertext || tag, aad = the 48-byte header) of the stored
//         bytes when the repository is encrypted, the stored bytes themselves otherwise.
// Decoding always re-hashes the plaintext and compares it with the chunk id.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "crypto.hpp"
#include "layout.hpp"

namespace bk::storage {

using PackId = std::array<std::uint8_t, 16>;

struct PackIdHash {
	std::size_t operator()(const PackId &id) const noexcept
	{
		std::size_t h = 0;
		std::memcpy(&h, id.data(), sizeof h);
		return h;
	}
};

struct ChunkLocation {
	PackId pack{};
	std::uint64_t offset = 0;  // of the record inside the pack
	std::uint32_t length = 0;  // of the whole record
	std::uint32_t raw_len = 0; // of the chunk's plaintext

	bool operator==(const ChunkLocation &) const = default;
};

inline constexpr std::size_t kRecordHeaderSize = 48;

struct Record {
	Bytes header;
	Bytes body;
	std::size_t size() const { return header.size() + body.size(); }
};

// `frame`, when not empty, is a zstd frame of `plain` made elsewhere (the agent's wire
// compression): stored as it is when smaller than `plain`, instead of compressing again.
Record encode_chunk(const Crypto &crypto, const ChunkId &id, ByteView plain, int zstd_level, ByteView frame = {});
// Authenticates `record` against the index's expectation and returns the plaintext;
// throws Errc::corrupt on any mismatch.
void decode_record(const Crypto &crypto, ByteView record, const ChunkId &id, std::uint32_t raw_len, Bytes &plain);
// The file name (without extension) of a pack: its id in hex.
std::string pack_name(const PackId &id);

struct PackFile {
	PackId id{};
	std::uint64_t size = 0;
};
// The packs present under packs/ (temporary objects elsewhere are not packs).
std::vector<PackFile> list_packs(const Layout &layout);

// Appends records to a new object; finish() publishes it under packs/ durably.
// A writer destroyed unfinished leaves nothing behind.
class PackWriter {
public:
	explicit PackWriter(const Layout &layout);
	PackWriter(const PackWriter &) = delete;
	PackWriter &operator=(const PackWriter &) = delete;

	// A record is written as its header then its body (repacking passes a whole record
	// as `header` and an empty body).
	ChunkLocation append(ByteView header, ByteView body, std::uint32_t raw_len);
	std::uint64_t size() const { return size_; }
	const PackId &id() const { return id_; }
	void finish();

private:
	PackId id_{};
	std::unique_ptr<ObjectWriter> out_;
	std::uint64_t size_ = 0;
};

// Reads records by location; thread-safe, keeps a bounded cache of open packs.
class PackReader {
public:
	explicit PackReader(const Layout &layout) : layout_(layout) {}
	void read(const ChunkLocation &loc, Bytes &record);

private:
	std::shared_ptr<ObjectReader> open(const PackId &id);

	const Layout &layout_;
	std::mutex mutex_;
	std::unordered_map<PackId, std::shared_ptr<ObjectReader>, PackIdHash> open_;
};

} // namespace bk::storage

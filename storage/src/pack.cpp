#include "pack.hpp"

#include <algorithm>
#include <cstring>

#include "bk/storage/error.hpp"
#include "codec.hpp"
#include "config.hpp"
#include "fs.hpp"
#include "serial.hpp"

namespace bk::storage {

namespace {

constexpr std::uint8_t kMagic[4] = {'B', 'K', 'c', '1'};
constexpr std::uint8_t kFlagZstd = 1;
constexpr std::size_t kMaxOpenPacks = 256;

} // namespace

Record encode_chunk(const Crypto &crypto, const ChunkId &id, ByteView plain, int zstd_level, ByteView frame)
{
	thread_local Bytes compressed;
	const bool framed = !frame.empty() && frame.size() < plain.size();
	const bool zstd = framed || zstd_compress(plain, zstd_level, compressed);
	ByteView stored = framed ? frame : zstd ? ByteView(compressed) : plain;

	Record rec;
	std::size_t body_len = crypto.encrypted() ? stored.size() + 28 : stored.size();
	ByteWriter h;
	h.raw(kMagic);
	h.u8(zstd ? kFlagZstd : 0);
	h.raw(std::array<std::uint8_t, 3>{});
	h.raw(id.bytes);
	h.u32(static_cast<std::uint32_t>(plain.size()));
	h.u32(static_cast<std::uint32_t>(body_len));
	rec.header = std::move(h.bytes());
	rec.body = crypto.encrypted() ? crypto.seal(rec.header, stored) : Bytes(stored.begin(), stored.end());
	if (rec.body.size() != body_len)
		throw Error(Errc::io, "unexpected sealed size");
	return rec;
}

void decode_record(const Crypto &crypto, ByteView record, const ChunkId &id, std::uint32_t raw_len, Bytes &plain)
{
	const std::string where = "chunk " + id.hex();
	if (record.size() < kRecordHeaderSize)
		throw Error(Errc::corrupt, where + ": record too short");
	// The length is allocated before the (unencrypted: unauthenticated) body is checked.
	if (raw_len > kMaxChunkSize)
		throw Error(Errc::corrupt, where + ": chunk longer than any chunk size");
	ByteView header = record.first(kRecordHeaderSize);
	ByteView body = record.subspan(kRecordHeaderSize);
	ByteReader r(header);
	bool ok = std::equal(std::begin(kMagic), std::end(kMagic), r.raw(4).begin());
	std::uint8_t flags = r.u8();
	ByteView reserved = r.raw(3);
	ok = ok && (flags & ~kFlagZstd) == 0 && std::all_of(reserved.begin(), reserved.end(), [](std::uint8_t b) { return b == 0; });
	ByteView rid = r.raw(32);
	ok = ok && std::equal(rid.begin(), rid.end(), id.bytes.begin());
	ok = ok && r.u32() == raw_len && r.u32() == body.size();
	if (!ok)
		throw Error(Errc::corrupt, where + ": record header does not match the index");

	Bytes opened;
	ByteView stored = body;
	if (crypto.encrypted()) {
		opened = crypto.open(header, body);
		stored = opened;
	}
	if (flags & kFlagZstd) {
		zstd_decompress(stored, raw_len, plain);
	} else {
		if (stored.size() != raw_len)
			throw Error(Errc::corrupt, where + ": stored length mismatch");
		plain.assign(stored.begin(), stored.end());
	}
	if (!(crypto.chunk_id(plain) == id))
		throw Error(Errc::corrupt, where + ": content does not match its id");
}

std::string pack_name(const PackId &id) { return to_hex(id); }

std::vector<PackFile> list_packs(const Layout &layout)
{
	std::vector<PackFile> packs;
	for (const ObjectEntry &e : layout.store().list(Layout::packs())) {
		// packs/ab/<32 hex digits>.pack, and nothing else
		const std::string name = e.key.substr(e.key.find_last_of('/') + 1);
		const std::string stem = name.substr(0, name.size() - std::min(name.size(), std::size_t{5}));
		if (!name.ends_with(".pack") || stem.size() != 2 * sizeof(PackId) || e.key != Layout::pack(stem) ||
		    stem.find_first_not_of("0123456789abcdef") != std::string::npos)
			continue;
		PackFile f;
		Bytes id = from_hex(stem);
		std::copy(id.begin(), id.end(), f.id.begin());
		f.size = e.size;
		packs.push_back(f);
	}
	return packs;
}

PackWriter::PackWriter(const Layout &layout)
{
	Bytes rnd = random_bytes(id_.size());
	std::copy(rnd.begin(), rnd.end(), id_.begin());
	out_ = layout.store().create_object(Layout::pack(pack_name(id_)));
}

ChunkLocation PackWriter::append(ByteView header, ByteView body, std::uint32_t raw_len)
{
	ChunkLocation loc{id_, size_, static_cast<std::uint32_t>(header.size() + body.size()), raw_len};
	out_->append(header);
	out_->append(body);
	size_ += loc.length;
	crash_point();
	return loc;
}

void PackWriter::finish() { out_->commit(); }

std::shared_ptr<ObjectReader> PackReader::open(const PackId &id)
{
	std::lock_guard lock(mutex_);
	auto it = open_.find(id);
	if (it != open_.end())
		return it->second;
	if (open_.size() >= kMaxOpenPacks)
		open_.clear(); // readers still holding a shared_ptr keep their descriptor
	std::shared_ptr<ObjectReader> reader = layout_.store().open(Layout::pack(pack_name(id)));
	open_.emplace(id, reader);
	return reader;
}

void PackReader::read(const ChunkLocation &loc, Bytes &record)
{
	std::shared_ptr<ObjectReader> reader = open(loc.pack);
	record.resize(loc.length);
	reader->read(record, loc.offset);
}

} // namespace bk::storage
